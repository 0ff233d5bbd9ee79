"""`clusters`: create each cluster (kind's `create cluster`, or the lab process's simulated one)."""
from __future__ import annotations

from .engine import Check, Step


class Clusters(Step):
    name, summary = "clusters", "create the clusters"

    def check(self, ctx, target):
        return Check(ctx.backend.provider.cluster_exists(target.name), "cluster does not exist")

    def apply(self, ctx, target):
        ctx.backend.provider.create_cluster(target.name)

    def describe(self, ctx, target):
        c = ctx.cfg.cluster(target.name)
        return [f"create cluster {target} (pods {c.pod_subnet}, services {c.service_subnet})"]
