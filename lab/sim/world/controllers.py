"""The in-cluster controllers: what the API server, kube-proxy, MetalLB and the endpoints controllers do
(the workloads' controllers and the kubelet are in workloads.py).

Each `reconcile` reads the whole store and converges it; running it twice
in a row changes nothing, which is what lets the lab's steps be idempotent.
"""
from __future__ import annotations

import base64
import collections
import hashlib
import ipaddress
import random
import secrets
import time
from typing import TYPE_CHECKING

from ...model.topology import AddressPool
from ... import names
from ...names import API_SERVER_PORT, METALLB_NS
from ..kube.apiresources import Catalog
from ..kube.objects import pod_ready
from ..kube.store import json_copy, matches

if TYPE_CHECKING:
    from .cluster import SimCluster

METALLB_COMPONENT = "metallb-controller"  # its event recorder's name (controller/main.go ProcessName, v0.9.3 to v0.14.9)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class ServiceIPs:
    """The API server's ClusterIP allocator (pkg/registry/core/service/ipallocator at v1.32.0): a random free
    address of the service range, never its network or broadcast address; the range's lower band (size/16,
    at least 16 and at most 256 addresses) is left for addresses asked for by hand and used only once the upper
    band is full (bitmap.go, randomScanStrategyWithOffset). The first address is the `kubernetes` Service's
    and the tenth kube-dns's (kubeadm's GetDNSIP), both held for them."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster
        self.random = random.Random()

    async def reconcile(self) -> None:
        services = self.cluster.store.views("Service")
        waiting = [s for s in services if not s["spec"].get("clusterIP")]
        if not waiting:
            return
        net = ipaddress.IPv4Network(self.cluster.spec["service_subnet"])
        base = int(net.network_address)
        used = {int(ipaddress.IPv4Address(s["spec"]["clusterIP"])) - base for s in services
                if s["spec"].get("clusterIP") not in (None, "", "None")}  # "None": a headless service
        used |= {1, 10}
        for view in waiting:
            offset = self._pick(net.num_addresses, used)
            ip = str(ipaddress.IPv4Address(base + offset))
            used.add(offset)
            svc = json_copy(view)
            svc["spec"]["clusterIP"] = ip
            svc["spec"]["clusterIPs"] = [ip]
            self.cluster.store.apply(svc)

    def _pick(self, size: int, used: set[int]) -> int:
        band = min(max(16, size // 16), 256)
        for low, high in ((band, size - 1), (1, band)):  # hosts only: offsets 1 .. size-2
            for _ in range(64):  # random probes; a nearly full band falls back to a scan
                offset = self.random.randrange(low, high)
                if offset not in used:
                    return offset
            offset = next((o for o in range(low, high) if o not in used), None)
            if offset is not None:
                return offset
        raise RuntimeError(f"service subnet {self.cluster.spec['service_subnet']} of cluster {self.cluster.name} is full")


def kube_dns_service(service_subnet: str) -> dict:
    """kube-system/kube-dns as kubeadm's CoreDNS addon makes it (cmd/kubeadm/app/phases/addons/dns/manifests.go
    at v1.32.0): the tenth address of the Service range (GetDNSIP), DNS over UDP and TCP, CoreDNS's metrics."""
    ip = str(ipaddress.IPv4Network(service_subnet).network_address + 10)
    ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
             {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
                         "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ports": ports, "selector": {"k8s-app": "kube-dns"},
                     "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "internalTrafficPolicy": "Cluster"}}


def kubernetes_service(service_subnet: str, node_ip: str) -> list[dict]:
    """default/kubernetes, which the API server keeps for itself (pkg/controlplane/controller/kubernetesservice in
    kubernetes/kubernetes): the first address of the Service range, https 443 to the API server's 6443, without a
    selector; its Endpoints name the control-plane node's address, and are not mirrored to an EndpointSlice by
    the mirroring controller (the API server writes that slice itself)."""
    ip = str(ipaddress.IPv4Network(service_subnet).network_address + 1)
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "sessionAffinity": "None",
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_SERVER_PORT}],
                        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "kubernetes", "namespace": "default",
                              "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                 "subsets": [{"addresses": [{"ip": node_ip}],
                              "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}]}]}
    endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                      "metadata": {"name": "kubernetes", "namespace": "default",
                                   "labels": {"kubernetes.io/service-name": "kubernetes"}},
                      "endpoints": [{"addresses": [node_ip], "conditions": {"ready": True}}],
                      "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}]}
    return [service, endpoints, endpoint_slice]


