"""The lab process's reconcile loop between wakes: a pass that raised comes again within a second, and a journal
is folded into a snapshot when its age falls due, without waiting for the 30 s resync."""
import asyncio
import time

import pytest

from lab.sim.process import daemon


class Cluster:
    """A cluster whose reconcile raises the first `failures` times, as a broken object makes a controller do."""

    name = "east"

    def __init__(self, failures: int):
        self.failures, self.passes = failures, []

    async def reconcile(self) -> None:
        self.passes.append(time.monotonic())
        if len(self.passes) <= self.failures:
            raise RuntimeError("a controller tripped over an object")


class Journal:
    """What the loop reads of the journal: how much it holds, and what a snapshot resets."""

    def __init__(self):
        self.size, self.seq, self.resets = 1, 1, 0

    def reset(self) -> None:
        self.size, self.resets = 0, self.resets + 1


async def _run(lab: daemon.LabProcess, until, timeout: float) -> float:
    """Run the loop, woken once, until `until()` holds: the seconds it took."""
    loop = asyncio.create_task(lab.reconcile_forever())
    started = time.monotonic()
    lab._mark()
    try:
        while not until():
            assert time.monotonic() - started < timeout, "the loop never came back"
            await asyncio.sleep(0.01)
        return time.monotonic() - started
    finally:
        lab._stopping.set()
        lab._wake.set()
        await asyncio.wait_for(loop, 5)


def test_a_pass_that_raised_comes_again_within_a_second_and_then_waits_for_a_wake(tmp_path):
    lab = daemon.LabProcess(tmp_path)
    broken = Cluster(failures=1)
    lab.clusters["east"] = broken
    took = asyncio.run(_run(lab, lambda: len(broken.passes) == 2, timeout=daemon.RESYNC_SECONDS / 3))
    assert daemon.RETRY_SECONDS <= took < daemon.RETRY_SECONDS + 1.5
    assert broken.passes[1] - broken.passes[0] >= daemon.RETRY_SECONDS
    assert daemon.RESYNC_SECONDS > 2 * daemon.RETRY_SECONDS  # what this test tells apart


def test_a_pass_that_passed_waits_for_the_next_wake_or_the_resync(tmp_path):
    lab = daemon.LabProcess(tmp_path)
    fine = Cluster(failures=0)
    lab.clusters["east"] = fine

    async def scenario():
        loop = asyncio.create_task(lab.reconcile_forever())
        lab._mark()
        await asyncio.wait_for(lab._idle.wait(), 5)
        with pytest.raises(asyncio.TimeoutError):  # a retry would have come by now: none is owed
            await asyncio.wait_for(lab._passed.wait(), daemon.RETRY_SECONDS + 0.5)
        passes = len(fine.passes)
        lab._mark()  # a write
        await asyncio.wait_for(lab._passed.wait(), 5)
        after = len(fine.passes)
        lab._stopping.set()
        lab._wake.set()
        await asyncio.wait_for(loop, 5)
        return passes, after

    assert asyncio.run(scenario()) == (1, 2)


def test_a_journal_is_folded_into_a_snapshot_when_its_age_falls_due(tmp_path):
    lab = daemon.LabProcess(tmp_path)  # no cluster: the snapshot is of none
    lab.journal = Journal()
    lab._saved = time.monotonic() - daemon.COMPACT_SECONDS + 0.5  # due half a second from now
    took = asyncio.run(_run(lab, lambda: lab.journal.resets == 1, timeout=daemon.RESYNC_SECONDS / 3))
    assert 0.4 < took < 2.0
    assert (tmp_path / "state.json").is_file()
