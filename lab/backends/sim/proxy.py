"""The sim's Linkerd proxy: outbound for the pod's apps, mTLS inbound, admin.

Ports as on a real meshed pod: inbound 4143 (mutual TLS, identity required),
admin 4191 (`/ready`, `/metrics`). The pod's apps reach the outbound side
through a loopback listener, standing in for the iptables redirect.

On a meshed hop the dialing proxy sends `CONNECT <authority>` inside the TLS
session: the sim's stand-in for the original destination that iptables and
the proxy's protocol detection carry on a real cluster. A proxy in gateway
mode (`config.linkerd.io/enable-gateway: "true"`, as on the multicluster
gateway) accepts a service authority of its own cluster and forwards to it
through its own outbound, again over mTLS.
"""
from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import httpwire, tlsserver
from .tls import Identity, peer_identity, refusal_reason

if TYPE_CHECKING:
    from .cluster import SimCluster

INBOUND_PORT = 4143
ADMIN_PORT = 4191
DIAL_TIMEOUT = 3.0


class DialError(Exception):
    """A hop could not be made; the text becomes the `l5d-proxy-error` header. `retryable`: the peer
    went away before taking the request (refused, reset, closed), so another try cannot duplicate it."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Route:
    """Where a request for an authority goes, as the proxy's destination lookup answers."""

    address: str  # an IP on the lab network (pod IP or LoadBalancer IP)
    port: int
    identity: str | None  # the peer's expected identity; None for an unmeshed endpoint
    authority: str  # what to ask the peer for in CONNECT
    via_gateway: bool = False


