"""What tests/test_mirror.py and tests/test_mirror_gateways.py drive the service mirror (lab/sim/mesh/mirror.py)
with, in process: `west` (the source cluster, an ObjectStore) linked to `east` (the target, an ObjectStore the
tests write as its API would hold it), and in place of the network the mirror's informer, event recorder and
gateway probes replaced by recorders of what the mirror asks of them (the real ones talk HTTPS to another
cluster: tests/test_gateway.py tests the probe, scenarios/test_export.py all of it through a lab).
"""
from __future__ import annotations

import asyncio
import base64

import pytest
import yaml

from lab import names
from lab.model.profiles import PROFILES
from lab.sim.kube.store import ObjectStore
from lab.sim.mesh import mirror as mirror_module
from lab.sim.mesh import probes as probes_module
from lab.sim.mesh.mirror import ServiceMirror

MC = names.MC_NS
IDENTITY = "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.east.example"
GATEWAY_IP = "172.18.255.200"
SERVER = "https://127.0.0.1:6443"
EXPORTED = dict(names.EXPORT_SELECTOR)
DISCOVERY = dict(names.REMOTE_DISCOVERY_SELECTOR)
MIRROR_LABELS = {names.MIRRORED_LABEL: "true", names.CLUSTER_NAME: "east"}


# -- what the mirror is given instead of the network ---------------------------------------------------
class FakeInformer:
    """The target as a synced informer would cache it: `remote`'s objects, of the watched kinds only."""

    def __init__(self, server, token, ca_pem, watched, on_change=None, log_line=None, retry=None, remote=None):
        self.credentials, self.watched, self.retry = (server, token, ca_pem), watched, retry
        self.on_change, self.log_line, self.remote = on_change, log_line, remote
        self.has_synced, self.error, self.closed = True, None, False

    @property
    def version(self):
        return self.remote.last_version

    def _cache(self, kind):
        if kind not in [w.kind for w in self.watched]:
            raise KeyError(f"{kind} is not watched")  # as Informer.cache[kind]
        return kind

    def list(self, kind):
        return self.remote.views(self._cache(kind))

    def get(self, kind, namespace, name):
        return self.remote.view(self._cache(kind), namespace, name)

    async def close(self):
        self.closed = True


