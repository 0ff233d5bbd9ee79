"""The service mirror: for each link, watch the target cluster and mirror what it exports.

What a link is depends on the installed version: stable-2.8.1's service mirror watches Secrets of
type mirror.linkerd.io/remote-kubeconfig (controller/cmd/service-mirror, the target named by the
`mirror.linkerd.io/cluster-name` annotation) and mirrors services carrying the guide's two
annotations naming their gateway; edge-26.8.3's controllers watch Link objects and mirror services
matching the Link's selector through the gateway the Link names. It reads the target through the
link's credentials secret, exactly as the real controller does with its kubeconfig, so revoked or
wrong credentials stop mirroring. The mirror is `<name>-<target>` with endpoints at the gateway's
LoadBalancer address. Which gateways are probed, and when, is probes.py's: on 2.8.1 every remote
Service annotated as a gateway gets a gateway mirror, probed exported or not; on edge the Link's
gateway from the moment its controller starts watching, exported or not.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ... import names
from ...names import CREDENTIALS_SECRET_TYPE, MC_NS
from ..kube import informer
from ..kube.informer import Informer
from ..kube.objects import template_hash
from ..kube.recorder import EventRecorder
from ..kube.store import matches
from . import controlplane
from .cluster import Cluster
from .gateway import GatewayProbe, GatewayTarget, gateway_target, link_gateway_target
from .probes import GatewayProbes
from .remote import kubeconfig

GATEWAY_NAME, GATEWAY_NS = names.EXPORT_NAME, names.EXPORT_NS
CLUSTER_LABEL, MIRRORED_LABEL = names.CLUSTER_NAME, names.MIRRORED_LABEL
# Topology hints are not multicluster aware: never copied onto a mirror (isAnnotationExlucded, edge-26.8.3)
TOPOLOGY_ANNOTATIONS = ("service.kubernetes.io/topology-aware-hints", "service.kubernetes.io/topology-mode")


def _mirror_ports(svc: dict) -> list[dict]:
    """A mirror's ports: the remote service's name, protocol, port and targetPort, its nodePort left out
    (remapRemoteServicePorts in cluster_watcher.go at stable-2.8.1 and edge-26.8.3)."""
    return [{k: p[k] for k in ("name", "protocol", "port", "targetPort") if k in p} for p in svc["spec"].get("ports", [])]


def _excluded(key: str, patterns: list[str]) -> bool:
    """A key a Link's excludedLabels or excludedAnnotations names: exactly, or by what precedes a `/*`."""
    return any(key.startswith(p[:-2]) if p.endswith("/*") else key == p for p in patterns)


def _empty(endpoints: dict | None) -> bool:
    """isEmptyEndpoints (edge-26.8.3 cluster_watcher.go): no Endpoints, no subsets, or no subset with a ready
    address (only notReadyAddresses, a pod not ready yet)."""
    return not any(subset.get("addresses") for subset in (endpoints or {}).get("subsets") or [])


def _copied(svc: dict, spec: dict) -> tuple[dict, dict]:
    """The labels and annotations an edge mirror carries over from the remote service: its labels but those
    under mirror.linkerd.io and the Link's excludedLabels, its annotations but the topology hints and the
    Link's excludedAnnotations, the opaque ports always (getCommonServiceLabels, isLabelExlucded,
    getCommonServiceAnnotations and isAnnotationExlucded in cluster_watcher.go, edge-26.8.3)."""
    labels, annotations = svc["metadata"].get("labels") or {}, svc["metadata"].get("annotations") or {}
    kept = {k: v for k, v in annotations.items()
            if k not in TOPOLOGY_ANNOTATIONS and not _excluded(k, spec.get("excludedAnnotations") or [])}
    if names.OPAQUE_PORTS_ANNOTATION in annotations:
        kept[names.OPAQUE_PORTS_ANNOTATION] = annotations[names.OPAQUE_PORTS_ANNOTATION]
    return {k: v for k, v in labels.items()
            if not k.startswith("mirror.linkerd.io") and not _excluded(k, spec.get("excludedLabels") or [])}, kept


def _endpoint_ports(ports: list[dict], gateway_port: int) -> list[dict]:
    """A mirror's endpoint ports: each remote port's name and protocol, at the gateway's port
    (getEndpointsPorts in cluster_watcher.go at stable-2.8.1 and edge-26.8.3)."""
    return [{"name": p.get("name", ""), "port": gateway_port, "protocol": p.get("protocol", "TCP")} for p in ports]


