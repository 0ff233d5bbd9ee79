"""The service mirror (lab/sim/mesh/mirror.py) in process: what a user of Linkerd's service mirror sees in the
source cluster (`west`) when the target (`east`) exports services, with no lab process.

The target's API is an ObjectStore the test writes; the mirror's informer, event recorder and gateway probes
are replaced by recorders of what the mirror asks of them (the real ones talk HTTPS to another cluster and are
tested in tests/test_gateway.py and through labs in scenarios/test_export.py). Upstream, read at each tag:
stable-2.8.1 controller/cmd/service-mirror/cluster_watcher.go (mirrors services annotated with
mirror.linkerd.io/gateway-name and gateway-ns; creates a missing namespace; remapRemoteServicePorts,
getEndpointsPorts) and edge-26.8.3 multicluster/service-mirror/cluster_watcher.go (isExported /
isRemoteDiscovery / isFederatedServiceMember by the Link's selectors; a missing namespace is skipped with a
ServiceMirroringSkipped event; createGatewayEndpoints lists the gateway not ready while it is dead;
cluster_watcher_headless.go for headless services).
"""
from __future__ import annotations

import asyncio
import base64

import pytest
import yaml

from lab import names
from lab.model.profiles import PROFILES
from lab.sim.kube import informer
from lab.sim.kube.store import ObjectStore
from lab.sim.mesh import mirror as mirror_module
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
    def __init__(self, cluster, target, slash_joined, on_liveness=None, via=None):
        self.cluster, self.target, self.slash_joined, self.on_liveness, self.via = cluster, target, slash_joined, on_liveness, via
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


def _kubeconfig(server=SERVER, token="east-token"):
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
        monkeypatch.setattr(mirror_module, "GatewayProbe", self._probe)
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
            "annotations": {names.GATEWAY_IDENTITY_ANNOTATION: IDENTITY, names.PROBE_PATH_ANNOTATION: "/health"}},
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
                               "data": {"kubeconfig": kubeconfig or _kubeconfig()}})

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
        self.west.store.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
            "name": name, "namespace": MC, "labels": {"component": component, names.CLUSTER_NAME: "east"}},
            "spec": {"template": {"spec": {"containers": [{"name": "service-mirror", "args": list(args)}]}}}})
        self.west.store.set_status("Deployment", MC, name, {"availableReplicas": available})

    def w_ns(self, ns):
        self.west.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def get(self, kind, ns, name):
        return self.west.store.get(kind, ns, name)

    # -- east
    def e_ns(self, ns):
        self.east.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def export(self, name="api", ns="apps", ports=None, labels=None, annotations=None, **spec):
        """A service in east, exported the way the profile exports (edge: the Link's selector; 2.8.1: the
        gateway annotations) unless labels or annotations are given."""
        if labels is None:
            labels = dict(EXPORTED) if self.profile.link_crd else {}
        if annotations is None:
            annotations = {} if self.profile.link_crd else {names.EXPORT_NAME: names.GATEWAY, names.EXPORT_NS: MC}
        ports = ports if ports is not None else [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
        self.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": name, "namespace": ns, "labels": labels, "annotations": annotations},
            "spec": {"ports": ports, **spec}})
        return self.east.view("Service", ns, name)

    def state(self):
        """The link's state (edge: Link `east`; 2.8.1: its credentials secret)."""
        (state,) = self.mirror.links.values()
        return state

    def run(self):
        asyncio.run(self.mirror.reconcile())

    def mirrors(self):
        return sorted((s["metadata"]["namespace"], s["metadata"]["name"])
                      for s in self.west.store.views("Service", labels={names.MIRRORED_LABEL: "true"}))


@pytest.fixture(params=["current", "seed-2.8"])
def world(request, monkeypatch):
    return World(request.param, monkeypatch)


@pytest.fixture
def edge(monkeypatch):
    return World("current", monkeypatch)


@pytest.fixture
def seed(monkeypatch):
    return World("seed-2.8", monkeypatch)


