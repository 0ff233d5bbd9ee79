"""The service mirror's gateways and edge's other kinds of mirror, in process (tests/mirror_world.py): which
gateway a mirror's endpoints name and how its liveness shows (stable-2.8.1 and edge-26.8.3 cluster_watcher.go,
probe_worker.go), remote-discovery mirrors without endpoints, `<name>-federated` services and headless services
mirrored per pod (edge-26.8.3 cluster_watcher.go, cluster_watcher_headless.go).
"""
from __future__ import annotations

import asyncio

from lab import names
from lab.sim.mesh import mirror as mirror_module
from mirror_world import DISCOVERY, EXPORTED, GATEWAY_IP, IDENTITY, MC, MIRROR_LABELS, kubeconfig_b64
from mirror_world import edge, seed, world  # noqa: F401 (the fixtures)


# -- gateways: which one, and its liveness ---------------------------------------------------------------
def test_2_8_1_sends_through_the_gateway_each_service_names(seed):
    seed.e_ns("gw")
    seed.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "other-gw", "namespace": "gw", "annotations": {
            names.GATEWAY_IDENTITY_ANNOTATION: "other.identity", names.MULTICLUSTER_GATEWAY_ANNOTATION: "true",
            names.PROBE_PATH_ANNOTATION: "health", names.PROBE_PERIOD_ANNOTATION: "5"}},
        "spec": {"ports": [{"name": "mc-gateway", "port": 5143}, {"name": "mc-probe", "port": 80}]}})
    seed.east.set_status("Service", "gw", "other-gw", {"loadBalancer": {"ingress": [{"ip": "172.18.255.201"}]}})
    seed.export("lost", annotations={names.EXPORT_NAME: "nowhere", names.EXPORT_NS: "gw"})
    seed.export("api")
    seed.export("web", annotations={names.EXPORT_NAME: "other-gw", names.EXPORT_NS: "gw"})
    seed.export("labelled", labels=dict(EXPORTED), annotations={})  # edge's mark means nothing to 2.8.1
    seed.run()
    assert seed.mirrors() == [("apps", "api-east"), ("apps", "web-east")]
    web = seed.get("Endpoints", "apps", "web-east")
    assert web["subsets"][0]["addresses"] == [{"ip": "172.18.255.201"}] and web["subsets"][0]["ports"][0]["port"] == 5143
    assert web["metadata"]["annotations"][names.REMOTE_GATEWAY_IDENTITY_ANNOTATION] == "other.identity"
    rows = {(g["namespace"], g["name"]): g for g in seed.mirror.gateways()}
    assert {k: (g["address"], g["paired_services"], g["cluster"]) for k, g in rows.items()} == {
        (MC, names.GATEWAY): (GATEWAY_IP, 1, "east"), ("gw", "other-gw"): ("172.18.255.201", 1, "east")}
    # 2.8.1 probes http://<gateway mirror>:<port>/<path>: the mirror the cluster watcher made in its own namespace
    assert seed.gateway_mirrors() == [(MC, "linkerd-gateway-east"), (MC, "other-gw-east")]
    assert sorted(p.via()[0] for p in seed.probes) == ["linkerd-gateway-east", "other-gw-east"]
    assert all(p.slash_joined and p.jitter and p.via()[1] is not None for p in seed.probes)


def test_a_gateway_without_an_address_mirrors_nothing_yet(world):
    world.east.set_status("Service", MC, names.GATEWAY, {"loadBalancer": {}})
    if world.profile.link_crd:
        world.link(gatewayAddress="")
    world.export()
    world.run()
    assert world.mirrors() == []
    if world.profile.link_crd:
        assert world.probes == []
        return
    # 2.8.1 mirrors the gateway all the same, with no endpoints, and probes it: the probe finds no address
    # (handleRemoteGatewayCreated, cluster_watcher.go:628-641 at stable-2.8.1)
    assert world.gateway_mirrors() == [(MC, "linkerd-gateway-east")]
    assert world.get("Endpoints", MC, "linkerd-gateway-east")["subsets"] == []
    (probe,) = world.probes
    assert probe.target.address == "" and world.mirror.gateways()[0]["alive"] is False


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
    edge.controller(args=["-probe-service=probe=east"])  # Go's flag package: the value is all after the first "="
    edge.run()
    assert edge.probes[-1].via() == ("probe=east", None)
    edge.controller(args=["-enable-headless-services", "-probe-service=probe-gateway-east"])
    edge.run()
    probe = edge.probes[-1]
    probe.alive = True
    assert edge.mirror.gateways() == [{"cluster": "east", "namespace": MC, "name": names.GATEWAY, "address": GATEWAY_IP,
                                       "alive": True, "paired_services": 2, "latency_ms": 1.5, "last_error": None}]


