"""`multicluster`: the multicluster extension, its gateway and (link-gen) the service mirror controllers."""
from __future__ import annotations

from ..model import gateways
from ..render import manifests, readback
from .. import names
from .engine import Check, Step, ready


class Multicluster(Step):
    name, summary = "multicluster", "the multicluster extension and its gateway"
    after = ("loadbalancer", "linkerd", "bundle")

    def check(self, ctx, target):
        cluster = target.name
        svc = ctx.backend.kube.get(cluster, "Service", names.MC_NS, names.GATEWAY)
        if not readback.ingress_ip(svc):
            return Check(False, "gateway service has no LoadBalancer address")
        if not ready(ctx.backend.kube.get(cluster, "Deployment", names.MC_NS, names.GATEWAY)):
            return Check(False, "gateway deployment not ready")
        # The whole install, not only its first objects: an install cut short leaves the gateway without
        # the Link CRD or the service mirror, and linking would then fail.
        if ctx.cfg.profile.link_crd and not ctx.backend.kube.get(cluster, "CustomResourceDefinition", "", manifests.LINK_CRD):
            return Check(False, f"the Link CRD {manifests.LINK_CRD} is not installed")
        # Links made with the deprecated `link` bring their controllers at the link step
        for name in [] if ctx.cfg.links_bring_controllers else manifests.mirror_controllers(ctx.cfg, cluster):
            if not ready(ctx.backend.kube.get(cluster, "Deployment", names.MC_NS, name)):
                return Check(False, f"service mirror {names.MC_NS}/{name} not ready")
        return Check(True)

    def apply(self, ctx, target):
        ctx.backend.installer.install_multicluster(target.name)

    def describe(self, ctx, target):
        port, path = ctx.cfg.profile.gateway_probe
        return [f"install the multicluster extension: {names.MC_NS}/{names.GATEWAY} "
                f"(LoadBalancer, ports {gateways.GATEWAY_PORT} mc-gateway and {port} mc-probe, probe path {path})"]
