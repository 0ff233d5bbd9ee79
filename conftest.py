# The scenario fixtures (lab, east, west, cluster) come from the lab's pytest plugin.
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lab import startup
from lab.tools import testorder

pytest_plugins = ["lab.pytest_plugin"]

_CACHE = pytest.StashKey[Path]()
_GOGC = pytest.StashKey[str]()
_measured: dict[str, float] = {}  # seconds per test file in this run, summed on the xdist controller


def pytest_configure(config):
    """kubectl keeps each API server's discovery under ~/.kube/cache/discovery/<host_port>/ for good
    (cli-runtime v0.32.0 genericclioptions/config_flags.go getDefaultCacheDir), and every lab a test brings up
    listens on new ports: a test run would leave hundreds of folders in the user's home. This process's
    kubectl runs keep theirs in a folder of its own under .lab/, removed when it ends (KUBECACHEDIR, which the
    same function reads first). A KUBECACHEDIR the user set is theirs. A run that was killed leaves its
    folder, named for its process: the next run removes those whose process is gone."""
    if "KUBECACHEDIR" not in os.environ:
        lab_dir = config.rootpath / ".lab"
        lab_dir.mkdir(exist_ok=True)
        for left in lab_dir.glob("kubectl-cache-*-*"):
            pid = left.name.split("-")[2]
            if pid.isdigit() and Path("/proc/self").exists() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(left, ignore_errors=True)
        config.stash[_CACHE] = Path(tempfile.mkdtemp(prefix=f"kubectl-cache-{os.getpid()}-", dir=lab_dir))
        os.environ["KUBECACHEDIR"] = str(config.stash[_CACHE])
    # kubectl is a Go program that lives a tenth of a second, and most of the garbage collection it does in that
    # time is wasted. GOGC=400 (collect when the heap has grown by 400% rather than 100%: the Go runtime's knob,
    # https://pkg.go.dev/runtime#hdr-Environment_Variables) cut 40 typical test calls of kubectl from 85 to 62 ms
    # each, and a scenario suite's 340 from 65 to 56 ms (2026-12-07); kubectl runs are a quarter of that suite's
    # CPU. It changes nothing kubectl (or any other Go tool a test runs) does. A GOGC the user set is theirs.
    if "GOGC" not in os.environ:
        config.stash[_GOGC] = os.environ["GOGC"] = "400"


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """Collecting imports every test module, and the lab, the official client and hypothesis with them: with
    the garbage collector paused, and what they made frozen afterwards (lab/startup.py), so that the full
    collections while the tests run do not walk it all again."""
    with startup.importing():
        return (yield)


def pytest_unconfigure(config):
    cache = config.stash.get(_CACHE, None)
    if cache is not None:
        os.environ.pop("KUBECACHEDIR", None)
        shutil.rmtree(cache, ignore_errors=True)
    if config.stash.get(_GOGC, None):
        os.environ.pop("GOGC", None)


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """`inv test`'s `-n auto --dist loadfile`: three workers per core, 8 at most (tests wait on their labs' probe
    periods and timeouts: on 2 cores, 4 workers kept the cores 92% busy and the run took 137 s, 6 kept them 98%
    busy and took 128 s, 2026-12-07), and never more than the test files the run names, or with `--lf` the
    files whose tests failed last (testorder.workers). Another --dist, or PYTEST_XDIST_AUTO_NUM_WORKERS,
    leaves the count to xdist."""
    if config.option.dist != "loadfile" or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    most = min(8, 3 * (os.cpu_count() or 1))
    patterns = config.getini("python_files")
    named = None  # the whole suite
    if config.args_source == pytest.Config.ArgsSource.ARGS and not config.option.pyargs:
        where = config.invocation_params.dir
        paths = [where / _file(arg) for arg in config.args]
        if not all(path.exists() for path in paths):
            return 0  # in pytest's own process, which says which path is missing (under xdist: "no tests ran")
        named = testorder.test_files(paths, patterns)
    if getattr(config.option, "lf", False) and not config.option.cacheclear:
        recorded = _last_failed_files(config)
        failed = {path.resolve() for path in recorded if path.is_file()}  # a deleted file's failure is skipped
        rerun = failed if named is None else named & failed  # --lf reruns the failures among the named files
        if rerun:
            named = rerun
        elif not recorded and config.option.last_failed_no_failures == "none":
            return 0  # no failure recorded: nothing will run
    return testorder.workers(named, most)


def _last_failed_files(config) -> list[Path]:
    """The files of the tests the last run failed, from pytest's cache (read here because xdist asks for the
    workers before the cache plugin is configured)."""
    cache_dir = Path(os.path.expandvars(os.path.expanduser(config.getini("cache_dir"))))
    try:
        failed = json.loads((config.rootpath / cache_dir / "v" / "cache" / "lastfailed").read_text())
    except (OSError, ValueError):
        return []
    return [config.rootpath / _file(nodeid) for nodeid in failed] if isinstance(failed, dict) else []


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """On the controller of `inv test`'s parallel run: one table of durations for every worker, so all of them
    collect the files in the same order (xdist refuses workers whose collections differ)."""
    node.workerinput["lab_test_durations"] = testorder.durations(node.config.rootpath)


def pytest_collection_modifyitems(config, items):
    """In each worker: whole files, longest first (lab/tools/testorder.py says why)."""
    seconds = getattr(config, "workerinput", {}).get("lab_test_durations")
    if seconds is None:
        return
    rank = {f: i for i, f in enumerate(testorder.longest_first([_file(i.nodeid) for i in items], seconds))}
    items.sort(key=lambda item: rank[_file(item.nodeid)])


def _controller(config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_runtest_logreport(report):
    _measured[_file(report.nodeid)] = _measured.get(_file(report.nodeid), 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    """A parallel run that passed and ran whole files (no -k, -m, --lf, --deselect or single tests) keeps their
    durations for the next run's order."""
    opt = session.config.option
    whole = not (opt.keyword or opt.markexpr or getattr(opt, "lf", False) or getattr(opt, "deselect", None)
                 or any("::" in arg for arg in session.config.args))
    if _controller(session.config) and exitstatus == 0 and whole and _measured:
        testorder.record(session.config.rootpath, _measured)
