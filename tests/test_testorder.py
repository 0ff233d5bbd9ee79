"""`inv test` hands its parallel workers the longest test files first, by the durations of the last whole run."""
import json
import os
import re
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


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _run_order(project: Path) -> list[str]:
    env = _env()
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


def test_workers_are_as_many_as_the_test_files_named_and_one_file_needs_none(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("test_a.py", "test_b.py", "sub/test_c.py", "sub/helper.py", "sub/d_test.py"):
        (tmp_path / name).write_text("")
    patterns = ["test_*.py", "*_test.py"]
    assert testorder.workers(None, patterns, 4) == 4  # the whole suite
    assert testorder.workers([tmp_path / "test_a.py"], patterns, 4) == 0
    assert testorder.workers([tmp_path / "test_a.py", tmp_path / "test_a.py"], patterns, 4) == 0  # one file twice
    assert testorder.workers([tmp_path / "sub"], patterns, 4) == 2  # helper.py is no test file
    assert testorder.workers([tmp_path / "sub", tmp_path / "sub" / "test_c.py", tmp_path / "test_b.py"], patterns, 4) == 3
    assert testorder.workers([tmp_path], patterns, 3) == 3  # four files, three workers at most
    assert testorder.workers([tmp_path / "test_a.py", tmp_path / "nope.py"], patterns, 4) == 4  # pytest says what is wrong


def test_a_run_of_one_file_starts_no_worker_and_a_run_of_a_few_starts_one_per_file(tmp_path):
    """`-n auto` as `inv test` passes it, through this repository's conftest.py."""
    project = _project(tmp_path, None)
    most = min(8, 2 * (os.cpu_count() or 1))

    def started(*args: str) -> int:
        result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "auto", "--dist", "loadfile",
                                 "--rootdir", str(project), *args], cwd=project, env=_env(), capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"\b1 passed|\b2 passed|\b3 passed", result.stdout)
        workers = re.search(r"created: (\d+)/\d+ workers", result.stdout)
        return int(workers.group(1)) if workers else 0

    assert started("test_b.py") == 0
    assert started("test_a.py::test_it", "test_c.py") == min(2, most)
    assert started() == most  # the whole suite


def test_a_rerun_of_the_last_failures_starts_one_worker_per_failing_file_and_none_for_one(tmp_path):
    project = _project(tmp_path, None)
    for name in ("test_d.py", "test_e.py"):
        (project / name).write_text("def test_fails():\n    assert False\n")
    most = min(8, 2 * (os.cpu_count() or 1))

    def run(*args: str) -> tuple[int, int]:
        result = subprocess.run([sys.executable, "-m", "pytest", "-n", "auto", "--dist", "loadfile", "--rootdir",
                                 str(project), *args], cwd=project, env=_env(), capture_output=True, text=True, timeout=120)
        workers = re.search(r"created: (\d+)/\d+ workers", result.stdout)
        return result.returncode, int(workers.group(1)) if workers else 0

    assert run() == (1, most)  # the whole suite; two files fail
    assert run("--lf") == (1, min(2, most))  # their two files
    (project / "test_e.py").write_text("def test_fails():\n    pass\n")
    assert run("--lf") == (1, min(2, most))  # still both: test_e failed last time
    assert run("--lf") == (1, 0)  # only test_d's failure is left: one file, pytest's own process
