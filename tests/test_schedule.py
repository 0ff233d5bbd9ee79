"""How `up` orders the guide's steps: each target starts once what it needs is done for the clusters it
touches, so independent work overlaps and dependent work never starts early."""
import threading
import time

import pytest

from lab.model import config
from lab import steps
from lab.backends.base import LabError


@pytest.fixture
def ctx(tmp_path):
    return steps.Context(config.parse({"name": "sched"}), backend=None, root=tmp_path)


def _timed_run(delay=0.02, fail=None):
    """A stand-in for a step on a target: sleeps, records when it ran, fails where told."""
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    lock = threading.Lock()

    def run(step, target):
        started = time.monotonic()
        time.sleep(delay)
        with lock:
            spans[(step.name, str(target))] = (started, time.monotonic())
        if (step.name, str(target)) == fail:
            raise LabError(f"{step.name} failed for {target}")
        return (step.name, str(target))

    return run, spans


def test_every_step_comes_after_only_earlier_steps():
    seen = set()
    for step in steps.STEPS:
        assert set(step.after) <= seen, f"{step.name} waits for a later step: {set(step.after) - seen}"
        seen.add(step.name)


def test_dependent_targets_start_only_after_what_they_need(ctx):
    run, spans = _timed_run()
    steps.schedule(ctx, steps.STEPS, run)
    for step in steps.STEPS:
        for target in step.targets(ctx):
            for need in steps.STEPS:
                if need.name not in step.after:
                    continue
                for other in need.targets(ctx):
                    every = ctx.cfg.cluster_names
                    if other.clusters(every) & target.clusters(every):
                        assert spans[(need.name, str(other))][1] <= spans[(step.name, str(target))][0], \
                            f"{step.name}/{target} started before {need.name}/{other} ended"


def test_the_trust_anchor_is_made_while_the_clusters_are_created(ctx):
    run, spans = _timed_run(delay=0.1)
    steps.schedule(ctx, steps.STEPS, run)
    trust_start = spans[("trust", "lab")][0]
    assert trust_start < min(spans[("clusters", c)][1] for c in ("east", "west"))


def test_results_come_back_in_step_order(ctx):
    run, _ = _timed_run(delay=0)
    results = steps.schedule(ctx, steps.STEPS, run)
    assert results == [(s.name, str(t)) for s in steps.STEPS for t in s.targets(ctx)]


def test_a_failure_stops_what_depends_on_it_and_is_raised(ctx):
    run, spans = _timed_run(fail=("linkerd", "west"))
    with pytest.raises(LabError, match="linkerd failed for west"):
        steps.schedule(ctx, steps.STEPS, run)
    assert ("linkerd", "east") in spans  # already running or independent: it finishes
    assert ("link", "west->east") not in spans and ("export", "west->east") not in spans