@dataclass
class LinkState:
    target: str
    error: str | None = "not reconciled yet"
    informer: Informer | None = None  # the running controller's watch on the target
    informer_key: tuple = ()  # what it was started with: the credentials and the controller's pod template
    recorder: EventRecorder | None = None  # its event recorder, writing to the target with the same credentials
    probes: dict[tuple[str, str], GatewayProbe] = field(default_factory=dict)
    paired: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: tuple = ()  # the versions of what the last pass read: an unchanged world needs no pass
    federated: list[dict] = field(default_factory=list)  # the target's services its Link's federated selector picks
    # The watcher's gatewayAlive: true from the start "to prevent unexpected service fail fast", then what the
    # probe worker reports (edge-26.8.3 cluster_watcher.go NewRemoteClusterServiceWatcher, liveness channel)
    gateway_alive: bool = True


# What a link's pass reads in its own cluster (the target's objects come through the informer).
LOCAL_KINDS = ("Service", "Endpoints", "Namespace", "Secret", "Link", "Deployment")


class ServiceMirror(GatewayProbes):
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.links: dict[str, LinkState] = {}
        self.gateway_probes: dict[tuple[str, str, str], GatewayProbe] = {}  # 2.8.1's, by remote namespace, name, cluster
        self.probe_manager_key: tuple | None = None  # the controller process they run in

    def link_specs(self) -> dict[str, dict]:
        """Each link as a Link spec. Edge: the Link objects. 2.8.1 has no Link: each credentials Secret
        is one, its annotations naming the target (pkg/servicemirror ParseRemoteClusterSecret)."""
        store = self.cluster.store
        profile = controlplane.installed_profile(self.cluster.store)
        if profile is None or profile.link_crd:
            return {link["metadata"]["name"]: link.get("spec", {}) for link in store.views("Link", MC_NS)}
        out = {}
        for secret in store.views("Secret", MC_NS):
            ann = secret["metadata"].get("annotations", {})
            if secret.get("type") == CREDENTIALS_SECRET_TYPE and ann.get(names.CLUSTER_NAME):
                out[secret["metadata"]["name"]] = {
                    "targetClusterName": ann[names.CLUSTER_NAME],
                    "targetClusterDomain": ann.get(names.REMOTE_CLUSTER_DOMAIN, "cluster.local"),
                    "clusterCredentialsSecret": secret["metadata"]["name"]}
        return out

    async def reconcile(self) -> None:
        links = self.link_specs()
        for name in list(self.links):
            if name not in links:
                state = self.links.pop(name)
                self._stop_probes(state, keep=set())
                await self._stop_informer(state)
                self._remove_mirrors(state.target, keep=set())
        for name, spec in links.items():
            state = self.links.setdefault(name, LinkState(target=spec.get("targetClusterName", name)))
            controller = self.controller(state.target)
            if controller is None:  # no controller running: nothing watches, probes or mirrors; nothing is removed
                await self._stop_informer(state)
                self._stop_probes(state, keep=set())
                continue
            watch = await self._informer(spec, state, controller)
            if watch is not None:
                self._link_probe(spec, state)
                self._mirror(spec, state, watch)
        self._federate()
        self._run_probe_manager()

    async def _informer(self, spec: dict, state: LinkState, controller: dict) -> Informer | None:
        """The controller's watch on its target, through the link's credentials over the target's API. A new
        controller (its pod template changed: `rollout restart`, an upgrade) or new credentials start a new
        one with an empty cache, as a new process would."""
        name = spec.get("clusterCredentialsSecret", "")
        secret = self.cluster.store.view("Secret", MC_NS, name)
        found = kubeconfig(secret) if secret is not None else None
        if found is None or not found[0].startswith("https://"):
            await self._stop_informer(state)
            state.error = (f"credentials secret {MC_NS}/{name} not found" if secret is None else
                           f"credentials secret {MC_NS}/{name} holds no usable kubeconfig" if found is None else
                           f"credentials secret {MC_NS}/{name} names {found[0]}, linked before the simulation served "
                           f"Kubernetes APIs: link again (./labctl step link)")
            return None
        key = (*found, controller["metadata"].get("uid"), template_hash(controller.get("spec", {}).get("template", {})))
        if state.informer is None or state.informer_key != key:
            # A new controller process: new watches, new probe workers, and the watcher's gateway alive again
            await self._stop_informer(state)
            self._stop_probes(state, keep=set())
            state.gateway_alive, state.seen = True, ()
            profile = controlplane.installed_profile(self.cluster.store) or self.cluster.profile
            # 2.8.1's mirror watches services only, with client-go v0.17.4; edge's services and endpoints
            watched = (informer.SERVICES, informer.ENDPOINTS) if profile.link_crd else (informer.SERVICES,)
            retry = informer.CLIENT_GO_V0_36 if profile.link_crd else informer.CLIENT_GO_V0_17
            log_line = lambda line, dep=controller: self._controller_log(dep, line)  # noqa: E731
            state.informer = Informer(*found, watched, on_change=self.cluster.wake, retry=retry, log_line=log_line)
            state.recorder = EventRecorder(*found, f"linkerd-service-mirror-{state.target}", log_line=log_line)
            state.informer_key = key
        return state.informer

    def _controller_log(self, controller: dict, line: str) -> None:
        """A line in the controller's own log (`kubectl logs deploy/<controller>`), in each of its pods."""
        self.cluster.log_from(MC_NS, controller["metadata"]["name"], line)

    @staticmethod
    async def _stop_informer(state: LinkState) -> None:
        if state.informer is not None:
            old, state.informer, state.informer_key = state.informer, None, ()
            await old.close()
        if state.recorder is not None:
            recorder, state.recorder = state.recorder, None
            await recorder.close()

    def _mirror(self, spec: dict, state: LinkState, watch: Informer) -> None:
        """One pass over a link, as the real mirror's informers would react: only when something it reads
        changed (the passes after every write would otherwise cost the whole remote cluster each)."""
        seen = (repr(spec), state.gateway_alive, tuple(self.cluster.store.kind_versions.get(k) for k in LOCAL_KINDS),
                watch.version, watch.error, watch.has_synced)
        if seen == state.seen:
            return
        state.seen = seen
        state.error = watch.error
        if not watch.has_synced:
            return  # keep existing mirrors and probes until the caches have synced (WaitForCacheSync)
        services = watch.list("Service")
        domain = spec.get("targetClusterDomain", "cluster.local")
        keep: set[tuple[str, str]] = set()
        paired: dict[tuple[str, str], int] = {}
        profile = controlplane.installed_profile(self.cluster.store)
        by_link = profile is None or profile.link_crd
        # link-gen leaves out the gateway and its selector with --gateway=false; an empty selector selects
        # nothing (cluster_watcher.go isExported / isRemoteDiscovery, edge-26.8.3)
        selector = (spec.get("selector") or {}).get("matchLabels")
        discovery = (spec.get("remoteDiscoverySelector") or {}).get("matchLabels")
        link_gateway = link_gateway_target(spec, services) if selector else None
        for svc in services:
            labels = svc["metadata"].get("labels") or {}
            if by_link and labels.get(MIRRORED_LABEL):
                continue  # a mirror in the target is not exported again
            if by_link and selector and matches(labels, selector):  # 2.9+: the Link's gateway serves them
                gw = link_gateway
            elif by_link and discovery and matches(labels, discovery):  # 2.14+: pod-to-pod, no gateway
                ns = svc["metadata"]["namespace"]
                if self._namespace_ready(ns, svc, state):
                    keep.add((ns, self._apply_discovery_mirror(svc, state.target, domain, _copied(svc, spec))))
                continue
            elif by_link:
                continue
            else:  # Linkerd 2.8: each exported service names its gateway in two annotations
                ann = svc["metadata"].get("annotations", {})
                if names.MULTICLUSTER_GATEWAY_ANNOTATION in ann:  # a gateway first (isGateway, cluster_watcher.go:825)
                    keep |= self._mirror_gateway(svc, state.target)
                    continue
                if GATEWAY_NAME not in ann or GATEWAY_NS not in ann:
                    continue
                gw = gateway_target(watch.get("Service", ann[GATEWAY_NS], ann[GATEWAY_NAME]))
            ns = svc["metadata"]["namespace"]
            if gw is None:
                continue  # no gateway address yet
            if not self._namespace_ready(ns, svc, state):
                continue
            paired[(gw.namespace, gw.name)] = paired.get((gw.namespace, gw.name), 0) + 1
            ready = state.gateway_alive or not (profile and profile.liveness_gates_endpoints)
            # 2.8.1 copies nothing and labels a mirror with its gateway (getMirroredServiceLabels, stable-2.8.1)
            copied = _copied(svc, spec) if by_link else ({names.REMOTE_GATEWAY_NAME: gw.name, names.REMOTE_GATEWAY_NS: gw.namespace}, {})
            if svc["spec"].get("clusterIP") == "None" and self._headless_enabled(state.target):
                keep |= {(ns, name) for name in self._apply_headless_mirror(svc, watch, gw, state.target, domain, ready, copied)}
                continue
            # edge lists no endpoint for a service with no ready one in the target (isEmptyService, edge-26.8.3);
            # 2.8.1 always lists the gateway
            empty = by_link and _empty(watch.get("Endpoints", ns, svc["metadata"]["name"]))
            keep.add((ns, self._apply_mirror(svc, gw, state.target, domain, ready, copied, empty)))
        if not by_link:
            keep |= self._stale_gateway_mirrors(services, state.target)
        self._remove_mirrors(state.target, keep)
        members = (spec.get("federatedServiceSelector") or {}).get("matchLabels")
        # A headless service cannot join (handleCreateFederatedService, edge-26.8.3)
        state.federated = [svc for svc in services if matches(svc["metadata"].get("labels") or {}, members)
                           and svc["spec"].get("clusterIP") != "None"] if by_link and members else []
        state.paired = paired
        if by_link:
            self._name_link_probe(state, link_gateway)

    def _namespace_ready(self, ns: str, svc: dict, state: LinkState) -> bool:
        """Where the mirror goes must exist. 2.8.1 creates the namespace, labelled as mirrored; edge skips the
        service and records an event on it in the target cluster, through the link's credentials
        (cluster_watcher.go mirrorNamespaceIfNecessary / ServiceMirroringSkipped at each tag)."""
        if self.cluster.store.view("Namespace", "", ns) is not None:
            return True
        profile = controlplane.installed_profile(self.cluster.store)
        if profile is not None and profile.mirror_creates_namespaces:
            self.cluster.store.apply({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": ns, "labels": {MIRRORED_LABEL: "true", CLUSTER_LABEL: state.target}}})
            return True
        if state.recorder is not None:
            state.recorder.event({"kind": "Service", "apiVersion": "v1", **svc}, "ServiceMirroringSkipped",
                                 "Skipped mirroring service: namespace does not exist")
        return False

    def _apply_mirror(self, svc: dict, gw: GatewayTarget, target: str, domain: str, ready: bool,
                      copied: tuple[dict, dict], empty: bool = False) -> str:
        """The mirror and its Endpoints at the gateway; while the gateway is dead (edge), the address is listed
        as not ready, so the proxies have no endpoint (cluster_watcher.go updateReadiness, edge-26.8.3); for an
        `empty` service (no ready endpoint in the target) no subset at all (createGatewayEndpoints,
        handleCreateOrUpdateEndpoints)."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        mirror_name = f"{name}-{target}"
        fq_name = f"{name}.{ns}.svc.{domain}"
        labels = {**copied[0], MIRRORED_LABEL: "true", CLUSTER_LABEL: target}
        ports = _mirror_ports(svc)
        subsets = [] if empty else [{"addresses" if ready else "notReadyAddresses": [{"ip": gw.address}],
                                     "ports": _endpoint_ports(ports, gw.port)}]
        store = self.cluster.store
        have, have_eps = store.view("Service", ns, mirror_name), store.view("Endpoints", ns, mirror_name)
        if (have and have_eps and have_eps.get("subsets") == subsets
                and have["metadata"].get("annotations", {}).get(names.REMOTE_RESOURCE_VERSION) == svc["metadata"]["resourceVersion"]
                and have_eps["metadata"].get("annotations", {}).get(names.REMOTE_GATEWAY_IDENTITY_ANNOTATION) == gw.identity):
            return mirror_name  # up to date with the remote service's version, as the real mirror's informer sees it
        self.cluster.store.apply({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": mirror_name, "namespace": ns, "labels": labels,
                         "annotations": {**copied[1], names.REMOTE_SVC_ANNOTATION: fq_name,
                                         names.REMOTE_RESOURCE_VERSION: svc["metadata"]["resourceVersion"]}},
            "spec": {"type": "ClusterIP", "ports": ports},
        })
        self.cluster.store.apply({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": mirror_name, "namespace": ns, "labels": labels,
                         "annotations": {names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: gw.identity,
                                         names.REMOTE_SVC_ANNOTATION: fq_name}},
            "subsets": subsets,
        })
        return mirror_name

    def _federate(self) -> None:
        """`<name>-federated` for every service some link's target offers as a member: no endpoints, its
        members in the remote-discovery annotation as `<name>@<target>`; gone with its last
        member (cluster_watcher.go handleCreateFederatedService / handleFederatedServiceLeave, edge-26.8.3).
        A link that cannot reach its target keeps the members it last saw, as the controller keeps its cache."""
        members: dict[tuple[str, str], list[str]] = {}
        models: dict[tuple[str, str], dict] = {}
        store = self.cluster.store
        for state in self.links.values():
            for svc in state.federated:
                key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
                if store.view("Namespace", "", key[0]) is None:
                    continue
                members.setdefault(key, []).append(f"{key[1]}@{state.target}")
                models.setdefault(key, svc)
        for (ns, name), svc in models.items():
            labels = {k: v for k, v in (svc["metadata"].get("labels") or {}).items() if not k.startswith("mirror.linkerd.io/")}
            self._ensure(store, {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": f"{name}-federated", "namespace": ns, "labels": {**labels, MIRRORED_LABEL: "true"},
                             "annotations": {names.REMOTE_DISCOVERY_ANNOTATION: ",".join(members[(ns, name)])}},
                "spec": {"type": "ClusterIP", "ports": _mirror_ports(svc)},
            })
        for svc in list(store.views("Service", labels={MIRRORED_LABEL: "true"})):
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            if names.REMOTE_DISCOVERY_ANNOTATION in (svc["metadata"].get("annotations") or {}) and \
                    name.endswith("-federated") and (ns, name.removesuffix("-federated")) not in models:
                store.delete("Service", ns, name)

    def controllers(self, target: str) -> list[dict]:
        """The service mirror Deployments for a link to `target`: edge selects them by `component in
        (service-mirror, controller)` and the cluster-name label (multicluster/cmd/check.go
        serviceMirrorComponentsSelector, edge-26.8.3); 2.8.1 runs one `linkerd-service-mirror` for all links."""
        profile = controlplane.installed_profile(self.cluster.store) or self.cluster.profile
        if not profile.link_crd:
            dep = self.cluster.store.view("Deployment", MC_NS, profile.service_mirror)
            return [dep] if dep else []
        return [d for d in self.cluster.store.views("Deployment", MC_NS, labels={CLUSTER_LABEL: target})
                if d["metadata"].get("labels", {}).get("component") in ("service-mirror", "controller")]

    def controller(self, target: str) -> dict | None:
        """A running controller for the link (at least one available replica), or None."""
        return next((d for d in self.controllers(target) if d.get("status", {}).get("availableReplicas", 0) >= 1), None)

    def _headless_enabled(self, target: str) -> bool:
        """The link's controller runs with -enable-headless-services (its Deployment's args, as the chart's
        controllers[].enableHeadlessServices or the link chart's enableHeadlessServices render them; off by default)."""
        dep = self.controller(target) or {}
        containers = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        return any("-enable-headless-services" in (c.get("args") or []) for c in containers)

    def _apply_headless_mirror(self, svc: dict, watch: Informer, gw: GatewayTarget, target: str, domain: str,
                               ready: bool, copied: tuple[dict, dict]) -> list[str]:
        """An exported headless service whose endpoints have hostnames (a StatefulSet's pods), as edge-26.8.3's
        cluster_watcher_headless.go mirrors it: `<name>-<target>` headless, an endpoint mirror `<hostname>-<target>`
        per pod (a ClusterIP service whose endpoints are the gateway, for `<hostname>.<name>.<ns>.svc`), and the
        headless mirror's endpoints naming each hostname at its endpoint mirror's cluster IP. Without hostnames
        it is mirrored like any other service. The endpoint mirrors are gated on the gateway's liveness as any
        mirror is. Returns the names it keeps."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        eps = watch.get("Endpoints", ns, name) or {}
        hosts = [a["hostname"] for subset in eps.get("subsets", []) for a in subset.get("addresses", []) if a.get("hostname")]
        if not eps.get("subsets"):
            return []  # nothing to decide on yet (createRemoteHeadlessService waits for an address)
        if not hosts:
            return [self._apply_mirror(svc, gw, target, domain, ready, copied)]
        store = self.cluster.store
        mirror_name = f"{name}-{target}"
        labels = {**copied[0], MIRRORED_LABEL: "true", CLUSTER_LABEL: target}
        ports = _mirror_ports(svc)
        version = svc["metadata"]["resourceVersion"]
        self._ensure(store, {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": mirror_name, "namespace": ns, "labels": dict(labels),
            "annotations": {**copied[1], names.REMOTE_SVC_ANNOTATION: f"{name}.{ns}.svc.{domain}",
                            names.REMOTE_RESOURCE_VERSION: version}},
            "spec": {"clusterIP": "None", "ports": ports}})
        kept, addresses = [mirror_name], []
        for host in hosts:
            host_mirror = f"{host}-{target}"
            fq_name = f"{host}.{name}.{ns}.svc.{domain}"
            host_labels = {**labels, names.MIRRORED_HEADLESS_LABEL: mirror_name}
            self._ensure(store, {"apiVersion": "v1", "kind": "Service", "metadata": {
                "name": host_mirror, "namespace": ns, "labels": host_labels,
                "annotations": {names.REMOTE_SVC_ANNOTATION: fq_name, names.REMOTE_RESOURCE_VERSION: version}},
                "spec": {"type": "ClusterIP", "ports": ports}})
            self._ensure(store, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
                "name": host_mirror, "namespace": ns, "labels": host_labels,
                "annotations": {names.REMOTE_SVC_ANNOTATION: fq_name, names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: gw.identity}},
                "subsets": [{"addresses" if ready else "notReadyAddresses": [{"ip": gw.address}],
                             "ports": _endpoint_ports(ports, gw.port)}]})
            kept.append(host_mirror)
            cluster_ip = (store.view("Service", ns, host_mirror) or {}).get("spec", {}).get("clusterIP")
            if cluster_ip:  # allocated by the API server; the next pass fills in what is missing
                addresses.append({"hostname": host, "ip": cluster_ip})
        self._ensure(store, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
            "name": mirror_name, "namespace": ns, "labels": dict(labels)},
            "subsets": [{"addresses": addresses, "ports": ports}] if addresses else []})
        return kept

    @staticmethod
    def _ensure(store, obj: dict) -> None:
        """Apply `obj` unless the stored one already says the same (a pass that changes nothing writes nothing)."""
        meta = obj["metadata"]
        have = store.view(obj["kind"], meta["namespace"], meta["name"])
        if have is not None and all(have.get(k) == v for k, v in obj.items() if k not in ("metadata", "spec")) and \
                all(have.get("spec", {}).get(k) == v for k, v in obj.get("spec", {}).items()) and \
                all((have["metadata"].get(k) or {}) == v for k, v in meta.items() if k in ("labels", "annotations")):
            return
        store.apply(obj)

    def _apply_discovery_mirror(self, svc: dict, target: str, domain: str, copied: tuple[dict, dict]) -> str:
        """A remote-discovery mirror (handleRemoteServiceExported, edge-26.8.3): the Service labelled with
        the target and the remote name, and no Endpoints: the destination controller resolves it from the
        target's own endpoints."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        mirror_name = f"{name}-{target}"
        store = self.cluster.store
        self._ensure(store, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": mirror_name, "namespace": ns,
                         "labels": {**copied[0], MIRRORED_LABEL: "true", CLUSTER_LABEL: target,
                                    names.REMOTE_DISCOVERY_LABEL: target, names.REMOTE_SERVICE_LABEL: name},
                         "annotations": {**copied[1], names.REMOTE_SVC_ANNOTATION: f"{name}.{ns}.svc.{domain}",
                                         names.REMOTE_RESOURCE_VERSION: svc["metadata"]["resourceVersion"]}},
            "spec": {"type": "ClusterIP", "ports": _mirror_ports(svc)},
        })
        if store.view("Endpoints", ns, mirror_name) is not None:
            store.delete("Endpoints", ns, mirror_name)  # a service moved from gateway mode keeps none
        return mirror_name

    def _remove_mirrors(self, target: str, keep: set[tuple[str, str]]) -> None:
        for svc in self.cluster.store.views("Service", labels={MIRRORED_LABEL: "true", CLUSTER_LABEL: target}):
            key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
            if key not in keep:
                self.cluster.store.delete("Service", *key)
                self.cluster.store.delete("Endpoints", *key)

    async def stop(self) -> None:
        self._stop_gateway_probes(keep=set())
        for state in self.links.values():
            self._stop_probes(state, keep=set())
            await self._stop_informer(state)
