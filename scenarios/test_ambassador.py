"""The guide's "Leverage Ambassador": exported services move to Ambassador and back.

Ambassador is its own gateway (its own identity, LoadBalancer address and probe); after
the switch, traffic from west is answered by east's foobar through Ambassador, and the
gateway port refuses clients without a mesh identity from the shared anchor, naming why.
"""
import json
import socket
import ssl

import pytest

from lab.model import gateways
from lab.trust import pki


@pytest.fixture(scope="module")
def on_ambassador(lab):
    before = lab.cfg.gateway
    lab.switch_gateway("ambassador")
    try:
        yield lab.gateway
    finally:
        lab.switch_gateway(before)  # leave the lab on the gateway it had


def test_mirror_endpoints_follow_to_ambassador(lab, east, west, on_ambassador):
    assert on_ambassador.gateway_type == "ambassador"
    address = east.gateway_address(on_ambassador)
    assert address and address != east.gateway_address(gateways.LINKERD)
    eps = west.get("Endpoints", lab.cfg.namespace, f"foobar-{east.name}")
    assert {a["ip"] for s in eps["subsets"] for a in s["addresses"]} == {address}
    listed = west.gateway(east.name, on_ambassador)
    assert listed and listed.alive, west.gateways()


def test_request_is_answered_by_foobar_and_recorded_by_ambassador_only(lab, east, west, on_ambassador):
    client_id = lab.identity("client")
    through_ambassador = east.gateway_metrics(on_ambassador).traffic(client_id)
    through_linkerd = east.gateway_metrics(gateways.LINKERD).traffic(client_id)

    result = west.request(lab.mirror_url("foobar", east.name))

    assert result.ok, result.describe()
    assert json.loads(result.body)["message"] == f"foobar in {east.name}"
    assert east.gateway_metrics(on_ambassador).traffic(client_id) == through_ambassador + 1
    assert east.gateway_metrics(gateways.LINKERD).traffic(client_id) == through_linkerd


def _ambassador_port(lab, east, gw):
    address = lab.backend.provider.host_address(east.gateway_address(gw), gateways.GATEWAY_PORT)
    assert address is not None
    return address


def _tls_refusal(address, ctx, identity: str) -> str:
    """Connect with `ctx` naming the gateway's mesh `identity` in the ClientHello (the proxy answers no other),
    send a CONNECT; return the TLS error the client sees, or CLOSED when the handshake went through and the
    connection was closed without an answer (it must be one or the other)."""
    with socket.create_connection(address, timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=identity) as tls:
                tls.sendall(b"CONNECT foobar.mc-demo.svc.cluster.local:9898 HTTP/1.1\r\n\r\n")
                answer = tls.recv(4096)
        except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            return CLOSED
        except ssl.SSLError as exc:
            return str(exc)
    if answer:
        pytest.fail(f"the gateway port served a stranger: {answer[:80]!r}")
    return CLOSED


CLOSED = "closed after the handshake"


def test_plaintext_client_is_refused_at_ambassadors_gateway_port(lab, east, on_ambassador):
    ambassador = east.gateway_metrics(on_ambassador)
    before = ambassador.refusals()
    with socket.create_connection(_ambassador_port(lab, east, on_ambassador), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: foobar\r\n\r\n")
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert b"HTTP/" not in answer
    ambassador.expect_refusal_counted(before, "unexpected", "the plaintext client it dropped")


def test_client_without_certificate_is_refused_after_its_handshake(lab, east, on_ambassador):
    """linkerd2-proxy v2.366.0 takes a TLS client without a certificate (meshtls creds/store.rs
    allow_unauthenticated), then closes a direct connection from it: "direct connections must be mutually
    authenticated" (inbound/src/direct.rs RefusedNoIdentity), whichever ports require identity."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ambassador = east.gateway_metrics(on_ambassador)
    before = ambassador.refusals()
    assert _tls_refusal(_ambassador_port(lab, east, on_ambassador), ctx, on_ambassador.identity(lab.cfg)) == CLOSED
    ambassador.expect_refusal_counted(before, "unexpected", "the client without a certificate it dropped")


def test_client_from_another_anchor_is_refused_as_unknown_authority(lab, east, on_ambassador, tmp_path):
    foreign = pki.create_issuer(pki.create_anchor(lab.cfg.trust_domain), lab.cfg.trust_domain)
    impostor = pki.issue_workload(foreign, lab.identity("client"))
    pki.write_public(tmp_path / "chain.pem", impostor.cert_pem + foreign.cert_pem)
    pki.write_private(tmp_path / "key.pem", impostor.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    ambassador = east.gateway_metrics(on_ambassador)
    before = ambassador.refusals()
    error = _tls_refusal(_ambassador_port(lab, east, on_ambassador), ctx, on_ambassador.identity(lab.cfg))
    assert "UNKNOWN_CA" in error.upper(), error
    ambassador.expect_refusal_counted(before, "i/o", "the handshake it refused")


def test_switching_to_the_same_gateway_again_changes_nothing(lab, on_ambassador):
    again = lab.switch_gateway("ambassador")
    assert again and {r.outcome for r in again} == {"already done"}


def test_switching_back_restores_the_bundled_gateway(lab, east, west, on_ambassador):
    lab.switch_gateway("linkerd")
    try:
        client_id = lab.identity("client")
        before = east.gateway_metrics(gateways.LINKERD).traffic(client_id)
        eps = west.get("Endpoints", lab.cfg.namespace, f"foobar-{east.name}")
        assert {a["ip"] for s in eps["subsets"] for a in s["addresses"]} == {east.gateway_address(gateways.LINKERD)}
        assert west.request(lab.mirror_url("foobar", east.name)).ok
        assert east.gateway_metrics(gateways.LINKERD).traffic(client_id) == before + 1
    finally:
        lab.switch_gateway("ambassador")  # the module's fixture switches back at the end
