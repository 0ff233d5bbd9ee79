"""What the lab reads back from objects it rendered, once the cluster has them: the LoadBalancer address a
Service was given and the trust anchors in either shape the control plane stores them.

Apart from manifests.py so that a reader needs no renderer: the lab process reads these on every
reconcile pass and would otherwise import the renderer (YAML, the lab's config) at its start."""
from __future__ import annotations

import json


def ingress_ip(svc: dict | None) -> str | None:
    """The LoadBalancer address a Service was given (status.loadBalancer.ingress[0].ip), or None."""
    ingress = (svc or {}).get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def read_trust_roots(obj: dict | None) -> str | None:
    """The anchors PEM from either shape of manifests.trust_roots_object (no jq needed)."""
    data = (obj or {}).get("data", {})
    if "ca-bundle.crt" in data:
        return data["ca-bundle.crt"]
    if "global" in data:
        return json.loads(data["global"]).get("identityContext", {}).get("trustAnchorsPem")
    return None