# -- what gets mirrored, and how ---------------------------------------------------------------------
def test_an_exported_service_is_mirrored_as_name_dash_target_with_every_port(world):
    ports = [{"name": "http", "port": 9898, "targetPort": "http", "protocol": "TCP"},
             {"name": "http-alt", "port": 8080, "targetPort": 9898, "protocol": "TCP"},
             {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]
    remote = world.export(ports=ports)
    world.run()
    svc, eps = world.get("Service", "apps", "api-east"), world.get("Endpoints", "apps", "api-east")
    assert svc["metadata"]["labels"] == MIRROR_LABELS and eps["metadata"]["labels"] == MIRROR_LABELS
    # the remote's fully qualified name in the link's domain, and the version the mirror was made from
    assert svc["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "api.apps.svc.east.example",
                                              names.REMOTE_RESOURCE_VERSION: remote["metadata"]["resourceVersion"]}
    assert eps["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "api.apps.svc.east.example",
                                              names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: IDENTITY}
    # remapRemoteServicePorts: name, protocol, port and targetPort, at both tags
    assert svc["spec"] == {"type": "ClusterIP", "ports": ports}
    # getEndpointsPorts: every port by its name and protocol, all at the gateway's port
    assert eps["subsets"] == [{"addresses": [{"ip": GATEWAY_IP}],
                               "ports": [{"name": "http", "port": 4143, "protocol": "TCP"},
                                         {"name": "http-alt", "port": 4143, "protocol": "TCP"},
                                         {"name": "dns", "port": 4143, "protocol": "UDP"}]}]
    assert world.mirrors() == [("apps", "api-east")]


def test_a_port_without_a_name_or_protocol_is_mirrored_as_it_is(world):
    world.export(ports=[{"port": 80}])
    world.run()
    assert world.get("Service", "apps", "api-east")["spec"]["ports"] == [{"port": 80}]
    assert world.get("Endpoints", "apps", "api-east")["subsets"][0]["ports"] == [{"name": "", "port": 4143, "protocol": "TCP"}]


def test_only_exported_services_are_mirrored(world):
    world.export("api")
    world.export("plain", labels={"app": "plain"}, annotations={})
    # edge: a selector's label with another value; 2.8.1: only one of the two gateway annotations
    world.export("half", labels={"mirror.linkerd.io/exported": "no"}, annotations={names.EXPORT_NAME: names.GATEWAY})
    world.run()
    assert world.mirrors() == [("apps", "api-east")]


def test_removing_the_export_mark_removes_the_mirror_and_its_endpoints(world):
    world.export("api")
    world.export("web")
    world.run()
    assert world.mirrors() == [("apps", "api-east"), ("apps", "web-east")]
    world.export("api", labels={}, annotations={})
    world.run()
    assert world.mirrors() == [("apps", "web-east")]
    assert world.get("Endpoints", "apps", "api-east") is None and world.get("Endpoints", "apps", "web-east")
    world.east.delete("Service", "apps", "web")  # deleting the service does the same
    world.run()
    assert world.mirrors() == [] and world.get("Endpoints", "apps", "web-east") is None


def test_removing_a_port_removes_it_from_the_mirror_and_its_endpoints(world):
    both = [{"name": "http", "port": 9898, "protocol": "TCP"}, {"name": "grpc", "port": 9999, "protocol": "TCP"}]
    world.export(ports=both)
    world.run()
    assert [p["name"] for p in world.get("Endpoints", "apps", "api-east")["subsets"][0]["ports"]] == ["http", "grpc"]
    remote = world.export(ports=both[:1])
    world.run()
    svc = world.get("Service", "apps", "api-east")
    assert svc["spec"]["ports"] == both[:1]
    assert svc["metadata"]["annotations"][names.REMOTE_RESOURCE_VERSION] == remote["metadata"]["resourceVersion"]
    assert [p["name"] for p in world.get("Endpoints", "apps", "api-east")["subsets"][0]["ports"]] == ["http"]


def test_a_mirror_of_another_link_or_a_local_service_is_left_alone(world):
    west = world.west.store
    west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "api-north", "namespace": "apps", "labels": {names.MIRRORED_LABEL: "true", names.CLUSTER_NAME: "north"}},
        "spec": {"ports": [{"port": 80}]}})
    west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "apps"}, "spec": {"ports": [{"port": 80}]}})
    world.run()
    assert west.view("Service", "apps", "api-north") and west.view("Service", "apps", "api")


