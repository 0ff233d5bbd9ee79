"""`bundle`: the guide's trust anchor bundle. The existing cluster's anchor is read back, bundled with the new
clusters' anchors, every cluster upgraded with it and its meshed pods restarted.

It comes right after `linkerd`, as in the guide: both versions' multicluster check fails while linked
clusters' anchors differ ("clusters share trust anchors"), and `link` runs that check.
"""
from __future__ import annotations

from ..model import gateways
from ..render import manifests
from ..trust import pki, files as trust
from ..backends.base import ROOTS_ANNOTATION
from ..tools.run import Dynamic
from .. import names
from .engine import Check, Context, Step, Target, ready


def lab_workloads(ctx: Context, cluster: str) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of the meshed Deployments and StatefulSets the lab runs in `cluster`: what a
    trust change must restart. The service mirror is meshed too (2.8.1 `linkerd-service-mirror`, edge
    `controller-<target>`)."""
    out = [("Deployment", names.MC_NS, names.GATEWAY)]
    out += [("Deployment", names.MC_NS, name) for name in manifests.mirror_controllers(ctx.cfg, cluster)]
    gw = gateways.resolve(ctx.cfg)
    if not gw.bundled and cluster in ctx.gateway_exporters():
        out.append(("Deployment", gw.namespace, gw.name))
    for name in ctx.cfg.cluster(cluster).workloads:
        out += manifests.rollouts(manifests.workload(ctx.cfg, cluster, name))
    return out


class Bundle(Step):
    name, summary = "bundle", "the guide's trust anchor bundle: upgrade the existing cluster, restart, add the new ones"
    after = ("linkerd",)

    def targets(self, ctx):
        return [Target.lab()] if ctx.cfg.trust.mode == "bundle" else []

    def check(self, ctx, target):
        bundle_path = trust.pki_dir(ctx.cfg, ctx.root) / "bundle.crt"
        if not bundle_path.exists():
            return Check(False, "no bundle.crt yet")
        bundle, stamp = bundle_path.read_text(), trust.bundle_stamp(bundle_path)
        for cluster in ctx.cfg.cluster_names:
            if not pki.same_certificates(ctx.backend.kube.trust_roots(cluster), bundle):
                return Check(False, f"{cluster} does not trust the bundle yet")
            for kind, ns, name in lab_workloads(ctx, cluster):
                dep = ctx.backend.kube.get(cluster, kind, ns, name)
                annotations = (dep or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
                # Pods started after the upgrade have the bundle already; a stamp of an older bundle means
                # this deployment's pods still run with the anchors before it.
                if dep is not None and annotations.get(ROOTS_ANNOTATION, stamp) != stamp:
                    return Check(False, f"{cluster} {ns}/{name} has not been restarted with the bundle")
                if dep is not None and not ready(dep):
                    return Check(False, f"{cluster} {ns}/{name} is restarting")
        return Check(True)

    def apply(self, ctx, target):
        base = trust.pki_dir(ctx.cfg, ctx.root)
        existing = trust.existing_cluster(ctx.cfg)
        new = [c for c in ctx.cfg.cluster_names if c != existing]
        # The guide: fetch the existing cluster's anchor, bundle it with the new one(s).
        ctx.backend.installer.fetch_trust_anchors(existing, base / "trustAnchor.crt")
        ctx.backend.installer.write_bundle(base / "bundle.crt", [base / "trustAnchor.crt"] + [base / c / "root.crt" for c in new])
        ctx._trust = None
        stamp = Dynamic(f"$(sha256sum {base / 'bundle.crt'} | cut -c1-16)", lambda: trust.bundle_stamp(base / "bundle.crt"))
        # Upgrade the existing cluster and restart its meshed pods, then the new clusters with the
        # bundle and their own issuer.
        ctx.backend.installer.upgrade_linkerd(existing, with_issuer=False)
        ctx.backend.installer.restart_workloads(existing, lab_workloads(ctx, existing), stamp)
        for cluster in new:
            ctx.backend.installer.upgrade_linkerd(cluster, with_issuer=True)
            ctx.backend.installer.restart_workloads(cluster, lab_workloads(ctx, cluster), stamp)

    def describe(self, ctx, target):
        existing = trust.existing_cluster(ctx.cfg)
        return [f"read {existing}'s trust anchor from its control plane into trustAnchor.crt",
                "bundle.crt = trustAnchor.crt + each new cluster's root.crt",
                f"upgrade {existing} with the bundle and restart its meshed pods",
                "upgrade the other clusters with the bundle and their issuer; restart their meshed pods"]
