"""How steps run: what a step is (plan, apply, check), what it acts on, and the order `up` runs them in.

A step is done when the cluster says so, not when its command returned: after `apply` it waits for its
own check to pass. Work that is per cluster (or per link) runs for every target at once, and `schedule`
starts each target as soon as what it comes `after` is done for the clusters it touches.
"""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..trust import files as trust
from ..backends.base import Backend, LabError, wait_until
from ..model.config import LabConfig, LinkConfig
from ..errors import StepError

APPLY_TIMEOUT = 60.0
APPLY_POLL = 0.05  # seconds between two looks at a check that has not passed yet


@dataclass(frozen=True)
class Target:
    """What one run of a step acts on: one cluster, one link (its source mirrors from its dest), or the whole
    lab. `name` is what `up` prints: `east`, `west->east`, `lab`."""

    name: str
    source: str | None = None
    dest: str | None = None

    @classmethod
    def cluster(cls, name: str) -> "Target":
        return cls(name)

    @classmethod
    def link(cls, source: str, dest: str) -> "Target":
        return cls(f"{source}->{dest}", source, dest)

    @classmethod
    def lab(cls) -> "Target":
        return cls("lab")

    @property
    def is_link(self) -> bool:
        return self.source is not None

    def clusters(self, every: list[str]) -> set[str]:
        """The clusters this target touches: itself, both ends of a link, or all of them (the lab)."""
        if self.is_link:
            return {self.source, self.dest}
        return {self.name} if self.name in every else set(every)

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


@dataclass
class Context:
    """What a step knows of the lab it works on: the config, the backend, the state directory, and the
    facts several steps derive from the config."""

    cfg: LabConfig
    backend: Backend
    root: Path
    _trust: trust.TrustMaterial | None = field(default=None, repr=False)

    @property
    def trust(self) -> trust.TrustMaterial:
        if self._trust is None:
            self._trust = trust.load(self.cfg, self.root)
        if self._trust is None:
            raise LabError("no trust material yet. Fix: run `./labctl up` (or `./labctl step trust`)")
        return self._trust

    def clusters(self) -> list[Target]:
        return [Target.cluster(name) for name in self.cfg.cluster_names]

    def links(self) -> list[Target]:
        return [Target.link(link.source, link.target) for link in self.cfg.links]

    def link_config(self, target: Target) -> LinkConfig:
        return next(link for link in self.cfg.links if (link.source, link.target) == (target.source, target.dest))

    def gateway_exporters(self) -> list[str]:
        """Clusters whose exports go through a gateway (pod-to-pod exports need none)."""
        return [c.name for c in self.cfg.clusters if c.exports and self.cfg.export_mode(c.name) == "gateway"]


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class StepResult:
    step: str
    target: Target
    outcome: str  # "already done", "applied", "failed"
    seconds: float
    detail: str = ""


class Step:
    """One step of the guide. `after` names the steps whose targets must be done before a target of this
    one that shares a cluster with them; `up` starts every target as soon as those are done."""

    name = ""
    summary = ""
    after: tuple[str, ...] = ()
    # A step whose check reads only what its apply writes and what the clusters' controllers make, or what wakes
    # them, may be looked at this often (seconds) on a provider whose pause ends at each controller pass
    # (`Provider.pause_ends_on_pass`): the look still comes right after the pass that can change the answer,
    # without the looks in between that cannot. None: every APPLY_POLL.
    pass_paced_poll: float | None = None

    def targets(self, ctx: Context) -> list[Target]:
        return ctx.clusters()

    def check(self, ctx: Context, target: Target) -> Check:
        raise NotImplementedError

    def apply(self, ctx: Context, target: Target) -> None:
        raise NotImplementedError

    def describe(self, ctx: Context, target: Target) -> list[str]:
        raise NotImplementedError

    def script(self, ctx: Context, target: Target) -> None:
        """Emit this step's commands into a scripting backend's runner; most steps just apply."""
        self.apply(ctx, target)


def ready(workload: dict | None) -> bool:
    """A Deployment's or StatefulSet's ready replicas reach what it asks for."""
    if not workload:
        return False
    return workload.get("status", {}).get("readyReplicas", 0) >= workload["spec"].get("replicas", 1)


def run_target(ctx: Context, step: Step, target: Target) -> StepResult:
    """Check; if not done, apply and wait until the check passes (or say what it still finds)."""
    started = time.monotonic()
    try:
        first = step.check(ctx, target)
        if first.ok:
            return StepResult(step.name, target, "already done", time.monotonic() - started)
        step.apply(ctx, target)
        last: list[Check] = []

        def passed():
            last.clear()  # empty while the check runs: a check that raises leaves it so
            last.append(step.check(ctx, target))
            return last[0].ok

        try:
            paced = step.pass_paced_poll if step.pass_paced_poll and ctx.backend.provider.pause_ends_on_pass else None
            wait_until(passed, APPLY_TIMEOUT, f"step {step.name} on {target} to take effect", interval=paced or APPLY_POLL,
                       pause=ctx.backend.provider.pause)
        except LabError as exc:
            if not last:  # the check itself failed (the lab process died, say): that is the news
                raise StepError(step.name, str(target), str(exc)) from None
            raise StepError(step.name, str(target), f"applied, but its check still fails after {APPLY_TIMEOUT:.0f}s: "
                                                    f"{last[0].detail}") from None
        return StepResult(step.name, target, "applied", time.monotonic() - started)
    except StepError:
        raise
    except (LabError, FileNotFoundError) as exc:  # LabError: the root of config, PKI, command and tool errors
        error = StepError(step.name, str(target), str(exc))
        error.detail = getattr(exc, "detail", "")
        raise error from None


def run_step(ctx: Context, step: Step, report: Callable[[StepResult], None] = lambda r: None) -> list[StepResult]:
    """Run one step on all its targets at once; raise the first failure after all have finished."""
    targets = step.targets(ctx)
    results: list[StepResult] = []
    errors: list[StepError] = []
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = [pool.submit(run_target, ctx, step, t) for t in targets]
        for future in futures:
            try:
                result = future.result()
            except StepError as exc:
                errors.append(exc)
                continue
            results.append(result)
            report(result)
    if errors:
        raise errors[0]
    return results


def schedule(ctx: Context, chosen: list[Step], run: Callable[[Step, Target], object],
             report: Callable[[object], None] = lambda r: None) -> list:
    """Run every target of `chosen` as soon as what it comes `after` is done for the clusters it
    touches, so one cluster's work never waits for another's when it need not. A failure stops new
    starts; what runs finishes; the first failure is raised. Results come back in step order."""
    every = ctx.cfg.cluster_names
    nodes = [(step, target) for step in chosen for target in step.targets(ctx)]
    needs = {node: {other for other in nodes if other[0].name in node[0].after
                    and other[1].clusters(every) & node[1].clusters(every)} for node in nodes}
    done: dict[tuple, object] = {}
    errors: list[Exception] = []
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        running: dict = {}
        waiting = list(nodes)
        while waiting or running:
            if not errors:
                for node in [n for n in waiting if needs[n] <= done.keys()]:
                    waiting.remove(node)
                    running[pool.submit(run, *node)] = node
            if not running:
                break  # a failure left the rest waiting
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                node = running.pop(future)
                try:
                    done[node] = future.result()
                except Exception as exc:  # noqa: BLE001 - raised below, after the rest finish
                    errors.append(exc)
                    continue
                report(done[node])
    if errors:
        raise errors[0]
    return [done[node] for node in nodes]