class ServiceAccountTokens:
    """Fills `kubernetes.io/service-account-token` Secrets as the token controller does (pkg/controller/
    serviceaccount/tokens_controller.go in kubernetes/kubernetes): a token, the namespace and the cluster's CA
    (`ca.crt`), and the account's UID in the `kubernetes.io/service-account.uid` annotation, which ties the token
    to this account and not to a later one of the same name."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster

    async def reconcile(self) -> None:
        store = self.cluster.store
        for view in store.views("Secret"):
            if view.get("type") != "kubernetes.io/service-account-token" or view.get("data", {}).get("token"):
                continue
            meta = view["metadata"]
            account = store.view("ServiceAccount", meta["namespace"], (meta.get("annotations") or {}).get(names.SA_NAME_ANNOTATION, ""))
            if account is None:
                continue  # its account first
            secret = json_copy(view)
            secret["metadata"].setdefault("annotations", {})[names.SA_UID_ANNOTATION] = account["metadata"].get("uid", "")
            ca = self.cluster.cert_dir / "apiserver" / "ca.crt"
            secret.setdefault("data", {})["token"] = b64(secrets.token_urlsafe(32))
            secret["data"]["namespace"] = b64(meta["namespace"])
            secret["data"]["ca.crt"] = b64(ca.read_text()) if ca.exists() else ""
            store.apply(secret)


class Namespaces:
    """The namespace controller (pkg/controller/namespace in kubernetes/kubernetes): a namespace marked for
    deletion loses its content, then its `kubernetes` finalizer, and is gone. Until then it is Terminating and
    the API server refuses new content in it (rest.py); an object with finalizers keeps it so until they go."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster

    async def reconcile(self) -> None:
        store = self.cluster.store
        for namespace in [n for n in store.views("Namespace") if n["metadata"].get("deletionTimestamp")]:
            name = namespace["metadata"]["name"]
            # delete what it holds; what has finalizers is only marked, and holds the namespace until they are gone
            if store.delete_namespaced(name) == 0:
                store.delete("Namespace", "", name)
                continue
            conditions = self._conditions(store.in_namespace(name))
            had = {c["type"]: c for c in namespace.get("status", {}).get("conditions", [])}
            if [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in had.values()] != conditions:
                # a condition keeps its transition time unless its status changes (updateConditions)
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                store.set_status("Namespace", "", name, {"phase": "Terminating", "conditions": [
                    {**c, "lastTransitionTime": had[c["type"]]["lastTransitionTime"]
                     if c["type"] in had and had[c["type"]].get("status") == c["status"] else now} for c in conditions]})

    def _conditions(self, left: list[tuple[str, dict]]) -> list[dict]:
        """What the namespace controller reports while content remains (kubernetes/kubernetes
        pkg/controller/namespace/deletion/status_condition_utils.go: its five conditions, the remaining resources
        as `<resource>.<group> has N resource instances` (ProcessContentTotals' "%s.%s") and the finalizers as
        `<finalizer> in N resource instances`, each sorted)."""
        # `<resource>.<group>`, with the dot for the core group too ("configmaps. has 1 ..."), by group and kind
        resource = {(r.group, r.kind): f"{r.plural}.{r.group}" for r in Catalog(self.cluster.store).all()}
        counts = collections.Counter(
            resource.get((obj.get("apiVersion", "v1").rpartition("/")[0], kind), f"{kind.lower()}.") for kind, obj in left)
        finalizers = collections.Counter(f for _, obj in left for f in obj["metadata"].get("finalizers") or [])

        def listed(counter, words: str) -> str:
            return ", ".join(sorted(f"{key} {words} {n} resource instances" for key, n in counter.items()))
        return [
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "reason": "ResourcesDiscovered",
             "message": "All resources successfully discovered"},
            {"type": "NamespaceDeletionGroupVersionParsingFailure", "status": "False", "reason": "ParsedGroupVersions",
             "message": "All legacy kube types successfully parsed"},
            {"type": "NamespaceDeletionContentFailure", "status": "False", "reason": "ContentDeleted",
             "message": "All content successfully deleted, may be waiting on finalization"},
            {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
             "message": f"Some resources are remaining: {listed(counts, 'has')}"} if counts else
            {"type": "NamespaceContentRemaining", "status": "False", "reason": "ContentRemoved",
             "message": "All content successfully removed"},
            {"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
             "message": f"Some content in the namespace has finalizers remaining: {listed(finalizers, 'in')}"} if finalizers else
            {"type": "NamespaceFinalizersRemaining", "status": "False", "reason": "ContentHasNoFinalizers",
             "message": "All content-preserving finalizers finished"}]


