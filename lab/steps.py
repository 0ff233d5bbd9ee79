"""The ordered, idempotent steps of the setup, each with plan, apply and check.

`up` runs them in order; a step whose check passes is skipped, so a second
`up` changes nothing. Work that is per cluster (or per link) runs for every
target at once. After `apply`, a step waits for its own check to pass: a
step is done when the cluster says so, not when the command returned.
"""
from __future__ import annotations

import base64
import hashlib
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import cli_output, gateways, manifests, names, pki, trust
from .backends.base import ROOTS_ANNOTATION, Backend, LabError, wait_until
from .config import LabConfig
from .errors import StepError
from .run import Dynamic

APPLY_TIMEOUT = 60.0


@dataclass
class Context:
    cfg: LabConfig
    backend: Backend
    root: Path
    _trust: trust.TrustMaterial | None = field(default=None, repr=False)

    @property
    def trust(self) -> trust.TrustMaterial:
        if self._trust is None:
            self._trust = trust.load(self.cfg, self.root)
        if self._trust is None:
            raise LabError("no trust material yet. Fix: run `./labctl up` (or `./labctl step trust`)")
        return self._trust


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class StepResult:
    step: str
    target: str
    outcome: str  # "already done", "applied", "failed"
    seconds: float
    detail: str = ""


class Step:
    name = ""
    summary = ""
    # Steps whose targets must be done before a target of this one that shares a cluster with them;
    # `up` starts every target as soon as those are done, so independent work overlaps.
    after: tuple[str, ...] = ()

    def targets(self, ctx: Context) -> list[str]:
        return ctx.cfg.cluster_names

    def check(self, ctx: Context, target: str) -> Check:
        raise NotImplementedError

    def apply(self, ctx: Context, target: str) -> None:
        raise NotImplementedError

    def describe(self, ctx: Context, target: str) -> list[str]:
        raise NotImplementedError

    def script(self, ctx: Context, target: str) -> None:
        """Emit this step's commands into a scripting backend's runner; most steps just apply."""
        self.apply(ctx, target)


def _link_targets(ctx: Context) -> list[str]:
    return [f"{link.source}->{link.target}" for link in ctx.cfg.links]


def _split_link(target: str) -> tuple[str, str]:
    source, _, dest = target.partition("->")
    return source, dest


def _link_config(ctx: Context, target: str):
    source, dest = _split_link(target)
    return next(link for link in ctx.cfg.links if (link.source, link.target) == (source, dest))


def _gateway_exporters(ctx: Context) -> list[str]:
    """Clusters whose exports go through a gateway (pod-to-pod exports need none)."""
    return [c.name for c in ctx.cfg.clusters if c.exports and ctx.cfg.export_mode(c.name) == "gateway"]


def _access_account(ctx: Context, source: str) -> str | None:
    """The target's service account a source's credentials use: its own release's (Helm), else the chart's."""
    return source if ctx.cfg.installer == "helm" else None


def _ready(dep: dict | None) -> bool:
    if not dep:
        return False
    return dep.get("status", {}).get("readyReplicas", 0) >= dep["spec"].get("replicas", 1)


class Clusters(Step):
    name, summary = "clusters", "create the clusters"

    def check(self, ctx, target):
        return Check(ctx.backend.cluster_exists(target), "cluster does not exist")

    def apply(self, ctx, target):
        ctx.backend.create_cluster(target)

    def describe(self, ctx, target):
        c = ctx.cfg.cluster(target)
        return [f"create cluster {target} (pods {c.pod_subnet}, services {c.service_subnet})"]