class Proxy:
    def __init__(self, cluster: "SimCluster", pod_name: str, pod_ip: str, identity: Identity,
                 app_ports: dict[int, int], gateway_mode: bool, require_identity: bool = False):
        self.cluster = cluster
        self.pod_name = pod_name
        self.pod_ip = pod_ip
        self.identity = identity
        self.app_ports = app_ports
        self.gateway_mode = gateway_mode
        self.inbound_opened: collections.Counter[str] = collections.Counter()
        self.outbound_opened: collections.Counter[tuple[str, str]] = collections.Counter()
        self.refused: collections.Counter[str] = collections.Counter()
        self._servers: list[asyncio.base_events.Server] = []
        self._streams: set[asyncio.StreamWriter] = set()
        # `config.linkerd.io/proxy-require-identity-inbound-ports` naming 4143: a client certificate is
        # mandatory there; otherwise TLS clients without one are served as unauthenticated.
        self.require_identity = require_identity
        self._server_ctx = identity.server_context(require_client_cert=require_identity)
        self._client_ctx = identity.client_context()
        self.outbound_port = 0

    async def start(self) -> dict[int, int]:
        """Listen; return pod port -> real loopback port for inbound and admin."""
        inbound = await tlsserver.start(self._on_inbound, self._on_refused, self._server_ctx, DIAL_TIMEOUT)
        admin = await httpwire.serve_http(self._on_admin)
        outbound = await asyncio.start_server(self._on_outbound, "127.0.0.1", 0)
        self._servers = [inbound, admin, outbound]
        self.outbound_port = outbound.sockets[0].getsockname()[1]
        return {INBOUND_PORT: inbound.sockets[0].getsockname()[1], ADMIN_PORT: admin.sockets[0].getsockname()[1]}

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening; give open connections `grace` seconds, then cut them, as a killed pod does."""
        for server in self._servers:
            server.close()
        deadline = time.monotonic() + grace
        while self._streams and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # polling the set of open streams during the grace period
        for writer in list(self._streams):
            writer.transport.abort()
        self._streams.clear()

    # -- admin -------------------------------------------------------------
    async def _on_admin(self, request: httpwire.Request) -> httpwire.Response:
        if request.path in ("/ready", "/live"):
            return httpwire.text_response(200, "ready\n")
        if request.path == "/metrics":
            return httpwire.text_response(200, self.metrics())
        return httpwire.text_response(404, "not found\n")

    def metrics(self) -> str:
        lines = ["# TYPE tcp_open_total counter"]
        for client_id, n in sorted(self.inbound_opened.items()):
            lines.append(f'tcp_open_total{{direction="inbound",tls="true",client_id="{client_id}"}} {n}')
        for (server_id, authority), n in sorted(self.outbound_opened.items()):
            lines.append(f'tcp_open_total{{direction="outbound",tls="true",server_id="{server_id}",authority="{authority}"}} {n}')
        lines.append("# TYPE inbound_tls_refused_total counter")
        for reason, n in sorted(self.refused.items()):
            lines.append(f'inbound_tls_refused_total{{reason="{reason}"}} {n}')
        return "\n".join(lines) + "\n"

    # -- inbound: mTLS, identity required ----------------------------------
    def _on_refused(self, reason: str) -> None:
        self.refused[reason] += 1

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(writer, lambda upstream: self._inbound(reader, writer, upstream))

    async def _inbound(self, reader, writer, upstream: list) -> None:
        client_id = peer_identity(writer.get_extra_info("peercert")) or "-"
        line, _ = await httpwire.read_head(reader)
        method, _, rest = line.partition(" ")
        if method != "CONNECT":
            writer.write(httpwire.text_response(400, "expected CONNECT\n").encode())
            return
        self.inbound_opened[client_id] += 1
        upstream_reader, upstream_writer = await self._open_inbound_target(rest.rsplit(" ", 1)[0])
        upstream.append(upstream_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(httpwire.pipe(reader, upstream_writer), httpwire.pipe(upstream_reader, writer))

    async def _serve(self, writer: asyncio.StreamWriter, session) -> None:
        """Run one connection's `session`: a failed hop answers 502 with `l5d-proxy-error`;
        both streams are tracked (so `stop` can cut them) and closed at the end."""
        self._streams.add(writer)
        upstream: list[asyncio.StreamWriter] = []
        try:
            await session(upstream)
        except DialError as exc:
            writer.write(httpwire.text_response(502, f"{exc}\n", {"l5d-proxy-error": str(exc)}).encode())
            await writer.drain()
        except (httpwire.WireError, ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._streams.discard(writer)
            for other in upstream:
                await httpwire.close(other)
            await httpwire.close(writer)

    async def _open_inbound_target(self, authority: str):
        host, _, port_text = authority.rpartition(":")
        try:
            port = int(port_text)
        except ValueError:
            raise DialError(f"bad authority {authority!r}") from None
        if host in (self.pod_ip, "localhost", "127.0.0.1"):
            real = self.app_ports.get(port)
            if real is None:
                raise DialError(f"connection refused: nothing listens on port {port} in {self.pod_name}")
            return await _tcp("127.0.0.1", real)
        if not self.gateway_mode:
            raise DialError(f"{self.pod_name} is not a gateway; it does not forward to {authority}")
        route = self.cluster.route(authority)
        return await self._dial(route)

    # -- outbound: the pod's apps ------------------------------------------
    async def _on_outbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(writer, lambda upstream: self._outbound(reader, writer, upstream))

    async def _outbound(self, reader, writer, upstream: list) -> None:
        request = await httpwire.read_request(reader)
        upstream_reader, upstream_writer = await self._dial(self.cluster.route(request.headers.get("host", "")))
        upstream.append(upstream_writer)
        upstream_writer.write(request.encode())
        await upstream_writer.drain()
        await httpwire.pipe(upstream_reader, writer)

    async def _dial(self, route: Route):
        """Open a stream to `route`; a peer that went away before taking the request is tried once more
        on a fresh lookup, as the proxy's balancer moves on when an endpoint goes (a pod replaced)."""
        try:
            return await self._dial_once(route)
        except DialError as exc:
            if not exc.retryable:
                raise
            return await self._dial_once(route)

    async def _dial_once(self, route: Route):
        """mTLS + CONNECT to a meshed peer, plain TCP otherwise."""
        real = self.cluster.network.resolve(route.address, route.port)
        if real is None:
            what = "gateway" if route.via_gateway else "endpoint"
            raise DialError(f"connection refused: {what} {route.address}:{route.port} has no listener", retryable=True)
        if route.identity is None:
            return await _tcp(*real)
        started = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*real, ssl=self._client_ctx, server_hostname=route.identity), DIAL_TIMEOUT
            )
        except ssl.SSLCertVerificationError as exc:
            raise DialError(f"TLS verification failed for {route.identity}: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise DialError(f"TLS handshake with {route.identity} failed: {refusal_reason(exc)}") from None
        except asyncio.TimeoutError:  # before OSError: TimeoutError is one
            raise DialError(f"timed out after {time.monotonic() - started:.1f}s connecting to {route.address}:{route.port}") from None
        except (ConnectionError, OSError) as exc:
            raise DialError(f"connection refused: {route.address}:{route.port} ({exc.strerror or exc})", retryable=True) from None
        try:
            writer.write(f"CONNECT {route.authority} HTTP/1.1\r\nhost: {route.authority}\r\n\r\n".encode())
            await writer.drain()
            line, headers = await asyncio.wait_for(httpwire.read_head(reader), DIAL_TIMEOUT)
        except ssl.SSLError as exc:
            await httpwire.close(writer)
            raise DialError(f"{route.identity} refused this proxy's identity: {refusal_reason(exc)}") from None
        except (httpwire.WireError, ConnectionError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            await httpwire.close(writer)
            raise DialError(f"{route.identity} closed the connection ({type(exc).__name__})", retryable=True) from None
        if line.split(" ")[1:2] != ["200"]:
            await httpwire.close(writer)
            raise DialError(headers.get("l5d-proxy-error") or f"{route.identity} answered {line}")
        self.outbound_opened[(route.identity, route.authority)] += 1
        return reader, writer


async def _tcp(host: str, port: int):
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), DIAL_TIMEOUT)
    except asyncio.TimeoutError:  # before OSError: TimeoutError is one
        raise DialError(f"timed out connecting to {host}:{port}") from None
    except (ConnectionError, OSError) as exc:
        raise DialError(f"connection refused: {host}:{port} ({exc.strerror or exc})") from None