def test_a_pass_over_an_unchanged_world_writes_nothing_and_a_change_is_picked_up(world):
    world.export()
    world.run()
    version = world.west.store.last_version
    world.run()
    assert world.west.store.last_version == version
    world.state().seen = ()  # even a full pass over the same remote writes nothing
    world.run()
    assert world.west.store.last_version == version
    world.export("web")
    world.run()
    assert ("apps", "web-east") in world.mirrors()


def test_a_new_remote_version_updates_the_mirror(world):
    world.export(ports=[{"name": "http", "port": 80, "protocol": "TCP"}])
    world.run()
    remote = world.export(ports=[{"name": "http", "port": 81, "protocol": "TCP"}])
    world.run()
    svc = world.get("Service", "apps", "api-east")
    assert svc["spec"]["ports"][0]["port"] == 81
    assert svc["metadata"]["annotations"][names.REMOTE_RESOURCE_VERSION] == remote["metadata"]["resourceVersion"]


# -- namespaces --------------------------------------------------------------------------------------
def test_2_8_1_creates_a_missing_namespace_labelled_as_mirrored(seed):
    seed.e_ns("payments")
    seed.export("api", ns="payments")
    seed.run()
    assert seed.get("Namespace", "", "payments")["metadata"]["labels"] == MIRROR_LABELS
    assert seed.mirrors() == [("payments", "api-east")]
    assert seed.recorders[0].events == []


def test_edge_skips_a_service_whose_namespace_is_missing_and_says_so_in_the_target(edge):
    edge.e_ns("payments")
    edge.export("api", ns="payments")
    edge.export("api", ns="apps")
    edge.run()
    assert edge.get("Namespace", "", "payments") is None
    assert edge.mirrors() == [("apps", "api-east")]
    recorder = edge.recorders[0]
    assert recorder.component == "linkerd-service-mirror-east"
    assert recorder.credentials == (SERVER, "east-token", "EAST CA")
    assert recorder.events == [("Service", "payments", "api", "ServiceMirroringSkipped",
                                "Skipped mirroring service: namespace does not exist")]
    edge.w_ns("payments")
    edge.run()
    assert edge.mirrors() == [("apps", "api-east"), ("payments", "api-east")]


# -- which links, and the watch on the target -----------------------------------------------------------
def test_each_version_watches_what_its_controller_watches_with_the_links_credentials(world):
    world.export()
    world.run()
    (watch,) = world.informers
    assert watch.credentials == (SERVER, "east-token", "EAST CA")
    if world.profile.link_crd:
        assert (watch.watched, watch.retry) == ((informer.SERVICES, informer.ENDPOINTS), informer.CLIENT_GO_V0_36)
    else:
        assert (watch.watched, watch.retry) == ((informer.SERVICES,), informer.CLIENT_GO_V0_17)
    # what the informer logs lands in the controller's own log; a change it sees asks for a pass
    watch.log_line("E0101 reflector.go] failed")
    deployment = world.profile.service_mirror.format(target="east")
    assert world.west.logs == [(MC, deployment, "E0101 reflector.go] failed")]
    assert world.recorders[0].credentials == watch.credentials
    before = world.west.wakes
    watch.on_change()
    assert world.west.wakes == before + 1