def test_2_8_1_probes_every_remote_gateway_exported_through_or_not(seed):
    """stable-2.8.1 mirrors each remote Service annotated mirror.linkerd.io/multicluster-gateway as a gateway
    mirror (cluster_watcher.go createOrUpdateService / handleRemoteGatewayCreated) and the probe manager probes
    each gateway mirror (probe_manager.go): no exported service needed, none stops it."""
    seed.run()
    (probe,) = seed.probes
    assert seed.mirrors() == [] and not probe.stopped
    seed.export()
    seed.run()
    seed.export("api", labels={}, annotations={})
    seed.run()
    assert seed.probes == [probe] and not probe.stopped and seed.mirrors() == []
    assert [(g["name"], g["paired_services"]) for g in seed.mirror.gateways()] == [(names.GATEWAY, 0)]


def test_edge_probes_the_links_gateway_from_the_watch_start_exported_or_not(edge, monkeypatch):
    """edge-26.8.3 restartClusterWatcher (multicluster/cmd/service-mirror/main.go) starts the probe worker
    from the Link's probeSpec before the remote caches sync, with nothing exported."""
    def unsynced(*args, **kwargs):
        made = edge._informer(*args, **kwargs)
        made.has_synced = False
        return made

    monkeypatch.setattr(mirror_module, "Informer", unsynced)
    edge.run()
    (probe,) = edge.probes
    t = probe.target
    assert (t.address, t.probe_port, t.probe_path, t.probe_period) == (GATEWAY_IP, 4191, "/ready", 3)
    assert probe.via() == ("probe-east", None) and probe.jitter and not probe.slash_joined
    assert edge.mirrors() == []
    edge.informers[0].has_synced = True
    edge.run()  # synced: the gateway gets its name, the probe keeps running
    assert edge.probes == [probe] and not probe.stopped and (probe.target.namespace, probe.target.name) == (MC, names.GATEWAY)
    probe.alive = True
    (row,) = edge.mirror.gateway_statuses(edge.profile)
    assert (row.cluster, row.alive, row.paired_services) == ("east", True, 0)
    edge.export()
    edge.run()
    edge.export("api", labels={}, annotations={})  # exported, then no longer: the probe runs on
    edge.run()
    assert edge.probes == [probe] and not probe.stopped and edge.mirrors() == []
    edge.link(probeSpec={"port": "4191", "path": "", "period": "3s"})  # no probe path: no probe worker
    edge.run()
    assert probe.stopped and edge.mirror.gateways() == []


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
    world.probes[0].alive = False
    world.probes[0].on_liveness(False)  # the probe worker finds the gateway dead
    if world.profile.link_crd:  # edge's worker tells the watcher; 2.8.1's only sets its gauge (probe_worker.go)
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


def test_a_new_gateway_identity_reaches_the_mirrors_endpoints(edge):
    edge.export()
    edge.run()
    edge.link(gatewayIdentity="linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.rotated")
    edge.run()
    assert edge.get("Endpoints", "apps", "api-east")["metadata"]["annotations"][names.REMOTE_GATEWAY_IDENTITY_ANNOTATION] == \
        "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.rotated"


# -- stable-2.8.1: gateway mirrors and the probe manager -------------------------------------------------
GW_MIRROR = "linkerd-gateway-east"