class LoadBalancer(Step):
    name, summary = "loadbalancer", "MetalLB and its address pool"
    after = ("clusters",)

    def check(self, ctx, target):
        for want in ctx.backend.loadbalancer_objects(target):
            meta = want["metadata"]
            have = ctx.backend.get(target, want["kind"], meta["namespace"], meta["name"])
            if not have or any(have.get(k) != want[k] for k in ("spec", "data") if k in want):
                return Check(False, f"no {want['kind']} {meta['namespace']}/{meta['name']} for {ctx.backend.lb_pool(target)}")
        return Check(True)

    def apply(self, ctx, target):
        ctx.backend.install_loadbalancer(target)
        ctx.backend.apply(target, ctx.backend.loadbalancer_objects(target))

    def describe(self, ctx, target):
        objects = ", ".join(f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
                            for o in ctx.backend.loadbalancer_objects(target))
        pool = ctx.backend.lb_pool(target)
        if pool is None:
            return ["use the cluster's own LoadBalancer implementation (nothing to install)"]
        return [f"install MetalLB {ctx.cfg.profile.metallb}", f"apply {objects} ({pool})"]


class Trust(Step):
    name, summary = "trust", "one trust anchor, an issuer per cluster"
    after = ()  # files on this machine: nothing in a cluster

    def targets(self, ctx):
        return ["lab"]

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
            ctx.backend.runner.run(command)

    def describe(self, ctx, target):
        base = trust.pki_dir(ctx.cfg, ctx.root)
        source = f"use the anchor in {ctx.cfg.trust.anchor_cert}" if ctx.cfg.trust.anchor_cert else \
            f"create trust anchor {base}/root.crt (ECDSA P-256, root-ca, SAN {pki.anchor_name(ctx.cfg.trust_domain)})"
        return [source] + [f"create issuer {base}/{c}/issuer.crt (intermediate-ca, 8760h)" for c in ctx.cfg.cluster_names]


def _certs_in(path: Path) -> list:
    try:
        return pki.load_certs(path.read_bytes())
    except (OSError, pki.PKIError, ValueError):
        return []


def foreign_anchors(ctx: Context) -> dict[str, list[str]]:
    """Per existing cluster, the fingerprints of the anchors it trusts that the lab's pki/ does not hold."""
    held = {pki.fingerprint(c) for path in trust.pki_dir(ctx.cfg, ctx.root).rglob("*.crt") for c in _certs_in(path)}
    out = {}
    for cluster in ctx.cfg.cluster_names:
        if not ctx.backend.cluster_exists(cluster):
            continue
        roots = ctx.backend.trust_roots(cluster)
        foreign = [pki.fingerprint(c) for c in pki.load_certs(roots) if pki.fingerprint(c) not in held] if roots else []
        if foreign:
            out[cluster] = foreign
    return out


def foreign_anchors_message(ctx: Context, cluster: str, prints: list[str]) -> str:
    base = trust.pki_dir(ctx.cfg, ctx.root)
    return (f"cluster {cluster} trusts anchor(s) {', '.join(p[:16] for p in prints)}, and {base} does not hold them "
            f"(was it removed?). Fix: restore {base} from a backup, or `./labctl down --purge` and `./labctl up` to start over")


def _refuse_orphaned_clusters(ctx: Context) -> None:
    """New trust material must not be made for clusters that already trust anchors the lab no longer
    holds (its pki/ was removed): a new anchor would pass every check and break traffic at the next restart."""
    for cluster, prints in foreign_anchors(ctx).items():
        raise LabError(foreign_anchors_message(ctx, cluster, prints))


