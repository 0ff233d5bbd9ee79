"""The container images the simulation can run, and what each one does.

The fixtures use real images so the same manifests run on kind; here each
known image is played by a small in-process server with the same behaviour
on the wire. General-purpose images (busybox, alpine, curlimages/curl, ubuntu,
debian) run their command as programs.py interprets it. Any other image fails
its pod (reason ImageNotSupported) with a message naming the ones that run here.
"""
from __future__ import annotations

import json
import time

from ...wire import httpwire
from . import podinfo


class ImageError(ValueError):
    reason = "ImageNotSupported"  # the pod's status.reason


class App:
    """A container's process: answers on some container ports, or on none."""

    servers: list = []  # its loopback listeners, when it listens (start)

    def handlers(self) -> dict:
        """Container port -> `await handler(request) -> Response`: what answers on each port."""
        return {}

    async def start(self) -> dict[int, int]:
        """Listen on loopback for each port (an unmeshed pod, which the network reaches directly); return
        container port -> real loopback port. A meshed pod's apps do not listen: its proxy calls them."""
        self.servers = [await httpwire.serve_http(handler) for handler in self.handlers().values()]
        return {port: server.port for port, server in zip(self.handlers(), self.servers)}

    async def stop(self) -> None:
        for server in self.servers:
            await server.close()

    def startup_log(self, image: str, ports: list[int]) -> list[str]:
        """What the process logs as it starts (`kubectl logs`): here a line of the lab's own, unless the image's
        own words are known."""
        return [json.dumps({"level": "info", "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "msg": f"started {image}", "ports": ports})]


class Idle(App):
    """`pause`, or a controller whose work the lab process does: nothing listens."""


class OnePortHTTP(App):
    """An app that answers HTTP on one container port with `handle`."""

    port = 0

    async def handle(self, request: httpwire.Request) -> httpwire.Response:
        raise NotImplementedError

    def handlers(self) -> dict:
        return {self.port: self.handle}


class Podinfo(OnePortHTTP):
    """stefanprodan/podinfo on its container port: the endpoints are podinfo.Router's."""

    def __init__(self, hostname: str, port: int, env: dict[str, str]):
        self.port, self.router = port, podinfo.Router(hostname, env)

    def startup_log(self, image: str, ports: list[int]) -> list[str]:
        """podinfo 6.7.1's first lines, as its zap logger writes them (JSON to stderr, ISO 8601 times, short
        callers; cmd/podinfo/main.go initZap and its "Starting podinfo", pkg/api/http/server.go's "Starting HTTP
        Server.")."""
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        return [json.dumps({"level": "info", "ts": ts, "caller": "podinfo/main.go:153", "msg": "Starting podinfo",
                            "version": podinfo.VERSION, "revision": podinfo.REVISION, "port": str(self.port)},
                           separators=(",", ":")),
                json.dumps({"level": "info", "ts": ts, "caller": "http/server.go:224", "msg": "Starting HTTP Server.",
                            "addr": f":{self.port}"}, separators=(",", ":"))]

    async def handle(self, request: httpwire.Request) -> httpwire.Response:
        return await self.router.handle(request)


class GatewayNginx(OnePortHTTP):
    """stable-2.8.1's gateway nginx (charts/linkerd2-multicluster/templates/gateway.yaml): on the probe
    port `location = /health` answers 200 "healthy", anything else is denied. nginx merges slashes by
    default, so 2.8.1's probe URL `http://host:4181//health` still matches."""

    def __init__(self, probe_port: int, probe_path: str = "/health"):
        self.port, self.probe_path = probe_port, probe_path

    async def handle(self, request: httpwire.Request) -> httpwire.Response:
        path = "/" + "/".join(part for part in request.path.split("/") if part)
        if path == self.probe_path:
            return httpwire.text_response(200, "healthy\n")
        return httpwire.text_response(403, "403 Forbidden\n")


class Ambassador(App):
    """Ambassador / Emissary-ingress: routes by the cluster's Mapping objects on 8080; admin on 8877.

    Only what the lab uses is played: a Mapping to `localhost:8877` (the guide's readiness
    Mapping) rewritten to the admin API's `/ambassador/v0/check_ready`. No Mapping, no route:
    the gateway probe fails until the guide's configuration is applied.
    """

    def __init__(self, mappings):
        self.mappings = mappings  # () -> Mapping objects in the cluster

    async def admin(self, request: httpwire.Request) -> httpwire.Response:
        if request.path == "/ambassador/v0/check_ready":
            return httpwire.text_response(200, "ambassador readiness check OK\n")
        return httpwire.text_response(404, "not found\n")

    async def public(self, request: httpwire.Request) -> httpwire.Response:
        for mapping in self.mappings():
            spec = mapping.get("spec", {})
            prefix = spec.get("prefix", "")
            if prefix and request.path.startswith(prefix) and spec.get("service") == "localhost:8877":
                rewritten = spec.get("rewrite", prefix) + request.path[len(prefix):]
                return await self.admin(httpwire.Request(request.method, rewritten, request.headers))
        return httpwire.text_response(404, f"no Mapping matches {request.path}\n")

    def handlers(self) -> dict:
        return {8080: self.public, 8877: self.admin}


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in container.get("env", []) if "name" in e}


def for_container(container: dict, pod_name: str, mappings=lambda: []) -> App:
    image = container.get("image", "")
    repo = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if repo == "podinfo":
        env = _env(container)
        ports = [p["containerPort"] for p in container.get("ports", []) if "containerPort" in p]
        port = int(env.get("PODINFO_PORT", ports[0] if ports else 9898))
        return Podinfo(pod_name, port, env)
    if repo in ("pause", "controller", "web", "grafana", "prometheus"):
        return Idle()  # Linkerd's controllers (and 2.8's dashboard): the lab process does their work
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if repo == "nginx" and "mc-probe" in ports:  # 2.8.1's gateway; any other nginx is not played here
        return GatewayNginx(ports["mc-probe"])
    if repo in ("ambassador", "emissary"):
        return Ambassador(mappings)
    raise ImageError(
        f"the simulation cannot run image {image!r}; it runs podinfo, ambassador/emissary, the multicluster gateway's nginx, Linkerd's controller and pause images, "
        "and busybox, alpine, curlimages/curl, ubuntu and debian with a command of sleep, echo and exit "
        "(use the kind backend for anything else)"
    )
