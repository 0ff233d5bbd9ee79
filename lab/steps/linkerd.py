"""`linkerd`: the control plane, installed with the lab's anchors and the cluster's issuer."""
from __future__ import annotations

import base64

from ..trust import pki, files as trust
from .. import names
from .engine import Check, Step


class Linkerd(Step):
    name, summary = "linkerd", "the control plane with the shared anchor"
    after = ("clusters", "trust")

    def check(self, ctx, target):
        cluster = target.name
        if ctx.cfg.profile.gateway_api and not ctx.backend.kube.gateway_api_installed(cluster):
            return Check(False, f"the Gateway API CRDs ({ctx.cfg.profile.gateway_api}) are not installed")
        # Compared as certificates: the charts trim what they store (edge's ca-bundle.crt, both versions'
        # issuer crt.pem), so the text never equals the file's.
        if not pki.same_certificates(ctx.backend.kube.trust_roots(cluster), ctx.trust.roots_for(cluster)):
            return Check(False, "trust roots missing or not the anchors the lab installs")
        issuer = ctx.backend.kube.get(cluster, "Secret", names.LINKERD_NS, names.ISSUER_SECRET)
        crt = base64.b64decode((issuer or {}).get("data", {}).get("crt.pem", "")).decode()
        if not pki.same_certificates(crt, ctx.trust.issuers[cluster].cert_pem):
            return Check(False, "issuer missing or not the lab's issuer for this cluster")
        return Check(True)

    def apply(self, ctx, target):
        # edge `linkerd install --crds` refuses without the Gateway API CRDs (cli/cmd/install.go).
        if ctx.cfg.profile.gateway_api:
            ctx.backend.installer.install_gateway_api(target.name)
        ctx.backend.installer.install_linkerd(target.name)

    def describe(self, ctx, target):
        base = trust.pki_dir(ctx.cfg, ctx.root)
        lines = [f"install Linkerd {ctx.cfg.profile.linkerd} with trust anchors {trust.roots_path(ctx.cfg, ctx.root, target.name)} "
                 f"and issuer {base}/{target}/issuer.crt"]
        if ctx.cfg.profile.gateway_api:
            lines.insert(0, f"install the Gateway API {ctx.cfg.profile.gateway_api} CRDs (server-side apply)")
        return lines
