"""The ordered, idempotent steps of the setup, one module per step (as kind's create actions), each with
plan (`describe`), apply and check; `engine` runs them.

`up` runs them in order; a step whose check passes is skipped, so a second `up` changes nothing. Adding a
step: write its module beside these (a `Step` subclass with `name`, `after`, `targets`, `check`, `apply`,
`describe`) and put it in `STEPS` below, in the guide's order.
"""
from __future__ import annotations

from typing import Callable

from ..backends.base import LabError
from ..errors import StepError  # noqa: F401 - raised by run_step; imported from here too
from .bundle import Bundle, lab_workloads
from .clusters import Clusters
from .engine import APPLY_TIMEOUT, Check, Context, Step, StepResult, Target, run_step, run_target, schedule  # noqa: F401
from .export import Export
from .gateway import Gateway
from .link import Link
from .linkerd import Linkerd
from .loadbalancer import LoadBalancer
from .multicluster import Multicluster
from .trust import Trust, foreign_anchors, foreign_anchors_message
from .workloads import Workloads

__all__ = ["APPLY_TIMEOUT", "Check", "Context", "Step", "StepResult", "Target", "STEPS", "STEP_NAMES", "by_name",
           "run_step", "schedule", "up", "plan", "lab_workloads", "foreign_anchors", "foreign_anchors_message",
           "Clusters", "LoadBalancer", "Trust", "Linkerd", "Bundle", "Multicluster", "Link", "Workloads", "Gateway",
           "Export"]

# The bundle comes right after `linkerd`, as in the guide: both versions' multicluster check fails while linked
# clusters' anchors differ ("clusters share trust anchors"), and `link` runs that check.
STEPS: list[Step] = [Clusters(), LoadBalancer(), Trust(), Linkerd(), Bundle(), Multicluster(), Link(), Workloads(), Gateway(),
                     Export()]
STEP_NAMES = [s.name for s in STEPS]


def by_name(name: str) -> Step:
    for step in STEPS:
        if step.name == name:
            return step
    raise LabError(f"no step named {name!r}. Fix: use one of {', '.join(STEP_NAMES)}")


def up(ctx: Context, until: str | None = None, report: Callable[[StepResult], None] = lambda r: None) -> list[StepResult]:
    chosen = STEPS[: STEP_NAMES.index(by_name(until).name) + 1] if until is not None else STEPS
    return schedule(ctx, chosen, lambda step, target: run_target(ctx, step, target), report)


def plan(ctx: Context, until: str | None = None) -> list[tuple[Step, Target, list[str]]]:
    out = []
    for step in STEPS:
        for target in step.targets(ctx):
            out.append((step, target, step.describe(ctx, target)))
        if step.name == until:
            break
    return out
