"""What `inv status` reports: clusters, LoadBalancer addresses, anchors, links, gateways, mirrors."""
from __future__ import annotations

import base64
from dataclasses import asdict, dataclass

from ..parsers import cli_output
from ..render import manifests, readback
from .. import names
from ..trust import pki
from ..parsers.cli_output import GatewayStatus
from ..backends.base import Backend, LabError
from ..errors import CorruptFile
from ..model.config import LabConfig

MIRRORED = {names.MIRRORED_LABEL: "true"}


@dataclass(frozen=True)
class LoadBalancer:
    namespace: str
    name: str
    address: str | None  # None while MetalLB has not given one


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    exists: bool
    lb_pool: str
    load_balancers: tuple[LoadBalancer, ...] = ()
    trust_anchors: tuple[str, ...] = ()  # SHA-256 fingerprints of the anchors its control plane trusts
    issuer: str | None = None            # the identity issuer's fingerprint


@dataclass(frozen=True)
class LinkStatus:
    """What the profile's `link` left in `source` and what the real check says of its credentials."""

    source: str
    target: str
    exists: bool
    gateway_address: str | None
    credentials_valid: bool
    credentials_error: str | None
    mode: str = "gateway"  # how the link carries services (lab.model.profiles.LINK_MODES)


@dataclass(frozen=True)
class ObservedGateway:
    """One row of `linkerd multicluster gateways`, run in `observer`."""

    observer: str
    gateway: GatewayStatus

    def to_dict(self) -> dict:
        return {"observer": self.observer, **self.gateway.to_dict()}


@dataclass(frozen=True)
class MirroredService:
    cluster: str
    namespace: str
    name: str
    remote_cluster: str | None
    remote: str | None  # the exported service's fully qualified name
    endpoints: tuple[str, ...]
    members: tuple[str, ...] = ()  # a federated service's `<svc>@<cluster>` members (else empty)


@dataclass(frozen=True)
class LabStatus:
    lab: str
    backend: str
    running: bool
    clusters: tuple[ClusterStatus, ...] = ()
    links: tuple[LinkStatus, ...] = ()
    gateways: tuple[ObservedGateway, ...] = ()
    mirrored_services: tuple[MirroredService, ...] = ()

    def cluster(self, name: str) -> ClusterStatus:
        return next(c for c in self.clusters if c.name == name)

    def to_dict(self) -> dict:
        """The JSON `./labctl status --json` prints."""
        out = asdict(self)
        out["gateways"] = [g.to_dict() for g in self.gateways]
        return out


def _fingerprints(pem: str | None) -> tuple[str, ...]:
    return tuple(pki.fingerprint(c) for c in pki.load_certs(pem)) if pem else ()


def collect(cfg: LabConfig, backend: Backend) -> LabStatus:
    """A picture of the lab; a lab that is down says so instead of failing."""
    try:
        running = backend.provider.running()
    except CorruptFile:
        raise  # the lab's own record is unreadable: whether it runs is unknown, and the message says the fix
    except LabError:
        running = False
    if not running:
        return LabStatus(cfg.name, backend.name, False)
    clusters = [_cluster(backend, c.name, str(c.lb_pool)) for c in cfg.clusters]
    existing = sorted(c.name for c in clusters if c.exists)
    links = [link_status(cfg, backend, link.source, link.target) for link in cfg.links if link.source in existing]
    observed = [ObservedGateway(name, gw) for name in existing for gw in backend.kube.gateways(name)]
    mirrored = [m for name in existing for m in _mirrored(backend, name)]
    return LabStatus(cfg.name, backend.name, True, tuple(clusters), tuple(links), tuple(observed), tuple(mirrored))


def _cluster(backend: Backend, name: str, pool: str) -> ClusterStatus:
    if not backend.provider.cluster_exists(name):
        return ClusterStatus(name, False, pool)
    balancers = tuple(LoadBalancer(svc["metadata"]["namespace"], svc["metadata"]["name"], readback.ingress_ip(svc))
                      for svc in backend.kube.list(name, "Service") if svc["spec"].get("type") == "LoadBalancer")
    issuer = backend.kube.get(name, "Secret", names.LINKERD_NS, names.ISSUER_SECRET)
    issuer_print = None
    if issuer and "crt.pem" in issuer.get("data", {}):
        issuer_print = _fingerprints(base64.b64decode(issuer["data"]["crt.pem"]).decode())[0]
    return ClusterStatus(name, True, pool, balancers, _fingerprints(backend.kube.trust_roots(name)), issuer_print)


def _mirrored(backend: Backend, cluster: str) -> list[MirroredService]:
    out = []
    for svc in backend.kube.list(cluster, "Service", labels=MIRRORED):
        meta = svc["metadata"]
        if names.MIRRORED_GATEWAY in (meta.get("labels") or {}):
            continue  # 2.8.1's gateway mirror: its gateway is under GATEWAYS (upstream counts it as no mirror service)
        eps = backend.kube.get(cluster, "Endpoints", meta["namespace"], meta["name"]) or {}
        addresses = tuple(f"{a['ip']}:{p['port']}" for s in eps.get("subsets", []) for a in s.get("addresses", [])
                          for p in s.get("ports", [])[:1])
        members = (meta.get("annotations") or {}).get(names.REMOTE_DISCOVERY_ANNOTATION, "")
        out.append(MirroredService(cluster, meta["namespace"], meta["name"], meta.get("labels", {}).get(names.CLUSTER_NAME),
                                   meta.get("annotations", {}).get(names.REMOTE_SVC_ANNOTATION), addresses,
                                   tuple(m for m in members.split(",") if m)))
    return out


