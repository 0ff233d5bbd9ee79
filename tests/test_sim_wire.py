"""The sim's wire between hops: HTTP/1.1 keep-alive (h11) and HTTP/2 over mutual TLS (h2).

What a user of the lab would notice if these broke: sockets piling up in the lab process,
requests lost when a pod goes, or bodies cut at a flow-control window."""
import asyncio
import datetime
import os
import socket
import ssl

import pytest

import tls_certs
from lab.trust import pki
from lab.sim.process import labprocess
from lab.sim.wire import h2conn, httpwire, loopback, tlsserver
from lab.sim.wire.tls import Identity, peer_identity, refusal_reason

TRUST_DOMAIN = "cluster.local"
HANDSHAKE_TIMEOUT = 3.0  # seconds a client has to finish its TLS handshake (the proxy's DIAL_TIMEOUT)


SLOW_APP_SECONDS = 0.3  # how long the app's /slow takes: the work a grace period or a drain must wait for
SLOW_STARTED: list[asyncio.Event] = []  # set when a /slow request reaches the app (one per test's loop)


async def echo(request: httpwire.Request) -> httpwire.Response:
    if request.path == "/slow":  # an app that takes its time: what a grace period or a drain must wait for
        for started in SLOW_STARTED:
            started.set()
        await asyncio.sleep(SLOW_APP_SECONDS)
    return httpwire.Response(200, {"x-path": request.path, "x-host": request.headers.get("host", "")}, request.body)


def _slow_started() -> asyncio.Event:
    SLOW_STARTED.clear()
    SLOW_STARTED.append(asyncio.Event())
    return SLOW_STARTED[0]


