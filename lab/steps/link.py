"""`link`: each source cluster linked to its target (credentials, and the Link where the profile has one),
then the guide's multicluster check in the source."""
from __future__ import annotations

from ..parsers import cli_output
from ..model import gateways
from ..render import manifests
from .. import names
from .engine import Check, Step, ready


class Link(Step):
    name, summary = "link", "link each source cluster to its target"
    after = ("multicluster",)

    def targets(self, ctx):
        return ctx.links()

    def check(self, ctx, target):
        source, dest = target.source, target.dest
        # What the profile's `link` creates: a Link (edge link-gen) or only the credentials Secret (2.8.1).
        if ctx.cfg.profile.link_crd:
            if not ctx.backend.kube.get(source, "Link", names.MC_NS, dest):
                return Check(False, f"no Link {dest} in {source}")
            legacy = ctx.backend.kube.get(source, "Deployment", names.MC_NS, manifests.legacy_controller_name(dest))
            if ctx.cfg.link_command == "link-gen" and legacy is not None:
                return Check(False, f"{source} still runs the deprecated `link`'s controller {names.MC_NS}/{legacy['metadata']['name']} "
                                    f"beside the extension's")
            if ctx.cfg.link_command == "link" and not ready(legacy):
                return Check(False, f"{source}'s controller {names.MC_NS}/{manifests.legacy_controller_name(dest)} not ready")
        elif not ctx.backend.kube.get(source, "Secret", names.MC_NS, manifests.credentials_secret_name(dest)):
            return Check(False, f"no Secret {names.MC_NS}/{manifests.credentials_secret_name(dest)} in {source}")
        if not ctx.link_config(target).via_gateway and not ctx.backend.provider.pods_routed(source, dest):
            return Check(False, f"the pod networks of {source} and {dest} are not routed to each other")
        results = ctx.backend.kube.check(source)
        for name in (ctx.cfg.profile.check_credentials, ctx.cfg.profile.check_anchors):
            result = cli_output.find_check(results, name)
            if result is None:
                return Check(False, f"`{name}` has not run in {source}'s check yet")
            if result.failed and result.names_cluster(dest):
                return Check(False, f"{name}: {result.error}")
        return Check(True)

    def apply(self, ctx, target):
        source, dest = target.source, target.dest
        ctx.backend.installer.grant_link_access(dest, source)  # Helm: the guide's access credentials for this source
        # The bundled gateway exists by now; the export step re-links where the Link names another. A
        # pod-to-pod link names none (`link-gen --gateway=false`).
        gateway = gateways.resolve(ctx.cfg, "linkerd") if ctx.link_config(target).via_gateway else None
        if gateway is None:
            ctx.backend.provider.route_pods(source, dest)
        if ctx.cfg.profile.link_crd and ctx.cfg.link_command == "link-gen":
            # Moving from the deprecated `link`: the extension's controller (from `multicluster install`) serves
            # the Link from now on, so the link's own controller goes first (two controllers for one Link fail
            # the check); the Link and its mirrors stay.
            ctx.backend.installer.retire_link_controller(source, dest)
        ctx.backend.installer.link(source, dest, gateway, service_account=ctx.backend.installer.link_account(source))

    def describe(self, ctx, target):
        source, dest = target.source, target.dest
        made = f"and Link {dest} " if ctx.cfg.profile.link_crd else ""
        if not ctx.link_config(target).via_gateway:
            made = f"and Link {dest} without a gateway (pod-to-pod; their pod CIDRs routed to each other) "
        return [f"link {source} to {dest}: credentials secret {manifests.credentials_secret_name(dest)} {made}in {source}, "
                f"then `linkerd {' '.join(ctx.cfg.profile.mc_check)}` there"]