def _regateway(seed, name=names.GATEWAY, ns=MC, ports=None, ip=GATEWAY_IP, **annotations):
    """Rewrite a gateway Service in east: its annotations changed as given (None: removed)."""
    have = seed.east.view("Service", ns, name)
    ann = {k: v for k, v in {**have["metadata"]["annotations"], **annotations}.items() if v is not None}
    seed.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "annotations": ann},
                     "spec": {"type": "LoadBalancer", "ports": ports or have["spec"]["ports"]}})
    seed.east.set_status("Service", ns, name, {"loadBalancer": {"ingress": [{"ip": ip}]}})


def test_2_8_1_mirrors_a_remote_gateway_and_lists_it_not_alive_until_its_first_probe(seed):
    """handleRemoteGatewayCreated (cluster_watcher.go:580-660), the probe manager's worker (probe_manager.go:101-119)
    and its gateway_alive gauge, 0 from the worker's start (metrics.go:101-121), at stable-2.8.1."""
    seed.run()
    assert seed.mirrors() == [] and seed.gateway_mirrors() == [(MC, GW_MIRROR)]
    gateway = seed.east.view("Service", MC, names.GATEWAY)
    svc = seed.get("Service", MC, GW_MIRROR)
    assert svc["metadata"]["labels"] == {**MIRROR_LABELS, names.MIRRORED_GATEWAY: "true"}
    assert svc["metadata"]["annotations"] == {
        names.REMOTE_GATEWAY_RESOURCE_VERSION: gateway["metadata"]["resourceVersion"],
        names.MIRRORED_GATEWAY_REMOTE_NAME: names.GATEWAY, names.MIRRORED_GATEWAY_REMOTE_NS: MC,
        names.MIRRORED_GATEWAY_PROBE_PATH: "/health", names.MIRRORED_GATEWAY_PROBE_PERIOD: "3"}
    probe_port = {"name": "mc-probe", "protocol": "TCP", "port": 4181}
    assert svc["spec"]["ports"] == [probe_port]
    eps = seed.get("Endpoints", MC, GW_MIRROR)
    assert eps["subsets"] == [{"addresses": [{"ip": GATEWAY_IP}], "ports": [probe_port]}]
    assert eps["metadata"]["annotations"] == {names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: IDENTITY}
    (probe,) = seed.probes
    t = probe.target
    assert (t.namespace, t.name, t.address, t.probe_port, t.probe_path, t.probe_period, t.failure_threshold) == \
        (MC, names.GATEWAY, GATEWAY_IP, 4181, "/health", 3, 1)
    assert probe.jitter and probe.slash_joined and probe.via() == (GW_MIRROR, svc)
    (row,) = seed.mirror.gateway_statuses(seed.profile)  # no probe yet: listed, not alive
    assert (row.cluster, row.namespace, row.name, row.alive, row.paired_services, row.latency_ms) == \
        ("east", MC, names.GATEWAY, False, 0, None)
    probe.alive = True
    (row,) = seed.mirror.gateway_statuses(seed.profile)
    assert (row.alive, row.paired_services, row.latency_ms) == (True, 0, 1.5)
    seed.export()
    seed.run()
    assert seed.probes == [probe] and seed.mirror.gateways()[0]["paired_services"] == 1


def test_2_8_1_gateway_changes_reach_its_mirror_and_running_probe(seed):
    """updateGatewayMirrorService (cluster_watcher.go:712-773); the worker takes the new path and port, its ticker
    keeps its period (probe_manager.go:121-131, probe_worker.go:45-80); a spec that does not parse changes nothing."""
    seed.run()
    (probe,) = seed.probes
    _regateway(seed, ports=[{"name": "mc-gateway", "port": 4143}, {"name": "mc-probe", "port": 4191}], ip="172.18.255.210",
               **{names.PROBE_PATH_ANNOTATION: "/ready", names.PROBE_PERIOD_ANNOTATION: "10"})
    seed.run()
    assert seed.probes == [probe] and not probe.stopped
    t = probe.target
    assert (t.probe_path, t.probe_port, t.address, t.probe_period) == ("/ready", 4191, "172.18.255.210", 3)
    assert seed.get("Service", MC, GW_MIRROR)["metadata"]["annotations"][names.MIRRORED_GATEWAY_PROBE_PERIOD] == "10"
    _regateway(seed, **{names.PROBE_PERIOD_ANNOTATION: "10s"})  # not a whole number: extractGatewaySpec fails
    seed.run()
    assert seed.get("Service", MC, GW_MIRROR)["metadata"]["annotations"][names.MIRRORED_GATEWAY_PROBE_PERIOD] == "10"
    assert seed.probes == [probe] and not probe.stopped
    seed.e_ns("gw")
    seed.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "half", "namespace": "gw", "annotations": {
        names.MULTICLUSTER_GATEWAY_ANNOTATION: "true", names.PROBE_PATH_ANNOTATION: "/health", names.PROBE_PERIOD_ANNOTATION: "3"}},
        "spec": {"ports": [{"name": "mc-gateway", "port": 4143}]}})  # no mc-probe port: never mirrored
    seed.run()
    assert seed.gateway_mirrors() == [(MC, GW_MIRROR)] and seed.probes == [probe]


