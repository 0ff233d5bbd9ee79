"""Reading the proxies' Prometheus metrics: the evidence of who went through a gateway."""
from __future__ import annotations

import re
from collections import Counter

LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$')
LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match and not line.startswith("#"):
            labels = {m["key"]: m["value"] for m in LABEL.finditer(match["labels"] or "")}
            samples.append((match["name"], labels, float(match["value"])))
    return samples


def _sum_by(text: str, metric: str, by: str, **where: str) -> Counter[str]:
    """`metric`'s samples that carry the label `by` and every label of `where`, summed by the value of `by`."""
    out: Counter[str] = Counter()
    for name, labels, value in parse(text):
        if name == metric and by in labels and all(labels.get(k) == v for k, v in where.items()):
            out[labels[by]] += int(value)
    return out


def inbound_client_ids(text: str) -> Counter[str]:
    """Requests served over mTLS, by the client identity the proxy verified (`request_total`)."""
    return _sum_by(text, "request_total", "client_id", direction="inbound")


def inbound_connections(text: str) -> Counter[str]:
    """Connections accepted over mTLS, by the client identity the proxy verified (`tcp_open_total`)."""
    return _sum_by(text, "tcp_open_total", "client_id", direction="inbound")


def open_connections(text: str) -> int:
    """Connections open right now, both directions (the `tcp_open_connections` gauge)."""
    return sum(int(value) for name, _, value in parse(text) if name == "tcp_open_connections")


def authorized_clients(text: str, port: int) -> Counter[str]:
    """Requests the proxy authorized on its `port`, by the client identity it verified
    (`inbound_http_authz_allow_total`, linkerd2-proxy v2.366.0 linkerd/app/inbound/src/metrics/authz.rs): for a
    gateway, at its inbound port, the requests it let through to local services, by who sent them."""
    return _sum_by(text, "inbound_http_authz_allow_total", "client_id", target_port=str(port))


def outbound_requests(text: str) -> int:
    """Requests the proxy sent on (`request_total` with direction="outbound"): for a gateway, those it forwarded
    to local services, counted so at every proxy version."""
    return sum(int(value) for name, labels, value in parse(text)
               if name == "request_total" and labels.get("direction") == "outbound")


def tcp_errors(text: str, port: int) -> Counter[str]:
    """Connections the proxy dropped on its `port`, by kind of error (`inbound_tcp_errors_total`, linkerd2-proxy
    v2.366.0 linkerd/app/inbound/src/metrics/error.rs): at the inbound port "unexpected" for a client without an
    identity, "i/o" for a handshake that failed, "tls detection timeout" for one that sent nothing."""
    return _sum_by(text, "inbound_tcp_errors_total", "error", target_port=str(port))
