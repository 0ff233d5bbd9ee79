"""lab/startup.py: imports with the garbage collector paused. What must hold is that the collector runs again
afterwards (a process left without it keeps every reference cycle it makes from then on: a lab process runs
for hours, a test worker for minutes) and that what the imports made is set aside."""
import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest

from lab import startup


class Cycle:
    def __init__(self):
        self.me = self


@pytest.fixture(autouse=True)
def collector_back_on_after():
    yield
    gc.enable()  # a failing test here must not leave the rest of this worker without it


def test_the_collector_runs_while_the_tests_run():
    """conftest.py pauses it for collection: it must be back on for the tests."""
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0, "what collection imported was not set aside"


def test_the_collector_is_paused_inside_and_running_again_after():
    with startup.importing():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_the_imports_made_is_frozen_and_cycles_made_afterwards_are_collected_on_their_own():
    frozen_before = gc.get_freeze_count()
    with startup.importing():
        made_inside = [Cycle() for _ in range(100)]
    assert gc.get_freeze_count() >= frozen_before + len(made_inside)
    after = Cycle()
    gone = weakref.ref(after)
    del after
    for _ in range(10_000):  # allocations, which set off the collector's own passes: no gc.collect() here
        Cycle()
    assert gone() is None, "a cycle dropped after the imports was never collected"


def test_an_inner_pause_leaves_the_collector_paused_until_the_outer_one_ends():
    with startup.importing():
        with startup.importing():
            pass
        assert not gc.isenabled(), "the inner block turned the collector on under the outer one"
    assert gc.isenabled()


def test_an_import_that_fails_still_turns_the_collector_back_on():
    with pytest.raises(ModuleNotFoundError):
        with startup.importing():
            import lab.no_such_module  # noqa: F401
    assert gc.isenabled()


def test_threads_pausing_at_once_leave_the_collector_running():
    """A command imports the official client in a background thread while another thread may need it too
    (lab/kubeclient.py): interleaved pauses and resumes must not leave the collector off, as reading its
    state and changing it in two steps did. Thread switches every microsecond make the interleavings common."""
    def pause_and_resume():
        for _ in range(20_000):
            with startup.importing():
                pass

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=pause_and_resume) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert gc.isenabled()


def test_the_lab_process_collects_garbage_once_its_imports_are_done():
    """The lab process pauses the collector for its imports (lab/sim/process/daemon.py), and must turn it back
    on before it serves: it runs for hours. Run as the lab starts it, up to its usage message."""
    probe = ("import gc, runpy, sys\n"
             "sys.argv = [sys.argv[0]]  # no state directory: the entry point prints its usage and exits\n"
             "try:\n"
             "    runpy.run_module('lab.sim.process.daemon', run_name='__main__', alter_sys=True)\n"
             "except SystemExit:\n"
             "    pass\n"
             "print(gc.isenabled(), gc.get_freeze_count())\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parent.parent)
    assert "usage:" in result.stderr, result.stderr
    enabled, frozen = result.stdout.split()
    assert enabled == "True", "the lab process serves with its garbage collector off"
    assert int(frozen) > 10_000, "the lab process's imports were not set aside"
