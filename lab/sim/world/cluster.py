"""One simulated cluster: its object store, its running pods, its network view.

The controllers in `controllers.py`, `workloads.py` and lab.sim.mesh's `mirror.py` reconcile the
store into running pods, addresses and mirrors; this class answers the questions they
and the proxies ask (which pod has this IP, where does this authority go,
which identity does this service account get). It is the cluster the lower packages describe
as protocols: lab.sim.mesh.cluster.Cluster, lab.sim.kube.apiserver.server.ServedCluster, and
network.Member here.
"""
from __future__ import annotations

import functools
import ipaddress
import itertools
import shutil
from pathlib import Path
from typing import Callable

from ... import names
from ...trust import pki
from ...names import API_SERVER_PORT, LINKERD_NS
from ...model.profiles import DEFAULT_PROFILE, PROFILES
from ..kube.objects import service_with_ip
from ..kube.recorder import new_event
from ..kube.store import ObjectStore
from ..mesh import controlplane
from ..mesh.proxy import INBOUND_PORT
from ..mesh.remote import ClusterStore
from ..mesh.routes import DialError, NoEndpoints, Route
from ..wire.tls import Identity
from .network import Network
from .pods import PodRuntime


@functools.lru_cache(maxsize=1024)  # asked once per request with the few hosts the apps dial
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _direct(pod: PodRuntime | None, ip: str, port: int) -> Route:
    """Straight to ip:port: into the pod's proxy over mTLS when it is meshed, else plain TCP."""
    if pod is not None and pod.meshed:
        return Route(pod.ip, INBOUND_PORT, pod.identity, f"{pod.ip}:{port}")
    return Route(ip, port, None, f"{ip}:{port}")


def _port_for(ports: list[dict], svc_port: dict) -> int | None:
    """The endpoint port for a service port: the one of the same name, else the only one."""
    match = [p for p in ports if (p.get("name") or "") == (svc_port.get("name") or "")] or ports[:1]
    return match[0]["port"] if match else None


def ready_endpoints(eps: dict | None, svc_port: dict) -> list[tuple[str, int]]:
    """(ip, target port) of each ready address of an Endpoints object for one of its service's ports."""
    candidates = []
    for subset in (eps or {}).get("subsets", []):
        port = _port_for(subset.get("ports", []), svc_port)
        if port is not None:
            candidates += [(a["ip"], port) for a in subset.get("addresses", [])]
    return candidates


EVENT_LIMIT = 500  # events kept per cluster, the oldest dropped first (an API server keeps them an hour)


def ready_slice_endpoints(slices: list[dict], svc_port: dict) -> list[tuple[str, int]]:
    """(ip, target port) of each endpoint of a service's EndpointSlices for one of its ports, leaving out
    those marked not ready (port_publisher.go, edge-26.8.3: a missing condition counts as ready)."""
    candidates = []
    for found in slices:
        port = _port_for(found.get("ports") or [], svc_port)
        if port is not None:
            candidates += [(address, port) for e in found.get("endpoints") or []
                           if (e.get("conditions") or {}).get("ready") is not False for address in e.get("addresses", [])[:1]]
    return candidates


