"""lab/startup.py: imports with the garbage collector paused. What must hold is that the collector runs again
afterwards (a lab process left without it would keep every reference cycle it ever made) and that what the
imports made is set aside."""
import gc
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from lab import startup


class Cycle:
    def __init__(self):
        self.me = self


@pytest.fixture(autouse=True)
def collector_running():
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_paused_inside_and_running_again_after():
    with startup.importing():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_the_imports_made_is_frozen_and_what_comes_after_is_collected_again():
    frozen_before = gc.get_freeze_count()
    with startup.importing():
        made_inside = [Cycle() for _ in range(100)]
    assert gc.get_freeze_count() >= frozen_before + len(made_inside)
    after = Cycle()  # a cycle made afterwards and dropped is garbage the collector still finds
    gone = weakref.ref(after)
    del after
    gc.collect()
    assert gone() is None


def test_an_inner_pause_leaves_the_collector_to_whoever_paused_it_first():
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
