"""`loadbalancer`: MetalLB and the cluster's address pool, so the gateway Service gets an address."""
from __future__ import annotations

from .engine import Check, Step


class LoadBalancer(Step):
    name, summary = "loadbalancer", "MetalLB and its address pool"
    after = ("clusters",)

    def check(self, ctx, target):
        for want in ctx.backend.installer.loadbalancer_objects(target.name):
            meta = want["metadata"]
            have = ctx.backend.kube.get(target.name, want["kind"], meta["namespace"], meta["name"])
            if not have or any(have.get(k) != want[k] for k in ("spec", "data") if k in want):
                return Check(False, f"no {want['kind']} {meta['namespace']}/{meta['name']} for {ctx.backend.provider.lb_pool(target.name)}")
        return Check(True)

    def apply(self, ctx, target):
        ctx.backend.installer.install_loadbalancer(target.name)
        ctx.backend.kube.apply(target.name, ctx.backend.installer.loadbalancer_objects(target.name))

    def describe(self, ctx, target):
        objects = ", ".join(f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
                            for o in ctx.backend.installer.loadbalancer_objects(target.name))
        pool = ctx.backend.provider.lb_pool(target.name)
        if pool is None:
            return ["use the cluster's own LoadBalancer implementation (nothing to install)"]
        return [f"install MetalLB {ctx.cfg.profile.metallb}", f"apply {objects} ({pool})"]
