"""The gateway port only talks to clients with a certificate from the shared trust anchor."""
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


def _counted(lab, east, before, error: str, what: str) -> None:
    """The gateway's proxy counts the connection it dropped where it counts any: v2.366.0's
    inbound_tcp_errors_total on its inbound port ("unexpected": no identity, as upstream's
    tests/telemetry/tcp_errors.rs asserts; "i/o": a handshake that failed). stable-2.8.1's proxy leaves a debug
    log line only, so there the client's view is all there is to see."""
    if lab.cfg.profile.proxy_authz_metrics:
        lab.wait_for(lambda: east.gateway_refusals()[error] > before[error], 5,
                     f"the gateway to count {what} (inbound_tcp_errors_total error={error})")
    else:
        assert not east.gateway_refusals(), "stable-2.8.1's proxy counts no dropped connection"


def test_plaintext_tcp_client_is_refused(lab, east):
    before = east.gateway_refusals()
    with _gateway_socket(lab, east) as sock:
        sock.sendall(PROBE)
        answer = _read_all(sock)
    assert b"HTTP/" not in answer, f"the gateway answered a plaintext client: {answer[:80]!r}"
    _counted(lab, east, before, "unexpected", "the plaintext client it dropped")


def test_tls_client_without_certificate_is_refused(lab, east):
    before = east.gateway_refusals()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # this stranger does not care who the gateway is; the gateway must care
    with _gateway_socket(lab, east) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(PROBE)
                answer = tls.recv(4096)  # the handshake goes through; then the proxy closes (RefusedNoIdentity)
                if not answer:
                    raise ConnectionResetError("closed without an answer")
    _counted(lab, east, before, "unexpected", "the client without a certificate it dropped")


def test_client_from_another_trust_anchor_is_refused(lab, east, tmp_path):
    """A well-formed mesh identity is not enough: it must chain to the anchor east trusts."""
    from lab.trust import pki

    foreign_anchor = pki.create_anchor(lab.cfg.trust_domain)
    foreign_issuer = pki.create_issuer(foreign_anchor, lab.cfg.trust_domain)
    impostor = pki.issue_workload(foreign_issuer, lab.identity("client"))
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    pki.write_public(chain, impostor.cert_pem + foreign_issuer.cert_pem)
    pki.write_private(key, impostor.key_pem)

    before = east.gateway_refusals()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(chain, key)
    with _gateway_socket(lab, east) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"CONNECT foobar.mc-demo.svc.cluster.local:9898 HTTP/1.1\r\n\r\n")
                if not tls.recv(4096):
                    raise ConnectionResetError("closed without an answer")
    _counted(lab, east, before, "i/o", "the handshake it refused")
