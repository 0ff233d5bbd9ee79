"""The sim's Linkerd proxy: outbound for the pod's apps, inbound (mTLS, and plaintext on the app ports), admin.

Ports as on a real meshed pod: inbound 4143 (mutual TLS), admin 4191 (`/ready`, `/metrics`).

A pod's identity is its own. On a real pod only the pod's own processes share its network namespace, so only
they are redirected into the proxy's outbound side and handed its mesh identity. Here every process of a pod
(its apps, what `kubectl exec` runs in it, a load generator run in it) is a coroutine of the lab process, so
the outbound side is a method, `outbound`, and not a socket: there is nothing on the machine another process
could connect to, so nothing to refuse. This was chosen over a Unix socket in a 0700 directory with an
SO_PEERCRED check (which the same user could still reach, and which costs a connect, an accept and an
HTTP/1.1 parse per request) because it removes the door instead of guarding it, and costs the data path
nothing. Likewise a meshed pod's apps do not listen: the proxy calls them in process, and each app port is
served by the proxy (what iptables redirects to the inbound side on a real pod) as plaintext inbound, under
the mesh's policy for an unauthenticated client, as linkerd2-proxy serves connections without TLS
(policy.py: the cluster's default allows them; a Server with only mTLS authorizations refuses them, 403).

Between proxies the wire is Linkerd's: mutual TLS, the transport header
(transport_header.py) naming the target port (and, for a gateway, the
service's name), then HTTP/2 carrying the apps' HTTP/1.1 requests (h2conn.py).
Connections are pooled (wire/h2pool.py), one per peer endpoint and target, reused by every
request until the peer goes, refuses new streams, or they sit idle for
MESH_IDLE_TIMEOUT. A proxy in gateway mode (`config.linkerd.io/enable-gateway`,
as on the multicluster gateway) accepts a service name of its own cluster in
the header and forwards each request to it through its own pools, again over mTLS.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import random
import ssl
import time
from typing import Callable

from ...names import PROXY_ADMIN_PORT as ADMIN_PORT, PROXY_INBOUND_PORT as INBOUND_PORT
from ..wire import h2conn, httpwire, tlsserver, transport_header
from ..wire.h2pool import H2Pool
from ..wire.tls import Identity, peer_identity, refusal_reason
from . import controlplane, policy
from .cluster import Cluster
from .proxy_metrics import ProxyMetrics, target_labels, tcp_error, tls_labels
from .routes import DialError, NoEndpoints, Route

DIAL_TIMEOUT = 3.0
REQUEST_TIMEOUT = 30.0  # a request the next hop does not answer in this time fails with 504
MESH_IDLE_TIMEOUT = 10.0  # a pooled connection to a peer proxy unused this long is closed
# How long a request waits for its service to have an endpoint it can connect to before the service is in
# fail-fast: 3 s in both profiles' proxies (linkerd/app/src/env.rs: DEFAULT_OUTBOUND_HTTP_FAILFAST_TIMEOUT at
# v2.366.0, which edge-26.8.3 ships; DEFAULT_OUTBOUND_DISPATCH_TIMEOUT at v2.100.0, stable-2.8.1's)
FAILFAST_TIMEOUT = 3.0
CONNECT_BACKOFF_JITTER = 0.1  # DEFAULT_OUTBOUND_CONNECT_BACKOFF's jitter at both versions; min and max are per profile


class ConnectFailed(DialError):
    """No connection to the endpoint (refused, unroutable, timed out, TLS refused): the proxy's reconnect layer
    backs off and tries again (linkerd/reconnect), and the balancer sends elsewhere or waits; the request
    itself does not fail with this."""


def _client_tls(client_id: str) -> str:
    """The client's TLS as the proxy's logs print it: Debug of tls::ConditionalServerTls (linkerd/tls/src/server.rs,
    linkerd/conditional, linkerd/identity Id::Dns, linkerd/tls/src/lib.rs NegotiatedProtocol at v2.366.0)."""
    if client_id == "":
        return "None(NoClientHello)"
    identity = "None" if client_id == "-" else f'Some(ClientId(Dns(Name("{client_id}"))))'
    return f'Some(Established {{ client_id: {identity}, negotiated_protocol: Some("{transport_header.ALPN}") }})'


def proxy_error(status: int, message: str, emit_headers: bool = True) -> httpwire.Response:
    """A response the proxy makes up, as linkerd2-proxy v2.366.0 makes one (app/core/src/errors/respond.rs,
    SyntheticHttpResponse::http_response): no body; why in `l5d-proxy-error` where headers are emitted; and after
    an error that ends the connection (every 5xx it makes: bad_gateway, gateway_timeout, unavailable,
    loop_detected, internal_error; not permission_denied's 403) `connection: close` for an HTTP/1.1 client and
    `l5d-proxy-connection: close` for a peer proxy. (`connection` is hop-by-hop: an HTTP/2 hop between proxies
    drops it, as the real one sets it only for HTTP/1.1. The pod's own processes see it; the lab's HTTP/1.1
    server, for clients outside the mesh, does not yet close after it.)"""
    headers = {"content-length": "0"}
    if emit_headers:
        headers["l5d-proxy-error"] = message
    if status >= 500:
        headers["connection"] = "close"
        if emit_headers:
            headers["l5d-proxy-connection"] = "close"
    return httpwire.Response(status, headers, b"")


class Proxy:
    def __init__(self, cluster: Cluster, pod_name: str, pod_ip: str, identity: Identity,
                 apps: dict[int, Callable], gateway_mode: bool, require_identity: bool = False,
                 log: Callable[[str], None] = lambda line: None, namespace: str = ""):
        self.cluster = cluster
        self.pod_name = pod_name
        self.namespace = namespace
        self.pod_ip = pod_ip
        self.identity = identity
        self.apps = apps  # the pod's ports -> its apps' handlers, called in process
        self.gateway_mode = gateway_mode
        self.stats = ProxyMetrics()
        # `config.linkerd.io/proxy-require-identity-inbound-ports` naming 4143. Never checked at the handshake:
        # both proxies take a client without a certificate (v2.100.0 identity/src/lib.rs
        # AllowAnyAnonymousOrAuthenticatedClient, v2.366.0 meshtls creds/store.rs allow_unauthenticated), then
        # drop its connection where identity is required (_on_inbound)
        self.require_identity = require_identity
        self._server_ctx = identity.server_context(require_client_cert=False)
        self._server_ctx.set_alpn_protocols([transport_header.ALPN])
        self._client_ctx = identity.client_context()
        self._client_ctx.set_alpn_protocols([transport_header.ALPN])
        self.mesh = H2Pool(self._connect, MESH_IDLE_TIMEOUT)
        self.local = httpwire.ConnectionPool()  # to unmeshed endpoints
        self._inbound: set[h2conn.H2Server] = set()
        self._listener: asyncio.base_events.Server | None = None
        self._http_servers: list[httpwire.HTTPServer] = []
        self.log = log  # what `kubectl logs -c linkerd-proxy` shows
        self._started = time.monotonic()
        self._failfast: set[str] = set()  # the services in fail-fast: requests to them fail at once
        # per service, its endpoints' reconnect state: (address, port) -> (failures, next connect attempt)
        self._backoff: dict[str, dict[tuple[str, int], tuple[int, float]]] = {}
        # per service, the balancer's turn among its reachable endpoints
        self._balance: collections.defaultdict[str, itertools.count] = collections.defaultdict(itertools.count)
        self._profile_cache = None

    async def start(self) -> dict[int, int]:
        """Listen; return pod port -> real loopback port for inbound, admin and the apps' ports (plaintext
        inbound). The outbound side does not listen: see `outbound`."""
        self._listener = await tlsserver.start(self._on_inbound, self._on_refused, self._server_ctx, DIAL_TIMEOUT,
                                               server_name=self.identity.name)
        admin = await httpwire.serve_http(self._on_admin)
        plaintext = {port: await httpwire.serve_http(lambda request, port=port: self._on_plaintext(port, request))
                     for port in self.apps}
        self._http_servers = [admin, *plaintext.values()]
        # The real proxy's first lines (linkerd2-proxy `linkerd2_proxy` target), with the pod's ports.
        self._started = time.monotonic()
        for line in (f"Admin interface on 0.0.0.0:{ADMIN_PORT}", f"Inbound interface on 0.0.0.0:{INBOUND_PORT}",
                     "Outbound interface on 127.0.0.1:4140", f"Local identity is {self.identity.name}"):
            self._log("linkerd2_proxy", line)
        return {INBOUND_PORT: self._listener.sockets[0].getsockname()[1], ADMIN_PORT: admin.port,
                **{port: server.port for port, server in plaintext.items()}}

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening; give open requests `grace` seconds, then cut every connection, as a killed
        pod does. Peers are told at once (new streams refused), so they move on to other endpoints."""
        if self._listener is not None:
            self._listener.close()
        drains = [asyncio.ensure_future(server.drain()) for server in list(self._inbound)]
        stops = [asyncio.ensure_future(server.close(grace)) for server in self._http_servers]
        if drains and grace > 0:
            await asyncio.wait(drains, timeout=grace)
        for server in list(self._inbound):
            server.abort()
        for task in drains:
            task.cancel()
        await asyncio.gather(*stops, return_exceptions=True)
        await self.mesh.close()
        await self.local.close()

    # -- admin -------------------------------------------------------------
    async def _on_admin(self, request: httpwire.Request) -> httpwire.Response:
        if request.path in ("/ready", "/live"):
            return httpwire.text_response(200, "ready\n")
        if request.path == "/metrics":
            return httpwire.text_response(200, self.metrics())
        return httpwire.text_response(404, "not found\n")

    def metrics(self) -> str:
        return self.stats.render()

    # -- inbound: mTLS, identity required ----------------------------------
    def _on_refused(self, reason: str) -> None:
        """A dropped inbound connection, counted as v2.366.0 counts it (v2.100.0 counts nothing), not logged:
        the real proxy says "Connection closed" about it at DEBUG only (linkerd/app/core/src/serve.rs)."""
        if self.profile.proxy_authz_metrics:
            self.stats.inc("inbound_tcp_errors_total", error=tcp_error(reason),
                           **target_labels(self.pod_ip, INBOUND_PORT))

    def _log(self, target: str, message: str, level: str = "INFO") -> None:
        """In the proxy's own format: `[  seconds since start]  LEVEL ThreadId(..) target: message`."""
        self.log(f"[{time.monotonic() - self._started:10.6f}s] {level:>5} ThreadId(01) {target}: {message}")

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One mTLS connection from a peer proxy: its transport header, then HTTP/2 streams."""
        client_id = peer_identity(writer.get_extra_info("peercert")) or "-"
        # Without an identity the connection is dropped after its handshake: v2.366.0 drops every direct one
        # ("direct connections must be mutually authenticated", inbound/src/direct.rs RefusedNoIdentity);
        # v2.100.0 those to a port that requires identity (inbound/src/require_identity_for_ports.rs)
        if client_id == "-" and (self.require_identity or self.profile.policy):
            self._on_refused("no client certificate")
            await httpwire.close(writer)
            return
        try:
            header = await asyncio.wait_for(transport_header.read(reader), DIAL_TIMEOUT)
        except (transport_header.HeaderError, asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError) as exc:
            tls = writer.get_extra_info("ssl_object")
            alpn = tls.selected_alpn_protocol() if tls is not None else None
            self._on_refused(f"no transport header ({type(exc).__name__}" + (")" if alpn == transport_header.ALPN else
                                                                              ", without the transport ALPN)"))
            await httpwire.close(writer)
            return
        if header.name and not self.gateway_mode:
            self._on_refused("gateway name sent to a proxy that is not a gateway")
            await httpwire.close(writer)
            return
        labels = self._connection_labels(client_id, INBOUND_PORT if header.name else header.port)
        server = h2conn.H2Server(reader, writer, lambda request: self._serve_inbound(request, client_id, header))
        self._inbound.add(server)
        self.stats.connection_opened(**labels)
        try:
            await server.serve()
        finally:
            self._inbound.discard(server)
            self.stats.connection_closed(**labels)

    def _connection_labels(self, client_id: str, port: int) -> dict[str, str]:
        """An accepted mTLS connection's transport labels. v2.366.0 (app/core/src/transport/labels.rs, direct.rs
        Param<transport::labels::Key>): the target (the gateway's own port, or the local port the header names),
        the client's identity and the server whose policy the port follows; v2.100.0 (labels.rs at that tag): only
        direction, peer and tls."""
        labels = {"direction": "inbound", "peer": "src"}
        if not self.profile.proxy_authz_metrics:
            return {**labels, "tls": "true"}
        pod = self.cluster.store.view("Pod", self.namespace, self.pod_name)
        server = policy.decide(self.cluster.store, pod, port, client_id, self.cluster.spec["domain"]).server if pod else None
        return {**labels, **target_labels(self.pod_ip, port), "tls": "true", "client_id": client_id,
                **(server.labels(port) if server else {})}

    async def _serve_inbound(self, request: httpwire.Request, client_id: str,
                             header: transport_header.TransportHeader) -> httpwire.Response:
        request.headers.pop(h2conn.ORIG_PROTO, None)  # downgraded back to HTTP/1.1 for the app
        if header.name:  # gateway: on to the named service, as linkerd/app/gateway does
            return await self._gateway(request, client_id, header)
        labels = {"direction": "inbound", "authority": request.headers.get("host", ""), "tls": "true", "client_id": client_id}
        return await self._authorized(header.port, request, client_id, labels)

    async def _gateway(self, request: httpwire.Request, client_id: str,
                       header: transport_header.TransportHeader) -> httpwire.Response:
        """A request for a local service from another cluster's proxy, authorized under the gateway's policy for
        its inbound port (v2.366.0 gateway/src/http.rs authorize_http), then forwarded. It is counted outbound
        only: no inbound request_total for a gateway's requests at either version (v2.366.0 adds it in
        inbound/src/http/router.rs, which is not on the gateway's stack, and for its admin server; v2.100.0
        reaches the gateway as the loop-prevention fallback, inbound/src/lib.rs, before those metrics)."""
        refused = self._authorize(INBOUND_PORT, client_id)
        if refused is not None:
            return refused
        target = f"{header.name}:{header.port}"
        # linkerd/app/gateway/src/http/gateway.rs (v2.366.0): a request from the gateway itself, or one whose
        # `forwarded` says it passed this gateway already, is a GatewayLoop, answered 508 (loop_detected)
        passed = [part.strip()[3:] for entry in request.headers.get("forwarded", "").split(",")
                  for part in entry.split(";") if part.strip().startswith("by=")]
        if client_id == self.identity.name or self.identity.name in passed:
            return self._error(508, "gateway loop detected")
        request.headers["host"] = target
        forwarded = f"by={self.identity.name};for={client_id};host={target};proto=https"
        request.headers["forwarded"] = ", ".join(filter(None, [request.headers.get("forwarded"), forwarded]))
        return await self.forward(target, lambda: self.cluster.routes(target), request)

    async def _on_plaintext(self, port: int, request: httpwire.Request) -> httpwire.Response:
        """A connection to an app port without TLS (an unmeshed client, the host): served as the real proxy
        serves one, under the policy for an unauthenticated client."""
        labels = {"direction": "inbound", "authority": request.headers.get("host", ""), "tls": "no_identity",
                  "no_tls_reason": "no_tls_from_remote"}
        return await self._authorized(port, request, "", labels)

    async def _authorized(self, port: int, request: httpwire.Request, client_id: str, labels: dict[str, str]) -> httpwire.Response:
        """The app's answer, if the mesh's policy lets `client_id` ("": no TLS, "-": TLS without an identity)
        reach `port`; else 403. Only a request the policy lets through is counted in request_total and
        response_total (`labels`): v2.366.0 authorizes before its endpoint metrics (inbound/src/http/router.rs)."""
        refused = self._authorize(port, client_id)
        if refused is not None:
            return refused
        self.stats.inc("request_total", **labels)
        response = await self._to_app(port, request, emit_headers=client_id not in ("", "-"))
        self.stats.response(response.status, **labels)
        return response

    def _authorize(self, port: int, client_id: str) -> httpwire.Response | None:
        """None when the policy lets `client_id` reach `port`, else the 403. Counted in
        inbound_http_authz_allow_total / _deny_total where the proxy has them (v2.366.0 inbound/src/policy/http.rs,
        labels as metrics/authz.rs formats them). linkerd2-proxy v2.366.0 says why in headers to meshed peers only
        (linkerd/app/inbound/src/http/server.rs ServerRescue: "Only emit informational headers to meshed peers")."""
        if not self.profile.policy:  # before Linkerd 2.11 a proxy authorizes nothing: every client is served
            return None
        pod = self.cluster.store.view("Pod", self.namespace, self.pod_name)
        if pod is None:
            return None
        # The client's address is not passed: the connection's peer is a loopback socket, not the simulated
        # source (which SNAT decides on a real cluster); policy.network_holds then admits whole-family networks only
        decision = policy.decide(self.cluster.store, pod, port, client_id, self.cluster.spec["domain"], client_ip=None)
        if self.profile.proxy_authz_metrics:
            self.stats.inc("inbound_http_authz_allow_total" if decision.allowed else "inbound_http_authz_deny_total",
                           **target_labels(self.pod_ip, port), **decision.labels(port), **tls_labels(client_id))
        if decision.allowed:
            return None
        refused = decision.server
        # linkerd/app/inbound/src/policy/http.rs (v2.366.0): "Request denied" at INFO with the Server's and
        # the route's refs (a Server without routes has the policy controller's default route "default":
        # policy-controller/k8s/index/src/inbound/index.rs at edge-26.8.3) and the client's TLS, then
        # HttpRouteUnauthorized, answered 403 (app/core/src/errors/respond.rs permission_denied)
        self._log("linkerd_app_inbound::policy::http",
                  f"Request denied server.group={refused.group} server.kind={refused.kind} server.name={refused.name} "
                  f"route.group= route.kind=default route.name=default client.tls={_client_tls(client_id)}")
        return self._error(403, "unauthorized request on route", emit_headers=client_id not in ("", "-"))

    async def _to_app(self, port: int, request: httpwire.Request, emit_headers: bool) -> httpwire.Response:
        """The app's answer, called in process. On a real pod this hop is HTTP/1.1 over the pod's loopback, as
        the pod's own processes' requests to localhost are here (wire/loopback.py); taking it through a
        socketpair too cost the mesh about 30% of its requests/s when measured (2026-12-06, 1,141 -> 803/s),
        which took the bench's ratio mesh / direct under its goal."""
        handler = self.apps.get(port)
        if handler is None:
            return self._error(502, f"connection refused: nothing listens on port {port} in {self.pod_name}",
                               emit_headers=emit_headers)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):  # not wait_for: no task per request
                return await handler(request)
        except asyncio.TimeoutError:
            return self._error(504, f"{self.pod_name} port {port} did not answer in {REQUEST_TIMEOUT:.0f}s",
                               emit_headers=emit_headers)

    # -- outbound: the pod's own processes, in process -----------------------
    async def outbound(self, request: httpwire.Request, timeout: float) -> httpwire.Response:
        """A request from one of this pod's processes, as the iptables redirect hands it to the proxy. Only
        code in the lab process acting as the pod calls this: no socket offers it to anyone else."""
        authority = request.headers.get("host", "")
        async with asyncio.timeout(timeout):  # not wait_for: no task per request
            return await self.forward(authority, lambda: self.cluster.routes(authority), request)

    @property
    def profile(self):
        """The Linkerd the pod's proxy comes from: what its errors look like."""
        if self._profile_cache is None:
            self._profile_cache = controlplane.installed_profile(self.cluster.store) or self.cluster.profile
        return self._profile_cache

    def _error(self, status: int, message: str, emit_headers: bool = True) -> httpwire.Response:
        """A response this proxy makes up. v2.366.0 says why in `l5d-proxy-error` (app/core errors/respond.rs) to
        its own application and to meshed peers (`emit_headers`); v2.100.0 sends the status alone, with an empty
        body (app/core/src/errors.rs). Either way the proxy logs it."""
        self._log("linkerd_app_core::errors::respond", f"Failed to proxy request: {message}", "WARN")
        if self.profile.proxy_error_headers:
            return proxy_error(status, message, emit_headers)
        return httpwire.Response(status, {"content-length": "0"}, b"")

    async def forward(self, service: str, lookup: Callable[[], list[Route]], request: httpwire.Request) -> httpwire.Response:
        """Send `request` for `service` to one of the endpoints `lookup()` finds, as the proxy's balancer does.
        An endpoint it cannot connect to is backed off, not answered with an error, and the balancer sends
        elsewhere; with none it can reach, a request waits for news of the routes (a reconcile pass ended, or a
        destination watch on another cluster heard a change: what the proxy's destination stream would tell
        it) or the end of the earliest backoff, FAILFAST_TIMEOUT in all (failed dials included), then the
        service is in fail-fast and requests fail at once until one connects again (stack/src/failfast.rs).
        A request the peer never took (refused stream, a pooled connection found dead) goes once more."""
        deadline = time.monotonic() + FAILFAST_TIMEOUT
        retried = False
        while True:
            try:
                routes = lookup()
            except NoEndpoints:
                routes = []
                self._backoff.pop(service, None)  # its endpoints left the balancer, and their reconnect state
            except DialError as exc:  # no place to connect to (no such service or pod, or nothing on that port)
                return self._error(502, str(exc))
            now = time.monotonic()
            backoff = self._backoff.get(service, {})
            ready = [r for r in routes if backoff.get((r.address, r.port), (0, now))[1] <= now]
            if ready:
                route = ready[next(self._balance[service]) % len(ready)]
                try:
                    response = await (self._plain(route, request) if route.identity is None else self._mesh(route, request))
                except ConnectFailed as exc:
                    self._backed_off(service, route, exc)
                    if time.monotonic() < deadline:  # a dial can take DIAL_TIMEOUT: each one counts against the wait
                        continue  # the balancer's next choice, if it has one
                    return self._fail_fast(service)
                except DialError as exc:
                    if retried or not exc.retryable:
                        return self._error(502, str(exc))
                    retried = True
                    continue
                self._backoff.get(service, {}).pop((route.address, route.port), None)
                self._failfast.discard(service)
                return response
            if service in self._failfast or now >= deadline:
                return self._fail_fast(service)
            # Nothing awaited since the lookup: no news can come unseen between it and this wait.
            retry_at = min([deadline] + [backoff[(r.address, r.port)][1] for r in routes if (r.address, r.port) in backoff])
            await self.cluster.network.changed(retry_at - now)

    def _fail_fast(self, service: str) -> httpwire.Response:
        """The service is in fail-fast: this request and the next fail at once, until an endpoint connects."""
        self._failfast.add(service)
        # FailFastError: 504 at v2.366.0 (outbound/src/http/server.rs ServerRescue), 503 at v2.100.0
        return self._error(self.profile.failfast_status, f"{service}: service in fail-fast")

    def _backed_off(self, service: str, route: Route, exc: ConnectFailed) -> None:
        """linkerd/reconnect: "Failed to connect", then an exponential backoff before the next attempt."""
        endpoints = self._backoff.setdefault(service, {})
        key = (route.address, route.port)
        failures = endpoints.get(key, (0, 0.0))[0] + 1
        low, high = self.profile.connect_backoff
        delay = min(high, low * 2 ** (failures - 1)) * (1 + CONNECT_BACKOFF_JITTER * random.random())
        endpoints[key] = (failures, time.monotonic() + delay)
        self._log("linkerd_reconnect", f"Failed to connect error={exc}", "WARN")

    async def _plain(self, route: Route, request: httpwire.Request) -> httpwire.Response:
        """An unmeshed endpoint: HTTP/1.1 over plain TCP, pooled."""
        real = self._resolve(route)
        try:
            return await self.local.send(*real, request, _tcp, REQUEST_TIMEOUT)
        except asyncio.TimeoutError:
            raise DialError(f"{route.address}:{route.port} did not answer in {REQUEST_TIMEOUT:.0f}s") from None
        except (httpwire.WireError, ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            raise DialError(f"{route.address}:{route.port} closed the connection ({type(exc).__name__})") from None

    async def _mesh(self, route: Route, request: httpwire.Request) -> httpwire.Response:
        conn, reused = await self.mesh.get(route)
        labels = {"direction": "outbound", "authority": request.headers.get("host", ""), "tls": "true",
                  "server_id": route.identity}
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                response = await conn.request(request, request.headers.get("host", route.authority),
                                              [(h2conn.ORIG_PROTO, "HTTP/1.1")])
        except h2conn.StreamFailed as exc:
            # Refused streams were never processed; on a reused connection a GET that died with it may have
            # met a peer that was already gone (the keep-alive race): both are safe to send again.
            retry = exc.refused or (reused and request.method in httpwire.ConnectionPool.IDEMPOTENT)
            raise DialError(f"{route.identity}: {exc}", retryable=retry) from None
        except asyncio.TimeoutError:
            return self._error(504, f"{route.identity} did not answer in {REQUEST_TIMEOUT:.0f}s")
        self.stats.inc("request_total", **labels)
        self.stats.response(response.status, **labels)
        # A peer proxy's error headers stop here, logged (outbound/src/http/handle_proxy_error_headers.rs)
        remote_error = response.headers.pop("l5d-proxy-error", None)
        # stripped; a balanced service's endpoint does not close the app's connection for it (concrete/balance.rs
        # close_server_connection_on_remote_proxy_error: false)
        response.headers.pop("l5d-proxy-connection", None)
        if remote_error:
            self._log("linkerd_app_outbound::http::handle_proxy_error_headers", f"Remote proxy error error={remote_error}")
        return response

    def _resolve(self, route: Route) -> tuple[str, int]:
        real = self.cluster.network.resolve(route.address, route.port, self.cluster)
        if real is None:
            what = "gateway" if route.via_gateway else "endpoint"
            raise ConnectFailed(f"connection refused: {what} {route.address}:{route.port} has no listener")
        return real

    async def _connect(self, route: Route) -> h2conn.H2Client:
        """mTLS to a meshed peer, the transport header, then HTTP/2; the peer's first frame proves it took us."""
        real = self._resolve(route)
        started = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*real, ssl=self._client_ctx, server_hostname=route.identity), DIAL_TIMEOUT
            )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectFailed(f"TLS verification failed for {route.identity}: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise ConnectFailed(f"TLS handshake with {route.identity} failed: {refusal_reason(exc)}") from None
        except asyncio.TimeoutError:  # before OSError: TimeoutError is one
            raise ConnectFailed(f"timed out after {time.monotonic() - started:.1f}s connecting to {route.address}:{route.port}") from None
        except (ConnectionError, OSError) as exc:
            raise ConnectFailed(f"connection refused: {route.address}:{route.port} ({exc.strerror or exc})") from None
        try:
            writer.write(route.header().encode())
            conn = await asyncio.wait_for(h2conn.H2Client.open(reader, writer), DIAL_TIMEOUT)
        except ssl.SSLError as exc:
            await httpwire.close(writer)
            raise ConnectFailed(f"{route.identity} refused this proxy's identity: {refusal_reason(exc)}") from None
        except (h2conn.StreamFailed, asyncio.TimeoutError, *h2conn.DEAD) as exc:
            await httpwire.close(writer)
            raise ConnectFailed(f"{route.identity} closed the connection ({type(exc).__name__})") from None
        labels = {"direction": "outbound", "peer": "dst", "tls": "true", "server_id": route.identity,
                  "target_addr": f"{route.address}:{route.port}"}
        self.stats.connection_opened(**labels)
        conn.on_close = lambda: self.stats.connection_closed(**labels)
        return conn


async def _tcp(host: str, port: int):
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), DIAL_TIMEOUT)
    except asyncio.TimeoutError:  # before OSError: TimeoutError is one
        raise ConnectFailed(f"timed out connecting to {host}:{port}") from None
    except (ConnectionError, OSError) as exc:
        raise ConnectFailed(f"connection refused: {host}:{port} ({exc.strerror or exc})") from None
