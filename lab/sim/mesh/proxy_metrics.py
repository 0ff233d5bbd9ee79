"""What the sim's proxy counts, rendered as the proxy's Prometheus text on its admin port.

Names and labels as Linkerd's proxy has them: `tcp_open_total`, `tcp_close_total` and the
`tcp_open_connections` gauge per connection (linkerd2-proxy linkerd/transport-metrics/src/lib.rs at
release/v2.366.0), `request_total` and `response_total` per request, inbound ones labelled with the
verified `client_id` (linkerd/app/core/src/metric_labels.rs at release/v2.100.0; stable-2.8.1's
`linkerd edges` reads client_id from response_total, controller/api/public/edges.go). Where the profile's
proxy has them (v2.366.0, not v2.100.0), `inbound_http_authz_allow_total` per authorized request, with the
client's identity (linkerd/app/inbound/src/metrics/authz.rs), and `inbound_tcp_errors_total` per connection
the inbound side drops (linkerd/app/inbound/src/metrics/error.rs): a gateway's forwarded requests are counted
there and outbound, never in inbound `request_total`.
"""
from __future__ import annotations

from collections import Counter

from ..wire.tlsserver import FOREIGN_REASON

Labels = tuple[tuple[str, str], ...]
TYPES = {"tcp_open_total": "counter", "tcp_close_total": "counter", "tcp_open_connections": "gauge",
         "request_total": "counter", "response_total": "counter", "inbound_http_authz_allow_total": "counter",
         "inbound_http_authz_deny_total": "counter", "inbound_tcp_errors_total": "counter"}


class ProxyMetrics:
    def __init__(self) -> None:
        self.values: Counter[tuple[str, Labels]] = Counter()

    def inc(self, name: str, by: int = 1, **labels: str) -> None:
        self.values[(name, tuple(labels.items()))] += by

    def connection_opened(self, **labels: str) -> None:
        self.inc("tcp_open_total", **labels)
        self.inc("tcp_open_connections", **labels)

    def connection_closed(self, **labels: str) -> None:
        self.inc("tcp_close_total", **labels, errno="")  # the close's errno, "" for a clean one (transport-metrics)
        self.inc("tcp_open_connections", -1, **labels)

    def response(self, status: int, **labels: str) -> None:
        self.inc("response_total", **labels, status_code=str(status),
                 classification="success" if status < 500 else "failure")

    def render(self) -> str:
        lines = []
        for metric, kind in TYPES.items():
            samples = sorted((labels, value) for (name, labels), value in self.values.items() if name == metric)
            if not samples:
                continue
            lines.append(f"# TYPE {metric} {kind}")
            for labels, value in samples:
                text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{metric}{{{text}}} {value}")
        return "\n".join(lines) + "\n"


def target_labels(ip: str, port: int) -> dict[str, str]:
    """The inbound target labels: the address the connection was sent to (v2.366.0 app/core/src/transport/labels.rs TargetAddr)."""
    return {"target_addr": f"{ip}:{port}", "target_ip": ip, "target_port": str(port)}


def tls_labels(client_id: str) -> dict[str, str]:
    """The client's TLS as inbound metrics label it (v2.366.0 app/core/src/metrics.rs TlsAccept,
    transport/labels.rs): a verified identity, or no TLS from a plaintext client."""
    if client_id == "":
        return {"tls": "no_identity", "no_tls_reason": "no_tls_from_remote"}
    return {"tls": "true", "client_id": "" if client_id == "-" else client_id}  # TLS without one: client_id="" (labels.rs)


def tcp_error(reason: str) -> str:
    """inbound_tcp_errors_total's `error` for a dropped connection (v2.366.0 linkerd/app/inbound/src/metrics/error.rs
    ErrorKind::mk). "tls detection timeout": nothing came before the detect timeout (tls/src/server.rs). "i/o": a
    handshake with this proxy that failed (an untrusted or expired certificate, a peer gone in the middle), or
    a transport header that never came over the negotiated ALPN (transport-header/src/server.rs).
    "gateway domain invalid": a header naming a service, sent to a proxy that is not a gateway (its allowed
    suffixes are empty: gateway/src/discover.rs). "unexpected", no kind it knows: what the direct stack refuses
    after detecting, a client without an identity (plaintext, a ClientHello for another name or none, TLS
    without a certificate: direct.rs RefusedNoIdentity) or without the transport protocol's ALPN."""
    if reason == "handshake timeout":
        return "tls detection timeout"
    if reason.startswith("gateway name"):
        return "gateway domain invalid"
    if reason.startswith("no transport header") and "ALPN" not in reason:
        return "i/o"
    if reason in ("not TLS (plaintext)", "no client certificate", "connection closed before a ClientHello",
                  FOREIGN_REASON) or reason.startswith("no transport header"):
        return "unexpected"
    return "i/o"
