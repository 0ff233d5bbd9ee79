"""`inv test` hands its parallel workers the longest test files first, by the durations of the last whole run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lab.tools import testorder

REPO = Path(__file__).resolve().parent.parent


def test_files_are_queued_longest_first_and_an_unknown_file_counts_as_the_median():
    seconds = {"a.py": 1.0, "b.py": 30.0, "c.py": 5.0, "d.py": 12.0}
    assert testorder.longest_first(["a.py", "b.py", "c.py", "d.py"], seconds) == ["b.py", "d.py", "c.py", "a.py"]
    # new.py is unknown: the median of the known (5, 12 -> 8.5) puts it between d.py and c.py
    assert testorder.longest_first(["a.py", "new.py", "c.py", "d.py"], seconds) == ["d.py", "new.py", "c.py", "a.py"]
    assert testorder.longest_first(["x.py", "y.py"], {}) == ["x.py", "y.py"]  # nothing known: as collected


def test_this_machines_durations_override_the_shipped_ones_and_a_run_merges_into_them(tmp_path):
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "test-durations.json").write_text(json.dumps({"a.py": 1.0, "b.py": 2.0}))
    assert testorder.durations(tmp_path) == {"a.py": 1.0, "b.py": 2.0}
    testorder.record(tmp_path, {"b.py": 9.123})
    testorder.record(tmp_path, {"c.py": 3.0})
    assert testorder.durations(tmp_path) == {"a.py": 1.0, "b.py": 9.12, "c.py": 3.0}
    assert [p.name for p in (tmp_path / ".lab").iterdir()] == ["test-durations.json"]  # no temporary file left


def test_a_damaged_table_is_ignored_rather_than_failing_the_run(tmp_path):
    (tmp_path / ".lab").mkdir()
    for text in ("{not json", "[1, 2]", '{"a.py": "slow", "b.py": 4}'):
        (tmp_path / ".lab" / "test-durations.json").write_text(text)
        assert testorder.durations(tmp_path) == ({"b.py": 4.0} if "b.py" in text else {})


def _project(tmp_path: Path, durations: dict | None) -> Path:
    """A small project using this repository's conftest.py hooks, with three files of known length."""
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "conftest.py").write_text((tmp_path / "conftest.py").read_text().replace(
        'pytest_plugins = ["lab.pytest_plugin"]', "pytest_plugins = []"))
    for name, sleeps in (("test_a.py", 0.0), ("test_b.py", 0.3), ("test_c.py", 0.1)):
        (tmp_path / name).write_text(f"import time\n\ndef test_it():\n    time.sleep({sleeps})  # how long this file takes\n")
    if durations is not None:
        (tmp_path / ".lab").mkdir(exist_ok=True)
        (tmp_path / ".lab" / "test-durations.json").write_text(json.dumps(durations))
    return tmp_path


def _run_order(project: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-n", "1", "--dist", "loadfile",
                             "--no-loadscope-reorder", "--rootdir", str(project), str(project)],
                            cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split("::")[0].split()[-1] for line in result.stdout.splitlines() if "PASSED" in line]


def test_a_parallel_run_queues_by_the_last_runs_durations_and_records_its_own_for_the_next(tmp_path):
    project = _project(tmp_path, {"test_a.py": 0.5, "test_b.py": 0.1, "test_c.py": 9.0})
    assert _run_order(project) == ["test_c.py", "test_a.py", "test_b.py"]
    measured = json.loads((project / ".lab" / "test-durations.json").read_text())
    assert measured["test_b.py"] > measured["test_c.py"] > measured["test_a.py"]  # what this run took: the next order
