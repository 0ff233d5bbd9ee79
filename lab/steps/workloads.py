"""`workloads`: the sample workloads of each cluster (fixtures/workloads), injected and rolled out."""
from __future__ import annotations

from ..render import manifests
from .engine import Check, Step, Target, ready


class Workloads(Step):
    name, summary = "workloads", "the sample workloads"
    after = ("linkerd", "bundle")  # injected; the bundle restarts meshed pods

    def targets(self, ctx):
        return [Target.cluster(c.name) for c in ctx.cfg.clusters if c.workloads]

    def _objects(self, ctx, cluster: str) -> list[dict]:
        return [o for w in ctx.cfg.cluster(cluster).workloads for o in manifests.workload(ctx.cfg, cluster, w)]

    def check(self, ctx, target):
        objects = self._objects(ctx, target.name)
        # Every object, not only the ones that roll out: an apply cut short (killed) can leave a ready
        # Deployment without the Service after it in the file.
        for obj in objects:
            meta = obj["metadata"]
            if ctx.backend.kube.get(target.name, obj["kind"], meta.get("namespace", ""), meta["name"]) is None:
                return Check(False, f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']} does not exist".replace(" /", " "))
        for kind, ns, name in manifests.rollouts(objects):
            if not ready(ctx.backend.kube.get(target.name, kind, ns, name)):
                return Check(False, f"{kind.lower()} {ns}/{name} not ready")
        return Check(True)

    def apply(self, ctx, target):
        objects = self._objects(ctx, target.name)
        ctx.backend.kube.apply(target.name, objects)
        for kind, ns, name in manifests.rollouts(objects):
            ctx.backend.kube.wait_rollout(target.name, ns, name, kind)

    def describe(self, ctx, target):
        return [f"apply fixtures/workloads/{w}.yaml in namespace {ctx.cfg.namespace}" for w in ctx.cfg.cluster(target.name).workloads]
