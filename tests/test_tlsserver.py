"""The TLS server that tells refused clients why (lab/sim/wire/tlsserver.py), judged by its peers.

Every client here is Python's ssl module: a blocking SSLSocket, or an SSLObject on memory BIOs where a
test must choose which bytes leave in one send. The server runs on an event loop of its own thread, as
in the lab process. What a user would notice if it broke: a refused client told nothing, a stalled
handshake holding a socket for ever, bytes lost or stuck, a handler crashing on a peer's misbehaviour,
the lab process's memory or file descriptors growing, tracebacks in its log."""
import asyncio
import datetime as dt
import hashlib
import logging
import os
import socket
import ssl
import struct
import threading
import time

import pytest

import tls_certs
from lab.sim.process import labprocess
from lab.sim.wire import tlsserver
from lab.sim.wire.tls import Identity, peer_identity
from lab.trust import pki

TRUST_DOMAIN = "cluster.local"
ALPN = "transport.l5d.io/v1"  # what the lab's proxies negotiate (lab/sim/wire/transport_header.py)
WAIT = 5.0                    # the longest any step may take; a passing test waits far less
HANDSHAKE_TIMEOUT = 3.0


def _name(who: str) -> str:
    return f"{who}.ns.serviceaccount.identity.linkerd.{TRUST_DOMAIN}"


@pytest.fixture(scope="module")
def ids(tmp_path_factory):
    """The server and client identities of one mesh, plus clients the server must refuse."""
    folder = tmp_path_factory.mktemp("tlsserver")
    anchor = pki.create_anchor(TRUST_DOMAIN)
    issuer = pki.create_issuer(anchor, TRUST_DOMAIN)
    foreign = pki.create_issuer(pki.create_anchor(TRUST_DOMAIN), TRUST_DOMAIN)
    leaves = {"server": (pki.issue_workload(issuer, _name("server")), issuer),
              "client": (pki.issue_workload(issuer, _name("client")), issuer),
              # the client's name, but from another mesh's anchor, expired, or valid only from tomorrow
              "stranger": (pki.issue_workload(foreign, _name("client")), foreign),
              "expired": (pki.issue_workload(issuer, _name("client"), lifetime=dt.timedelta(minutes=-1)), issuer),
              "early": (tls_certs.not_yet_valid(issuer, _name("client")), issuer)}
    made = {}
    for who, (leaf, signer) in leaves.items():
        pki.write_public(folder / f"{who}.crt", leaf.cert_pem + signer.cert_pem)
        pki.write_private(folder / f"{who}.key", leaf.key_pem)
        made[who] = Identity(_name("server" if who == "server" else "client"), folder / f"{who}.crt",
                             folder / f"{who}.key", anchor.cert_pem)
    return made


def _server_ctx(ids, require_client_cert=True) -> ssl.SSLContext:
    ctx = ids["server"].server_context(require_client_cert)
    ctx.set_alpn_protocols([ALPN])
    return ctx


def _client_ctx(ids, who="client") -> ssl.SSLContext:
    ctx = ids[who].client_context()
    ctx.set_alpn_protocols([ALPN])
    return ctx


def _anonymous_ctx(ids) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ids["server"].roots_pem)
    return ctx


def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- the server, on its own loop --------------------------------------------------------------------
class _Served:
    """tlsserver.start on an event loop in a thread: its port, what it refused, what its loop reported."""

    def __init__(self, handler, ctx: ssl.SSLContext, timeout: float, server_name: str | None = None):
        self.refused: list[str] = []
        self.loop_errors: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, context: self.loop_errors.append(context))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.listener = self.call(tlsserver.start(handler, self.refused.append, ctx, timeout, server_name))
        self.port = self.listener.sockets[0].getsockname()[1]

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def close(self) -> None:
        async def stop():
            self.listener.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(record.getMessage())


@pytest.fixture
def serve():
    """Start servers; afterwards, their loops must have reported no error and asyncio logged no warning
    (what the lab process's log would show as tracebacks or `socket.send() raised exception.`)."""
    servers: list[_Served] = []
    warned = _Warnings()
    logging.getLogger("asyncio").addHandler(warned)
    yield lambda handler, ctx, timeout=HANDSHAKE_TIMEOUT, server_name=None: \
        servers.append(_Served(handler, ctx, timeout, server_name)) or servers[-1]
    logging.getLogger("asyncio").removeHandler(warned)
    for server in servers:
        server.close()
    assert [e.get("message") for s in servers for e in s.loop_errors] == []
    assert warned.records == []


