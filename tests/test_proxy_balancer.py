"""The proxy's balancer and its wait for endpoints: lab/sim/mesh/proxy.py's `forward`, in process.

linkerd2-proxy sends a request to an endpoint it can connect to; an endpoint that refused is backed off and
the balancer chooses among the others (linkerd/reconnect, the balancer's pending endpoints). With none to
choose, the request waits for its destination watch to say more, or for a backoff to end, up to the
failfast timeout (stack/src/failfast.rs). In the lab the destination watch's news comes from a reconcile
pass or a remote watch (`Network.routes_changed`), so a waiting request wakes at the news, never on a clock of
its own.
"""
import asyncio
import base64

import pytest
import yaml

from lab import names
from lab.model.profiles import PROFILES
from lab.sim.kube.store import ObjectStore
from lab.sim.mesh import proxy as proxy_module
from lab.sim.mesh import remote
from lab.sim.mesh.proxy import Proxy
from lab.sim.mesh.routes import NoEndpoints, Route
from lab.sim.wire import httpwire, transport_header
from lab.sim.world.network import Network
from lab.trust import pki
from lab.sim.wire.tls import Identity

LIVE, DEAD = Route("10.244.0.7", 8080, None, "10.244.0.7:8080"), Route("10.244.0.8", 8080, None, "10.244.0.8:8080")
SERVICE = "web.apps.svc.cluster.local:8080"


class LabNetwork(Network):
    """The lab network with one app listening: LIVE lands on it, DEAD on nothing (connection refused). Each
    wait for a pass is counted, and `waiting` is set while one is under way."""

    def __init__(self, port: int):
        super().__init__()
        self.listening = {(LIVE.address, LIVE.port): ("127.0.0.1", port)}
        self.waits = 0
        self.waiting = asyncio.Event()

    def resolve(self, ip, port, source=None):
        return self.listening.get((ip, port))

    async def changed(self, timeout):
        self.waits += 1
        self.waiting.set()
        try:
            await super().changed(timeout)
        finally:
            self.waiting.clear()


class OneService:
    """The cluster as the proxy reads it: one service whose endpoints the test sets (`None`: none ready)."""

    name, spec = "east", {"domain": "cluster.local"}

    def __init__(self, network: LabNetwork):
        self.network, self.store, self.endpoints = network, ObjectStore(), None
        self.profile = PROFILES["current"]  # edge: 504 in fail-fast, backoff from 0.1 s

    def routes(self, authority):
        assert authority == SERVICE
        if not self.endpoints:
            raise NoEndpoints("service apps/web has no ready endpoints")
        return list(self.endpoints)


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    folder = tmp_path_factory.mktemp("balancer")
    anchor = pki.create_anchor("cluster.local")
    issuer = pki.create_issuer(anchor, "cluster.local")
    name = "client.apps.serviceaccount.identity.linkerd.cluster.local"
    leaf = pki.issue_workload(issuer, name)
    pki.write_public(folder / "client.crt", leaf.cert_pem + issuer.cert_pem)
    pki.write_private(folder / "client.key", leaf.key_pem)
    return Identity(name, folder / "client.crt", folder / "client.key", anchor.cert_pem)


def _run(identity, scenario, failfast: float, monkeypatch, gateway: bool = False):
    """`scenario(proxy, cluster, send)` with an app answering 200 behind LIVE and the failfast timeout set."""
    monkeypatch.setattr(proxy_module, "FAILFAST_TIMEOUT", failfast)

    async def main():
        app = await httpwire.serve_http(lambda request: _ok())
        cluster = OneService(LabNetwork(app.port))
        proxy = Proxy(cluster, "client", "10.244.0.2", identity, {}, gateway_mode=gateway, log=lines.append)
        try:
            return await scenario(proxy, cluster, lambda: proxy.outbound(httpwire.Request("GET", "/", {"host": SERVICE}), 30))
        finally:
            await proxy.local.close()
            await app.close()

    lines: list[str] = []
    return asyncio.run(main()), lines


async def _ok():
    return httpwire.text_response(200, "ok\n")


