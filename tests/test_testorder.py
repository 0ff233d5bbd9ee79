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
    """The small project's sessions load xdist and nothing else of the venv's plugins (pytest-kind and
    hypothesis double the start of each session and of each of its workers, and none of them is tested here)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_PLUGINS": "xdist.plugin"}


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

    def workers(*paths: str, most: int = 4) -> int:
        return testorder.workers(testorder.test_files([tmp_path / p for p in paths], patterns), most)

    assert testorder.workers(None, 4) == 4  # the whole suite
    assert workers("test_a.py") == 0
    assert workers("test_a.py", "test_a.py") == 0  # one file twice
    assert workers("sub") == 2  # helper.py is no test file
    assert workers("sub", "sub/test_c.py", "test_b.py") == 3
    assert workers(".", most=3) == 3  # four files, three workers at most


def _pytest(project: Path, *args: str, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "pytest", "--rootdir", str(project), *args], cwd=cwd or project,
                          env={**_env(), "PYTEST_XDIST_AUTO_NUM_WORKERS": "", **(env or {})}, capture_output=True,
                          text=True, timeout=120)


def _workers_and_code(project: Path, *args: str, cwd: Path | None = None) -> tuple[int, int]:
    """A run with `-n auto --dist loadfile` as `inv test` passes it, through this repository's conftest.py:
    (workers started, exit code)."""
    result = _pytest(project, "-n", "auto", "--dist", "loadfile", *args, cwd=cwd)
    workers = re.search(r"created: (\d+)/\d+ workers?", result.stdout)
    return int(workers.group(1)) if workers else 0, result.returncode


WORKERS = re.compile(r"^xdist resolves -n auto to (\d+)$", re.M)


def _workers(project: Path, *args: str, dist: str = "loadfile", env: dict | None = None) -> int:
    """The workers xdist would start for these arguments, without starting them: xdist resolves `-n auto`
    (through the conftest.py hook) into one gateway per worker before anything runs, and a collect-only
    session then shows them. Each worker is a Python process importing pytest, and the cases below need a
    dozen runs; a real run of each is left to _workers_and_code."""
    (project / "xdist_count.py").write_text(
        "def pytest_report_header(config):\n"
        "    return f'xdist resolves -n auto to {len(config.option.tx or [])}'\n")
    result = _pytest(project, "-p", "xdist_count", "-n", "auto", "--dist", dist, "--collect-only", *args, env=env)
    count = WORKERS.search(result.stdout)
    assert count, result.stdout + result.stderr
    return int(count.group(1))


def test_a_run_of_one_file_starts_no_worker_and_a_run_of_a_few_starts_one_per_file(tmp_path):
    project = _project(tmp_path, None)
    most = min(8, 3 * (os.cpu_count() or 1))
    assert _workers_and_code(project, "-p", "no:cacheprovider", "test_b.py") == (0, 0)
    assert _workers_and_code(project, "-p", "no:cacheprovider", "test_a.py::test_it", "test_c.py") == (min(2, most), 0)
    assert _workers(project, "-p", "no:cacheprovider") == most  # the whole suite


def test_a_path_that_does_not_exist_is_reported_by_pytest_not_swallowed_by_idle_workers(tmp_path):
    project = _project(tmp_path, None)
    (project / "sub").mkdir()
    # Under xdist a missing path only says "no tests ran" (exit 5); in pytest's own process it is the usage
    # error naming the path (exit 4), as from a folder where the path given is not relative to.
    assert _workers_and_code(project, "-p", "no:cacheprovider", "test_a.py", "nope.py") == (0, 4)
    assert _workers_and_code(project, "-p", "no:cacheprovider", "test_a.py", cwd=project / "sub") == (0, 4)


def test_the_count_is_xdists_own_for_another_distribution_or_when_the_user_sets_it(tmp_path):
    project = _project(tmp_path, None)
    # One file would run in pytest's own process under loadfile; under these, xdist counts as it always does.
    assert _workers(project, "-p", "no:cacheprovider", "test_a.py", dist="load") > 0
    assert _workers(project, "-p", "no:cacheprovider", "test_a.py", env={"PYTEST_XDIST_AUTO_NUM_WORKERS": "3"}) == 3


def test_a_rerun_of_the_last_failures_starts_one_worker_per_failing_file_and_none_for_one(tmp_path):
    project = _project(tmp_path, None)
    for name in ("test_d.py", "test_e.py"):
        (project / name).write_text("def test_fails():\n    assert False\n")
    most = min(8, 3 * (os.cpu_count() or 1))

    assert _workers(project) == most  # the whole suite
    assert _pytest(project, "-n", "0").returncode == 1  # test_d and test_e fail
    assert _workers(project, "--lf") == min(2, most)  # their two files
    assert _workers(project, "--lf", "test_d.py", "test_a.py") == 0  # the failures among those named
    assert _workers(project, "--lf", "test_a.py", "test_b.py") == min(2, most)  # none failed there: both
    (project / "test_e.py").write_text("def test_fails():\n    pass\n")
    assert _workers_and_code(project, "--lf") == (min(2, most), 1)  # still both: test_e failed last time
    assert _workers(project, "--lf") == 0  # only test_d's failure is left: pytest's own process
    (project / "test_f.py").write_text("def test_fails():\n    assert False\n")
    assert _pytest(project, "-n", "0", "test_f.py", "test_d.py").returncode == 1
    (project / "test_f.py").unlink()  # its failure stays in pytest's cache; --lf skips the file, and so does the count
    assert _workers(project, "--lf") == 0
    # --cache-clear forgets the failures before --lf reads them: the whole suite, in parallel
    assert _workers(project, "--lf", "--cache-clear") == most
    assert _pytest(project, "-n", "0").returncode == 1  # the cleared cache learns test_d's failure again
    (project / "test_d.py").write_text("def test_fails():\n    pass\n")
    assert _pytest(project, "-n", "0").returncode == 0
    assert _workers_and_code(project, "--lf", "--lfnf", "none") == (0, 5)  # nothing failed last: nothing runs
