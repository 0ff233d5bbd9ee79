"""A failing scenario leaves a diagnostics bundle, says where, and the bundle holds no secret."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FAILING = '''
def test_something_breaks(lab, west):
    assert west.gateways() == ["not what the lab has"]
'''


def test_failing_scenario_writes_a_bundle(tmp_path, session_env):
    (tmp_path / "lab.yaml").write_text("name: diag\nprobe_period: 1\n")
    (tmp_path / "test_fails.py").write_text(FAILING)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["lab.pytest_plugin"]\n')
    env = session_env(LAB_BACKEND="sim", LAB_ROOT=str(tmp_path),
                      PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_fails.py"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "bundle written to" in result.stdout
    bundles = list((tmp_path / ".lab" / "diag" / "artifacts").iterdir())
    assert len(bundles) == 1 and bundles[0].name.startswith("test_something_breaks-")
    for cluster in ("east", "west"):
        assert (bundles[0] / cluster / "check.json").read_text().startswith("[")
        assert '"kind": "Pod"' in (bundles[0] / cluster / "pods.json").read_text()
    assert "lab process" in (bundles[0] / "lab.log").read_text()
    for path in bundles[0].rglob("*"):
        if path.is_file():
            assert "PRIVATE KEY" not in path.read_text(), path
    assert not (tmp_path / ".lab" / "diag" / "sim").exists(), "the session's lab was not torn down"