class CustomResourceDefinitions:
    """The apiextensions controller: a CRD's names are accepted and it is established at once (no two CRDs
    of the lab claim the same names), which `kubectl wait --for=condition=established` waits for."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster

    async def reconcile(self) -> None:
        store = self.cluster.store
        for crd in store.views("CustomResourceDefinition"):
            if crd.get("status", {}).get("acceptedNames") == crd["spec"].get("names"):
                continue
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            store.set_status("CustomResourceDefinition", "", crd["metadata"]["name"], {
                "acceptedNames": crd["spec"].get("names", {}),
                "storedVersions": [v["name"] for v in crd["spec"].get("versions", []) if v.get("storage")],
                "conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                "message": "no conflicts found", "lastTransitionTime": now},
                               {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                "message": "the initial names have been accepted", "lastTransitionTime": now}]})


class MetalLB:
    """Assigns LoadBalancer addresses from IPAddressPools announced by an L2Advertisement."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster

    def pools(self) -> list[tuple[str, list[str]]]:
        """MetalLB >= 0.13: IPAddressPools an L2Advertisement announces. Before 0.13: the address pools of the
        `config` ConfigMap (metallb v0.9 docs, layer2 protocol)."""
        store = self.cluster.store
        out = []
        legacy = store.view("ConfigMap", METALLB_NS, "config")
        if legacy is not None:
            import yaml  # noqa: PLC0415 - only MetalLB before 0.13 (seed-2.8) has this ConfigMap

            try:
                config = yaml.safe_load(legacy.get("data", {}).get("config", "")) or {}
                for pool in config.get("address-pools", []):
                    if pool.get("protocol") == "layer2" and pool.get("auto-assign", True):
                        out.append((pool["name"], [a for r in pool.get("addresses", []) for a in _expand(r)]))
            except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError):
                self.cluster.event("ConfigMap", f"{METALLB_NS}/config", "InvalidConfig", "MetalLB cannot read its config",
                                   "Warning", component=METALLB_COMPONENT)
        adverts = store.list("L2Advertisement", METALLB_NS)
        for pool in store.list("IPAddressPool", METALLB_NS):
            name = pool["metadata"]["name"]
            if not any(not a.get("spec", {}).get("ipAddressPools") or name in a["spec"]["ipAddressPools"] for a in adverts):
                continue
            if pool["spec"].get("autoAssign", True) is False:
                continue
            out.append((name, [a for r in pool["spec"].get("addresses", []) for a in _expand(r)]))
        return out

    async def reconcile(self) -> None:
        store = self.cluster.store
        services = store.views("Service")
        used = {i["ip"] for s in services for i in s.get("status", {}).get("loadBalancer", {}).get("ingress", [])}
        pools = self.pools()
        for svc in services:
            meta = svc["metadata"]
            ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress")
            if svc["spec"].get("type") != "LoadBalancer":
                if ingress:
                    store.set_status("Service", meta["namespace"], meta["name"], {})
                continue
            if ingress:
                continue
            free = next(((p, a) for p, addrs in pools for a in addrs if a not in used), None)
            if free is None:
                reason = "no IPAddressPool is advertised" if not pools else "every address in the pools is in use"
                self.cluster.event("Service", f"{meta['namespace']}/{meta['name']}", "AllocationFailed",
                                   f"Failed to allocate IP for \"{meta['namespace']}/{meta['name']}\": {reason}", "Warning",
                                   component=METALLB_COMPONENT)
                continue
            pool, address = free
            used.add(address)
            store.set_status("Service", meta["namespace"], meta["name"], {"loadBalancer": {"ingress": [{"ip": address}]}})
            self.cluster.event("Service", f"{meta['namespace']}/{meta['name']}", "IPAllocated",
                               f"Assigned IP [\"{address}\"] from pool {pool}", component=METALLB_COMPONENT)


