"""`linkerd check --multicluster`, answered from a simulated cluster's state.

The same categories and the same questions as the real command: is identity
set up and consistent, is the multicluster extension serving, can each link
reach its target with its credentials, are the remote gateways alive, do the
mirrored services have endpoints.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ... import pki
from .cluster import MC_NS
from .mirror import MIRRORED_LABEL, gateway_target

if TYPE_CHECKING:
    from .cluster import SimCluster


def _result(section: str, name: str, ok: bool, hint: str = "") -> dict:
    return {"section": section, "name": name, "ok": bool(ok), "hint": "" if ok else hint}


def cluster_checks(cluster: "SimCluster") -> list[dict]:
    out = []
    roots = cluster.trust_roots()
    issuer = cluster.issuer()
    out.append(_result("linkerd-identity", "trust anchors are using a supported format", roots is not None,
                       "install Linkerd: inv step linkerd"))
    if roots is not None and issuer is not None:
        try:
            pki.validate_issuer(issuer.cert, pki.load_certs(roots))
            ok, hint = True, ""
        except pki.PKIError as exc:
            ok, hint = False, str(exc)
        out.append(_result("linkerd-identity", "issuer cert is signed by the trust anchor and valid", ok, hint))
    else:
        out.append(_result("linkerd-identity", "issuer cert is signed by the trust anchor and valid", False,
                           "install Linkerd: inv step linkerd"))

    gateway = cluster.store.get("Service", MC_NS, "linkerd-gateway")
    dep = cluster.store.get("Deployment", MC_NS, "linkerd-gateway")
    if gateway is not None or dep is not None:
        out.append(_result("linkerd-multicluster", "gateway service has a LoadBalancer address",
                           gateway_target(gateway) is not None,
                           "MetalLB has not assigned an address: check the IPAddressPool (inv step loadbalancer)"))
        ready = (dep or {}).get("status", {}).get("readyReplicas", 0)
        out.append(_result("linkerd-multicluster", "gateway pod is running and meshed", ready >= 1,
                           "the linkerd-gateway deployment has no ready pod"))

    mirror = next((c for c in cluster.controllers if hasattr(c, "links")), None)
    links = cluster.store.list("Link", MC_NS)
    for link in links:
        target = link["spec"].get("targetClusterName", link["metadata"]["name"])
        state = mirror.links.get(link["metadata"]["name"]) if mirror else None
        error = state.error if state else "service mirror has not run yet"
        out.append(_result("linkerd-multicluster", f"remote cluster access credentials are valid: {target}",
                           error is None, error or ""))
        for gw in (mirror.gateways() if mirror else []):
            if gw["cluster"] == target:
                out.append(_result("linkerd-multicluster", f"remote gateway is alive: {target} {gw['namespace']}/{gw['name']}",
                                   gw["alive"], gw["last_error"] or "no probe has succeeded yet"))
        mirrors = cluster.store.list("Service", labels={MIRRORED_LABEL: "true", "mirror.linkerd.io/cluster-name": target})
        missing = [m["metadata"]["name"] for m in mirrors
                   if not (cluster.store.get("Endpoints", m["metadata"]["namespace"], m["metadata"]["name"]) or {}).get("subsets")]
        out.append(_result("linkerd-multicluster", f"all mirror services have endpoints: {target}", not missing,
                           f"no endpoints for: {', '.join(missing)}"))
    return out