async def _until(predicate, what: str, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _connections_to(port: int) -> int:
    """Established TCP connections whose far end is 127.0.0.1:port, from /proc (this process's sockets)."""
    count = 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


# -- HTTP/1.1 --------------------------------------------------------------------
def test_server_keeps_a_connection_alive_between_requests_and_closes_when_asked():
    async def scenario():
        server = await httpwire.serve_http(echo)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        conn = httpwire.ClientConnection(reader, writer)
        first = await conn.send(httpwire.Request("GET", "/one", {"host": "a"}))
        second = await conn.send(httpwire.Request("GET", "/two", {"host": "a"}))
        assert (first.headers["x-path"], second.headers["x-path"]) == ("/one", "/two")
        assert server.connections() == 1
        await conn.send(httpwire.Request("GET", "/three", {"host": "a"}), close_after=True)
        assert await reader.read() == b""  # the server closed its side after answering
        await httpwire.close(writer)
        await server.close()

    asyncio.run(scenario())


def test_server_closes_a_connection_left_idle():
    async def scenario():
        server = await httpwire.serve_http(echo, idle_timeout=0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await httpwire.ClientConnection(reader, writer).send(httpwire.Request("GET", "/", {"host": "a"}))
        assert await asyncio.wait_for(reader.read(), 2) == b""
        assert server.connections() == 0
        await httpwire.close(writer)
        await server.close()

    asyncio.run(scenario())


def test_garbage_gets_400_and_a_closed_connection():
    async def scenario():
        server = await httpwire.serve_http(echo)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 2)
        assert answer.startswith(b"HTTP/1.1 400")
        await httpwire.close(writer)
        await server.close()

    asyncio.run(scenario())


def test_pool_reuses_one_connection_and_survives_the_server_closing_it():
    async def scenario():
        server = await httpwire.serve_http(echo, idle_timeout=0.2)
        pool = httpwire.ConnectionPool()
        for i in range(50):
            response = await pool.send("127.0.0.1", server.port, httpwire.Request("GET", f"/{i}", {"host": "a"}),
                                       asyncio.open_connection, 5)
            assert response.headers["x-path"] == f"/{i}"
        assert pool.opened == 1
        await _until(lambda: server.connections() == 0, "the server to drop the idle connection")
        # the pool still holds its side; it finds out on next use and sends again on a fresh connection
        response = await pool.send("127.0.0.1", server.port, httpwire.Request("GET", "/after", {"host": "a"}),
                                   asyncio.open_connection, 5)
        assert response.status == 200 and pool.opened == 2
        await pool.close()
        await server.close()

    asyncio.run(scenario())


def test_pool_closes_what_sits_idle():
    async def scenario():
        server = await httpwire.serve_http(echo)
        pool = httpwire.ConnectionPool(idle_timeout=0.1)
        await pool.send("127.0.0.1", server.port, httpwire.Request("GET", "/", {"host": "a"}), asyncio.open_connection, 5)
        assert _connections_to(server.port) == 1
        await _until(lambda: len(pool) == 0 and _connections_to(server.port) == 0, "the pool to close its idle connection")
        await server.close()

    asyncio.run(scenario())


def test_closing_a_server_lets_a_busy_request_finish_within_grace():
    async def scenario():
        server = await httpwire.serve_http(echo)
        started = _slow_started()
        pending = asyncio.ensure_future(httpwire.fetch("127.0.0.1", server.port, httpwire.Request("GET", "/slow"), 5))
        await asyncio.wait_for(started.wait(), 2)
        async with asyncio.timeout(20):  # the grace is 60 s: close returns when the busy request is answered
            await server.close(grace=60)
        assert (await pending).status == 200
        with pytest.raises(OSError):
            await httpwire.fetch("127.0.0.1", server.port, httpwire.Request("GET", "/"), 1)

    asyncio.run(scenario())


def test_a_pods_loopback_closes_every_connection_when_the_pod_stops_and_then_refuses():
    """A pod's processes hold a keep-alive connection and a busy one to its app when the pod stops: the busy
    request finishes within the grace period, then no socket of either is left, and localhost refuses."""
    def sockets() -> set[str]:
        """This process's open sockets, by inode: a count of all open files would also see those of objects
        an earlier test in this process left to the garbage collector, which may close them at any moment."""
        return labprocess.sockets(os.getpid())

    async def scenario():
        pod = loopback.Loopback({9898: echo})
        before = sockets()
        worker = loopback.KeepAlive(pod, 9898)
        for _ in range(3):
            assert (await worker.send(httpwire.Request("GET", "/"), 2)).headers["x-host"] == "localhost:9898"
        started = _slow_started()
        busy = asyncio.ensure_future(pod.fetch(9898, httpwire.Request("GET", "/slow"), 5))
        await asyncio.wait_for(started.wait(), 2)
        opened = sockets() - before
        assert len(opened) == 4  # two connections, both ends in this process
        await pod.close(grace=2)
        assert (await busy).status == 200
        await _until(lambda: not opened & sockets(), "every socket of the pod's loopback to be closed")
        with pytest.raises(ConnectionRefusedError):
            await pod.fetch(9898, httpwire.Request("GET", "/"), 1)

    asyncio.run(scenario())


# -- HTTP/2 over mutual TLS ----------------------------------------------------------
@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mtls")
    anchor = pki.create_anchor(TRUST_DOMAIN)
    issuer = pki.create_issuer(anchor, TRUST_DOMAIN)
    made = {}
    for name in ("client", "server"):
        full = f"{name}.ns.serviceaccount.identity.linkerd.{TRUST_DOMAIN}"
        leaf = pki.issue_workload(issuer, full)
        pki.write_public(folder / f"{name}.crt", leaf.cert_pem + issuer.cert_pem)
        pki.write_private(folder / f"{name}.key", leaf.key_pem)
        made[name] = Identity(full, folder / f"{name}.crt", folder / f"{name}.key", anchor.cert_pem)
    return made


async def _mesh_pair(identities, handler):
    servers: list[h2conn.H2Server] = []

    async def on_connection(reader, writer):
        server = h2conn.H2Server(reader, writer, handler)
        servers.append(server)
        await server.serve()

    listener = await tlsserver.start(on_connection, lambda reason: None, identities["server"].server_context(),
                                     HANDSHAKE_TIMEOUT)
    port = listener.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=identities["client"].client_context(),
                                                   server_hostname=identities["server"].name)
    client = await h2conn.H2Client.open(reader, writer)
    return listener, client, servers