@pytest.mark.parametrize("secret, error", [
    (None, "credentials secret linkerd-multicluster/cluster-credentials-east not found"),
    ("garbage", "credentials secret linkerd-multicluster/cluster-credentials-east holds no usable kubeconfig"),
    ("http", "credentials secret linkerd-multicluster/cluster-credentials-east names http://127.0.0.1:8080, linked "
             "before the simulation served Kubernetes APIs: link again (./labctl step link)"),
])
def test_credentials_that_cannot_reach_the_target_stop_the_watch_and_say_why(edge, secret, error):
    edge.export()
    edge.run()
    assert edge.mirrors() == [("apps", "api-east")] and edge.state().error is None
    if secret is None:
        edge.west.store.delete("Secret", MC, "cluster-credentials-east")
    else:
        edge.credentials(kubeconfig=base64.b64encode(b"{not: [yaml").decode() if secret == "garbage"
                         else _kubeconfig(server="http://127.0.0.1:8080"))
    edge.run()
    state = edge.state()
    assert state.error == error and state.informer is None and state.recorder is None
    assert edge.informers[0].closed and edge.recorders[0].closed
    assert edge.mirrors() == [("apps", "api-east")]  # what was mirrored stays: nothing watches to remove it


def test_2_8_1_links_are_its_credentials_secrets_naming_a_cluster(seed):
    seed.credentials("cluster-credentials-north", **{names.CLUSTER_NAME: "north"})
    seed.west.store.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {
        "name": "other", "namespace": MC, "annotations": {names.CLUSTER_NAME: "south"}}, "data": {}})
    seed.west.store.apply({"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE, "metadata": {
        "name": "unnamed", "namespace": MC}, "data": {}})
    seed.west.store.apply({"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE, "metadata": {
        "name": "nodomain", "namespace": MC, "annotations": {names.CLUSTER_NAME: "west2"}}, "data": {}})
    assert seed.mirror.link_specs() == {
        "cluster-credentials-east": {"targetClusterName": "east", "targetClusterDomain": "east.example",
                                     "clusterCredentialsSecret": "cluster-credentials-east"},
        "cluster-credentials-north": {"targetClusterName": "north", "targetClusterDomain": "east.example",
                                      "clusterCredentialsSecret": "cluster-credentials-north"},
        "nodomain": {"targetClusterName": "west2", "targetClusterDomain": "cluster.local",
                     "clusterCredentialsSecret": "nodomain"}}


def test_edge_links_are_its_link_objects_and_the_domain_defaults_to_cluster_local(edge):
    spec = edge.west.store.view("Link", MC, "east")["spec"]
    assert edge.mirror.link_specs() == {"east": spec}
    edge.link(targetClusterDomain=None)
    edge.export()
    edge.run()
    assert edge.get("Service", "apps", "api-east")["metadata"]["annotations"][names.REMOTE_SVC_ANNOTATION] == \
        "api.apps.svc.cluster.local"


def test_an_unlinked_target_loses_its_mirrors_watch_and_probes(world):
    world.export()
    world.run()
    assert world.mirrors() and len(world.probes) == 1
    if world.profile.link_crd:
        world.west.store.delete("Link", MC, "east")
    else:
        world.west.store.delete("Secret", MC, "cluster-credentials-east")
    world.run()
    assert world.mirrors() == [] and world.get("Endpoints", "apps", "api-east") is None
    assert world.mirror.links == {} and world.informers[0].closed and world.recorders[0].closed
    assert world.probes[0].stopped and world.mirror.gateways() == []


def test_without_a_running_controller_nothing_is_watched_probed_or_removed(world):
    world.export()
    world.run()
    world.controller(available=0)
    world.export("api", labels={}, annotations={})  # unexported meanwhile: nobody notices
    world.run()
    assert world.informers[0].closed and world.probes[0].stopped and world.mirror.gateways() == []
    assert world.mirrors() == [("apps", "api-east")]
    world.controller(available=1)
    world.run()
    assert len(world.informers) == 2 and world.mirrors() == []