class SimCluster:
    def __init__(self, name: str, spec: dict, network: Network, cert_dir: Path, wake: Callable[[], None]):
        self.name = name
        self.spec = spec  # pod_subnet, service_subnet, domain
        self.network = network
        self.cert_dir = cert_dir / name
        self.store = ObjectStore(on_change=wake)
        self.wake = wake  # ask for a controller pass when something outside the store changed
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self._round_robin = itertools.count()
        self.controllers: list = []
        self.cluster_store: ClusterStore | None = None  # the destination controller's remote clusters

    @property
    def profile(self):
        """The profile the cluster was created for (older saved labs: the default one)."""
        return PROFILES.get(self.spec.get("profile", DEFAULT_PROFILE), PROFILES[DEFAULT_PROFILE])

    # -- logs (kubectl logs) -----------------------------------------------
    def log_from(self, namespace: str, deployment: str, line: str, container: str | None = None) -> None:
        """A line in the log of a Deployment's pods, in `container` (by default its first besides the proxy):
        how the lab process's controllers write what the real ones log."""
        dep = self.store.view("Deployment", namespace, deployment)
        selector = (dep or {}).get("spec", {}).get("selector", {}).get("matchLabels")
        if not selector:
            return
        for pod in self.store.views("Pod", namespace, labels=selector):
            runtime = self.pods.get((namespace, pod["metadata"]["name"]))
            names_ = [c["name"] for c in pod["spec"].get("containers", []) if c["name"] != "linkerd-proxy"]
            target = container if container in names_ else (names_[0] if names_ else None)
            if runtime is not None and target:
                runtime.log(target, line)

    # -- events (kubectl get events) ---------------------------------------
    def event(self, kind: str, name: str, reason: str, message: str, type_: str = "Normal",
              component: str = "kubelet") -> None:
        """Record a v1 Event about `kind` `namespace/name` (or `name`) in the cluster's API, as `component`'s
        event recorder does: the same event again counts up (client-go's EventCorrelator)."""
        namespace, _, obj_name = name.rpartition("/")
        involved = {"apiVersion": "apps/v1" if kind in ("Deployment", "StatefulSet") else "v1", "kind": kind,
                    "name": obj_name, **({"namespace": namespace} if namespace else {})}
        found = self.store.view(kind, namespace, obj_name)
        if found is not None:
            involved["uid"] = found["metadata"].get("uid", "")
        made = new_event(namespace or "default", involved, reason, message, type_, component,
                         self.store.views("Event", namespace or "default"))
        if made is None:
            return
        self.store.apply(made)
        events = self.store.views("Event")
        if len(events) > EVENT_LIMIT:  # the oldest go
            for old in sorted(events, key=lambda e: int(e["metadata"]["resourceVersion"]))[:len(events) - EVENT_LIMIT]:
                self.store.delete("Event", old["metadata"]["namespace"], old["metadata"]["name"])

    # -- address allocation ------------------------------------------------
    def free_ips(self, subnet: str, used: set[str], skip: int):
        """Free host addresses of `subnet` in order, after the first `skip` hosts; one pass for
        any number of allocations (thousands of services must not cost thousands of scans)."""
        net = ipaddress.IPv4Network(subnet)
        first, last = int(net.network_address) + 1 + skip, int(net.broadcast_address) - 1
        taken = {int(ipaddress.IPv4Address(ip)) for ip in used}
        for value in range(first, last + 1):
            if value not in taken:
                yield str(ipaddress.IPv4Address(value))
        raise RuntimeError(f"subnet {subnet} of cluster {self.name} is full")

    def allocate_ip(self, subnet: str, used: set[str], skip: int) -> str:
        return next(self.free_ips(subnet, used, skip))

    def pod_ips(self) -> set[str]:
        return {p.get("status", {}).get("podIP") for p in self.store.views("Pod")} - {None}

    # -- identity ----------------------------------------------------------
    def identity_name(self, serviceaccount: str, namespace: str) -> str:
        return names.identity(serviceaccount, namespace, self.spec['domain'])

    def issue_identity(self, serviceaccount: str, namespace: str, pod: str) -> Identity:
        """What Linkerd's identity controller gives a proxy: a leaf from this cluster's issuer."""
        issuer = controlplane.issuer(self.store)
        roots = controlplane.trust_roots(self.store)
        if issuer is None or roots is None:
            raise RuntimeError("linkerd identity is not installed in this cluster")
        name = self.identity_name(serviceaccount, namespace)
        leaf = pki.issue_workload(issuer, name)
        folder = self.cert_dir / f"{namespace}.{pod}"
        chain, key = folder / "chain.pem", folder / "key.pem"
        # On disk only because Python's ssl loads a chain from files; a real proxy keeps it in memory, and every
        # start of the pod (after a crash of the lab process too) issues a new one: nothing to fsync, each pod
        # start used to wait on four in the event loop.
        pki.write_private(key, leaf.key_pem, durable=False)
        pki.write_public(chain, leaf.cert_pem + issuer.cert_pem, durable=False)
        return Identity(name, chain, key, roots)

    def forget_identity(self, namespace: str, pod: str) -> None:
        shutil.rmtree(self.cert_dir / f"{namespace}.{pod}", ignore_errors=True)

    # -- data plane lookups ------------------------------------------------
    def pod_by_ip(self, ip: str) -> PodRuntime | None:
        for pod in self.pods.values():
            if pod.ip == ip:
                return pod
        return None

    def service_by_ip(self, ip: str) -> dict | None:
        return service_with_ip(self.store.view_all("Service"), ip)

    def flat_with(self, other: "SimCluster") -> bool:
        """Pods of `other` are routable from here: the same cluster, or both on one flat network."""
        return other is self or (self.spec.get("network") is not None and self.spec.get("network") == other.spec.get("network"))

    def resolve_address(self, ip: str, port: int, source: "SimCluster | None" = None) -> tuple[str, int] | None:
        """Where a TCP connection to ip:port from a pod of `source` (None: the docker network, as the host
        sees it) lands on loopback, as kube-proxy and the pod network route it. Another cluster's pod IPs
        answer only on a flat network, its cluster IPs never (they live in its own kube-proxy); LoadBalancer
        addresses are on the docker network, which every node shares."""
        pod = self.pod_by_ip(ip)
        if pod is not None:
            if source is not None and not self.flat_with(source):
                return None
            real = pod.ports.get(port)
            return ("127.0.0.1", real) if real else None
        if port == API_SERVER_PORT and self.spec.get("api_port") and ip in self._node_ips():
            return "127.0.0.1", int(self.spec["api_port"])  # the API server on its node, where kubernetes.default leads
        svc = self.service_by_ip(ip)
        if svc is None:
            return None
        if source is not None and source is not self and svc["spec"].get("clusterIP") == ip:
            return None
        for svc_port in svc["spec"].get("ports", []):
            if svc_port["port"] == port:
                endpoint = self._pick_endpoint(svc, svc_port)
                if endpoint is None:
                    return None
                return self.resolve_address(*endpoint, source=self)
        return None

    def _node_ips(self) -> set[str]:
        return {a["address"] for node in self.store.views("Node") for a in node.get("status", {}).get("addresses", [])
                if a.get("type") == "InternalIP"}

    def _pick_endpoint(self, svc: dict, svc_port: dict) -> tuple[str, int] | None:
        candidates = self._endpoints(svc, svc_port)
        return candidates[next(self._round_robin) % len(candidates)] if candidates else None

    def _endpoints(self, svc: dict, svc_port: dict) -> list[tuple[str, int]]:
        """(ip, target port) of each ready address of the service's Endpoints for that port."""
        return ready_endpoints(self.store.view("Endpoints", svc["metadata"]["namespace"], svc["metadata"]["name"]), svc_port)

    def routes(self, authority: str) -> list[Route]:
        """The proxy's destination lookup for `host[:port]` (a service name of this cluster): every endpoint
        its balancer may send to, as the destination controller streams them; the proxy chooses. One endpoint
        that leads nowhere does not take the others with it: an error only when none is left."""
        host, _, port_text = authority.partition(":")
        port = int(port_text) if port_text.isdigit() else 80
        if _is_ip(host):
            return self._address_routes(host, port)
        parts = host.split(".")
        suffix = ["svc"] + self.spec["domain"].split(".")
        if len(parts) >= 3 and parts[3:] == suffix[: len(parts) - 3] and parts[2] != "svc":
            return self._pod_routes(parts[0], parts[1], parts[2], port, host)
        if len(parts) < 2 or parts[2:] not in ([], suffix[: len(parts) - 2]):
            raise DialError(f"could not resolve host {host}: not a service name of cluster {self.name}")
        name, namespace = parts[0], parts[1]
        svc = self.store.view("Service", namespace, name)
        if svc is None:
            raise DialError(f"could not resolve host {host}: no service {namespace}/{name} in cluster {self.name}")
        svc_port = next((p for p in svc["spec"].get("ports", []) if p["port"] == port), None)
        if svc_port is None:
            raise DialError(f"connection refused: service {namespace}/{name} has no port {port}")
        labels, annotations = svc["metadata"].get("labels") or {}, svc["metadata"].get("annotations") or {}
        if labels.get(names.REMOTE_DISCOVERY_LABEL):  # pod-to-pod: one remote service
            return self._remote_routes(svc, [(labels.get(names.REMOTE_SERVICE_LABEL, ""), labels[names.REMOTE_DISCOVERY_LABEL])], port)
        if annotations.get(names.REMOTE_DISCOVERY_ANNOTATION):  # federated: every member's endpoints
            members = [tuple(m.split("@", 1)) for m in annotations[names.REMOTE_DISCOVERY_ANNOTATION].split(",") if "@" in m]
            return self._remote_routes(svc, members, port)
        eps = self.store.view("Endpoints", namespace, name) or {}
        annotations = eps.get("metadata", {}).get("annotations", {})
        gateway_identity = annotations.get(names.REMOTE_GATEWAY_IDENTITY_ANNOTATION)
        endpoints = self._endpoints(svc, svc_port)
        if not endpoints:
            raise NoEndpoints(f"service {namespace}/{name} has no ready endpoints")
        if gateway_identity:
            remote = annotations.get(names.REMOTE_SVC_ANNOTATION, host)
            return [Route(ip, target, gateway_identity, f"{remote}:{port}", via_gateway=True) for ip, target in endpoints]
        found: list[Route] = []
        error: DialError | None = None
        for ip, target in endpoints:
            pod = self.pod_by_ip(ip)
            behind = self.service_by_ip(ip) if pod is None else None
            if behind is None:
                found.append(_direct(pod, ip, target))
                continue
            try:  # a headless mirror lists its endpoint mirrors' cluster IPs: on through that service
                found += self._via_service(behind, port)
            except NoEndpoints:  # may get some: the balancer waits for it, whatever the others say
                error = NoEndpoints(f"service {namespace}/{name} has no ready endpoints")
            except DialError as exc:
                error = error if isinstance(error, NoEndpoints) else error or exc
        if not found:
            raise error or NoEndpoints(f"service {namespace}/{name} has no ready endpoints")
        return found

    def _address_routes(self, ip: str, port: int) -> list[Route]:
        """An IP the app dialled, as the proxy finds it from the connection's original destination: a cluster
        IP of this cluster is the service it belongs to (routed by that service, as Linkerd's destination
        controller maps a ClusterIP to its service); a pod IP of this cluster, or of one on the same flat
        network, is that endpoint (through its proxy when meshed)."""
        svc = self.service_by_ip(ip)
        if svc is not None and svc["spec"].get("clusterIP") == ip:
            if not any(p["port"] == port for p in svc["spec"].get("ports", [])):
                raise DialError(f"connect error: {ip}:{port}: Connection refused (os error 111)", retryable=True)
            return self._via_service(svc, port)
        for cluster in [self, *self.network.clusters.values()]:
            pod = cluster.pod_by_ip(ip) if self.flat_with(cluster) else None
            if pod is not None:
                if port not in pod.ports:
                    raise DialError(f"connect error: {ip}:{port}: Connection refused (os error 111)", retryable=True)
                return [_direct(pod, ip, port)]
        # An address no service or reachable pod holds: the proxy forwards to it as it was dialled (no policy for it:
        # linkerd2-proxy v2.366.0 outbound/src/discover.rs), and its connects fail behind the reconnect layer's
        # backoff, so the request waits and fails fast (504), as one to an endpoint that refuses does.
        return [_direct(None, ip, port)]

    def _via_service(self, svc: dict, port: int) -> list[Route]:
        """The routes to whatever `svc` (a service of this cluster) leads to, as its name resolves."""
        return self.routes(f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.{self.spec['domain']}:{port}")

    def _pod_routes(self, hostname: str, service: str, namespace: str, port: int, host: str) -> list[Route]:
        """`<hostname>.<service>.<namespace>.svc...`: the address the service's Endpoints name by that hostname
        (a StatefulSet pod; in a linked cluster, the endpoint mirror's cluster IP, as the headless mirror lists it)."""
        eps = self.store.view("Endpoints", namespace, service) or {}
        ip = next((a["ip"] for subset in eps.get("subsets", []) for a in subset.get("addresses", [])
                   if a.get("hostname") == hostname), None)
        if ip is None:
            raise DialError(f"could not resolve host {host}: service {namespace}/{service} names no {hostname}")
        pod = self.pod_by_ip(ip)
        if pod is not None:
            return [_direct(pod, ip, port)]
        svc = self.service_by_ip(ip)
        if svc is None:
            raise DialError(f"connection refused: {ip}:{port} ({host}) has no listener")
        return self._via_service(svc, port)

    def _remote_routes(self, svc: dict, members: list[tuple[str, str]], port: int) -> list[Route]:
        """Pod-to-pod and federated: the destination controller reads each member's EndpointSlices (`name` in
        cluster `target`) from its watch on that cluster (`ClusterStore`: the credentials link-gen put in the
        control plane's namespace, labelled with the cluster's name), and the proxy dials the chosen pod
        itself, over mTLS to the pod's identity; no gateway on the way. A member without ready endpoints
        drops out; the others carry the traffic."""
        ns = svc["metadata"]["namespace"]
        found: list[Route] = []
        problems = []
        for remote_name, target in members:
            store = self.cluster_store
            watch = store.get(target) if store else None
            if watch is None:
                why = (store.errors.get(target) if store else None) or f"no credentials in namespace {LINKERD_NS}"
                problems.append(f"cluster {target}: {why}")
                continue
            if not watch.has_synced:
                problems.append(f"cluster {target}: " + (watch.error or "its watch has not synced yet"))
                continue
            remote = self.network.clusters.get(target)  # where the pods run: the proxy dials them there
            remote_svc = watch.get("Service", ns, remote_name)
            remote_port = next((p for p in (remote_svc or {}).get("spec", {}).get("ports", []) if p["port"] == port), None)
            if remote is None or remote_port is None:
                problems.append(f"service {ns}/{remote_name} in {target} has no port {port}")
                continue
            slices = watch.by_label("EndpointSlice", ns, names.SERVICE_NAME_LABEL, remote_name)
            found += [_direct(remote.pod_by_ip(ip), ip, target_port) for ip, target_port in ready_slice_endpoints(slices, remote_port)]
        if not found:
            raise NoEndpoints(f"service {ns}/{svc['metadata']['name']} has no ready endpoints"
                              + (f" ({'; '.join(problems)})" if problems else ""))
        return found

    # -- reconcile ---------------------------------------------------------
    async def reconcile(self) -> None:
        try:
            for controller in self.controllers:
                await controller.reconcile()
        finally:  # even a pass that raised may have changed what the proxies would route to
            self.network.routes_changed()

    async def stop(self) -> None:
        for controller in self.controllers:
            stop = getattr(controller, "stop", None)
            if stop:
                await stop()
        for pod in list(self.pods.values()):
            await pod.stop()
        self.pods.clear()