class FakeRecorder:
    def __init__(self, server, token, ca_pem, component, log_line=None):
        self.credentials, self.component, self.events, self.closed = (server, token, ca_pem), component, [], False

    def event(self, obj, reason, message, type_="Normal"):
        self.events.append((obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"], reason, message))

    async def close(self):
        self.closed = True


class FakeProbe:
    def __init__(self, cluster, target, slash_joined, on_liveness=lambda alive: None, via=None, jitter=False, link=""):
        self.cluster, self.target, self.slash_joined, self.on_liveness, self.via = cluster, target, slash_joined, on_liveness, via
        self.jitter, self.link = jitter, link
        self.alive, self.last_error, self.stopped = None, None, False

    def latency_ms(self):
        return 1.5 if self.alive else None

    def stop(self):
        self.stopped = True


class West:
    """The source cluster as the mirror reads it (lab.sim.mesh.cluster.Cluster)."""

    def __init__(self, profile):
        self.name, self.spec, self.profile = "west", {"domain": "cluster.local"}, profile
        self.store, self.wakes, self.logs = ObjectStore(), 0, []

    def wake(self):
        self.wakes += 1

    def log_from(self, namespace, deployment, line, container=None):
        self.logs.append((namespace, deployment, line))


def kubeconfig_b64(server=SERVER, token="east-token"):
    config = {"clusters": [{"name": "east", "cluster": {"server": server,
                                                          "certificate-authority-data": base64.b64encode(b"EAST CA").decode()}}],
              "users": [{"name": "east", "user": {"token": token}}]}
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


class World:
    """west linked to east under `profile`, the mirror not yet run."""

    def __init__(self, profile_name, monkeypatch, domain="east.example"):
        self.profile = PROFILES[profile_name]
        self.west, self.east, self.domain = West(self.profile), ObjectStore(), domain
        self.informers, self.recorders, self.probes = [], [], []
        monkeypatch.setattr(mirror_module, "Informer", self._informer)
        monkeypatch.setattr(mirror_module, "EventRecorder", self._recorder)
        monkeypatch.setattr(probes_module, "GatewayProbe", self._probe)
        self.mirror = ServiceMirror(self.west)
        w = self.west.store
        # the control plane says which Linkerd installed it (controlplane.installed_profile)
        w.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": names.TRUST_ROOTS_CM if self.profile.link_crd else "linkerd-config", "namespace": names.LINKERD_NS,
            "annotations": {"linkerd.io/created-by": f"linkerd/cli {self.profile.linkerd}"}}})
        for ns in ("apps", MC, names.LINKERD_NS):
            w.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.e_ns("apps")
        self.credentials()
        if self.profile.link_crd:
            self.link()
        self.controller()
        self.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": names.GATEWAY, "namespace": MC,
            "annotations": {names.GATEWAY_IDENTITY_ANNOTATION: IDENTITY, names.PROBE_PATH_ANNOTATION: "/health",
                            names.PROBE_PERIOD_ANNOTATION: "3", names.MULTICLUSTER_GATEWAY_ANNOTATION: "true"}},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "mc-gateway", "port": 4143}, {"name": "mc-probe", "port": 4181}]}})
        self.east.set_status("Service", MC, names.GATEWAY, {"loadBalancer": {"ingress": [{"ip": GATEWAY_IP}]}})

    # -- the fakes' factories: each records what it was made with
    def _informer(self, *args, **kwargs):
        self.informers.append(FakeInformer(*args, **kwargs, remote=self.east))
        return self.informers[-1]

    def _recorder(self, *args, **kwargs):
        self.recorders.append(FakeRecorder(*args, **kwargs))
        return self.recorders[-1]

    def _probe(self, *args, **kwargs):
        self.probes.append(FakeProbe(*args, **kwargs))
        return self.probes[-1]

    # -- west
    def credentials(self, name="cluster-credentials-east", kubeconfig=None, **annotations):
        ann = {names.CLUSTER_NAME: "east", names.REMOTE_CLUSTER_DOMAIN: self.domain, **annotations}
        self.west.store.apply({"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE,
                               "metadata": {"name": name, "namespace": MC, "annotations": ann},
                               "data": {"kubeconfig": kubeconfig or kubeconfig_b64()}})

    def link(self, **spec):
        full = {"targetClusterName": "east", "targetClusterDomain": self.domain,
                "clusterCredentialsSecret": "cluster-credentials-east", "gatewayAddress": GATEWAY_IP, "gatewayPort": "4143",
                "gatewayIdentity": IDENTITY, "probeSpec": {"port": "4191", "path": "/ready", "period": "3s"},
                "selector": {"matchLabels": EXPORTED}, "remoteDiscoverySelector": {"matchLabels": DISCOVERY},
                "federatedServiceSelector": {"matchLabels": dict(names.FEDERATED_SELECTOR)}}
        full.update(spec)
        full = {k: v for k, v in full.items() if v is not None}  # None: left out
        self.west.store.apply({"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
                               "metadata": {"name": "east", "namespace": MC}, "spec": full})

    def controller(self, args=(), available=1, component="controller", name=None):
        name = name or self.profile.service_mirror.format(target="east")
        if available is None:  # a new Deployment, no replica reported yet (apply keeps an old one's status)
            self.west.store.delete("Deployment", MC, name)
        self.west.store.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
            "name": name, "namespace": MC, "labels": {"component": component, names.CLUSTER_NAME: "east"}},
            "spec": {"template": {"spec": {"containers": [{"name": "service-mirror", "args": list(args)}]}}}})
        if available is not None:
            self.west.store.set_status("Deployment", MC, name, {"availableReplicas": available})

    def w_ns(self, ns):
        self.west.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def get(self, kind, ns, name):
        return self.west.store.get(kind, ns, name)

    # -- east
    def e_ns(self, ns):
        self.east.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def marks(self) -> tuple[dict, dict]:
        """The labels and annotations that export a service under the profile."""
        if self.profile.link_crd:
            return dict(EXPORTED), {}
        return {}, {names.EXPORT_NAME: names.GATEWAY, names.EXPORT_NS: MC}

    def export(self, name="api", ns="apps", ports=None, labels=None, annotations=None, ready=True, **spec):
        """A service in east, exported the way the profile exports (edge: the Link's selector; 2.8.1: the
        gateway annotations) unless labels or annotations are given; with a ready pod behind it unless
        `ready` is False (its Endpoints list a pod that is not ready) or None (no Endpoints at all)."""
        labels = self.marks()[0] if labels is None else labels
        annotations = self.marks()[1] if annotations is None else annotations
        ports = ports if ports is not None else [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
        self.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": name, "namespace": ns, "labels": labels, "annotations": annotations},
            "spec": {"ports": ports, **spec}})
        if ready is not None:
            self.endpoints(name, ns, ready)
        return self.east.view("Service", ns, name)

    def endpoints(self, name="api", ns="apps", ready=True):
        """The service's Endpoints in east: one pod's address, ready or not."""
        address = [{"ip": "10.244.0.9"}]
        self.east.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
                         "subsets": [{"addresses" if ready else "notReadyAddresses": address,
                                      "ports": [{"name": "http", "port": 8080}]}]})

    def state(self):
        """The link's state (edge: Link `east`; 2.8.1: its credentials secret)."""
        (state,) = self.mirror.links.values()
        return state

    def run(self):
        asyncio.run(self.mirror.reconcile())

    def mirrors(self):
        """The mirror services (`-l mirror.linkerd.io/mirrored-service,!mirror.linkerd.io/mirrored-gateway`, as
        upstream's check and gateways listing count them); 2.8.1's gateway mirrors are gateway_mirrors()."""
        return sorted((s["metadata"]["namespace"], s["metadata"]["name"])
                      for s in self.west.store.views("Service", labels={names.MIRRORED_LABEL: "true"})
                      if names.MIRRORED_GATEWAY not in s["metadata"].get("labels", {}))

    def gateway_mirrors(self):
        return sorted((s["metadata"]["namespace"], s["metadata"]["name"])
                      for s in self.west.store.views("Service", labels={names.MIRRORED_LABEL: "true", names.MIRRORED_GATEWAY: "true"}))


@pytest.fixture(params=["current", "seed-2.8"])
def world(request, monkeypatch):
    return World(request.param, monkeypatch)


@pytest.fixture
def edge(monkeypatch):
    return World("current", monkeypatch)


@pytest.fixture
def seed(monkeypatch):
    return World("seed-2.8", monkeypatch)
