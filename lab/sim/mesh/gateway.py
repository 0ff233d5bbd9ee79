"""The gateways the service mirror sends through, and its probe of each: what the mirror reads off a gateway
Service (stable-2.8.1) or a Link (edge-26.8.3) as a `GatewayTarget`, and the `GatewayProbe` that GETs it
every probe period at the URL each version builds (probe_url), as the real probe worker does.
"""
from __future__ import annotations

import asyncio
import logging
import random
import re
import statistics
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

from ... import names
from ...render.readback import ingress_ip
from ..kube.objects import service_with_ip
from ..wire import httpwire
from .cluster import Cluster

log = logging.getLogger("lab.sim.mirror")


@dataclass(frozen=True)
class GatewayTarget:
    """What the mirror reads off a gateway Service's annotations and status."""

    namespace: str
    name: str
    address: str
    port: int
    identity: str
    probe_port: int
    probe_path: str
    probe_period: int
    failure_threshold: int  # consecutive failed probes before the gateway counts as dead
    probe_timeout: float


def gateway_target(svc: dict | None) -> GatewayTarget | None:
    if svc is None:
        return None
    ann = svc["metadata"].get("annotations", {})
    address = ingress_ip(svc)
    ports = {p.get("name"): p["port"] for p in svc["spec"].get("ports", [])}
    if not address or "mc-gateway" not in ports or names.GATEWAY_IDENTITY_ANNOTATION not in ann:
        return None
    path = ann.get(names.PROBE_PATH_ANNOTATION, "/ready")
    return GatewayTarget(
        namespace=svc["metadata"]["namespace"], name=svc["metadata"]["name"], address=address,
        port=ports["mc-gateway"], identity=ann[names.GATEWAY_IDENTITY_ANNOTATION],
        probe_port=ports.get("mc-probe", names.PROXY_ADMIN_PORT), probe_path=path,
        probe_period=int(ann.get(names.PROBE_PERIOD_ANNOTATION, "3")),
        # controller/cmd/service-mirror/probe_worker.go (stable-2.8.1): each failure sets gateway_alive 0, and
        # the probe's client gives up after httpGatewayTimeoutMillis (50000)
        failure_threshold=1, probe_timeout=50.0,
    )


def link_gateway_target(spec: dict, services: list[dict]) -> GatewayTarget | None:
    """The gateway a Link names (address, port, identity, probe), as `link-gen` wrote it; `services` (the
    target's, as the mirror sees them) give it its name."""
    address, probe = spec.get("gatewayAddress"), spec.get("probeSpec", {})
    if not address or not spec.get("gatewayIdentity"):
        return None
    owner = service_with_ip(services, address.split(",")[0])
    return GatewayTarget(
        namespace=owner["metadata"]["namespace"] if owner else "", name=owner["metadata"]["name"] if owner else "gateway",
        address=address.split(",")[0], port=int(spec.get("gatewayPort", names.PROXY_INBOUND_PORT)), identity=spec["gatewayIdentity"],
        probe_port=int(probe.get("port", names.PROXY_ADMIN_PORT)), probe_path=probe.get("path", "/ready"),
        probe_period=int(go_duration(probe.get("period", "3s"))),
        # link-gen leaves both out; the Link CRD's defaults apply: failureThreshold "3", timeout "30s"
        # (multicluster/charts/linkerd-multicluster/templates/link-crd.yaml, edge-26.8.3)
        failure_threshold=int(probe.get("failureThreshold", "3")), probe_timeout=go_duration(probe.get("timeout", "30s")),
    )


def link_probe_target(spec: dict) -> GatewayTarget | None:
    """What an edge controller probes for a Link: its probe worker starts with the watch whenever the Link's
    probeSpec has a path, before the remote caches sync and whether or not anything is exported
    (restartClusterWatcher in multicluster/cmd/service-mirror/main.go, edge-26.8.3). Nothing names the gateway
    Service yet; the gateway's address and identity must be there (link-gen writes them with the probeSpec)."""
    return link_gateway_target(spec, []) if (spec.get("probeSpec") or {}).get("path") else None


def same_probe(a: GatewayTarget, b: GatewayTarget) -> bool:
    """The same gateway and probe, whatever the gateway Service is called."""
    return replace(a, namespace="", name="") == replace(b, namespace="", name="")


def name_link_probe(probes: dict[tuple[str, str], "GatewayProbe"], gw: GatewayTarget | None) -> None:
    """Once the caches have synced the target's services name the Link's gateway: the probe started before
    takes the name (its row and paired services are keyed by it) and keeps running."""
    for key, probe in list(probes.items()):
        if gw is not None and key != (gw.namespace, gw.name) and same_probe(probe.target, gw):
            probe.target = gw
            probes[(gw.namespace, gw.name)] = probes.pop(key)


