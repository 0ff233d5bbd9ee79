"""The core scenarios, unchanged, on labs built other ways: through Helm, and with the seed-2.8
profile (the guide's annotations instead of today's label). Each runs in its own pytest process
on a lab of its own, brought up and down by the scenario fixtures."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = ["scenarios/test_cross_cluster_traffic.py", "scenarios/test_export.py", "scenarios/test_gateway_outage.py",
        "scenarios/test_gateway_refuses_strangers.py"]


@pytest.mark.parametrize("settings", ["installer: helm", "profile: seed-2.8"])
def test_core_scenarios_pass(settings, tmp_path, session_env):
    (tmp_path / "lab.yaml").write_text(f"name: variant\nprobe_period: 1\n{settings}\n")
    env = session_env(LAB_ROOT=str(tmp_path), LAB_BACKEND="sim")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
    assert not (tmp_path / ".lab" / "variant" / "sim").exists(), "the lab was not torn down"
