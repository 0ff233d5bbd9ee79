"""The gateway port only talks to clients with a certificate from the shared trust anchor.

A client that wants a handshake names the gateway's mesh identity in its ClientHello (SNI), as every proxy does:
linkerd2-proxy terminates TLS only for its own name, and closes a connection whose ClientHello names another or
none without answering it (linkerd/tls/src/server.rs at release/v2.366.0; v2.100.0 transport/src/tls/accept.rs)."""
import socket
import ssl

import pytest

PROBE = b"GET / HTTP/1.1\r\nHost: foobar.mc-demo.svc.cluster.local:9898\r\n\r\n"


def _gateway_socket(lab, east):
    address = lab.backend.provider.host_address(east.gateway_address(), 4143)
    assert address is not None, "east's gateway port is not reachable from this machine"
    return socket.create_connection(address, timeout=5)


def _read_all(sock) -> bytes:
    chunks = []
    try:
        while data := sock.recv(4096):
            chunks.append(data)
    except (ConnectionResetError, ssl.SSLError, TimeoutError):
        pass
    return b"".join(chunks)


def test_plaintext_tcp_client_is_refused(lab, east):
    gateway = east.gateway_metrics()
    before = gateway.refusals()
    with _gateway_socket(lab, east) as sock:
        sock.sendall(PROBE)
        answer = _read_all(sock)
    assert b"HTTP/" not in answer, f"the gateway answered a plaintext client: {answer[:80]!r}"
    gateway.expect_refusal_counted(before, "unexpected", "the plaintext client it dropped")


def test_tls_client_without_certificate_is_refused(lab, east):
    gateway = east.gateway_metrics()
    before = gateway.refusals()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # this stranger does not care who the gateway is; the gateway must care
    with _gateway_socket(lab, east) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw, server_hostname=lab.gateway.identity(lab.cfg)) as tls:
                tls.sendall(PROBE)
                answer = tls.recv(4096)  # the handshake goes through; then the proxy closes (RefusedNoIdentity)
                if not answer:
                    raise ConnectionResetError("closed without an answer")
    gateway.expect_refusal_counted(before, "unexpected", "the client without a certificate it dropped")


def test_client_from_another_trust_anchor_is_refused(lab, east, tmp_path):
    """A well-formed mesh identity is not enough: it must chain to the anchor east trusts."""
    from lab.trust import pki

    foreign_anchor = pki.create_anchor(lab.cfg.trust_domain)
    foreign_issuer = pki.create_issuer(foreign_anchor, lab.cfg.trust_domain)
    impostor = pki.issue_workload(foreign_issuer, lab.identity("client"))
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    pki.write_public(chain, impostor.cert_pem + foreign_issuer.cert_pem)
    pki.write_private(key, impostor.key_pem)

    gateway = east.gateway_metrics()
    before = gateway.refusals()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(chain, key)
    with _gateway_socket(lab, east) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw, server_hostname=lab.gateway.identity(lab.cfg)) as tls:
                tls.sendall(b"CONNECT foobar.mc-demo.svc.cluster.local:9898 HTTP/1.1\r\n\r\n")
                if not tls.recv(4096):
                    raise ConnectionResetError("closed without an answer")
    gateway.expect_refusal_counted(before, "i/o", "the handshake it refused")


@pytest.mark.parametrize("sni", [None, "foobar.mc-demo.svc.cluster.local"], ids=["no SNI", "another name"])
def test_a_client_hello_not_naming_the_gateway_gets_no_handshake(lab, east, sni):
    """No TLS record comes back at all: the proxy never starts TLS for a name not its own."""
    gateway = east.gateway_metrics()
    before = gateway.refusals()
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with _gateway_socket(lab, east) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        hello = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
        with pytest.raises(ssl.SSLWantReadError):
            hello.do_handshake()
        raw.sendall(outgoing.read())
        assert _read_all(raw) == b"", "the gateway answered a ClientHello that did not name it"
    gateway.expect_refusal_counted(before, "unexpected", "the connection it closed without a handshake")