def test_2_8_1_a_gateway_deleted_or_unannotated_in_its_namespace_loses_mirror_and_probe(seed):
    """createOrUpdateService's last branch finds `<name>-<target>` in the remote Service's namespace, the service
    mirror's own here, and deletes it (cluster_watcher.go:888-903); a deleted gateway's mirror goes
    (handleRemoteGatewayDeleted, :543-575); with it goes the worker and its gateway_alive series."""
    seed.run()
    _regateway(seed, **{names.MULTICLUSTER_GATEWAY_ANNOTATION: None})
    seed.run()
    assert seed.gateway_mirrors() == [] and seed.probes[0].stopped and seed.mirror.gateways() == []
    _regateway(seed, **{names.MULTICLUSTER_GATEWAY_ANNOTATION: "true"})
    seed.run()
    assert seed.gateway_mirrors() == [(MC, GW_MIRROR)] and not seed.probes[1].stopped
    seed.east.delete("Service", MC, names.GATEWAY)
    seed.run()
    assert seed.gateway_mirrors() == [] and seed.get("Endpoints", MC, GW_MIRROR) is None
    assert seed.probes[1].stopped and seed.mirror.gateways() == []


def test_2_8_1_keeps_probing_a_gateway_elsewhere_that_is_no_longer_one(seed):
    """Outside the service mirror's namespace the update path finds no `<name>-<target>` to delete (cluster_watcher.go
    :888-903): the gateway mirror and its probe stay until the gateway Service itself goes."""
    seed.e_ns("gw")
    seed.east.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "other-gw", "namespace": "gw", "annotations": {
        names.MULTICLUSTER_GATEWAY_ANNOTATION: "true", names.PROBE_PATH_ANNOTATION: "/health", names.PROBE_PERIOD_ANNOTATION: "3"}},
        "spec": {"ports": [{"name": "mc-gateway", "port": 4143}, {"name": "mc-probe", "port": 4181}]}})
    seed.run()
    assert seed.gateway_mirrors() == [(MC, GW_MIRROR), (MC, "other-gw-east")]
    _regateway(seed, "other-gw", "gw", **{names.MULTICLUSTER_GATEWAY_ANNOTATION: None})
    seed.run()
    assert seed.gateway_mirrors() == [(MC, GW_MIRROR), (MC, "other-gw-east")] and not any(p.stopped for p in seed.probes)
    seed.east.delete("Service", "gw", "other-gw")
    seed.run()
    assert seed.gateway_mirrors() == [(MC, GW_MIRROR)]
    assert [(g["namespace"], g["name"]) for g in seed.mirror.gateways()] == [(MC, names.GATEWAY)]