class Linkerd(Step):
    name, summary = "linkerd", "the control plane with the shared anchor"
    after = ("clusters", "trust")

    def check(self, ctx, target):
        if ctx.cfg.profile.gateway_api and not ctx.backend.gateway_api_installed(target):
            return Check(False, f"the Gateway API CRDs ({ctx.cfg.profile.gateway_api}) are not installed")
        # Compared as certificates: the charts trim what they store (edge's ca-bundle.crt, both versions'
        # issuer crt.pem), so the text never equals the file's.
        if not pki.same_certificates(ctx.backend.trust_roots(target), ctx.trust.roots_for(target)):
            return Check(False, "trust roots missing or not the anchors the lab installs")
        issuer = ctx.backend.get(target, "Secret", manifests.LINKERD_NS, manifests.ISSUER_SECRET)
        crt = base64.b64decode((issuer or {}).get("data", {}).get("crt.pem", "")).decode()
        if not pki.same_certificates(crt, ctx.trust.issuers[target].cert_pem):
            return Check(False, "issuer missing or not the lab's issuer for this cluster")
        return Check(True)

    def apply(self, ctx, target):
        # edge `linkerd install --crds` refuses without the Gateway API CRDs (cli/cmd/install.go).
        if ctx.cfg.profile.gateway_api:
            ctx.backend.install_gateway_api(target)
        ctx.backend.install_linkerd(target)

    def describe(self, ctx, target):
        base = trust.pki_dir(ctx.cfg, ctx.root)
        lines = [f"install Linkerd {ctx.cfg.profile.linkerd} with trust anchors {trust.roots_path(ctx.cfg, ctx.root, target)} "
                 f"and issuer {base}/{target}/issuer.crt"]
        if ctx.cfg.profile.gateway_api:
            lines.insert(0, f"install the Gateway API {ctx.cfg.profile.gateway_api} CRDs (server-side apply)")
        return lines


class Multicluster(Step):
    name, summary = "multicluster", "the multicluster extension and its gateway"
    after = ("loadbalancer", "linkerd", "bundle")

    def check(self, ctx, target):
        svc = ctx.backend.get(target, "Service", manifests.MC_NS, manifests.GATEWAY)
        if not manifests.ingress_ip(svc):
            return Check(False, "gateway service has no LoadBalancer address")
        if not _ready(ctx.backend.get(target, "Deployment", manifests.MC_NS, manifests.GATEWAY)):
            return Check(False, "gateway deployment not ready")
        # The whole install, not only its first objects: an install cut short leaves the gateway without
        # the Link CRD or the service mirror, and linking would then fail.
        if ctx.cfg.profile.link_crd and not ctx.backend.get(target, "CustomResourceDefinition", "", manifests.LINK_CRD):
            return Check(False, f"the Link CRD {manifests.LINK_CRD} is not installed")
        # Links made with the deprecated `link` bring their controllers at the link step
        for name in [] if ctx.cfg.links_bring_controllers else manifests.mirror_controllers(ctx.cfg, target):
            if not _ready(ctx.backend.get(target, "Deployment", manifests.MC_NS, name)):
                return Check(False, f"service mirror {manifests.MC_NS}/{name} not ready")
        return Check(True)

    def apply(self, ctx, target):
        ctx.backend.install_multicluster(target)

    def describe(self, ctx, target):
        port, path = ctx.cfg.profile.gateway_probe
        return [f"install the multicluster extension: {manifests.MC_NS}/{manifests.GATEWAY} "
                f"(LoadBalancer, ports {gateways.GATEWAY_PORT} mc-gateway and {port} mc-probe, probe path {path})"]