def test_a_refused_endpoint_is_backed_off_and_every_request_goes_to_the_one_that_answers_without_waiting(identity, monkeypatch):
    async def scenario(proxy, cluster, send):
        cluster.endpoints = [DEAD, LIVE]
        statuses = [(await send()).status for _ in range(50)]
        return statuses, cluster.network.waits

    (statuses, waits), lines = _run(identity, scenario, 60.0, monkeypatch)
    assert statuses == [200] * 50
    assert waits == 0, "a request waited while the balancer had an endpoint it could reach"
    # the refused endpoint was tried, then only when its backoff (0.1 s, doubling) ended: not every other request
    assert 1 <= sum("Failed to connect" in line for line in lines) <= 5


def test_a_request_waiting_for_endpoints_is_sent_at_the_pass_that_brings_one(identity, monkeypatch):
    async def scenario(proxy, cluster, send):
        request = asyncio.ensure_future(send())
        async with asyncio.timeout(10):
            await cluster.network.waiting.wait()  # no endpoint yet: it waits for the destination watch
        cluster.endpoints = [LIVE]
        cluster.network.routes_changed()
        async with asyncio.timeout(10):  # the failfast timeout is 60 s: only the pass can have woken it
            return (await request).status

    status, _ = _run(identity, scenario, 60.0, monkeypatch)
    assert status == 200


class RemoteWatch:
    """In place of the destination controller's informer on the linked cluster (lab/sim/kube/informer.py, which
    calls `on_change` after each change to its cache): a cache the test fills, then announces as it would."""

    def __init__(self, server, token, ca_pem, watched, on_change=lambda: None, **_):
        self.on_change, self.cached = on_change, False

    async def close(self):
        pass


