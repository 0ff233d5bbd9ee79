"""A test run keeps kubectl's discovery cache in a folder of its own under .lab/ (conftest.py), and the next run
removes the folders that runs killed before their end left behind, never a running one's."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_run_removes_the_cache_folders_of_runs_that_are_gone_and_keeps_its_own_and_live_ones(tmp_path):
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "conftest.py").write_text((tmp_path / "conftest.py").read_text().replace(
        'pytest_plugins = ["lab.pytest_plugin"]', "pytest_plugins = []"))
    (tmp_path / "test_cache.py").write_text(
        "import os\n\ndef test_it():\n    print('cache', os.environ['KUBECACHEDIR'])\n")
    gone = subprocess.Popen(["true"])
    gone.wait()
    lab = tmp_path / ".lab"
    killed, live = lab / f"kubectl-cache-{gone.pid}-abc", lab / f"kubectl-cache-{os.getpid()}-def"
    for folder in (killed, live):
        (folder / "discovery").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "KUBECACHEDIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                             str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    own = Path(next(line.split("cache ", 1)[1].split()[0] for line in result.stdout.splitlines() if "cache /" in line))
    assert own.parent == lab and own.name.startswith("kubectl-cache-")
    assert not killed.exists() and live.is_dir()
    assert not own.exists()  # removed at the end of its run