class Link(Step):
    name, summary = "link", "link each source cluster to its target"
    after = ("multicluster",)

    def targets(self, ctx):
        return _link_targets(ctx)

    def check(self, ctx, target):
        source, dest = _split_link(target)
        # What the profile's `link` creates: a Link (edge link-gen) or only the credentials Secret (2.8.1).
        if ctx.cfg.profile.link_crd:
            if not ctx.backend.get(source, "Link", manifests.MC_NS, dest):
                return Check(False, f"no Link {dest} in {source}")
            legacy = ctx.backend.get(source, "Deployment", manifests.MC_NS, manifests.legacy_controller_name(dest))
            if ctx.cfg.link_command == "link-gen" and legacy is not None:
                return Check(False, f"{source} still runs the deprecated `link`'s controller {manifests.MC_NS}/{legacy['metadata']['name']} "
                                    f"beside the extension's")
            if ctx.cfg.link_command == "link" and not _ready(legacy):
                return Check(False, f"{source}'s controller {manifests.MC_NS}/{manifests.legacy_controller_name(dest)} not ready")
        elif not ctx.backend.get(source, "Secret", manifests.MC_NS, manifests.credentials_secret_name(dest)):
            return Check(False, f"no Secret {manifests.MC_NS}/{manifests.credentials_secret_name(dest)} in {source}")
        if not _link_config(ctx, target).via_gateway and not ctx.backend.pods_routed(source, dest):
            return Check(False, f"the pod networks of {source} and {dest} are not routed to each other")
        results = ctx.backend.check(source)
        for name in (ctx.cfg.profile.check_credentials, ctx.cfg.profile.check_anchors):
            result = cli_output.find_check(results, name)
            if result is None:
                return Check(False, f"`{name}` has not run in {source}'s check yet")
            if result.failed and result.names_cluster(dest):
                return Check(False, f"{name}: {result.error}")
        return Check(True)

    def apply(self, ctx, target):
        source, dest = _split_link(target)
        if ctx.cfg.installer == "helm":
            ctx.backend.allow_access(dest, source)  # the guide's access credentials for this source
        # The bundled gateway exists by now; the export step re-links where the Link names another. A
        # pod-to-pod link names none (`link-gen --gateway=false`).
        gateway = gateways.resolve(ctx.cfg, "linkerd") if _link_config(ctx, target).via_gateway else None
        if gateway is None:
            ctx.backend.route_pods(source, dest)
        if ctx.cfg.profile.link_crd and ctx.cfg.link_command == "link-gen":
            # Moving from the deprecated `link`: the extension's controller (from `multicluster install`) serves
            # the Link from now on, so the link's own controller goes first (two controllers for one Link fail
            # the check); the Link and its mirrors stay.
            ctx.backend.retire_link_controller(source, dest)
        ctx.backend.link(source, dest, gateway, service_account=_access_account(ctx, source))

    def describe(self, ctx, target):
        source, dest = _split_link(target)
        made = f"and Link {dest} " if ctx.cfg.profile.link_crd else ""
        if not _link_config(ctx, target).via_gateway:
            made = f"and Link {dest} without a gateway (pod-to-pod; their pod CIDRs routed to each other) "
        return [f"link {source} to {dest}: credentials secret {manifests.credentials_secret_name(dest)} {made}in {source}, "
                f"then `linkerd {' '.join(ctx.cfg.profile.mc_check)}` there"]