def test_a_restarted_controller_or_new_credentials_start_a_new_watch(world):
    world.export()
    world.run()
    world.run()
    assert len(world.informers) == 1 and not world.informers[0].closed  # an unchanged controller keeps its watch
    state = world.state()
    world.mirror._on_liveness(state, False)
    world.controller(args=["-restarted-at=now"])  # `kubectl rollout restart`: a new pod template
    world.run()
    assert len(world.informers) == 2 and world.informers[0].closed and world.recorders[0].closed
    assert world.probes[0].stopped and not world.probes[1].stopped
    assert state.gateway_alive  # a new process starts with its gateway alive
    world.credentials(kubeconfig=_kubeconfig(token="rotated"))
    world.run()
    assert len(world.informers) == 3 and world.informers[1].closed
    assert world.informers[2].credentials == (SERVER, "rotated", "EAST CA")
    assert world.mirrors() == [("apps", "api-east")]


def test_before_the_caches_sync_the_mirror_keeps_what_it_had(world):
    world.export("api")
    world.run()
    watch = world.informers[0]
    watch.has_synced, watch.error = False, "Unauthorized"
    world.export("api", labels={}, annotations={})
    world.export("web")
    world.run()
    assert world.mirrors() == [("apps", "api-east")] and world.state().error == "Unauthorized"
    watch.has_synced, watch.error = True, None
    world.run()
    assert world.mirrors() == [("apps", "web-east")] and world.state().error is None


def test_the_controllers_of_a_link(edge):
    assert [d["metadata"]["name"] for d in edge.mirror.controllers("east")] == ["controller-east"]
    edge.controller(component="service-mirror", name="linkerd-service-mirror-east")  # the deprecated link's
    edge.controller(component="gateway", name="not-a-mirror")
    assert sorted(d["metadata"]["name"] for d in edge.mirror.controllers("east")) == \
        ["controller-east", "linkerd-service-mirror-east"]
    assert edge.mirror.controllers("north") == []
    edge.controller(available=0)
    edge.controller(component="service-mirror", name="linkerd-service-mirror-east", available=0)
    assert edge.mirror.controller("east") is None


def test_2_8_1_runs_one_controller_for_every_link(seed):
    assert [d["metadata"]["name"] for d in seed.mirror.controllers("north")] == ["linkerd-service-mirror"]
    seed.west.store.delete("Deployment", MC, "linkerd-service-mirror")
    assert seed.mirror.controllers("east") == [] and seed.mirror.controller("east") is None


# -- gateways: which one, and its liveness ---------------------------------------------------------------
def test_2_8_1_sends_through_the_gateway_each_service_names(seed):
    seed.e_ns("gw")
    seed.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "other-gw", "namespace": "gw", "annotations": {names.GATEWAY_IDENTITY_ANNOTATION: "other.identity"}},
        "spec": {"ports": [{"name": "mc-gateway", "port": 5143}]}})
    seed.east.set_status("Service", "gw", "other-gw", {"loadBalancer": {"ingress": [{"ip": "172.18.255.201"}]}})
    seed.export("api")
    seed.export("web", annotations={names.EXPORT_NAME: "other-gw", names.EXPORT_NS: "gw"})
    seed.export("lost", annotations={names.EXPORT_NAME: "nowhere", names.EXPORT_NS: "gw"})
    seed.export("labelled", labels=dict(EXPORTED), annotations={})  # edge's mark means nothing to 2.8.1
    seed.run()
    assert seed.mirrors() == [("apps", "api-east"), ("apps", "web-east")]
    web = seed.get("Endpoints", "apps", "web-east")
    assert web["subsets"][0]["addresses"] == [{"ip": "172.18.255.201"}] and web["subsets"][0]["ports"][0]["port"] == 5143
    assert web["metadata"]["annotations"][names.REMOTE_GATEWAY_IDENTITY_ANNOTATION] == "other.identity"
    rows = {(g["namespace"], g["name"]): g for g in seed.mirror.gateways()}
    assert {k: (g["address"], g["paired_services"], g["cluster"]) for k, g in rows.items()} == {
        (MC, names.GATEWAY): (GATEWAY_IP, 1, "east"), ("gw", "other-gw"): ("172.18.255.201", 1, "east")}
    # 2.8.1 probes http://host:port/<path> and dials the gateway itself
    assert all(p.slash_joined and p.via is None for p in seed.probes)


