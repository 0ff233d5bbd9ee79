"""Small readings of Kubernetes objects that several parts of the simulation share: a base64 data field,
the Service behind an address, a pod template's hash, a pod's readiness and QoS class. They read objects and nothing
else, so the controllers (lab.sim.world) and Linkerd's side (lab.sim.mesh) take them from here.
"""
from __future__ import annotations

import base64
import hashlib
import json


def b64decode(value: str) -> str:
    return base64.b64decode(value).decode()


def service_with_ip(services, ip: str) -> dict | None:
    """The service whose cluster IP or LoadBalancer address is `ip`."""
    for svc in services:
        ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])
        if svc["spec"].get("clusterIP") == ip or any(i.get("ip") == ip for i in ingress):
            return svc
    return None


def template_hash(template: dict) -> str:
    """The pod-template-hash: of the template as Go holds it, where a JSON null or an empty object is the
    field left out (kubectl's rollout undo sends a ReplicaSet's template back as Go prints it, with
    `creationTimestamp: null` and `resources: {}`, and must land on that ReplicaSet again)."""
    def meaningful(node):
        if isinstance(node, dict):
            kept = {k: meaningful(v) for k, v in node.items()}
            return {k: v for k, v in kept.items() if v not in (None, {}, [])}
        return [meaningful(v) for v in node] if isinstance(node, list) else node
    return hashlib.sha256(json.dumps(meaningful(template), sort_keys=True).encode()).hexdigest()[:10]


def pod_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def qos_class(spec: dict) -> str:
    """pkg/apis/core/v1/helper/qos (v1.32): BestEffort without requests or limits, Guaranteed when every
    container limits cpu and memory and requests what it limits, Burstable otherwise."""
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if not {"cpu", "memory"} <= set(limits) or any(requests.get(k, limits[k]) != limits[k] for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"