class Workloads(Step):
    name, summary = "workloads", "the sample workloads"
    after = ("linkerd", "bundle")  # injected; the bundle restarts meshed pods

    def targets(self, ctx):
        return [c.name for c in ctx.cfg.clusters if c.workloads]

    def _objects(self, ctx, target) -> list[dict]:
        return [o for w in ctx.cfg.cluster(target).workloads for o in manifests.workload(ctx.cfg, target, w)]

    def check(self, ctx, target):
        objects = self._objects(ctx, target)
        # Every object, not only the ones that roll out: an apply cut short (killed) can leave a ready
        # Deployment without the Service after it in the file.
        for obj in objects:
            meta = obj["metadata"]
            if ctx.backend.get(target, obj["kind"], meta.get("namespace", ""), meta["name"]) is None:
                return Check(False, f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']} does not exist".replace(" /", " "))
        for kind, ns, name in manifests.rollouts(objects):
            if not _ready(ctx.backend.get(target, kind, ns, name)):
                return Check(False, f"{kind.lower()} {ns}/{name} not ready")
        return Check(True)

    def apply(self, ctx, target):
        objects = self._objects(ctx, target)
        ctx.backend.apply(target, objects)
        for kind, ns, name in manifests.rollouts(objects):
            ctx.backend.wait_rollout(target, ns, name, kind)

    def describe(self, ctx, target):
        return [f"apply fixtures/workloads/{w}.yaml in namespace {ctx.cfg.namespace}" for w in ctx.cfg.cluster(target).workloads]


class Gateway(Step):
    name, summary = "gateway", "the chosen gateway serving in each exporting cluster"
    after = ("multicluster",)

    def targets(self, ctx):
        return _gateway_exporters(ctx)

    def check(self, ctx, target):
        gw = gateways.resolve(ctx.cfg)
        svc = ctx.backend.get(target, "Service", gw.namespace, gw.name)
        if not manifests.ingress_ip(svc):
            return Check(False, f"{gw.namespace}/{gw.name} has no LoadBalancer address")
        ports = {p.get("name") for p in svc["spec"].get("ports", [])}
        annotations = svc["metadata"].get("annotations", {})
        if not {"mc-gateway", "mc-probe"} <= ports or names.GATEWAY_IDENTITY_ANNOTATION not in annotations:
            return Check(False, f"{gw.namespace}/{gw.name} lacks the mc-gateway/mc-probe ports or the mirror annotations")
        if not _ready(ctx.backend.get(target, "Deployment", gw.namespace, gw.name)):
            return Check(False, f"deployment {gw.namespace}/{gw.name} not ready")
        return Check(True)

    def apply(self, ctx, target):
        ctx.backend.install_gateway(target, gateways.resolve(ctx.cfg))

    def describe(self, ctx, target):
        return [gateways.resolve(ctx.cfg).describe(ctx.cfg)]


def _unmarked(ctx: Context, cluster: str, ns: str, name: str, field: str, want: dict) -> Check | None:
    """A failing Check when `cluster`'s service is missing or lacks the marks (`field`: labels or annotations)."""
    svc = ctx.backend.get(cluster, "Service", ns, name)
    if svc is None:
        return Check(False, f"service {ns}/{name} does not exist in {cluster}")
    have = svc["metadata"].get(field) or {}
    if any(have.get(k) != v for k, v in want.items()):
        return Check(False, f"service {ns}/{name} in {cluster} does not carry the {field} {want}")
    return None


class Export(Step):
    name, summary = "export", "export services (through the gateway, pod-to-pod, or as federated members); linked clusters mirror them"
    after = ("link", "workloads", "gateway")

    def targets(self, ctx):
        exporting = {c.name for c in ctx.cfg.clusters if c.exports or c.federated}
        return [t for t in _link_targets(ctx) if _split_link(t)[1] in exporting]

    def check(self, ctx, target):
        source, dest = _split_link(target)
        if ctx.cfg.cluster(dest).exports:
            through = self._check_gateway if _link_config(ctx, target).via_gateway else self._check_pod_to_pod
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
            federated = ctx.backend.get(source, "Service", ns, f"{name}-federated") or {"metadata": {}}
            members = (federated["metadata"].get("annotations") or {}).get(names.REMOTE_DISCOVERY_ANNOTATION, "")
            if f"{name}@{dest}" not in members.split(","):
                return Check(False, f"{source}'s {ns}/{name}-federated does not list {name}@{dest} yet")
        return Check(True)

    def _check_gateway(self, ctx, source, dest) -> Check:
        gw = gateways.resolve(ctx.cfg)
        address = manifests.ingress_ip(ctx.backend.get(dest, "Service", gw.namespace, gw.name))
        field, want = manifests.export_marks(ctx.cfg, dest)
        headless = set(manifests.headless_exports(ctx.cfg, dest))
        if ctx.cfg.profile.export == "label":
            link = ctx.backend.get(source, "Link", manifests.MC_NS, dest) or {}
            if link.get("spec", {}).get("gatewayAddress") != address:
                return Check(False, f"the Link in {source} does not name {dest}'s gateway {gw.namespace}/{gw.name} ({address})")
        for ns, name in ctx.cfg.exported(dest):
            unmarked = _unmarked(ctx, dest, ns, name, field, want)
            if unmarked:
                return unmarked
            if ctx.backend.get(source, "Namespace", "", ns) is None and not ctx.cfg.profile.mirror_creates_namespaces:
                return Check(False, f"namespace {ns} does not exist in {source}, and the service mirror skips services "
                                    f"whose namespace is missing (an event ServiceMirroringSkipped in {dest} says so). "
                                    f"Fix: create namespace {ns} in {source}")
            eps = ctx.backend.get(source, "Endpoints", ns, f"{name}-{dest}") or {}
            if (ns, name) in headless:  # per pod: each hostname at its endpoint mirror, which points at the gateway
                hosts = [a.get("hostname") for subset in eps.get("subsets", []) for a in subset.get("addresses", [])]
                if not hosts or not all(hosts):
                    return Check(False, f"{source}'s headless mirror {ns}/{name}-{dest} names no pods yet")
                pending = [h for h in hosts if {a["ip"] for subset in (ctx.backend.get(source, "Endpoints", ns, f"{h}-{dest}") or {})
                                                .get("subsets", []) for a in subset.get("addresses", [])} != {address}]
                if pending:
                    return Check(False, f"{source}'s endpoint mirrors {', '.join(f'{h}-{dest}' for h in pending)} do not point at {address}")
                continue
            ips = {a["ip"] for subset in eps.get("subsets", []) for a in subset.get("addresses", [])}
            if ips != {address}:
                return Check(False, f"{source}'s mirror {ns}/{name}-{dest} points at {sorted(ips) or 'nothing'}, not {address}")
        for listed in ctx.backend.gateways(source):
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
            mirror = ctx.backend.get(source, "Service", ns, f"{name}-{dest}")
            if mirror is None:
                return Check(False, f"{source} has no mirror {ns}/{name}-{dest} yet")
            if mirror["metadata"].get("labels", {}).get(names.REMOTE_DISCOVERY_LABEL) != dest:
                return Check(False, f"{source}'s mirror {ns}/{name}-{dest} is not a remote-discovery mirror of {dest}")
        return Check(True)

    def apply(self, ctx, target):
        source, dest = _split_link(target)
        field, values = manifests.export_marks(ctx.cfg, dest)
        for ns, name in ctx.cfg.federated(dest):
            ctx.backend.set_metadata(dest, "Service", ns, name, "labels", dict(names.FEDERATED_SELECTOR))
        if not ctx.cfg.cluster(dest).exports:
            return
        if not _link_config(ctx, target).via_gateway:
            for ns, name in ctx.cfg.exported(dest):
                ctx.backend.set_metadata(dest, "Service", ns, name, field, values)
            return
        if ctx.cfg.profile.export == "label":
            ctx.backend.link(source, dest, gateways.resolve(ctx.cfg),  # link-gen writes the gateway into the Link
                             service_account=_access_account(ctx, source))
        for ns, name in ctx.cfg.exported(dest):
            ctx.backend.set_metadata(dest, "Service", ns, name, field, values)

    def script(self, ctx, target):
        self.apply(ctx, target)
        if _link_config(ctx, target).via_gateway and ctx.cfg.cluster(_split_link(target)[1]).exports:
            ctx.backend.gateways(_split_link(target)[0])

    def describe(self, ctx, target):
        source, dest = _split_link(target)
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
        if not _link_config(ctx, target).via_gateway:
            return lines + [f"wait until {source} mirrors them for pod-to-pod (no endpoints: {source} dials {dest}'s pods)"]
        if ctx.cfg.profile.export == "label":
            lines.insert(0, f"re-link {source} to {dest} naming the {ctx.cfg.gateway} gateway")
        gw = gateways.resolve(ctx.cfg)
        return lines + [f"wait until {source} mirrors them at {gw.namespace}/{gw.name} and probes it alive"]


def lab_workloads(ctx: Context, cluster: str) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of the meshed Deployments and StatefulSets the lab runs in `cluster`: what a
    trust change must restart. The service mirror is meshed too (2.8.1 `linkerd-service-mirror`, edge
    `controller-<target>`)."""
    out = [("Deployment", manifests.MC_NS, manifests.GATEWAY)]
    out += [("Deployment", manifests.MC_NS, name) for name in manifests.mirror_controllers(ctx.cfg, cluster)]
    gw = gateways.resolve(ctx.cfg)
    if not gw.bundled and cluster in _gateway_exporters(ctx):
        out.append(("Deployment", gw.namespace, gw.name))
    for name in ctx.cfg.cluster(cluster).workloads:
        out += manifests.rollouts(manifests.workload(ctx.cfg, cluster, name))
    return out


def bundle_stamp(path: Path) -> str:
    """What restarted pods are marked with: the first 16 hex of the bundle file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class Bundle(Step):
    name, summary = "bundle", "the guide's trust anchor bundle: upgrade the existing cluster, restart, add the new ones"
    after = ("linkerd",)

    def targets(self, ctx):
        return ["lab"] if ctx.cfg.trust.mode == "bundle" else []

    def check(self, ctx, target):
        bundle_path = trust.pki_dir(ctx.cfg, ctx.root) / "bundle.crt"
        if not bundle_path.exists():
            return Check(False, "no bundle.crt yet")
        bundle, stamp = bundle_path.read_text(), bundle_stamp(bundle_path)
        for cluster in ctx.cfg.cluster_names:
            if not pki.same_certificates(ctx.backend.trust_roots(cluster), bundle):
                return Check(False, f"{cluster} does not trust the bundle yet")
            for kind, ns, name in lab_workloads(ctx, cluster):
                dep = ctx.backend.get(cluster, kind, ns, name)
                annotations = (dep or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
                # Pods started after the upgrade have the bundle already; a stamp of an older bundle means
                # this deployment's pods still run with the anchors before it.
                if dep is not None and annotations.get(ROOTS_ANNOTATION, stamp) != stamp:
                    return Check(False, f"{cluster} {ns}/{name} has not been restarted with the bundle")
                if dep is not None and not _ready(dep):
                    return Check(False, f"{cluster} {ns}/{name} is restarting")
        return Check(True)

    def apply(self, ctx, target):
        base = trust.pki_dir(ctx.cfg, ctx.root)
        existing = trust.existing_cluster(ctx.cfg)
        new = [c for c in ctx.cfg.cluster_names if c != existing]
        # The guide: fetch the existing cluster's anchor, bundle it with the new one(s).
        ctx.backend.fetch_trust_anchors(existing, base / "trustAnchor.crt")
        ctx.backend.write_bundle(base / "bundle.crt", [base / "trustAnchor.crt"] + [base / c / "root.crt" for c in new])
        ctx._trust = None
        stamp = Dynamic(f"$(sha256sum {base / 'bundle.crt'} | cut -c1-16)", lambda: bundle_stamp(base / "bundle.crt"))
        # Upgrade the existing cluster and restart its meshed pods, then the new clusters with the
        # bundle and their own issuer.
        ctx.backend.upgrade_linkerd(existing, with_issuer=False)
        ctx.backend.restart_workloads(existing, lab_workloads(ctx, existing), stamp)
        for cluster in new:
            ctx.backend.upgrade_linkerd(cluster, with_issuer=True)
            ctx.backend.restart_workloads(cluster, lab_workloads(ctx, cluster), stamp)

    def describe(self, ctx, target):
        existing = trust.existing_cluster(ctx.cfg)
        return [f"read {existing}'s trust anchor from its control plane into trustAnchor.crt",
                "bundle.crt = trustAnchor.crt + each new cluster's root.crt",
                f"upgrade {existing} with the bundle and restart its meshed pods",
                "upgrade the other clusters with the bundle and their issuer; restart their meshed pods"]


# The bundle comes right after `linkerd`, as in the guide: both versions' multicluster check fails while
# linked clusters' anchors differ ("clusters share trust anchors"), and `link` runs that check.
STEPS: list[Step] = [Clusters(), LoadBalancer(), Trust(), Linkerd(), Bundle(), Multicluster(), Link(), Workloads(), Gateway(),
                     Export()]
STEP_NAMES = [s.name for s in STEPS]


def by_name(name: str) -> Step:
    for step in STEPS:
        if step.name == name:
            return step
    raise LabError(f"no step named {name!r}. Fix: use one of {', '.join(STEP_NAMES)}")


def _run_target(ctx: Context, step: Step, target: str) -> StepResult:
    started = time.monotonic()
    try:
        first = step.check(ctx, target)
        if first.ok:
            return StepResult(step.name, target, "already done", time.monotonic() - started)
        step.apply(ctx, target)
        last: list[Check] = []

        def passed():
            last.clear()  # empty while the check runs: a check that raises leaves it so
            last.append(step.check(ctx, target))
            return last[0].ok

        try:
            wait_until(passed, APPLY_TIMEOUT, f"step {step.name} on {target} to take effect", interval=0.05)
        except LabError as exc:
            if not last:  # the check itself failed (the lab process died, say): that is the news
                raise StepError(step.name, target, str(exc)) from None
            raise StepError(step.name, target, f"applied, but its check still fails after {APPLY_TIMEOUT:.0f}s: {last[0].detail}") from None
        return StepResult(step.name, target, "applied", time.monotonic() - started)
    except StepError:
        raise
    except (LabError, FileNotFoundError) as exc:  # LabError: the root of config, PKI, command and tool errors
        error = StepError(step.name, target, str(exc))
        error.detail = getattr(exc, "detail", "")
        raise error from None


def run_step(ctx: Context, step: Step, report: Callable[[StepResult], None] = lambda r: None) -> list[StepResult]:
    """Run one step on all its targets at once; raise the first failure after all have finished."""
    targets = step.targets(ctx)
    results: list[StepResult] = []
    errors: list[StepError] = []
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = [pool.submit(_run_target, ctx, step, t) for t in targets]
        for future in futures:
            try:
                result = future.result()
            except StepError as exc:
                errors.append(exc)
                continue
            results.append(result)
            report(result)
    if errors:
        raise errors[0]
    return results


def _concerns(ctx: Context, target: str) -> set[str]:
    """The clusters a target touches: itself, both ends of a link, or all of them ("lab")."""
    if "->" in target:
        return set(_split_link(target))
    return {target} if target in ctx.cfg.cluster_names else set(ctx.cfg.cluster_names)


def schedule(ctx: Context, chosen: list[Step], run: Callable[[Step, str], object],
             report: Callable[[object], None] = lambda r: None) -> list:
    """Run every target of `chosen` as soon as what it comes `after` is done for the clusters it
    touches, so one cluster's work never waits for another's when it need not. A failure stops new
    starts; what runs finishes; the first failure is raised. Results come back in step order."""
    nodes = [(step, target) for step in chosen for target in step.targets(ctx)]
    needs = {node: {other for other in nodes if other[0].name in node[0].after
                    and _concerns(ctx, other[1]) & _concerns(ctx, node[1])} for node in nodes}
    done: dict[tuple, object] = {}
    errors: list[Exception] = []
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        running: dict = {}
        waiting = list(nodes)
        while waiting or running:
            if not errors:
                for node in [n for n in waiting if needs[n] <= done.keys()]:
                    waiting.remove(node)
                    running[pool.submit(run, *node)] = node
            if not running:
                break  # a failure left the rest waiting
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                node = running.pop(future)
                try:
                    done[node] = future.result()
                except Exception as exc:  # noqa: BLE001 - raised below, after the rest finish
                    errors.append(exc)
                    continue
                report(done[node])
    if errors:
        raise errors[0]
    return [done[node] for node in nodes]


def up(ctx: Context, until: str | None = None, report: Callable[[StepResult], None] = lambda r: None) -> list[StepResult]:
    chosen = STEPS[: STEP_NAMES.index(by_name(until).name) + 1] if until is not None else STEPS
    return schedule(ctx, chosen, lambda step, target: _run_target(ctx, step, target), report)


def plan(ctx: Context, until: str | None = None) -> list[tuple[Step, str, list[str]]]:
    out = []
    for step in STEPS:
        for target in step.targets(ctx):
            out.append((step, target, step.describe(ctx, target)))
        if step.name == until:
            break
    return out