async def _slow_request_under_way(identities):
    """A mesh pair with a /slow request that has reached the app: (listener, client, servers, its task)."""
    listener, client, servers = await _mesh_pair(identities, echo)
    started = _slow_started()
    slow = asyncio.ensure_future(client.request(httpwire.Request("GET", "/slow", {}), "svc:80"))
    await asyncio.wait_for(started.wait(), 2)
    return listener, client, servers, slow


def test_concurrent_requests_share_one_connection(identities):
    async def scenario():
        listener, client, servers = await _mesh_pair(identities, echo)
        requests = [client.request(httpwire.Request("GET", f"/{i}", {"host": "svc:80"}), "svc:80") for i in range(200)]
        responses = await asyncio.gather(*requests)
        assert [r.headers["x-path"] for r in responses] == [f"/{i}" for i in range(200)]
        assert {r.headers["x-host"] for r in responses} == {"svc:80"}
        assert len(servers) == 1
        await client.close()
        listener.close()

    asyncio.run(scenario())


def test_bodies_larger_than_the_flow_control_window_arrive_whole(identities):
    body = bytes(range(256)) * 1024  # 256 KiB: four times h2's initial 64 KiB window, both ways

    async def scenario():
        listener, client, _ = await _mesh_pair(identities, echo)
        responses = await asyncio.gather(*(client.request(httpwire.Request("POST", "/", {}, body), "svc:80") for _ in range(3)))
        assert all(r.body == body for r in responses)
        await client.close()
        listener.close()

    asyncio.run(scenario())


def test_a_draining_server_finishes_open_streams_refuses_new_ones_then_closes(identities):
    async def scenario():
        listener, client, servers, slow = await _slow_request_under_way(identities)
        drained = asyncio.ensure_future(servers[0].drain())
        await asyncio.sleep(0)  # one turn of the loop: drain() marks the server draining at its first step
        assert servers[0].draining
        with pytest.raises(h2conn.StreamFailed) as refused:
            await client.request(httpwire.Request("GET", "/late", {}), "svc:80")
        assert refused.value.refused, "a refused stream must say it was never processed, so it can go elsewhere"
        assert not client.usable()
        assert (await slow).status == 200
        await asyncio.wait_for(drained, 2)
        await _until(lambda: client.closed, "the client to see the GOAWAY and close")
        listener.close()

    asyncio.run(scenario())


def test_requests_in_flight_fail_promptly_when_the_peer_vanishes(identities):
    async def scenario():
        listener, client, servers, slow = await _slow_request_under_way(identities)
        servers[0].abort()
        with pytest.raises(h2conn.StreamFailed) as failed:
            await asyncio.wait_for(slow, 2)
        assert not failed.value.refused  # it may have been processed: only an idempotent request is sent again
        assert client.closed
        listener.close()

    asyncio.run(scenario())


def test_a_client_the_server_does_not_trust_fails_at_open(identities, tmp_path):
    stranger_anchor = pki.create_anchor(TRUST_DOMAIN)
    stranger = pki.issue_workload(pki.create_issuer(stranger_anchor, TRUST_DOMAIN), identities["client"].name)
    pki.write_public(tmp_path / "s.crt", stranger.cert_pem)
    pki.write_private(tmp_path / "s.key", stranger.key_pem)
    impostor = Identity(identities["client"].name, tmp_path / "s.crt", tmp_path / "s.key", identities["server"].roots_pem)

    async def scenario():
        listener = await tlsserver.start(lambda r, w: h2conn.H2Server(r, w, echo).serve(), lambda reason: None,
                                         identities["server"].server_context(), HANDSHAKE_TIMEOUT)
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=impostor.client_context(),
                                                       server_hostname=identities["server"].name)
        with pytest.raises((ConnectionError, OSError)):  # the TLS alert arrives on the first read
            await asyncio.wait_for(h2conn.H2Client.open(reader, writer), 2)
        await httpwire.close(writer)
        listener.close()

    asyncio.run(scenario())


def test_nothing_listens_after_close(identities):
    async def scenario():
        server = await httpwire.serve_http(echo)
        port = server.port
        await server.close()
        return port

    port = asyncio.run(scenario())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