def test_a_gateway_without_an_address_mirrors_nothing_yet(world):
    world.east.set_status("Service", MC, names.GATEWAY, {"loadBalancer": {}})
    if world.profile.link_crd:
        world.link(gatewayAddress="")
    world.export()
    world.run()
    assert world.mirrors() == [] and world.probes == []


def test_edge_probes_the_links_gateway_through_the_probe_service_its_controller_names(edge):
    edge.export("api")
    edge.export("web")
    edge.run()
    (probe,) = edge.probes
    assert (probe.target.address, probe.target.port, probe.target.identity) == (GATEWAY_IP, 4143, IDENTITY)
    assert (probe.target.namespace, probe.target.name) == (MC, names.GATEWAY)  # the target's service at that address
    assert probe.slash_joined is False and probe.cluster is edge.west
    assert probe.via() == ("probe-east", None)  # the default name; no such Service yet
    edge.west.store.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe-gateway-east", "namespace": MC},
                           "spec": {"ports": [{"port": 4191}]}})
    edge.controller(args=["-enable-headless-services", "-probe-service=probe-gateway-east"])
    edge.run()
    name, svc = edge.probes[-1].via()
    assert name == "probe-gateway-east" and svc["spec"]["ports"] == [{"port": 4191}]
    probe = edge.probes[-1]
    probe.alive = True
    assert edge.mirror.gateways() == [{"cluster": "east", "namespace": MC, "name": names.GATEWAY, "address": GATEWAY_IP,
                                       "alive": True, "paired_services": 2, "latency_ms": 1.5, "last_error": None}]


def test_a_gateway_no_service_uses_is_no_longer_probed(world):
    world.export()
    world.run()
    world.export("api", labels={}, annotations={})
    world.run()
    assert world.probes[0].stopped and world.mirror.gateways() == []


def test_a_changed_gateway_gets_a_new_probe(edge):
    edge.export()
    edge.run()
    edge.link(gatewayPort="4144")
    edge.run()
    assert edge.probes[0].stopped and edge.probes[1].target.port == 4144 and not edge.probes[1].stopped
    assert edge.get("Endpoints", "apps", "api-east")["subsets"][0]["ports"][0]["port"] == 4144


def test_edge_lists_a_dead_gateway_as_not_ready_and_2_8_1_keeps_it_ready(world):
    world.export()
    world.run()
    state = world.state()
    before = world.west.wakes
    world.probes[0].on_liveness(False)  # the probe worker reports the gateway dead
    assert state.gateway_alive is False and world.west.wakes == before + 1
    world.run()
    subset = world.get("Endpoints", "apps", "api-east")["subsets"][0]
    key = "notReadyAddresses" if world.profile.liveness_gates_endpoints else "addresses"
    assert list(subset) == [key, "ports"] and subset[key] == [{"ip": GATEWAY_IP}]
    world.probes[0].on_liveness(True)
    world.run()
    assert "addresses" in world.get("Endpoints", "apps", "api-east")["subsets"][0]


def test_gateway_statuses_name_the_gateway_only_on_2_8_1(world):
    world.export()
    world.run()
    world.probes[0].alive = False
    (row,) = world.mirror.gateway_statuses(world.profile)
    assert (row.cluster, row.alive, row.paired_services, row.latency_ms) == ("east", False, 1, None)
    named = (MC, names.GATEWAY) if not world.profile.link_crd else (None, None)
    assert (row.namespace, row.name) == named


def test_stop_ends_every_watch_and_probe(world):
    world.export()
    world.run()
    asyncio.run(world.mirror.stop())
    assert world.informers[0].closed and world.recorders[0].closed and world.probes[0].stopped


