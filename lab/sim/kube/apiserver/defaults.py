"""The defaults the API server fills in on a write, for the kinds the lab and its users touch, as
pkg/apis/core/v1/defaults.go and pkg/apis/apps/v1/defaults.go (v1.32) set them when a body is decoded, and as
the registries and admission plugins add them on create (a Service's IP families and node ports, a Pod's
service account, priority and `enableServiceLinks`). A Secret's `stringData` is merged into `data`, as the
v1 to internal conversion does. Nothing else is invented: a field a real server leaves empty stays empty.
"""
from __future__ import annotations

import base64
import random

from .rules import NODE_PORTS


def _set(node: dict, key: str, value) -> None:
    if node.get(key) in (None, ""):
        node[key] = value


def _pull_policy(image: str) -> str:
    """SetDefaults_Container: Always for `:latest` or no tag, IfNotPresent otherwise (a digest counts as a tag)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and SetDefaults_Container (a Pod's spec and every workload's template)."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "schedulerName", "default-scheduler")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if not isinstance(container, dict):
                continue
            _set(container, "terminationMessagePath", "/dev/termination-log")
            _set(container, "terminationMessagePolicy", "File")
            if isinstance(container.get("image"), str) and container["image"]:
                _set(container, "imagePullPolicy", _pull_policy(container["image"]))
            if container.get("resources") is None:
                container["resources"] = {}
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    _set(port, "protocol", "TCP")


def _pod(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    # the ServiceAccount and Priority admission plugins, and the pod registry, on create
    _set(spec, "serviceAccountName", "default")
    _set(spec, "serviceAccount", spec["serviceAccountName"])
    _set(spec, "enableServiceLinks", True)
    _set(spec, "priority", 0)
    _set(spec, "preemptionPolicy", "PreemptLowerPriority")


def _template(obj: dict) -> None:
    template = obj.setdefault("spec", {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"])


def _deployment(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "replicas", 1)
    strategy = spec.get("strategy") if isinstance(spec.get("strategy"), dict) else {}
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        if isinstance(rolling, dict):
            _set(rolling, "maxUnavailable", "25%")
            _set(rolling, "maxSurge", "25%")
    spec["strategy"] = strategy
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _template(obj)


def _stateful_set(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        _set(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate" and isinstance(strategy.setdefault("rollingUpdate", {}), dict):
            _set(strategy["rollingUpdate"], "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    if isinstance(retention, dict):
        _set(retention, "whenDeleted", "Retain")
        _set(retention, "whenScaled", "Retain")
    _template(obj)


def _daemon_set(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        _set(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate" and isinstance(strategy.setdefault("rollingUpdate", {}), dict):
            _set(strategy["rollingUpdate"], "maxUnavailable", 1)
            _set(strategy["rollingUpdate"], "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _template(obj)


def _replica_set(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    _set(obj.setdefault("spec", {}), "replicas", 1)
    _template(obj)


def _service(obj: dict, current: dict | None, taken: set[int]) -> None:
    """SetDefaults_Service, then what the service registry allocates (IP families, node ports)."""
    spec = obj.setdefault("spec", {})
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    kept = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in ((current or {}).get("spec") or {}).get("ports") or [] if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        _set(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
        if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            port["nodePort"] = kept.get((port.get("port"), port["protocol"])) or _free_node_port(taken)
            taken.add(port["nodePort"])
    if spec["type"] == "ExternalName":
        return
    headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
    _set(spec, "ipFamilyPolicy", "RequireDualStack" if headless_without_selector else "SingleStack")
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]
    _set(spec, "internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)


def _free_node_port(taken: set[int]) -> int:
    free = [p for p in NODE_PORTS if p not in taken]
    return random.choice(free) if free else 0


def _secret(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    _set(obj, "type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):  # Convert_v1_Secret_To_core_Secret
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()})
        obj["data"] = data


def _namespace(obj: dict, _current: dict | None, _taken: set[int]) -> None:
    # the namespace registry labels every namespace with its name (PrepareForCreate / PrepareForUpdate)
    labels = obj["metadata"].get("labels") if isinstance(obj["metadata"].get("labels"), dict) else {}
    labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")
    obj["metadata"]["labels"] = labels
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict) and not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]


BY_KIND = {"Pod": _pod, "Deployment": _deployment, "StatefulSet": _stateful_set, "DaemonSet": _daemon_set,
           "ReplicaSet": _replica_set, "Service": _service, "Secret": _secret, "Namespace": _namespace}


def apply(kind: str, obj: dict, current: dict | None, node_ports_taken: set[int]) -> None:
    """Fill `obj`'s defaults in place; `current` is the stored object an update replaces (its node ports
    stay), `node_ports_taken` those other Services hold."""
    fill = BY_KIND.get(kind)
    if fill is not None and isinstance(obj.get("spec", {}), dict):
        fill(obj, current, node_ports_taken)
