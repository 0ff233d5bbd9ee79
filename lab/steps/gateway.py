"""`gateway`: the chosen gateway (the bundled Linkerd one, or Ambassador) serving in each exporting cluster."""
from __future__ import annotations

from ..model import gateways
from ..render import readback
from .. import names
from .engine import Check, Step, Target, ready


class Gateway(Step):
    name, summary = "gateway", "the chosen gateway serving in each exporting cluster"
    after = ("multicluster",)

    def targets(self, ctx):
        return [Target.cluster(c) for c in ctx.gateway_exporters()]

    def check(self, ctx, target):
        gw = gateways.resolve(ctx.cfg)
        svc = ctx.backend.kube.get(target.name, "Service", gw.namespace, gw.name)
        if not readback.ingress_ip(svc):
            return Check(False, f"{gw.namespace}/{gw.name} has no LoadBalancer address")
        ports = {p.get("name") for p in svc["spec"].get("ports", [])}
        annotations = svc["metadata"].get("annotations", {})
        if not {"mc-gateway", "mc-probe"} <= ports or names.GATEWAY_IDENTITY_ANNOTATION not in annotations:
            return Check(False, f"{gw.namespace}/{gw.name} lacks the mc-gateway/mc-probe ports or the mirror annotations")
        if not ready(ctx.backend.kube.get(target.name, "Deployment", gw.namespace, gw.name)):
            return Check(False, f"deployment {gw.namespace}/{gw.name} not ready")
        return Check(True)

    def apply(self, ctx, target):
        ctx.backend.installer.install_gateway(target.name, gateways.resolve(ctx.cfg))

    def describe(self, ctx, target):
        return [gateways.resolve(ctx.cfg).describe(ctx.cfg)]