def test_2_8_1_probes_run_in_the_service_mirror_process_not_in_a_links_watch(seed):
    """The probe manager is the controller's, beside the config watcher (main.go:88-92): new credentials restart
    the link's watch only (config_watcher.go:80-94); a controller down stops every worker, a new one starts them
    again; an unlinked cluster's mirrors, its gateway's included, are deleted (cleanupMirroredResources)."""
    seed.run()
    (probe,) = seed.probes
    seed.credentials(kubeconfig=kubeconfig_b64(token="rotated"))
    seed.run()
    assert len(seed.informers) == 2 and seed.probes == [probe] and not probe.stopped
    seed.controller(available=0)
    seed.run()
    assert probe.stopped and seed.mirror.gateways() == [] and seed.gateway_mirrors() == [(MC, GW_MIRROR)]
    seed.controller(available=1)
    seed.run()
    assert len(seed.probes) == 2 and not seed.probes[1].stopped
    seed.west.store.delete("Secret", MC, "cluster-credentials-east")
    seed.run()
    assert seed.gateway_mirrors() == [] and seed.probes[1].stopped and seed.mirror.gateways() == []


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
    assert not edge.probes[0].stopped  # no gateway is in use any more, but the Link's probe runs on (upstream too)
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
    assert edge.mirrors() == [] and len(edge.probes) == 1  # the Link's probeSpec still has a path: probed


def test_a_mirror_in_the_target_is_not_exported_again(edge):
    edge.export("api-west", labels={**EXPORTED, names.MIRRORED_LABEL: "true"})
    edge.export("web")
    edge.run()
    assert edge.mirrors() == [("apps", "web-east")]


def test_federated_members_make_one_federated_service_listing_them(edge):
    member = {**names.FEDERATED_SELECTOR, "app": "api", "mirror.linkerd.io/other": "x"}
    edge.e_ns("payments")
    edge.export("api", ns="payments", labels=member)  # no such namespace in west
    remote = edge.export("api", labels=member, ports=[{"name": "http", "port": 80, "protocol": "TCP"}])
    edge.export("db", labels=dict(names.FEDERATED_SELECTOR), clusterIP="None")  # headless cannot join
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
    remote = world.export("web", clusterIP="None", ports=[{"name": "http", "port": 80, "protocol": "TCP"}],
                          labels={**EXPORTED, "app": "web"}, annotations={"note": "n"})
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
    edge.export("api", ready=None)  # not headless, no Endpoints in east: mirrored as ever, with no endpoint
    edge.run()
    assert edge.get("Endpoints", "apps", "api-east")["subsets"] == []
    edge.east.delete("Service", "apps", "api")
    headless = edge.get("Service", "apps", "web-east")
    assert headless["spec"] == {"clusterIP": "None", "ports": remote["spec"]["ports"]}
    # what the remote carries goes with every mirror of it (getMirrorServiceLabels and getMirrorEndpointLabels
    # in cluster_watcher_headless.go), its annotations with the headless mirror only
    assert headless["metadata"]["labels"] == {**MIRROR_LABELS, "app": "web"}
    assert headless["metadata"]["annotations"] == {"note": "n", names.REMOTE_SVC_ANNOTATION: "web.apps.svc.east.example",
                                                   names.REMOTE_RESOURCE_VERSION: remote["metadata"]["resourceVersion"]}
    assert edge.mirrors() == [("apps", "api-east"), ("apps", "web-0-east"), ("apps", "web-1-east"), ("apps", "web-east")]
    pod = edge.get("Service", "apps", "web-0-east")
    assert pod["metadata"]["labels"] == {**MIRROR_LABELS, "app": "web", names.MIRRORED_HEADLESS_LABEL: "web-east"}
    assert pod["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "web-0.web.apps.svc.east.example",
                                              names.REMOTE_RESOURCE_VERSION: remote["metadata"]["resourceVersion"]}
    assert pod["spec"]["type"] == "ClusterIP" and pod["spec"]["ports"] == remote["spec"]["ports"]
    pod_eps = edge.get("Endpoints", "apps", "web-0-east")
    assert pod_eps["subsets"] == [{"addresses": [{"ip": GATEWAY_IP}], "ports": [{"name": "http", "port": 4143, "protocol": "TCP"}]}]
    assert pod_eps["metadata"]["annotations"] == {names.REMOTE_SVC_ANNOTATION: "web-0.web.apps.svc.east.example",
                                                  names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: IDENTITY}
    assert edge.get("Endpoints", "apps", "web-east")["subsets"] == []  # no cluster IPs allocated yet
    assert edge.get("Endpoints", "apps", "web-east")["metadata"]["labels"] == {**MIRROR_LABELS, "app": "web"}
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
