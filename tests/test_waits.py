"""Waits that wake on the news: the start of the lab process and a step's poll end when the lab process
acts, not on a clock (bounds here are seconds, far above what a wake takes and far below the waits)."""
import subprocess
import sys
import time

from lab import steps
from lab.sim.process import labprocess

ROOT = str(__import__("pathlib").Path(__file__).resolve().parent.parent)


def _child(ready: labprocess.ReadyPipe, code: str) -> subprocess.Popen:
    try:
        return subprocess.Popen([sys.executable, "-c", code], env={"PYTHONPATH": ROOT, **ready.env()},
                                pass_fds=(ready.write_fd,))
    finally:
        ready.started()


def test_the_starter_wakes_when_the_lab_process_says_ready():
    ready = labprocess.ReadyPipe()
    child = _child(ready, "import time; from lab.sim.process import labprocess; labprocess.say_ready(); time.sleep(60)")
    try:
        started = time.monotonic()
        ready.wait(30)
        assert time.monotonic() - started < 15
        assert child.poll() is None  # it woke on the word, not on the child's exit
    finally:
        child.kill()
        child.wait()
        ready.close()


def test_the_starter_wakes_when_the_child_exits_without_a_word():
    ready = labprocess.ReadyPipe()
    child = _child(ready, "pass")
    try:
        started = time.monotonic()
        ready.wait(30)
        assert time.monotonic() - started < 15
    finally:
        child.wait()
        ready.close()


def test_a_poll_wakes_when_the_lab_process_has_acted(sim_lab):
    steps.up(sim_lab, until="clusters")
    provider = sim_lab.backend.provider
    provider.pause(30)  # catches up with the passes made so far
    sim_lab.backend.kube.apply("east", [{"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "news", "namespace": "default"}}])
    started = time.monotonic()
    provider.pause(30)
    assert time.monotonic() - started < 15