# -- edge: remote discovery, federated services, headless services -------------------------------------
def test_a_remote_discovery_service_is_mirrored_without_endpoints(edge):
    edge.export("api")
    edge.run()
    assert edge.get("Endpoints", "apps", "api-east")
    remote = edge.export("api", labels=dict(DISCOVERY))
    edge.run()
    svc = edge.get("Service", "apps", "api-east")
    assert svc["metadata"]["labels"] == {**MIRROR_LABELS, names.REMOTE_DISCOVERY_LABEL: "east", names.REMOTE_SERVICE_LABEL: "api"}
    assert svc["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "api.apps.svc.east.example",
                                              names.REMOTE_RESOURCE_VERSION: remote["metadata"]["resourceVersion"]}
    assert svc["spec"] == {"type": "ClusterIP", "ports": remote["spec"]["ports"]}
    assert edge.get("Endpoints", "apps", "api-east") is None  # moved from gateway mode: its endpoints go
    assert edge.probes[0].stopped  # and no gateway is in use any more
    edge.e_ns("payments")
    edge.export("api", ns="payments", labels=dict(DISCOVERY))
    edge.run()
    assert ("payments", "api-east") not in edge.mirrors()
    assert edge.recorders[0].events[-1][:4] == ("Service", "payments", "api", "ServiceMirroringSkipped")


def test_a_link_without_selectors_mirrors_nothing(edge):
    edge.link(selector=None, remoteDiscoverySelector={"matchLabels": {}}, federatedServiceSelector=None)
    edge.export("api")
    edge.export("disc", labels=dict(DISCOVERY))
    edge.export("fed", labels=dict(names.FEDERATED_SELECTOR))
    edge.run()
    assert edge.mirrors() == [] and edge.probes == []


def test_a_mirror_in_the_target_is_not_exported_again(edge):
    edge.export("api-west", labels={**EXPORTED, names.MIRRORED_LABEL: "true"})
    edge.run()
    assert edge.mirrors() == []


def test_federated_members_make_one_federated_service_listing_them(edge):
    member = {**names.FEDERATED_SELECTOR, "app": "api", "mirror.linkerd.io/other": "x"}
    remote = edge.export("api", labels=member, ports=[{"name": "http", "port": 80, "protocol": "TCP"}])
    edge.export("db", labels=dict(names.FEDERATED_SELECTOR), clusterIP="None")  # headless cannot join
    edge.e_ns("payments")
    edge.export("api", ns="payments", labels=member)  # no such namespace in west
    edge.run()
    fed = edge.get("Service", "apps", "api-federated")
    assert fed["metadata"]["labels"] == {"app": "api", names.MIRRORED_LABEL: "true"}
    assert fed["metadata"]["annotations"] == {names.REMOTE_DISCOVERY_ANNOTATION: "api@east"}
    assert fed["spec"] == {"type": "ClusterIP", "ports": remote["spec"]["ports"]}
    assert edge.get("Endpoints", "apps", "api-federated") is None
    assert edge.mirrors() == [("apps", "api-federated")]
    # a second link whose target offers the same service adds itself to the list
    edge.mirror.links["north"] = mirror_module.LinkState(target="north", federated=[remote])
    edge.mirror._federate()
    assert edge.get("Service", "apps", "api-federated")["metadata"]["annotations"] == \
        {names.REMOTE_DISCOVERY_ANNOTATION: "api@east,api@north"}
    del edge.mirror.links["north"]
    edge.export("api", labels={"app": "api"})  # leaves: the last member gone, the service goes
    edge.run()
    assert edge.get("Service", "apps", "api-federated") is None and edge.mirrors() == []


def test_a_federated_service_outlives_a_link_that_cannot_reach_its_target(edge):
    edge.export("api", labels=dict(names.FEDERATED_SELECTOR))
    edge.run()
    edge.informers[0].error, edge.informers[0].has_synced = "Unauthorized", False
    edge.export("api", labels={})
    edge.run()
    assert edge.get("Service", "apps", "api-federated")


