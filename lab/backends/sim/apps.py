"""The container images the simulation can run, and what each one does.

The fixtures use real images so the same manifests run on kind; here each
known image is played by a small in-process server with the same behaviour
on the wire. An unknown image fails its pod with a message naming the ones
that run here.
"""
from __future__ import annotations

import asyncio

from . import httpwire

PODINFO_VERSION = "6.7.1"


class ImageError(ValueError):
    pass


class App:
    """A container's process: listens on some container ports, or on none."""

    async def start(self) -> dict[int, int]:
        """Start listening; return container port -> real loopback port."""
        return {}

    async def stop(self) -> None:
        return None


class Idle(App):
    """`pause`, or a client container that runs `sleep`: nothing listens."""


class Podinfo(App):
    """stefanprodan/podinfo: `GET /` answers JSON with the pod's hostname and PODINFO_UI_MESSAGE."""

    def __init__(self, hostname: str, port: int, message: str):
        self.hostname, self.port, self.message = hostname, port, message
        self.server: asyncio.base_events.Server | None = None
        self.requests = 0

    async def handle(self, request: httpwire.Request) -> httpwire.Response:
        if request.path in ("/healthz", "/readyz"):
            return httpwire.json_response(200, {"status": "OK"})
        if request.path == "/":
            self.requests += 1
            return httpwire.json_response(
                200, {"hostname": self.hostname, "version": PODINFO_VERSION, "message": self.message}
            )
        return httpwire.json_response(404, {"code": 404, "message": "not found"})

    async def start(self) -> dict[int, int]:
        self.server = await httpwire.serve_http(self.handle)
        return {self.port: self.server.sockets[0].getsockname()[1]}

    async def stop(self) -> None:
        if self.server:
            self.server.close()


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in container.get("env", []) if "name" in e}


def for_container(container: dict, pod_name: str) -> App:
    image = container.get("image", "")
    repo = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if repo == "podinfo":
        env = _env(container)
        ports = [p["containerPort"] for p in container.get("ports", []) if "containerPort" in p]
        port = int(env.get("PODINFO_PORT", ports[0] if ports else 9898))
        return Podinfo(pod_name, port, env.get("PODINFO_UI_MESSAGE", f"greetings from podinfo v{PODINFO_VERSION}"))
    if repo in ("pause", "curl"):
        return Idle()
    raise ImageError(
        f"the simulation cannot run image {image!r}; it runs podinfo, curl and pause images "
        "(use the kind backend for anything else)"
    )
