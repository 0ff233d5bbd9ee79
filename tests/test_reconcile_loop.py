"""The lab process's reconcile loop between wakes: a pass that raised comes again within a second, once; a pass
that passed waits for the next wake; a journal is folded into a snapshot when its age falls due. None of them
waits for the 30 s resync, and none spins."""
import asyncio
import time

import pytest

from lab.sim.process import daemon

assert daemon.RESYNC_SECONDS > 4 * daemon.RETRY_SECONDS  # what these tests tell apart


class Cluster:
    """A cluster whose reconcile raises the first `failures` times, as a broken object makes a controller do;
    it notes when each pass reached it."""

    name = "east"

    def __init__(self, failures: int = 0):
        self.failures, self.passes = failures, []

    async def reconcile(self) -> None:
        self.passes.append(time.monotonic())
        if len(self.passes) <= self.failures:
            raise RuntimeError("a controller tripped over an object")


class Journal:
    """What the loop reads of the journal: how much it holds, and when a snapshot reset it."""

    def __init__(self):
        self.size, self.seq, self.resets = 1, 1, []

    def reset(self) -> None:
        self.size = 0
        self.resets.append(time.monotonic())


async def _no_pass_within(lab: daemon.LabProcess, seconds: float) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(lab._passed.wait(), seconds)


def test_a_pass_that_raised_comes_again_within_a_second_once(tmp_path):
    lab = daemon.LabProcess(tmp_path)
    broken = lab.clusters["east"] = Cluster(failures=1)

    async def scenario():
        loop = asyncio.create_task(lab.reconcile_forever())
        lab._mark()
        while len(broken.passes) < 2:
            await asyncio.wait_for(lab._passed.wait(), daemon.RETRY_SECONDS + 2)
        await _no_pass_within(lab, daemon.RETRY_SECONDS + 0.5)  # the retry passed: nothing more is owed
        await lab.shutdown()
        await asyncio.wait_for(loop, 5)

    asyncio.run(scenario())
    first, second = broken.passes[:2]
    assert daemon.RETRY_SECONDS <= second - first < daemon.RETRY_SECONDS + 1.5


def test_a_pass_that_passed_waits_for_the_next_wake(tmp_path):
    lab = daemon.LabProcess(tmp_path)
    fine = lab.clusters["east"] = Cluster()

    async def scenario():
        loop = asyncio.create_task(lab.reconcile_forever())
        lab._mark()
        await asyncio.wait_for(lab._idle.wait(), 5)
        await _no_pass_within(lab, daemon.RETRY_SECONDS + 0.5)
        passes = len(fine.passes)
        lab._mark()  # a write
        await asyncio.wait_for(lab._passed.wait(), 5)
        after = len(fine.passes)
        await lab.shutdown()
        await asyncio.wait_for(loop, 5)
        return passes, after

    assert asyncio.run(scenario()) == (1, 2)


def test_a_journal_is_folded_into_a_snapshot_when_its_age_falls_due_and_not_before(tmp_path):
    lab = daemon.LabProcess(tmp_path)  # no cluster: the snapshot is of none
    lab.journal = Journal()
    passes = []

    async def scenario():
        loop = asyncio.create_task(lab.reconcile_forever())
        lab._saved = time.monotonic() - daemon.COMPACT_SECONDS + 0.5  # due half a second from now
        due = lab._saved + daemon.COMPACT_SECONDS
        lab._mark()
        while not lab.journal.resets:
            await asyncio.wait_for(lab._passed.wait(), 3)
            passes.append(time.monotonic())
        await lab.shutdown()
        await asyncio.wait_for(loop, 5)
        return due

    due = asyncio.run(scenario())
    (reset,) = lab.journal.resets
    assert due <= reset < due + 1.5
    assert len(passes) == 2  # the write's pass, then the one the compaction woke: no pass between them
    assert (tmp_path / "state.json").is_file()