def _echo(seen: list):
    """Echo until the client's EOF (recorded as "eof"), pass the half-close on if the transport can, then
    close. A lost connection is recorded as "connection lost"; any other exception as itself."""
    async def handler(reader, writer):
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            seen.append("eof")
            if writer.can_write_eof():  # as a relay passes a half-close on
                writer.write_eof()
            writer.close()
        except ConnectionError:
            seen.append("connection lost")
        except Exception as exc:  # what the handler should never meet: the test shows it
            seen.append(exc)
    return handler


# -- the clients --------------------------------------------------------------------------------------
def _tls_client(port: int, ctx: ssl.SSLContext, hostname: str = _name("server")) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return ctx.wrap_socket(sock, server_hostname=hostname, suppress_ragged_eofs=False)


def _read_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"the connection closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def _refusal(port: int, ctx: ssl.SSLContext) -> str:
    """The alert a refused client receives: in TLS 1.3 the server judges the client's certificate after
    the client finished, so the alert arrives on the client's first read."""
    try:
        with _tls_client(port, ctx) as sock:
            sock.recv(1)
    except ssl.SSLError as exc:
        return exc.reason
    return "accepted"


class _WireClient:
    """A TLS client on memory BIOs over a plain socket: the test decides which bytes leave in one send."""

    def __init__(self, port: int, ctx: ssl.SSLContext, hostname: str = _name("server")):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=hostname)

    def client_hello(self) -> bytes:
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    def handshake_but_the_last_flight(self) -> bytes:
        """Run the handshake; return the client's last flight (its certificate and Finished), unsent."""
        self.sock.sendall(self.client_hello())
        while True:
            self._receive()
            try:
                self.tls.do_handshake()
                return self.outgoing.read()
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())

    def seal(self, data: bytes) -> bytes:
        self.tls.write(data)
        return self.outgoing.read()

    def read(self) -> bytes:
        """The next plaintext; b"" when the server closed (with or without close_notify)."""
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                if not self._receive():
                    return b""
            except ssl.SSLZeroReturnError:
                return b""

    def _receive(self) -> bool:
        data = self.sock.recv(65536)
        self.incoming.write(data)
        return bool(data)


