"""What the service mirror reads off a gateway and how it probes one: lab/sim/mesh/gateway.py, in process.

Upstream: stable-2.8.1 controller/cmd/service-mirror (cluster_watcher.go reads the gateway Service's
`mc-gateway`/`mc-probe` ports and `mirror.linkerd.io/*` annotations; probe_worker.go probes
`http://%s:%d/%s`, any failure marks it dead); edge-26.8.3 multicluster/service-mirror (the Link's
gatewayAddress/gatewayPort/gatewayIdentity/probeSpec as link-gen writes them, the CRD's defaults
failureThreshold "3" and timeout "30s" in charts/linkerd-multicluster/templates/link-crd.yaml; the probe
dials the probe Service the controller names). scenarios/test_gateway_outage.py shows the same through a lab.
"""
import asyncio

import pytest

from lab import names
from lab.sim.mesh import gateway as gateway_module
from lab.sim.mesh.gateway import GatewayProbe, GatewayTarget, gateway_target, go_duration, link_gateway_target, probe_url
from lab.sim.wire import httpwire

IDENTITY = "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local"


def _gateway_service(ports=(("mc-gateway", 4143), ("mc-probe", 4181)), address="172.18.255.200", **annotations) -> dict:
    ann = {names.GATEWAY_IDENTITY_ANNOTATION: IDENTITY, **annotations}
    return {"metadata": {"name": "linkerd-gateway", "namespace": "linkerd-multicluster", "annotations": ann},
            "spec": {"ports": [{"name": n, "port": p} for n, p in ports]},
            "status": {"loadBalancer": {"ingress": [{"ip": address}] if address else []}}}


def test_a_gateway_service_is_read_from_its_ports_annotations_and_address():
    target = gateway_target(_gateway_service(**{names.PROBE_PATH_ANNOTATION: "/health", names.PROBE_PERIOD_ANNOTATION: "7"}))
    assert target == GatewayTarget(namespace="linkerd-multicluster", name="linkerd-gateway", address="172.18.255.200",
                                   port=4143, identity=IDENTITY, probe_port=4181, probe_path="/health", probe_period=7,
                                   failure_threshold=1, probe_timeout=50.0)
    # without the probe annotations or port: /ready every 3 s on the proxy's admin port
    plain = gateway_target(_gateway_service(ports=(("mc-gateway", 4143),)))
    assert (plain.probe_port, plain.probe_path, plain.probe_period) == (4191, "/ready", 3)
    # no gateway yet: no address, no mc-gateway port, or no identity to check it by
    assert gateway_target(None) is None
    assert gateway_target(_gateway_service(address=None)) is None
    assert gateway_target(_gateway_service(ports=(("http", 4143), ("mc-probe", 4181)))) is None
    unnamed = _gateway_service()
    del unnamed["metadata"]["annotations"][names.GATEWAY_IDENTITY_ANNOTATION]
    assert gateway_target(unnamed) is None


def test_a_links_gateway_is_what_link_gen_wrote_with_the_crds_defaults():
    owner = _gateway_service()
    other = {"metadata": {"name": "other", "namespace": "apps"}, "spec": {"clusterIP": "10.96.0.9"}}
    spec = {"gatewayAddress": "172.18.255.200,172.18.255.201", "gatewayPort": "4143", "gatewayIdentity": IDENTITY,
            "probeSpec": {"port": "4191", "path": "/ready", "period": "1m30s"}}
    assert link_gateway_target(spec, [other, owner]) == GatewayTarget(
        namespace="linkerd-multicluster", name="linkerd-gateway", address="172.18.255.200", port=4143, identity=IDENTITY,
        probe_port=4191, probe_path="/ready", probe_period=90, failure_threshold=3, probe_timeout=30.0)
    told = link_gateway_target({**spec, "probeSpec": {"failureThreshold": "5", "timeout": "1m0s"}}, [])
    assert (told.failure_threshold, told.probe_timeout, told.probe_port, told.probe_path, told.probe_period) == \
        (5, 60.0, 4191, "/ready", 3)
    # an address no service of the target holds: named "gateway", in no namespace
    assert (told.namespace, told.name) == ("", "gateway")
    bare = link_gateway_target({"gatewayAddress": "10.0.0.1", "gatewayIdentity": IDENTITY}, [])
    assert (bare.port, bare.address) == (4143, "10.0.0.1")
    assert link_gateway_target({**spec, "gatewayAddress": ""}, [owner]) is None
    assert link_gateway_target({**spec, "gatewayIdentity": ""}, [owner]) is None