# -- why a handshake was refused: what a gateway's refusals and a proxy's errors say -----------------
def _outsiders(identities, tmp_path):
    """A client from a foreign anchor with the client's name, a client with no certificate, and the
    client's own credentials trusting only a foreign anchor."""
    foreign = pki.create_anchor(TRUST_DOMAIN)
    leaf = pki.issue_workload(pki.create_issuer(foreign, TRUST_DOMAIN), identities["client"].name)
    pki.write_public(tmp_path / "f.crt", leaf.cert_pem)
    pki.write_private(tmp_path / "f.key", leaf.key_pem)
    stranger = Identity(identities["client"].name, tmp_path / "f.crt", tmp_path / "f.key", identities["server"].roots_pem)
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(cadata=identities["server"].roots_pem)
    distrustful = Identity(identities["client"].name, identities["client"].chain_file, identities["client"].key_file,
                           foreign.cert_pem)
    return stranger, anonymous, distrustful


async def _handshake(port: int, ctx: ssl.SSLContext, hostname: str):
    """None when the server accepted the client; else the client's error."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=hostname)
        await asyncio.wait_for(reader.read(1), 2)  # TLS 1.3: a refused client certificate arrives as an alert here
        await httpwire.close(writer)
        return None
    except (ssl.SSLError, ConnectionError) as exc:
        return exc


def test_the_server_names_why_it_refused_each_client_and_knows_who_it_accepted(identities, tmp_path):
    stranger, anonymous, _ = _outsiders(identities, tmp_path)
    server_name = identities["server"].name
    too_old = identities["client"].client_context()
    too_old.minimum_version = too_old.maximum_version = ssl.TLSVersion.TLSv1_2

    async def scenario():
        refused, accepted = [], []

        async def on_connection(reader, writer):
            accepted.append(peer_identity(writer.get_extra_info("peercert")))
            await httpwire.close(writer)

        listener = await tlsserver.start(on_connection, refused.append, identities["server"].server_context(),
                                         HANDSHAKE_TIMEOUT)
        port = listener.sockets[0].getsockname()[1]
        assert await _handshake(port, identities["client"].client_context(), server_name) is None
        await _until(lambda: accepted, "the accepted connection")
        assert accepted == [identities["client"].name]  # the client's identity, as the proxy's metrics label it
        for ctx in (anonymous, stranger.client_context(), too_old):
            assert await _handshake(port, ctx, server_name) is not None
        await _until(lambda: len(refused) == 3, "three refusals")
        # plain HTTP, a record longer than TLS allows, application data before any handshake
        for garbage in (b"GET / HTTP/1.1\r\nhost: gateway\r\n\r\n", b"\x16\x03\x01\xff\xff" + bytes(20),
                        b"\x17\x03\x03\x00\x05hello"):
            expected = len(refused) + 1
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(garbage)
            await _until(lambda: len(refused) == expected, "the refusal")
            writer.close()
        listener.close()
        return refused

    assert asyncio.run(scenario()) == ["no client certificate", "unknown authority", "unsupported protocol",
                                        "not TLS (plaintext)", "not TLS (plaintext)", "not TLS (plaintext)"]


def test_a_server_that_does_not_require_a_client_certificate_accepts_an_anonymous_client(identities, tmp_path):
    _, anonymous, _ = _outsiders(identities, tmp_path)

    async def scenario():
        accepted = []

        async def on_connection(reader, writer):
            accepted.append(peer_identity(writer.get_extra_info("peercert")))
            await httpwire.close(writer)

        listener = await tlsserver.start(on_connection, lambda reason: None,
                                         identities["server"].server_context(require_client_cert=False), HANDSHAKE_TIMEOUT)
        port = listener.sockets[0].getsockname()[1]
        assert await _handshake(port, anonymous, identities["server"].name) is None
        await _until(lambda: accepted, "the accepted connection")
        listener.close()
        return accepted

    assert asyncio.run(scenario()) == [None]  # no certificate: no identity (the proxy's metrics say client_id "-")


def test_a_client_names_why_it_refused_the_server(identities, tmp_path):
    """The other side: a proxy dialing a peer that names another identity, or chains to an anchor it does
    not trust, or is not TLS at all, says so (the proxy's `l5d-proxy-error` carries these words)."""
    _, _, distrustful = _outsiders(identities, tmp_path)
    server = identities["server"]
    # the same server sending its whole chain up to its (self-signed) anchor: OpenSSL then fails with
    # "self-signed certificate in certificate chain" rather than "unable to get local issuer certificate"
    (tmp_path / "whole.crt").write_text(server.chain_file.read_text() + server.roots_pem)
    whole_chain = Identity(server.name, tmp_path / "whole.crt", server.key_file, server.roots_pem)

    async def scenario():
        reasons = []
        for presented in (server, whole_chain):
            listener = await tlsserver.start(lambda r, w: httpwire.close(w), lambda reason: None,
                                             presented.server_context(), HANDSHAKE_TIMEOUT)
            port = listener.sockets[0].getsockname()[1]
            other = "other.ns.serviceaccount.identity.linkerd." + TRUST_DOMAIN
            reasons += [refusal_reason(await _handshake(port, identities["client"].client_context(), other)),
                        refusal_reason(await _handshake(port, distrustful.client_context(), server.name))]
            listener.close()
        plain = await httpwire.serve_http(echo)
        reasons.append(refusal_reason(await _handshake(plain.port, identities["client"].client_context(),
                                                       identities["server"].name)))
        await plain.close()
        return reasons

    assert asyncio.run(scenario()) == ["identity mismatch", "unknown authority", "identity mismatch", "unknown authority",
                                        "not TLS (plaintext)"]
    assert refusal_reason(ConnectionResetError()) == "connectionreseterror"  # no TLS reason: the error's kind


def test_a_certificate_outside_its_validity_period_is_named_as_such_on_both_sides(tmp_path):
    """Expired, or valid only from tomorrow (a clock behind the issuer's), is not "unknown authority":
    the fix is a rotation or a clock, not a trust anchor."""
    anchor = pki.create_anchor(TRUST_DOMAIN)
    issuer = pki.create_issuer(anchor, TRUST_DOMAIN)
    names = {who: f"{who}.ns.serviceaccount.identity.linkerd.{TRUST_DOMAIN}" for who in ("client", "server")}
    leaves = {"client": pki.issue_workload(issuer, names["client"]), "server": pki.issue_workload(issuer, names["server"]),
              "expired-client": pki.issue_workload(issuer, names["client"], lifetime=-datetime.timedelta(minutes=1)),
              "early-client": tls_certs.not_yet_valid(issuer, names["client"]),
              "expired-server": pki.issue_workload(issuer, names["server"], lifetime=-datetime.timedelta(minutes=1))}
    made = {}
    for who, leaf in leaves.items():
        pki.write_public(tmp_path / f"{who}.crt", leaf.cert_pem + issuer.cert_pem)
        pki.write_private(tmp_path / f"{who}.key", leaf.key_pem)
        made[who] = Identity(names[who.split("-")[-1]], tmp_path / f"{who}.crt", tmp_path / f"{who}.key", anchor.cert_pem)

    async def scenario():
        refused, told = [], []
        for server in ("server", "expired-server"):
            listener = await tlsserver.start(lambda r, w: httpwire.close(w), refused.append, made[server].server_context(),
                                             HANDSHAKE_TIMEOUT)
            port = listener.sockets[0].getsockname()[1]
            clients = ("expired-client", "early-client") if server == "server" else ("client",)
            told += [refusal_reason(await _handshake(port, made[c].client_context(), names["server"])) for c in clients]
            await _until(lambda: len(refused) == 2, "the server's refusals")
            listener.close()
        return refused, told

    refused, told = asyncio.run(scenario())
    # the server's words for its refusals (then the expired server's: asyncio's client closes without its alert)
    assert refused[:2] == ["certificate expired", "certificate not yet valid"]
    # what the clients make of it: the expired one hears certificate_expired, the early one only bad_certificate,
    # and a client dialing a server with an expired certificate refuses it as expired
    assert told == ["certificate expired", "sslv3 alert bad certificate", "certificate expired"]