def _reset(sock: socket.socket) -> None:
    """Close with an RST, as a crashed or killed client's kernel does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- the tests ----------------------------------------------------------------------------------------------
def test_a_refused_client_is_told_why_by_the_alert_and_the_server_reports_it(ids, serve):
    server = serve(_echo([]), _server_ctx(ids))
    told = {who: _refusal(server.port, ctx) for who, ctx in
            [("anonymous", _anonymous_ctx(ids))] + [(who, _client_ctx(ids, who)) for who in ("stranger", "expired", "early")]}
    assert told == {"anonymous": "TLSV13_ALERT_CERTIFICATE_REQUIRED", "stranger": "TLSV1_ALERT_UNKNOWN_CA",
                    "expired": "SSLV3_ALERT_CERTIFICATE_EXPIRED", "early": "SSLV3_ALERT_BAD_CERTIFICATE"}
    _until(lambda: len(server.refused) == 4, "four refusals")
    assert server.refused == ["no client certificate", "unknown authority", "certificate expired",
                              "certificate not yet valid"]


def test_a_client_is_served_in_order_both_ways_and_the_handler_knows_the_session(ids, serve):
    sessions = []

    async def handler(reader, writer):
        tls = writer.get_extra_info("ssl_object")
        sessions.append((tls.version(), tls.selected_alpn_protocol(), writer.get_extra_info("peername"),
                         peer_identity(writer.get_extra_info("peercert"))))
        await _echo([])(reader, writer)

    server = serve(handler, _server_ctx(ids))
    with _tls_client(server.port, _client_ctx(ids)) as client:
        for size in (1, 100, 16384, 16385, 100_000):  # within, at and across TLS's 16 KiB records
            message = os.urandom(size)
            client.sendall(message)
            assert _read_exactly(client, size) == message
        assert sessions == [("TLSv1.3", ALPN, client.getsockname(), _name("client"))]


def test_bytes_sent_with_the_clients_finished_are_served_without_waiting_for_more(ids, serve):
    """A TLS 1.3 client may send its first request in the same packet as its Finished: the server must
    not leave those bytes unread until the client sends again (it would wait for the answer for ever)."""
    server = serve(_echo([]), _server_ctx(ids))
    client = _WireClient(server.port, _client_ctx(ids))
    client.sock.sendall(client.handshake_but_the_last_flight() + client.seal(b"first request"))
    assert client.read() == b"first request"
    client.sock.close()


def test_a_large_transfer_arrives_whole_both_ways(ids, serve):
    server = serve(_echo([]), _server_ctx(ids))
    body = os.urandom(8 * 1024 * 1024)

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=_client_ctx(ids),
                                                       server_hostname=_name("server"))

        async def send():
            writer.write(body)
            await writer.drain()

        sending = asyncio.ensure_future(send())
        echoed = await asyncio.wait_for(reader.readexactly(len(body)), WAIT)
        await sending
        writer.close()
        return echoed

    assert hashlib.sha256(asyncio.run(client())).digest() == hashlib.sha256(body).digest()


def test_a_handler_writing_faster_than_the_client_reads_is_held_at_drain(ids, serve):
    """Without flow control the lab process would buffer everything a handler writes to a slow reader."""
    chunk, count, buffered = os.urandom(1024 * 1024), 32, []

    async def handler(reader, writer):
        for _ in range(count):
            writer.write(chunk)
            await writer.drain()
            buffered.append(writer.transport.get_write_buffer_size())
        writer.close()

    server = serve(handler, _server_ctx(ids))
    with _tls_client(server.port, _client_ctx(ids)) as client:
        received = hashlib.sha256()
        for _ in range(count):
            received.update(_read_exactly(client, len(chunk)))
    assert received.digest() == hashlib.sha256(chunk * count).digest()
    assert max(buffered) <= 1024 * 1024, f"the server held {max(buffered)} bytes for a slow reader"


def test_a_client_that_closes_with_close_notify_gets_a_clean_close_back(ids, serve):
    seen = []
    server = serve(_echo(seen), _server_ctx(ids))
    client = _tls_client(server.port, _client_ctx(ids))
    client.sendall(b"ping")
    assert _read_exactly(client, 4) == b"ping"
    client.unwrap().close()  # sends close_notify, returns once the server's close_notify arrived
    _until(lambda: seen, "the handler to finish")
    assert seen == ["eof"]


def test_a_client_that_drops_the_connection_is_closed_even_while_the_handler_is_busy(ids, serve):
    """A TCP FIN without close_notify ends the session, as asyncio's own TLS does: the server closes
    its socket at once, and the handler, busy with queued replies, sees it closing and is not hurt."""
    seen, never = [], []

    async def handler(reader, writer):
        try:
            seen.append(await reader.read())  # until the client's EOF
            seen.append(writer.is_closing())
            for _ in range(8):  # replies it had queued: they go nowhere, quietly
                writer.write(b"queued reply")
            never.append(asyncio.Event())
            await never[0].wait()  # e.g. an upstream that never answers
        except Exception as exc:
            seen.append(exc)

    server = serve(handler, _server_ctx(ids))
    client = _tls_client(server.port, _client_ctx(ids))
    client.sendall(b"last words")
    with socket.socket(fileno=os.dup(client.fileno())) as tcp:
        tcp.shutdown(socket.SHUT_WR)  # a FIN, no close_notify
    with pytest.raises(ssl.SSLEOFError):  # the server closed: no reply, no close_notify
        client.recv(100)
    client.close()
    _until(lambda: never, "the handler to be waiting")
    assert seen == [b"last words", True]


def test_a_handler_that_writes_after_closing_is_not_interrupted(ids, serve):
    """As with asyncio's own transports, a write after close() (a late reply) goes nowhere, quietly."""
    seen = []

    async def handler(reader, writer):
        try:
            request = await reader.readexactly(5)
            writer.write(request.upper())
            writer.close()
            writer.write(b"late reply")
            seen.append("done")
        except Exception as exc:
            seen.append(exc)

    server = serve(handler, _server_ctx(ids))
    with _tls_client(server.port, _client_ctx(ids)) as client:
        client.sendall(b"hello")
        assert _read_exactly(client, 5) == b"HELLO"
        assert client.recv(100) == b""  # then the server's close_notify, and nothing late
    _until(lambda: seen, "the handler to finish")
    assert seen == ["done"]


