"""The service mirror (lab/sim/mesh/mirror.py) in process: what a user of Linkerd's service mirror sees in the
source cluster (`west`) when the target (`east`) exports services, with no lab process (tests/mirror_world.py
builds both and stands in for the network; tests/test_mirror_gateways.py has the gateways and edge's other
kinds of mirror). Upstream, read at each tag: stable-2.8.1 controller/cmd/service-mirror/cluster_watcher.go
(mirrors services annotated with mirror.linkerd.io/gateway-name and gateway-ns; creates a missing namespace;
remapRemoteServicePorts, getEndpointsPorts) and edge-26.8.3 multicluster/service-mirror/cluster_watcher.go
(isExported / isRemoteDiscovery by the Link's selectors; a missing namespace is skipped with a
ServiceMirroringSkipped event recorded in the target).
"""

from __future__ import annotations

import base64

import pytest

from lab import names
from lab.sim.kube import informer
from mirror_world import DISCOVERY, EXPORTED, GATEWAY_IP, IDENTITY, MC, MIRROR_LABELS, SERVER, kubeconfig_b64
from mirror_world import edge, seed, world  # noqa: F401 (the fixtures)


# -- what gets mirrored, and how ---------------------------------------------------------------------
def test_an_exported_service_is_mirrored_as_name_dash_target_with_every_port(world):
    ports = [{"name": "http", "port": 9898, "targetPort": "http", "protocol": "TCP"},
             {"name": "http-alt", "port": 8080, "targetPort": 9898, "protocol": "TCP"},
             {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]
    labels, annotations = world.marks()
    remote = world.export(ports=ports, labels={**labels, "app": "api"}, annotations={**annotations, "team": "payments"})
    world.run()
    svc, eps = world.get("Service", "apps", "api-east"), world.get("Endpoints", "apps", "api-east")
    if world.profile.link_crd:  # the remote's labels and annotations but its mirror.linkerd.io labels (edge)
        want_labels, copied = {**MIRROR_LABELS, "app": "api"}, {"team": "payments"}
    else:  # its gateway's name and namespace, nothing copied (getMirroredServiceLabels, 2.8.1)
        want_labels, copied = {**MIRROR_LABELS, names.REMOTE_GATEWAY_NAME: names.GATEWAY, names.REMOTE_GATEWAY_NS: MC}, {}
    assert svc["metadata"]["labels"] == want_labels and eps["metadata"]["labels"] == want_labels
    # the remote's fully qualified name in the link's domain, and the version the mirror was made from
    assert svc["metadata"]["annotations"] == {**copied, names.REMOTE_SVC_ANNOTATION: "api.apps.svc.east.example",
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


def test_edge_lists_no_endpoint_for_a_service_with_no_ready_pod_and_2_8_1_lists_the_gateway(world):
    """edge-26.8.3 cluster_watcher.go isEmptyService / handleCreateOrUpdateEndpoints: a mirror's Endpoints have
    no subset while the exported service has no ready address in the target (no Endpoints, none at all, or
    only not-ready ones), and get the gateway back when a pod is ready; stable-2.8.1 has no such check."""
    world.export(ready=False)
    world.run()
    gateway = [{"addresses": [{"ip": GATEWAY_IP}], "ports": [{"name": "http", "port": 4143, "protocol": "TCP"}]}]
    empty = [] if world.profile.link_crd else gateway
    assert world.mirrors() == [("apps", "api-east")], "the service is mirrored either way"
    assert world.get("Endpoints", "apps", "api-east")["subsets"] == empty
    world.endpoints(ready=True)
    world.run()
    assert world.get("Endpoints", "apps", "api-east")["subsets"] == gateway
    world.east.delete("Endpoints", "apps", "api")
    world.run()
    assert world.get("Endpoints", "apps", "api-east")["subsets"] == empty


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
                         else kubeconfig_b64(server="http://127.0.0.1:8080"))
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
    world.credentials(kubeconfig=kubeconfig_b64(token="rotated"))
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
    edge.controller(component="service-mirror", name="linkerd-service-mirror-east", available=None)
    assert edge.mirror.controller("east") is None  # none available, or none that says so yet
    edge.controller(component="service-mirror", name="linkerd-service-mirror-east", available=2)
    assert edge.mirror.controller("east")["metadata"]["name"] == "linkerd-service-mirror-east"


def test_2_8_1_runs_one_controller_for_every_link(seed):
    assert [d["metadata"]["name"] for d in seed.mirror.controllers("north")] == ["linkerd-service-mirror"]
    seed.west.store.delete("Deployment", MC, "linkerd-service-mirror")
    assert seed.mirror.controllers("east") == [] and seed.mirror.controller("east") is None


def test_a_link_whose_controller_is_down_does_not_hold_up_the_others(edge):
    edge.west.store.apply({"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
                           "metadata": {"name": "north", "namespace": MC},
                           "spec": {**edge.west.store.view("Link", MC, "east")["spec"], "targetClusterName": "north"}})
    edge.controller(name="controller-north")
    deployment = edge.west.store.get("Deployment", MC, "controller-north")
    deployment["metadata"]["labels"][names.CLUSTER_NAME] = "north"
    edge.west.store.apply(deployment)
    edge.controller(available=0)  # east's is down
    edge.export()
    edge.run()
    assert edge.mirrors() == [("apps", "api-north")]


def test_before_the_control_plane_says_which_linkerd_installed_it_the_clusters_profile_decides(edge):
    edge.west.store.delete("ConfigMap", names.LINKERD_NS, names.TRUST_ROOTS_CM)
    edge.export()
    edge.run()
    assert edge.informers[0].watched == (informer.SERVICES, informer.ENDPOINTS)
    assert [d["metadata"]["name"] for d in edge.mirror.controllers("east")] == ["controller-east"]
    assert edge.mirrors() == [("apps", "api-east")]
    (probe,) = edge.probes
    assert probe.slash_joined is False and probe.via is None
    probe.on_liveness(False)  # no version known: nothing gates the endpoints on liveness
    edge.run()
    assert "addresses" in edge.get("Endpoints", "apps", "api-east")["subsets"][0]


def test_what_someone_else_adds_to_a_mirror_stays_until_the_remote_changes(edge):
    """Upstream updates a mirror only when the remote's resourceVersion moves (createOrUpdateService), so a
    field another client sets on it survives the passes in between."""
    remote = edge.export("api", labels=dict(DISCOVERY))
    edge.run()
    svc = edge.get("Service", "apps", "api-east")
    svc["spec"]["sessionAffinity"] = "ClientIP"
    edge.west.store.apply(svc)
    edge.export("web")  # something changes: a pass runs
    edge.run()
    assert edge.get("Service", "apps", "api-east")["spec"]["sessionAffinity"] == "ClientIP"
    edge.export("api", labels=dict(DISCOVERY), ports=[{"name": "http", "port": 81}])
    edge.run()
    assert edge.get("Service", "apps", "api-east")["spec"]["ports"] == [{"name": "http", "port": 81}]
    assert remote["spec"]["ports"] != [{"name": "http", "port": 81}]


def test_edge_leaves_out_what_the_link_excludes_and_the_topology_hints(edge):
    edge.link(excludedLabels=["team", "example.com/*"], excludedAnnotations=["note", "example.com/*", names.OPAQUE_PORTS_ANNOTATION])
    # `example.com/*` leaves out every key starting with example.com, as upstream trims the `/*` and compares
    # prefixes (isLabelExlucded): example.community/ too, example.co/ not
    labels = {**EXPORTED, "app": "api", "team": "payments", "example.com/owner": "x", "example.org/owner": "y",
              "example.community/owner": "z", "example.co/owner": "w"}
    annotations = {"note": "n", "example.com/a": "1", "kept": "k", names.OPAQUE_PORTS_ANNOTATION: "8080",
                   "service.kubernetes.io/topology-mode": "Auto", "service.kubernetes.io/topology-aware-hints": "auto"}
    edge.export("api", labels=labels, annotations=annotations)
    edge.export("disc", labels={**labels, **DISCOVERY}, annotations=annotations)
    edge.run()
    for name, extra in (("api-east", {}), ("disc-east", {names.REMOTE_DISCOVERY_LABEL: "east", names.REMOTE_SERVICE_LABEL: "disc"})):
        meta = edge.get("Service", "apps", name)["metadata"]
        assert meta["labels"] == {**MIRROR_LABELS, "app": "api", "example.org/owner": "y", "example.co/owner": "w", **extra}
        # the opaque ports go with the mirror even when excluded (getCommonServiceAnnotations)
        assert {k: v for k, v in meta["annotations"].items() if not k.startswith("mirror.linkerd.io/")} == \
            {"kept": "k", names.OPAQUE_PORTS_ANNOTATION: "8080"}
