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
        self.inc("tcp_close_total", **labels)
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
