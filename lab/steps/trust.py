"""`trust`: one trust anchor and an issuer per cluster, as files on this machine (lab/trust/files.py); the guide's
`step certificate create` lines in a script."""
from __future__ import annotations

from ..trust import pki, files as trust
from ..backends.base import LabError
from .engine import Check, Context, Step, Target


def trusted_roots(ctx: Context) -> dict[str, str | None]:
    """The anchors each existing cluster trusts now, as its control plane stores them."""
    return {c: ctx.backend.kube.trust_roots(c) for c in ctx.cfg.cluster_names if ctx.backend.provider.cluster_exists(c)}


def foreign_anchors(ctx: Context) -> dict[str, list[str]]:
    """Per existing cluster, the fingerprints of the anchors it trusts that the lab's pki/ does not hold."""
    return trust.foreign_anchors(ctx.cfg, ctx.root, trusted_roots(ctx))


def foreign_anchors_message(ctx: Context, cluster: str, prints: list[str]) -> str:
    return trust.foreign_anchors_message(ctx.cfg, ctx.root, cluster, prints)


def _refuse_orphaned_clusters(ctx: Context) -> None:
    """New trust material must not be made for clusters that already trust anchors the lab no longer
    holds (its pki/ was removed): a new anchor would pass every check and break traffic at the next restart."""
    for cluster, prints in foreign_anchors(ctx).items():
        raise LabError(foreign_anchors_message(ctx, cluster, prints))


class Trust(Step):
    name, summary = "trust", "one trust anchor, an issuer per cluster"
    after = ()  # files on this machine: nothing in a cluster

    def targets(self, ctx):
        return [Target.lab()]

    def check(self, ctx, target):
        try:
            material = trust.load(ctx.cfg, ctx.root)
        except pki.PKIError as exc:
            return Check(False, str(exc))
        return Check(material is not None, "no trust anchor and issuers yet")

    def apply(self, ctx, target):
        if trust.load(ctx.cfg, ctx.root) is None:
            _refuse_orphaned_clusters(ctx)
        ctx._trust = trust.ensure(ctx.cfg, ctx.root)

    def script(self, ctx, target):
        for command in trust.step_cli_commands(ctx.cfg, ctx.root):
            ctx.backend.provider.runner.run(command)

    def describe(self, ctx, target):
        base = trust.pki_dir(ctx.cfg, ctx.root)
        source = f"use the anchor in {ctx.cfg.trust.anchor_cert}" if ctx.cfg.trust.anchor_cert else \
            f"create trust anchor {base}/root.crt (ECDSA P-256, root-ca, SAN {pki.anchor_name(ctx.cfg.trust_domain)})"
        return [source] + [f"create issuer {base}/{c}/issuer.crt (intermediate-ca, 8760h)" for c in ctx.cfg.cluster_names]