def test_a_request_waiting_for_a_linked_clusters_endpoints_is_sent_when_the_remote_watch_caches_them(identity, monkeypatch):
    """Pod-to-pod and federated endpoints come from the destination controller's watch on the other cluster
    (remote.py `ClusterStore`), not from a pass of this one: its news must wake the request too."""
    watches: list[RemoteWatch] = []
    monkeypatch.setattr(remote, "Informer", lambda *args, **kwargs: watches.append(RemoteWatch(*args, **kwargs)) or watches[-1])

    async def no_refusal(server, token, ca_pem):
        return None  # the access review and the Server CRD: granted (remote.py `cluster_access`)

    monkeypatch.setattr(remote, "cluster_access", no_refusal)
    config = {"clusters": [{"cluster": {"server": "https://127.0.0.1:6443"}}], "users": [{"user": {"token": "t"}}]}

    async def scenario(proxy, cluster, send):
        cluster.log_from = lambda *args, **kwargs: None
        cluster.store.apply({"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE, "metadata": {
            "name": "cluster-credentials-west", "namespace": names.LINKERD_NS,
            "labels": {names.LINK_CLUSTER_LABEL: "west"}, "annotations": dict.fromkeys(remote.DOMAIN_ANNOTATIONS, "x")},
            "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(config).encode()).decode()}})
        store = remote.ClusterStore(cluster)
        await store.reconcile()
        async with asyncio.timeout(10):
            await asyncio.gather(*store.in_flight())
        [watch] = watches

        def routes(authority):
            if not watch.cached:
                raise NoEndpoints("west has no endpoints for it yet")
            return [LIVE]

        cluster.routes = routes
        request = asyncio.ensure_future(send())
        async with asyncio.timeout(10):
            await cluster.network.waiting.wait()  # nothing cached yet: it waits
        watch.cached = True
        watch.on_change()
        async with asyncio.timeout(10):  # the failfast timeout is 60 s and no pass comes: only the watch can wake it
            return (await request).status

    status, _ = _run(identity, scenario, 60.0, monkeypatch)
    assert status == 200


def test_with_every_endpoint_backed_off_a_request_tries_again_when_the_first_backoff_ends(identity, monkeypatch):
    async def scenario(proxy, cluster, send):
        cluster.endpoints = [DEAD]
        request = asyncio.ensure_future(send())
        async with asyncio.timeout(10):
            await cluster.network.waiting.wait()  # DEAD refused and is backed off (0.1-0.11 s on edge)
        cluster.network.listening[(DEAD.address, DEAD.port)] = cluster.network.listening[(LIVE.address, LIVE.port)]
        async with asyncio.timeout(10):  # no pass comes, and the failfast timeout is 60 s: the backoff's end did
            return (await request).status

    status, lines = _run(identity, scenario, 60.0, monkeypatch)
    assert status == 200
    assert sum("Failed to connect" in line for line in lines) == 1


def test_without_endpoints_the_service_goes_into_fail_fast_and_then_fails_at_once(identity, monkeypatch):
    async def scenario(proxy, cluster, send):
        first = await send()
        waits = cluster.network.waits
        second = await send()
        return first, second, waits, cluster.network.waits

    (first, second, waits, waits_after), lines = _run(identity, scenario, 0.3, monkeypatch)
    for response in (first, second):  # as v2.366.0 makes its own responses (app/core/src/errors/respond.rs)
        assert response.status == 504 and response.body == b""
        assert response.headers == {"content-length": "0", "l5d-proxy-error": f"{SERVICE}: service in fail-fast",
                                    "connection": "close", "l5d-proxy-connection": "close"}
    assert waits >= 1 and waits_after == waits, "a service in fail-fast does not wait again"


def test_each_service_has_its_own_turn_among_its_endpoints(identity):
    """A proxy sending to two services in alternation spreads each one's requests over both its endpoints
    (a turn shared by every service would send each to one endpoint only)."""
    async def main():
        names = ("a1", "a2", "b1", "b2")
        apps = {name: await httpwire.serve_http(lambda request, name=name: _named(name)) for name in names}
        network, endpoints = LabNetwork(0), {}
        for i, name in enumerate(names):
            route = Route(f"10.244.1.{i + 1}", 8080, None, f"10.244.1.{i + 1}:8080")
            network.listening[(route.address, route.port)] = ("127.0.0.1", apps[name].port)
            endpoints.setdefault(name[0], []).append(route)
        cluster = OneService(network)
        cluster.routes = lambda authority: endpoints[authority.split(".")[0]]
        proxy = Proxy(cluster, "client", "10.244.0.2", identity, {}, gateway_mode=False)
        answered = []
        try:
            for _ in range(10):
                for service in ("a", "b"):
                    request = httpwire.Request("GET", "/", {"host": f"{service}.apps.svc.cluster.local:8080"})
                    answered.append((await proxy.outbound(request, 30)).body.decode().strip())
        finally:
            await proxy.local.close()
            for app in apps.values():
                await app.close()
        return answered

    answered = asyncio.run(main())
    assert {name: answered.count(name) for name in set(answered)} == {"a1": 5, "a2": 5, "b1": 5, "b2": 5}


async def _named(name: str):
    return httpwire.text_response(200, f"{name}\n")


def test_a_gateway_answers_a_request_that_already_passed_it_with_508_and_sends_it_nowhere(identity, monkeypatch):
    """linkerd/app/gateway/src/http/gateway.rs (v2.366.0): a request from the gateway's own identity, or whose
    `forwarded` header says this gateway sent it on before, is a GatewayLoop, answered 508 Loop Detected."""
    async def scenario(proxy, cluster, send):
        cluster.endpoints = [LIVE]
        header = transport_header.TransportHeader(port=8080, name="web.apps.svc.cluster.local")
        me, peer = proxy.identity.name, "other.apps.serviceaccount.identity.linkerd.cluster.local"
        forwarded = f"by={me};for={peer};host=web.apps.svc.cluster.local:8080;proto=https"
        answers = [await proxy._serve_inbound(httpwire.Request("GET", "/", {"host": SERVICE, **extra}), client, header)
                   for client, extra in ((me, {}), (peer, {"forwarded": forwarded}), (peer, {}))]
        return [(a.status, a.headers.get("l5d-proxy-error")) for a in answers]

    answers, _ = _run(identity, scenario, 60.0, monkeypatch, gateway=True)
    assert answers == [(508, "gateway loop detected"), (508, "gateway loop detected"), (200, None)]
