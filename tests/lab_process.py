"""Killing the lab process a test started, the way the lab itself signals one: only a PID proven ours.

A PID from a record, or one read before `down`, may name another process by the time it is used (PIDs are
reused), so each kill here checks, right before the signal, that the PID is this user's lab process on this
very state directory (labprocess.is_ours)."""
from __future__ import annotations

import os
import signal

from lab.backends.base import wait_until
from lab.sim.process import labprocess


def kill_lab_process(provider) -> int:
    """SIGKILL the running lab process of `provider` (a crash, as `kill -9` makes one), wait until it is gone,
    and return its PID."""
    sim_dir = provider.sim_dir
    record = labprocess.read_record(sim_dir)
    assert record is not None and labprocess.is_ours(record.pid, sim_dir), f"no lab process of ours runs on {sim_dir}"
    os.kill(record.pid, signal.SIGKILL)
    wait_until(lambda: not labprocess.alive(record.pid), 5, "the killed lab process to be gone")
    return record.pid


def stop_leftover(provider, pid: int | None) -> None:
    """After `down`: a lab process it should have stopped is stopped now, if `pid` is still it."""
    if pid:
        labprocess.stop([pid], provider.sim_dir, grace=2.0)