def test_a_peer_that_corrupts_a_record_is_told_bad_record_mac_and_the_handler_sees_the_connection_lost(ids, serve):
    seen = []
    server = serve(_echo(seen), _server_ctx(ids))
    client = _WireClient(server.port, _client_ctx(ids))
    client.sock.sendall(client.handshake_but_the_last_flight())
    forged = b"\x17\x03\x03\x00\x20" + bytes(32)  # an application-data record no key sealed
    client.sock.sendall(client.seal(b"ping") + forged)  # one send: the server reads both at once
    with pytest.raises(ssl.SSLError) as told:
        client.read()
    assert told.value.reason == "SSLV3_ALERT_BAD_RECORD_MAC"
    _until(lambda: seen, "the handler to finish")
    assert seen == ["connection lost"]  # its echo of "ping" was dropped, not an ssl error in its face
    client.sock.close()


def test_a_silent_client_is_cut_off_at_the_handshake_timeout(ids, serve):
    server = serve(_echo([]), _server_ctx(ids), timeout=0.3)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as silent:
        assert silent.recv(100) == b""
    assert time.monotonic() - started >= 0.3
    assert server.refused == ["handshake timeout"]


def test_a_client_leaving_mid_handshake_is_reported_once_and_never_as_a_timeout(ids, serve):
    server = serve(_echo([]), _server_ctx(ids), timeout=0.5)
    closing = _WireClient(server.port, _client_ctx(ids))
    hello = closing.client_hello()
    closing.sock.sendall(hello[:len(hello) // 2])
    closing.sock.shutdown(socket.SHUT_WR)
    assert closing.sock.recv(100) == b""
    closing.sock.close()
    assert server.refused == ["connection closed during handshake"]
    crashing = _WireClient(server.port, _client_ctx(ids))
    crashing.sock.sendall(hello[:len(hello) // 2])
    _reset(crashing.sock)  # gone without a word: nothing to report, and no timeout later either
    # a silent client connected after it: when its timeout has fired, the crashed client's would have too
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as silent:
        assert silent.recv(100) == b""
    assert server.refused == ["connection closed during handshake", "handshake timeout"]


def test_a_server_with_a_name_answers_only_a_client_hello_naming_it(ids, serve):
    """As linkerd2-proxy's TLS detection (linkerd/tls/src/server.rs, release/v2.366.0): another SNI, or none,
    gets no TLS record back at all, and the server reports why; its own name gets the handshake."""
    seen: list = []
    server = serve(_echo(seen), _server_ctx(ids), server_name=_name("server"))
    for sni in (None, _name("stranger")):
        other = _WireClient(server.port, _client_ctx(ids), hostname=sni)
        other.sock.sendall(other.client_hello())
        assert other.sock.recv(100) == b"", f"the server answered a ClientHello naming {sni}"
        other.sock.close()
    _until(lambda: len(server.refused) == 2, "both refusals")
    assert server.refused == [tlsserver.FOREIGN_REASON] * 2
    with _tls_client(server.port, _client_ctx(ids)) as named:
        named.sendall(b"ping")
        assert _read_exactly(named, 4) == b"ping"


def test_a_client_that_leaves_before_saying_anything_is_not_in_a_handshake(ids, serve):
    server = serve(_echo([]), _server_ctx(ids))
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as leaving:
        leaving.shutdown(socket.SHUT_WR)
        assert leaving.recv(100) == b""
    assert server.refused == ["connection closed before a ClientHello"]


def test_servers_listen_side_by_side_each_on_its_own_port(ids, serve):
    first, second = serve(_echo([]), _server_ctx(ids)), serve(_echo([]), _server_ctx(ids))
    assert first.port != second.port
    for server in (first, second):
        with _tls_client(server.port, _client_ctx(ids)) as client:
            client.sendall(b"hi")
            assert _read_exactly(client, 2) == b"hi"


def test_many_connections_leave_no_file_descriptor_behind(ids, serve):
    server = serve(_echo([]), _server_ctx(ids), timeout=1.0)
    before = labprocess.sockets(os.getpid())  # by inode: other objects' sockets may close meanwhile
    for _ in range(20):
        with _tls_client(server.port, _client_ctx(ids)) as served:  # served, then a clean close
            served.sendall(b"x")
            assert _read_exactly(served, 1) == b"x"
            served.unwrap().close()
        assert _refusal(server.port, _anonymous_ctx(ids)) == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        leaving = _WireClient(server.port, _client_ctx(ids))
        leaving.sock.sendall(leaving.client_hello()[:50])
        leaving.sock.close()
        dropped = _tls_client(server.port, _client_ctx(ids))  # served, then gone without close_notify
        dropped.sendall(b"y")
        assert _read_exactly(dropped, 1) == b"y"
        _reset(dropped)
    _until(lambda: labprocess.sockets(os.getpid()) <= before, "the server to close every connection")
    assert len(server.refused) == 40
