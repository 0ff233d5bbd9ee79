"""`export`: services exported from each target (through the gateway, pod-to-pod, or as federated members),
and the wait until linked clusters mirror them."""
from __future__ import annotations

from ..model import gateways
from ..render import manifests, readback
from .. import names
from .engine import Check, Context, Step


def _unmarked(ctx: Context, cluster: str, ns: str, name: str, field: str, want: dict) -> Check | None:
    """A failing Check when `cluster`'s service is missing or lacks the marks (`field`: labels or annotations)."""
    svc = ctx.backend.kube.get(cluster, "Service", ns, name)
    if svc is None:
        return Check(False, f"service {ns}/{name} does not exist in {cluster}")
    have = svc["metadata"].get(field) or {}
    if any(have.get(k) != v for k, v in want.items()):
        return Check(False, f"service {ns}/{name} in {cluster} does not carry the {field} {want}")
    return None


class Export(Step):
    name, summary = "export", "export services (through the gateway, pod-to-pod, or as federated members); linked clusters mirror them"
    after = ("link", "workloads", "gateway")
    # The wait is mostly for the first gateway probe, one probe period after the link. The check reads objects
    # (the export's marks, the mirror's Services and Endpoints, made in controller passes) and the gateways'
    # liveness, whose first change wakes a pass (lab/sim/mesh/mirror.py `_on_liveness`); each look also ends
    # after a second without a pass. So a look per pass, not twenty a second.
    pass_paced_poll = 1.0

    def targets(self, ctx):
        exporting = {c.name for c in ctx.cfg.clusters if c.exports or c.federated}
        return [t for t in ctx.links() if t.dest in exporting]

    def check(self, ctx, target):
        source, dest = target.source, target.dest
        if ctx.cfg.cluster(dest).exports:
            through = self._check_gateway if ctx.link_config(target).via_gateway else self._check_pod_to_pod
            result = through(ctx, source, dest)
            if not result.ok:
                return result
        return self._check_federated(ctx, source, dest)

    def _check_federated(self, ctx, source, dest) -> Check:
        """Each federated member of `dest` is listed on `<name>-federated` in `source` as `<name>@<dest>`
        (edge-26.8.3 cluster_watcher.go getFederatedServiceAnnotations)."""
        for ns, name in ctx.cfg.federated(dest):
            unmarked = _unmarked(ctx, dest, ns, name, "labels", names.FEDERATED_SELECTOR)
            if unmarked:
                return unmarked
            federated = ctx.backend.kube.get(source, "Service", ns, f"{name}-federated") or {"metadata": {}}
            members = (federated["metadata"].get("annotations") or {}).get(names.REMOTE_DISCOVERY_ANNOTATION, "")
            if f"{name}@{dest}" not in members.split(","):
                return Check(False, f"{source}'s {ns}/{name}-federated does not list {name}@{dest} yet")
        return Check(True)

    def _check_gateway(self, ctx, source, dest) -> Check:
        gw = gateways.resolve(ctx.cfg)
        address = readback.ingress_ip(ctx.backend.kube.get(dest, "Service", gw.namespace, gw.name))
        field, want = manifests.export_marks(ctx.cfg, dest)
        headless = set(manifests.headless_exports(ctx.cfg, dest))
        if ctx.cfg.profile.export == "label":
            link = ctx.backend.kube.get(source, "Link", names.MC_NS, dest) or {}
            if link.get("spec", {}).get("gatewayAddress") != address:
                return Check(False, f"the Link in {source} does not name {dest}'s gateway {gw.namespace}/{gw.name} ({address})")
        for ns, name in ctx.cfg.exported(dest):
            unmarked = _unmarked(ctx, dest, ns, name, field, want)
            if unmarked:
                return unmarked
            if ctx.backend.kube.get(source, "Namespace", "", ns) is None and not ctx.cfg.profile.mirror_creates_namespaces:
                return Check(False, f"namespace {ns} does not exist in {source}, and the service mirror skips services "
                                    f"whose namespace is missing (an event ServiceMirroringSkipped in {dest} says so). "
                                    f"Fix: create namespace {ns} in {source}")
            eps = ctx.backend.kube.get(source, "Endpoints", ns, f"{name}-{dest}") or {}
            if (ns, name) in headless:  # per pod: each hostname at its endpoint mirror, which points at the gateway
                hosts = [a.get("hostname") for subset in eps.get("subsets", []) for a in subset.get("addresses", [])]
                if not hosts or not all(hosts):
                    return Check(False, f"{source}'s headless mirror {ns}/{name}-{dest} names no pods yet")
                pending = [h for h in hosts if {a["ip"] for subset in (ctx.backend.kube.get(source, "Endpoints", ns, f"{h}-{dest}") or {})
                                                .get("subsets", []) for a in subset.get("addresses", [])} != {address}]
                if pending:
                    return Check(False, f"{source}'s endpoint mirrors {', '.join(f'{h}-{dest}' for h in pending)} do not point at {address}")
                continue
            ips = {a["ip"] for subset in eps.get("subsets", []) for a in subset.get("addresses", [])}
            if ips != {address}:
                return Check(False, f"{source}'s mirror {ns}/{name}-{dest} points at {sorted(ips) or 'nothing'}, not {address}")
        for listed in ctx.backend.kube.gateways(source):
            if listed.cluster == dest and listed.name in (gw.name, None):
                return Check(listed.alive, f"{source} lists {dest}'s gateway as not alive")
        return Check(False, f"{source} does not list {dest}'s gateway {gw.namespace}/{gw.name}")

    def _check_pod_to_pod(self, ctx, source, dest) -> Check:
        """What the mirror makes of a remote-discovery export (edge-26.8.3 cluster_watcher.go
        handleRemoteServiceExported): `<name>-<target>` labelled with the target, and no Endpoints: the
        source's destination controller reads the target's own endpoints through the link's credentials."""
        field, want = manifests.export_marks(ctx.cfg, dest)
        for ns, name in ctx.cfg.exported(dest):
            unmarked = _unmarked(ctx, dest, ns, name, field, want)
            if unmarked:
                return unmarked
            mirror = ctx.backend.kube.get(source, "Service", ns, f"{name}-{dest}")
            if mirror is None:
                return Check(False, f"{source} has no mirror {ns}/{name}-{dest} yet")
            if mirror["metadata"].get("labels", {}).get(names.REMOTE_DISCOVERY_LABEL) != dest:
                return Check(False, f"{source}'s mirror {ns}/{name}-{dest} is not a remote-discovery mirror of {dest}")
        return Check(True)

    def apply(self, ctx, target):
        source, dest = target.source, target.dest
        field, values = manifests.export_marks(ctx.cfg, dest)
        for ns, name in ctx.cfg.federated(dest):
            ctx.backend.kube.set_metadata(dest, "Service", ns, name, "labels", dict(names.FEDERATED_SELECTOR))
        if not ctx.cfg.cluster(dest).exports:
            return
        if not ctx.link_config(target).via_gateway:
            for ns, name in ctx.cfg.exported(dest):
                ctx.backend.kube.set_metadata(dest, "Service", ns, name, field, values)
            return
        if ctx.cfg.profile.export == "label":
            ctx.backend.installer.link(source, dest, gateways.resolve(ctx.cfg),  # link-gen writes the gateway into the Link
                             service_account=ctx.backend.installer.link_account(source))
        for ns, name in ctx.cfg.exported(dest):
            ctx.backend.kube.set_metadata(dest, "Service", ns, name, field, values)

    def script(self, ctx, target):
        self.apply(ctx, target)
        if ctx.link_config(target).via_gateway and ctx.cfg.cluster(target.dest).exports:
            ctx.backend.kube.gateways(target.source)

    def describe(self, ctx, target):
        source, dest = target.source, target.dest
        field, values = manifests.export_marks(ctx.cfg, dest)
        verb = "annotate" if field == "annotations" else "label"
        marks = ", ".join(f"{k}={v}" for k, v in values.items())
        lines = [f"{verb} service {ns}/{n} in {dest}: {marks}" for ns, n in ctx.cfg.exported(dest)]
        member = ", ".join(f"{k}={v}" for k, v in names.FEDERATED_SELECTOR.items())
        federated = [f"label service {ns}/{n} in {dest}: {member}; wait until {source}'s {n}-federated lists it"
                     for ns, n in ctx.cfg.federated(dest)]
        if not ctx.cfg.cluster(dest).exports:
            return federated
        lines = federated + lines
        if not ctx.link_config(target).via_gateway:
            return lines + [f"wait until {source} mirrors them for pod-to-pod (no endpoints: {source} dials {dest}'s pods)"]
        if ctx.cfg.profile.export == "label":
            lines.insert(0, f"re-link {source} to {dest} naming the {ctx.cfg.gateway} gateway")
        gw = gateways.resolve(ctx.cfg)
        return lines + [f"wait until {source} mirrors them at {gw.namespace}/{gw.name} and probes it alive"]