def go_duration(text: str) -> float:
    """Seconds in a Go duration as link-gen writes them (time.Duration.String: "3s", "1m0s", "1m30s")."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", str(text))
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class ProbeURLError(ValueError):
    """The probe URL does not parse (Go's net/url refuses it: http.NewRequest fails, no request is sent)."""


def probe_url(address: str, port: int, path: str, slash_joined: bool) -> tuple[str, str]:
    """(URL, request path) as each version builds it: 2.8.1 `http://%s:%d/%s` (probe_worker.go),
    edge `http://%s%s` with host:port and the path as given. A path without its leading slash runs
    into the port on edge (`:80-`), which Go's URL parser rejects."""
    url = f"http://{address}:{port}/{path}" if slash_joined else f"http://{address}:{port}{path}"
    rest = url[len("http://"):]
    hostport, slash, tail = rest.partition("/")
    port_text = hostport.rpartition(":")[2]
    if not port_text.isdigit():
        raise ProbeURLError(f'parse "{url}": invalid port ":{port_text}" after host')
    return url, slash + tail


class GatewayProbe:
    """GET <gateway>:<mc-probe><probe-path> every probe period, from the source cluster.

    Two states, as in the real probe worker: `alive` is the gateway_alive gauge that `multicluster gateways`
    and check read (unset until the first probe, then 0 only after `failure_threshold` failures in a row);
    `healthy` is the worker's own flag, which starts false, and whose changes are reported to `on_liveness`
    (edge-26.8.3 probe_worker.go: a gateway dead from the start is never reported dead)."""

    def __init__(self, cluster: Cluster, target: GatewayTarget, slash_joined: bool,
                 on_liveness: Callable[[bool], None] = lambda alive: None,
                 via: Callable[[], tuple[str, dict | None]] | None = None, jitter: bool = False, link: str = ""):
        self.cluster = cluster
        self.link = link  # what the lab's log names the worker by: `west -> east`
        # Each tick waits the period plus up to a tenth of it more, at random (NewTicker(period, period/10) in
        # probe_worker.go, jittered_ticker.go, at edge-26.8.3 and stable-2.8.1 probe_worker.go:66-69)
        self.jitter = jitter
        # Edge dials `<probe Service>:<the Link's probe port>` (multicluster/service-mirror/probe_worker.go,
        # edge-26.8.3): `via` names that Service in the source and gives it (None where it is missing). The
        # connection gets through only on a port the Service serves; its Endpoints, which the controller
        # writes, lead on to the gateway's address. 2.8.1 dials its gateway mirror `<gateway>-<target>` the same
        # way (probe_worker.go:93, stable-2.8.1). None: no Service in between (this module's own tests).
        self.via = via
        self.target = target
        self.slash_joined = slash_joined
        self.on_liveness = on_liveness
        self.alive: bool | None = None
        self.healthy = False
        self.failures = 0
        self.last_error: str | None = None
        self.latencies: deque[float] = deque(maxlen=50)
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def probe_once(self) -> None:
        t = self.target
        started = time.monotonic()
        real = self.cluster.network.resolve(t.address, t.probe_port, self.cluster)
        try:
            _, path = probe_url(t.address, t.probe_port, t.probe_path, self.slash_joined)
            if self.via is not None:
                name, svc = self.via()
                if svc is None:
                    raise ConnectionRefusedError(f"dial tcp: lookup {name}: no such host")
                if t.probe_port not in [p.get("port") for p in svc["spec"].get("ports", [])]:
                    raise ConnectionRefusedError(f"dial tcp {name}:{t.probe_port}: the Service serves no port {t.probe_port}")
            if real is None:
                raise ConnectionRefusedError(f"connection refused: {t.address}:{t.probe_port}")
            request = httpwire.Request("GET", path, {"host": f"{t.address}:{t.probe_port}"})
            response = await httpwire.fetch(*real, request, t.probe_timeout)
            elapsed = time.monotonic() - started
            if response.status != 200:
                raise ConnectionError(f"probe answered {response.status}")
        except (OSError, ConnectionError, asyncio.TimeoutError, httpwire.WireError, asyncio.IncompleteReadError,
                ProbeURLError) as exc:
            self.last_error = str(exc) or type(exc).__name__
            self.failures += 1
            if self.failures >= t.failure_threshold:
                self.alive = False
                if self.healthy:
                    self.healthy = False
                    self.on_liveness(False)
            return
        self.latencies.append(elapsed * 1000)
        self.alive, self.last_error, self.failures = True, None, 0
        if not self.healthy:
            self.healthy = True
            self.on_liveness(True)

    async def _run(self) -> None:
        # The real probe worker runs on a ticker: the first probe is one period after it starts, and the
        # gateway counts as not alive until then (probe_worker.go at stable-2.8.1 and edge-26.8.3).
        delay = self.delay()
        if self.link:
            # The lab's own log (not upstream's words): when the first probe comes, as the ticker drew it, so a
            # user (and the benchmark, which subtracts it from `up`) can tell the probe's wait from the lab's work.
            log.info("%s: the gateway probe worker for %s:%d starts; its first probe in %.3f s (the probe period, "
                     "%s s, plus %.3f s of the ticker's jitter)", self.link, self.target.address, self.target.probe_port,
                     delay, self.target.probe_period, delay - self.target.probe_period)
        while True:
            await asyncio.sleep(delay)
            await self.probe_once()
            delay = self.delay()

    def delay(self) -> float:
        """Seconds until the next probe: the period, plus up to a tenth of it where the ticker jitters."""
        period = self.target.probe_period
        return period + (random.uniform(0, period / 10) if self.jitter else 0)

    def latency_ms(self) -> float | None:
        return round(statistics.median(self.latencies), 2) if self.latencies else None

    def stop(self) -> None:
        self.task.cancel()
