"""What `inv status` reports: clusters, LoadBalancer addresses, anchors, links, gateways, mirrors."""
from __future__ import annotations

import base64

from . import cli_output, manifests, names, pki
from .backends.base import Backend, LabError
from .config import LabConfig

MIRRORED = {names.MIRRORED_LABEL: "true"}


def _fingerprints(pem: str | None) -> list[str]:
    return [pki.fingerprint(c) for c in pki.load_certs(pem)] if pem else []


def collect(cfg: LabConfig, backend: Backend) -> dict:
    """A JSON-ready picture of the lab; a lab that is down says so instead of failing."""
    out: dict = {"lab": cfg.name, "backend": backend.name, "running": False,
                 "clusters": [], "links": [], "gateways": [], "mirrored_services": []}
    try:
        out["running"] = backend.running()
    except LabError:
        out["running"] = False
    if not out["running"]:
        return out
    for c in cfg.clusters:
        entry = {"name": c.name, "exists": backend.cluster_exists(c.name), "lb_pool": str(c.lb_pool),
                 "load_balancers": [], "trust_anchors": [], "issuer": None}
        out["clusters"].append(entry)
        if not entry["exists"]:
            continue
        for svc in backend.list(c.name, "Service"):
            if svc["spec"].get("type") == "LoadBalancer":
                entry["load_balancers"].append({"namespace": svc["metadata"]["namespace"], "name": svc["metadata"]["name"],
                                                "address": manifests.ingress_ip(svc)})
        entry["trust_anchors"] = _fingerprints(backend.trust_roots(c.name))
        issuer = backend.get(c.name, "Secret", manifests.LINKERD_NS, manifests.ISSUER_SECRET)
        if issuer and "crt.pem" in issuer.get("data", {}):
            entry["issuer"] = _fingerprints(base64.b64decode(issuer["data"]["crt.pem"]).decode())[0]
    existing = {c["name"] for c in out["clusters"] if c["exists"]}
    for link in cfg.links:
        if link.source not in existing:
            continue
        out["links"].append({"source": link.source, "target": link.target, **link_status(cfg, backend, link.source, link.target)})
    for name in sorted(existing):
        for gw in backend.gateways(name):
            out["gateways"].append({"observer": name, **gw.to_dict()})
        for svc in backend.list(name, "Service", labels=MIRRORED):
            meta = svc["metadata"]
            eps = backend.get(name, "Endpoints", meta["namespace"], meta["name"]) or {}
            addresses = [f"{a['ip']}:{p['port']}" for s in eps.get("subsets", []) for a in s.get("addresses", [])
                         for p in s.get("ports", [])[:1]]
            out["mirrored_services"].append({
                "cluster": name, "namespace": meta["namespace"], "name": meta["name"],
                "remote_cluster": meta.get("labels", {}).get(names.CLUSTER_NAME),
                "remote": meta.get("annotations", {}).get(names.REMOTE_SVC_ANNOTATION),
                "endpoints": addresses})
    return out


def link_status(cfg: LabConfig, backend: Backend, source: str, target: str) -> dict:
    """What the profile's `link` left in `source` (a Link, or 2.8.1's credentials Secret alone) and what the
    real check says of its credentials: the profile's check failing and naming `[target]`."""
    if cfg.profile.link_crd:
        obj = backend.get(source, "Link", manifests.MC_NS, target)
    else:
        obj = backend.get(source, "Secret", manifests.MC_NS, manifests.credentials_secret_name(target))
    creds = cli_output.find_check(backend.check(source), cfg.profile.check_credentials)
    return {"exists": obj is not None,
            "gateway_address": (obj or {}).get("spec", {}).get("gatewayAddress"),
            "credentials_valid": creds is not None and not (creds.failed and creds.names_cluster(target)),
            "credentials_error": creds.error if creds is not None and creds.names_cluster(target) else None}


def _table(headers: list[str], rows: list[list]) -> list[str]:
    cells = [headers] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]


def render(status: dict) -> str:
    """The human table."""
    lines = [f"lab {status['lab']} on {status['backend']}: " + ("running" if status["running"] else "not running")]
    if not status["running"]:
        lines.append("  (start it with `./labctl up`)")
        return "\n".join(lines)
    lines += ["", "CLUSTERS"] + _table(
        ["NAME", "LB POOL", "LOADBALANCERS", "TRUST ANCHORS", "ISSUER"],
        [[c["name"], c["lb_pool"],
          ", ".join(f"{lb['namespace']}/{lb['name']}={lb['address'] or 'pending'}" for lb in c["load_balancers"]) or None,
          ", ".join(fp[:16] for fp in c["trust_anchors"]) or None, (c["issuer"] or "")[:16] or None]
         for c in status["clusters"]])
    lines += ["", "LINKS"] + _table(
        ["SOURCE", "TARGET", "GATEWAY ADDRESS", "CREDENTIALS"],
        [[link["source"], link["target"], link["gateway_address"], "valid" if link["credentials_valid"] else "INVALID"]
         for link in status["links"]])
    lines += ["", "GATEWAYS (linkerd multicluster gateways)"] + _table(
        ["FROM", "CLUSTER", "NAME", "ALIVE", "NUM_SVC", "LATENCY"],
        [[g["observer"], g["cluster"], f"{g['namespace']}/{g['name']}" if g["name"] else None, "True" if g["alive"] else "False",
          g["paired_services"], f"{g['latency_ms']}ms" if g["latency_ms"] is not None else None]
         for g in status["gateways"]])
    lines += ["", "MIRRORED SERVICES"] + _table(
        ["CLUSTER", "SERVICE", "REMOTE", "ENDPOINTS"],
        [[m["cluster"], f"{m['namespace']}/{m['name']}", f"{m['remote_cluster']}: {m['remote']}", ", ".join(m["endpoints"]) or None]
         for m in status["mirrored_services"]])
    return "\n".join(lines)