def _headless(world, hostnames=("web-0", "web-1"), subsets=True):
    remote = world.export("web", clusterIP="None", ports=[{"name": "http", "port": 80, "protocol": "TCP"}])
    addresses = [{"ip": f"10.1.0.{i}", **({"hostname": h} if h else {})} for i, h in enumerate(hostnames)]
    world.east.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "apps"},
                      "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 80}]}] if subsets else []})
    return remote


def _allocate_ips(world):
    """The API server gives each ClusterIP service its address."""
    for i, svc in enumerate(world.west.store.list("Service", "apps")):
        if svc["spec"].get("clusterIP") is None:
            world.west.store.apply({**svc, "spec": {**svc["spec"], "clusterIP": f"10.96.0.{10 + i}"}})


def test_edge_mirrors_a_headless_service_per_pod_when_enabled(edge):
    edge.controller(args=["-enable-headless-services"])
    remote = _headless(edge)
    edge.run()
    headless = edge.get("Service", "apps", "web-east")
    assert headless["spec"] == {"clusterIP": "None", "ports": remote["spec"]["ports"]}
    assert headless["metadata"]["labels"] == MIRROR_LABELS
    assert headless["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "web.apps.svc.east.example",
                                                   names.REMOTE_RESOURCE_VERSION: remote["metadata"]["resourceVersion"]}
    assert edge.mirrors() == [("apps", "web-0-east"), ("apps", "web-1-east"), ("apps", "web-east")]
    pod = edge.get("Service", "apps", "web-0-east")
    assert pod["metadata"]["labels"] == {**MIRROR_LABELS, names.MIRRORED_HEADLESS_LABEL: "web-east"}
    assert pod["metadata"]["annotations"][names.REMOTE_SVC_ANNOTATION] == "web-0.web.apps.svc.east.example"
    assert pod["spec"]["type"] == "ClusterIP" and pod["spec"]["ports"] == remote["spec"]["ports"]
    pod_eps = edge.get("Endpoints", "apps", "web-0-east")
    assert pod_eps["subsets"] == [{"addresses": [{"ip": GATEWAY_IP}], "ports": [{"name": "http", "port": 4143, "protocol": "TCP"}]}]
    assert pod_eps["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "web-0.web.apps.svc.east.example",
                                                  names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: IDENTITY}
    assert edge.get("Endpoints", "apps", "web-east")["subsets"] == []  # no cluster IPs allocated yet
    _allocate_ips(edge)
    edge.run()
    ips = {n: edge.get("Service", "apps", f"{n}-east")["spec"]["clusterIP"] for n in ("web-0", "web-1")}
    (subset,) = edge.get("Endpoints", "apps", "web-east")["subsets"]
    assert subset["addresses"] == [{"hostname": "web-0", "ip": ips["web-0"]}, {"hostname": "web-1", "ip": ips["web-1"]}]
    edge.probes[0].on_liveness(False)
    edge.run()
    assert list(edge.get("Endpoints", "apps", "web-0-east")["subsets"][0]) == ["notReadyAddresses", "ports"]
    assert edge.mirror.gateways()[0]["paired_services"] == 1
    edge.export("web", labels={}, clusterIP="None")  # unexported: every mirror of it goes
    edge.run()
    assert edge.mirrors() == []


def test_a_headless_service_without_hostnames_or_the_flag_is_mirrored_as_any_other(edge):
    _headless(edge, hostnames=(None,))
    edge.run()  # the flag off
    assert edge.mirrors() == [("apps", "web-east")] and "clusterIP" not in edge.get("Service", "apps", "web-east")["spec"]
    edge.controller(args=["-enable-headless-services"])
    edge.run()  # on, but no hostnames
    assert edge.mirrors() == [("apps", "web-east")]
    assert edge.get("Endpoints", "apps", "web-east")["subsets"][0]["addresses"] == [{"ip": GATEWAY_IP}]


def test_a_headless_service_with_no_endpoints_yet_is_not_mirrored(edge):
    edge.controller(args=["-enable-headless-services"])
    _headless(edge, subsets=False)
    edge.run()
    assert edge.mirrors() == []