def _expand(spec: str) -> list[str]:
    return [str(address) for address in AddressPool.parse(spec, strict=False).addresses()]


class Endpoints:
    """The endpoints controller: ready pods behind each Service with a selector."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster

    async def reconcile(self) -> None:
        store = self.cluster.store
        pods_by_ns: dict[str, list[dict]] = {}
        for pod in store.views("Pod"):
            pods_by_ns.setdefault(pod["metadata"]["namespace"], []).append(pod)
        for svc in store.views("Service"):
            selector = svc["spec"].get("selector")
            if not selector:
                continue  # endpoints of selector-less services (mirrors) belong to whoever made them
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            pods = [p for p in pods_by_ns.get(ns, []) if matches(p["metadata"].get("labels"), selector) and pod_ready(p)]
            # A pod whose subdomain is this service is named by its hostname (the endpoints controller's rule)
            addresses = [{"ip": p["status"]["podIP"], "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]},
                          **({"hostname": p["spec"]["hostname"]} if p["spec"].get("hostname") and
                             p["spec"].get("subdomain") == name else {})} for p in pods]
            ports = [{"name": p.get("name", ""), "port": _target_port(p, pods), "protocol": p.get("protocol", "TCP")}
                     for p in svc["spec"].get("ports", [])]
            eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
                   "subsets": [{"addresses": addresses, "ports": ports}] if addresses else []}
            store.apply(eps)


class EndpointSlices:
    """Kubernetes' two EndpointSlice controllers, as readers of slices see them: for a Service with a
    selector, `endpointslice-controller.k8s.io` writes one slice of its ready and not-ready pods; for a
    selector-less Service whose Endpoints someone else writes (the service mirror's), the mirroring
    controller copies those Endpoints into a slice with their labels, unless they carry the skip-mirror
    label. Both need the Service to exist. Here both are derived from the Endpoints object, which the
    endpoints controller above computes from the same pods, and each writes one slice per owner (a real
    controller splits at 100 endpoints). Linkerd's destination controller reads slices, not Endpoints."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster
        self._seen: tuple = ()
        # (namespace, name) -> the Endpoints' and Service's resourceVersions its slice was made from, and the
        # slice's name (None: none wanted): a pass makes again only what changed (1,000 services otherwise
        # cost a thousand copies a pass)
        self._made: dict[tuple[str, str], tuple] = {}

    async def reconcile(self) -> None:
        store = self.cluster.store
        seen = tuple(store.kind_versions.get(k, 0) for k in ("Endpoints", "Service", "EndpointSlice"))
        if seen == self._seen:
            return  # nothing a slice is made from has changed
        wanted: set[tuple[str, str]] = set()
        made_now: dict[tuple[str, str], tuple] = {}
        for eps in store.views("Endpoints"):
            ns, name = eps["metadata"]["namespace"], eps["metadata"]["name"]
            svc = store.view("Service", ns, name)
            if svc is None:
                continue
            versions = (eps["metadata"].get("resourceVersion"), svc["metadata"].get("resourceVersion"))
            before = self._made.get((ns, name))
            if before is not None and before[:2] == versions and (
                    before[2] is None or store.view("EndpointSlice", ns, before[2]) is not None):
                slice_name = before[2]
            else:
                made = _slice(svc, eps)
                slice_name = made["metadata"]["name"] if made is not None else None
                if made is not None:
                    store.apply(made)
            made_now[(ns, name)] = (*versions, slice_name)
            if slice_name is not None:
                wanted.add((ns, slice_name))
        self._made = made_now
        for old in list(store.views("EndpointSlice")):
            key = (old["metadata"]["namespace"], old["metadata"]["name"])
            managed = (old["metadata"].get("labels") or {}).get(names.MANAGED_BY_LABEL)
            if managed in (names.SLICE_CONTROLLER, names.MIRRORING_CONTROLLER) and key not in wanted:
                store.delete("EndpointSlice", *key)
        self._seen = tuple(store.kind_versions.get(k, 0) for k in ("Endpoints", "Service", "EndpointSlice"))


def _slice(svc: dict, eps: dict) -> dict | None:
    labels = eps["metadata"].get("labels") or {}
    selected = bool(svc["spec"].get("selector"))
    if not selected and (labels.get(names.SKIP_MIRROR_LABEL) == "true" or not eps.get("subsets")):
        return None
    owner = svc if selected else eps
    endpoints, ports = [], []
    for subset in eps.get("subsets") or []:
        ports = ports or [{"name": p.get("name", ""), "port": p["port"], "protocol": p.get("protocol", "TCP")}
                          for p in subset.get("ports", [])]
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field) or []:
                endpoints.append({"addresses": [address["ip"]],
                                  "conditions": {"ready": ready, "serving": ready, "terminating": False},
                                  **{k: address[k] for k in ("hostname", "nodeName", "targetRef") if k in address}})
    name = svc["metadata"]["name"]
    # The mirroring controller copies the Endpoints' annotations but two (reconciler.go); Linkerd's
    # destination reads the remote gateway's identity from them (port_publisher.go, edge-26.8.3).
    annotations = {k: v for k, v in (eps["metadata"].get("annotations") or {}).items()
                   if k not in ("endpoints.kubernetes.io/last-change-trigger-time", names.LAST_APPLIED)} if not selected else {}
    suffix = hashlib.sha256(owner["metadata"].get("uid", name).encode()).hexdigest()[:5]  # stands for generateName's
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-{suffix}", "namespace": svc["metadata"]["namespace"], "generateName": f"{name}-",
                         **({"annotations": annotations} if annotations else {}),
                         "labels": {**(labels if not selected else svc["metadata"].get("labels") or {}),
                                    names.SERVICE_NAME_LABEL: name,
                                    names.MANAGED_BY_LABEL: names.SLICE_CONTROLLER if selected else names.MIRRORING_CONTROLLER},
                         "ownerReferences": [{"apiVersion": "v1", "kind": owner["kind"], "name": name,
                                              "uid": owner["metadata"].get("uid", ""), "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": "IPv4", "endpoints": endpoints or None, "ports": ports or None}


def _target_port(svc_port: dict, pods: list[dict]) -> int:
    target = svc_port.get("targetPort", svc_port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for pod in pods:
        for c in pod["spec"].get("containers", []):
            for p in c.get("ports", []):
                if p.get("name") == target:
                    return p["containerPort"]
    return svc_port["port"]