def test_go_durations_add_their_hours_minutes_and_seconds():
    assert go_duration("2h3m4.5s") == 2 * 3600 + 3 * 60 + 4.5
    assert go_duration("1h") == 3600 and go_duration("2m") == 120 and go_duration("0.5s") == 0.5
    for bad in ("", "3", "s", "1d", "-3s"):
        with pytest.raises(ValueError, match="not a duration"):
            go_duration(bad)


def test_a_probe_url_is_the_address_port_and_path():
    assert probe_url("10.0.0.1", 4181, "health", True) == ("http://10.0.0.1:4181/health", "/health")
    assert probe_url("10.0.0.1", 4191, "/ready", False) == ("http://10.0.0.1:4191/ready", "/ready")
    assert probe_url("10.0.0.1", 4191, "", False) == ("http://10.0.0.1:4191", "")


def _target(**overrides) -> GatewayTarget:
    fields = dict(namespace="linkerd-multicluster", name="linkerd-gateway", address="172.18.255.200", port=4143,
                  identity=IDENTITY, probe_port=4191, probe_path="/ready", probe_period=300, failure_threshold=1,
                  probe_timeout=2.0)
    return GatewayTarget(**{**fields, **overrides})


def _probe_run(target: GatewayTarget, steps, via=None, slash_joined=False, status=200):
    """Probe once per step (True: the gateway answers), returning what each probe left and what was reported."""
    async def scenario():
        answering = {"up": False}
        paths: list[str] = []

        async def ready(request):
            paths.append(request.path)
            return httpwire.text_response(status, "ok\n")

        server = await httpwire.serve_http(ready)

        class Network:
            def resolve(self, address, port, source):
                return ("127.0.0.1", server.port) if answering["up"] and (address, port) == \
                    (target.address, target.probe_port) else None

        class Cluster:
            network = Network()

        reported: list[bool] = []
        probe = GatewayProbe(Cluster(), target, slash_joined=slash_joined, on_liveness=reported.append, via=via)
        try:
            seen = []
            for up in steps:
                answering["up"] = up
                await probe.probe_once()
                seen.append((probe.alive, probe.last_error, probe.latency_ms() is not None))
            return seen, reported, paths
        finally:
            probe.stop()
            await server.close()

    return asyncio.run(scenario())


def test_a_2_8_1_probe_marks_a_gateway_dead_at_once_and_an_answer_revives_it():
    """2.8.1: failure threshold 1. The error says why; a success clears it and records a latency."""
    seen, reported, paths = _probe_run(_target(), [True, False, True])
    assert [s[0] for s in seen] == [True, False, True] and reported == [True, False, True]
    assert seen[1][1] == "connection refused: 172.18.255.200:4191" and seen[0][1] is None and seen[2][1] is None
    assert all(s[2] for s in seen)
    assert paths == ["/ready", "/ready"]
    seen, reported, _ = _probe_run(_target(), [True], status=503)
    assert seen == [(False, "probe answered 503", False)] and reported == []


def test_a_probe_goes_through_the_probe_service_the_controller_names():
    """edge: the probe dials the probe Service; missing, or not serving the probe port, the probe fails."""
    service = {"spec": {"ports": [{"port": 4191}]}}
    seen, reported, _ = _probe_run(_target(), [True], via=lambda: ("probe-gateway-east", service))
    assert seen[0][0] is True and reported == [True]
    seen, _, paths = _probe_run(_target(), [True], via=lambda: ("probe-gateway-east", None))
    assert seen[0][:2] == (False, "dial tcp: lookup probe-gateway-east: no such host") and paths == []
    seen, _, paths = _probe_run(_target(), [True], via=lambda: ("probe-gateway-east", {"spec": {"ports": [{"port": 80}]}}))
    assert seen[0][:2] == (False, "dial tcp probe-gateway-east:4191: the Service serves no port 4191") and paths == []


