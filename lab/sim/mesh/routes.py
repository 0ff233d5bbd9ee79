"""Where a request for an authority goes, as the proxy's destination lookup answers (`Route`), and why it
cannot go (`DialError`, `NoEndpoints`): what the simulated cluster's lookup (lab.sim.world.cluster) gives
a proxy, and the proxy turns into a connection or an error.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..wire import transport_header


class DialError(Exception):
    """A hop could not be made; the text becomes the `l5d-proxy-error` header. `retryable`: the peer
    went away before taking the request (refused, reset, closed), so another try cannot duplicate it."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class NoEndpoints(DialError):
    """The service is known but has no ready endpoint: the proxy's balancer has nothing to send to."""


@dataclass(frozen=True)
class Route:
    """Where a request for an authority goes, as the proxy's destination lookup answers."""

    address: str  # an IP on the lab network (pod IP or LoadBalancer IP)
    port: int
    identity: str | None  # the peer's expected identity; None for an unmeshed endpoint
    authority: str  # the target the peer is asked for: "pod-ip:port", or a gateway's authority override
    via_gateway: bool = False

    def header(self) -> transport_header.TransportHeader:
        host, _, port = self.authority.rpartition(":")
        return transport_header.TransportHeader(int(port), host if self.via_gateway else None, transport_header.HTTP2)