def link_status(cfg: LabConfig, backend: Backend, source: str, target: str) -> LinkStatus:
    """What the profile's `link` left in `source` (a Link, or 2.8.1's credentials Secret alone) and what the
    real check says of its credentials: the profile's check failing and naming `[target]`."""
    if cfg.profile.link_crd:
        obj = backend.kube.get(source, "Link", names.MC_NS, target)
    else:
        obj = backend.kube.get(source, "Secret", names.MC_NS, manifests.credentials_secret_name(target))
    creds = cli_output.find_check(backend.kube.check(source), cfg.profile.check_credentials)
    mode = next((link.mode for link in cfg.links if (link.source, link.target) == (source, target)), "gateway")
    return LinkStatus(source, target, mode=mode, exists=obj is not None,
                      gateway_address=(obj or {}).get("spec", {}).get("gatewayAddress"),
                      credentials_valid=creds is not None and not (creds.failed and creds.names_cluster(target)),
                      credentials_error=creds.error if creds is not None and creds.names_cluster(target) else None)


def _table(headers: list[str], rows: list[list]) -> list[str]:
    cells = [headers] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]


def render(status: LabStatus) -> str:
    """The human table."""
    lines = [f"lab {status.lab} on {status.backend}: " + ("running" if status.running else "not running")]
    if not status.running:
        lines.append("  (start it with `./labctl up`)")
        return "\n".join(lines)
    lines += ["", "CLUSTERS"] + _table(
        ["NAME", "LB POOL", "LOADBALANCERS", "TRUST ANCHORS", "ISSUER"],
        [[c.name, c.lb_pool,
          ", ".join(f"{lb.namespace}/{lb.name}={lb.address or 'pending'}" for lb in c.load_balancers) or None,
          ", ".join(fp[:16] for fp in c.trust_anchors) or None, (c.issuer or "")[:16] or None]
         for c in status.clusters])
    lines += ["", "LINKS"] + _table(
        ["SOURCE", "TARGET", "MODE", "GATEWAY ADDRESS", "CREDENTIALS"],
        [[link.source, link.target, link.mode, link.gateway_address, "valid" if link.credentials_valid else "INVALID"]
         for link in status.links])
    lines += ["", "GATEWAYS (linkerd multicluster gateways)"] + _table(
        ["FROM", "CLUSTER", "NAME", "ALIVE", "NUM_SVC", "LATENCY"],
        [[o.observer, g.cluster, f"{g.namespace}/{g.name}" if g.name else None, "True" if g.alive else "False",
          g.paired_services, f"{g.latency_ms}ms" if g.latency_ms is not None else None]
         for o in status.gateways for g in (o.gateway,)])
    lines += ["", "MIRRORED SERVICES"] + _table(
        ["CLUSTER", "SERVICE", "REMOTE", "ENDPOINTS"],
        [[m.cluster, f"{m.namespace}/{m.name}",
          f"federated: {', '.join(m.members)}" if m.members else f"{m.remote_cluster}: {m.remote}", ", ".join(m.endpoints) or None]
         for m in status.mirrored_services])
    return "\n".join(lines)


def _node(*parts: str) -> str:
    """A Mermaid node id from lab names (DNS labels): letters, digits and underscores only."""
    return "_".join(p.replace("-", "_").replace(".", "_").replace("/", "_") for p in parts)


def mermaid(status: LabStatus) -> str:
    """The topology as a Mermaid flowchart, for READMEs and CI job summaries: each cluster with its gateways
    (LoadBalancer address), mirrored and federated services; each link with its mode, from the source to
    the target's gateway (or to the cluster, pod-to-pod), marked alive or not as the source's probes see it."""
    lines = ["flowchart LR"]
    if not status.running:
        return "\n".join(lines + [f'  {_node("lab", status.lab)}["lab {status.lab}: not running"]'])
    by_address: dict[tuple[str, str], str] = {}  # (cluster, LoadBalancer address) -> node
    for c in status.clusters:
        lines.append(f'  subgraph {_node("c", c.name)}["{c.name}"]')
        for lb in c.load_balancers:
            node = _node("lb", c.name, lb.namespace, lb.name)
            by_address[(c.name, lb.address or "")] = node
            lines.append(f'    {node}{{{{"{lb.namespace}/{lb.name}<br/>{lb.address or "pending"}"}}}}')
        for m in (m for m in status.mirrored_services if m.cluster == c.name):
            what = f"federated: {', '.join(m.members)}" if m.members else f"mirror of {m.remote_cluster}"
            lines.append(f'    {_node("svc", c.name, m.namespace, m.name)}["{m.namespace}/{m.name}<br/>{what}"]')
        lines.append("  end")
    for link in status.links:
        source = _node("c", link.source)
        if link.mode == "gateway":
            rows = [o.gateway for o in status.gateways if (o.observer, o.gateway.cluster) == (link.source, link.target)]
            # the gateway the Link names (edge), else each gateway 2.8.1's listing names (it probes every
            # gateway of the target, exported through or not), else the cluster
            target = by_address.get((link.target, link.gateway_address or ""))
            named = [(g, _node("lb", link.target, g.namespace, g.name)) for g in rows if g.name] if target is None else []
            for seen, node in named or [(rows[0] if rows else None, target or _node("c", link.target))]:
                state = "alive" if seen and seen.alive else "not alive"
                lines.append(f'  {source} -->|"gateway: {state}"| {node}')
        else:
            lines.append(f'  {source} -.->|"{link.mode}"| {_node("c", link.target)}')
    return "\n".join(lines)