def test_a_probe_path_go_cannot_parse_fails_the_probe_without_a_request():
    seen, _, paths = _probe_run(_target(probe_port=80, probe_path="-/ambassador/ready"), [True])
    assert seen[0][:2] == (False, 'parse "http://172.18.255.200:80-/ambassador/ready": invalid port ":80-" after host')
    assert paths == []
    seen, _, paths = _probe_run(_target(probe_port=80, probe_path="-/ambassador/ready"), [True], slash_joined=True)
    assert seen[0][0] is True and paths == ["/-/ambassador/ready"]


def test_the_probe_runs_once_a_period_from_one_period_after_it_starts():
    async def scenario():
        class Network:
            def resolve(self, address, port, source):
                return None

        class Cluster:
            network = Network()

        probe = GatewayProbe(Cluster(), _target(probe_period=1), slash_joined=False)
        try:
            await asyncio.sleep(0)
            before = (probe.failures, probe.alive)   # the task has started and is waiting out its first period
            deadline = asyncio.get_running_loop().time() + 10
            while probe.failures < 2 and asyncio.get_running_loop().time() < deadline:  # then probes on its own
                await asyncio.sleep(0.1)
            return before, probe.failures, probe.alive
        finally:
            probe.stop()

    before, after, alive = asyncio.run(scenario())
    assert before == (0, None) and after >= 2 and alive is False


def test_a_probe_waits_its_period_plus_up_to_a_tenth_and_without_jitter_its_period(monkeypatch):
    """probe_worker.go: NewTicker(period, period/10), each tick jittered (jittered_ticker.go), at edge-26.8.3 and
    stable-2.8.1 alike (the service mirror makes every probe with jitter: tests/test_mirror_gateways.py)."""
    async def scenario():
        class Cluster:
            network = None

        edge = GatewayProbe(Cluster(), _target(probe_period=10), slash_joined=False, jitter=True)
        steady = GatewayProbe(Cluster(), _target(probe_period=10), slash_joined=True)
        try:
            delays = [edge.delay() for _ in range(200)]
            monkeypatch.setattr(gateway_module.random, "uniform", lambda low, high: high)
            return delays, edge.delay(), steady.delay()
        finally:
            edge.stop()
            steady.stop()

    delays, longest, steady = asyncio.run(scenario())
    assert all(10 <= d <= 11 for d in delays) and len(set(delays)) > 1
    assert longest == 11 and steady == 10


def test_after_a_success_it_takes_the_full_threshold_of_failures_again():
    """edge-26.8.3 probe_worker.go: failures are counted in a row; a success starts the count again."""
    seen, reported, _ = _probe_run(_target(failure_threshold=3), [False, False, True, False, False, False])
    assert [s[0] for s in seen] == [None, None, True, True, True, False] and reported == [True, False]


class _Clock:
    """time.monotonic for the probe alone: each probe starts at 1000 s and takes the next duration."""

    def __init__(self, durations):
        self.ticks = [t for d in durations for t in (1000.0, 1000.0 + d)]

    def monotonic(self):
        return self.ticks.pop(0)


def test_the_latency_shown_is_the_median_of_the_last_50_probes_in_milliseconds(monkeypatch):
    """What `linkerd multicluster gateways` prints as LATENCY (and ./labctl status with two decimals): the
    probes' round trip in ms, over a window of the last 50 probes, so a gateway that was slow once and is
    quick now shows as quick."""
    import lab.sim.mesh.gateway as gateway

    def latency(durations):
        monkeypatch.setattr(gateway, "time", _Clock(durations))
        probe_latencies = []

        async def scenario():
            server = await httpwire.serve_http(lambda request: _ok())

            class Network:
                def resolve(self, address, port, source):
                    return ("127.0.0.1", server.port)

            class Cluster:
                network = Network()

            probe = GatewayProbe(Cluster(), _target(), slash_joined=False)
            try:
                for _ in durations:
                    await probe.probe_once()
                probe_latencies.append(probe.latency_ms())
            finally:
                probe.stop()
                await server.close()

        asyncio.run(scenario())
        return probe_latencies[0]

    assert latency([0.0123456]) == 12.35
    assert latency([0.010, 0.030, 0.020]) == 20.0
    # 26 slow probes, then 25 quick ones: the window holds the last 25 slow and the 25 quick
    assert latency([0.100] * 26 + [0.001] * 25) == 50.5


async def _ok():
    return httpwire.text_response(200, "ok\n")
