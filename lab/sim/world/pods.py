"""A running pod: its containers' apps (or, for a general-purpose image, its program: programs.py) and, when
meshed, its proxy."""
from __future__ import annotations

import asyncio
import collections
import time

from ..mesh.cluster import Cluster
from ..mesh.proxy import Proxy
from ..wire import httpwire
from ..wire.loopback import Loopback
from ..wire.tls import Identity
from .images import apps, programs


class PodRuntime:
    def __init__(self, namespace: str, name: str, ip: str):
        self.namespace, self.name, self.ip = namespace, name, ip
        self.apps: list[apps.App] = []
        self.proxy: Proxy | None = None
        self.ports: dict[int, int] = {}  # pod port -> real loopback port (for a meshed pod, all its proxy's)
        self.handlers: dict = {}  # pod port -> its app's handler
        self.loopback = Loopback({})  # where the pod's own processes reach those handlers (loopback.py)
        self.identity: str | None = None
        self.error: str | None = None
        self.error_reason = ""  # ImageNotSupported, CommandNotSupported
        self.containers: dict[str, programs.ContainerRun] = {}  # those running a program, by name
        self.started = time.time()
        self._logs: dict[str, collections.deque[str]] = {}

    def log(self, container: str, line: str) -> None:
        """A line the container wrote, for `kubectl logs` (the last 1,000 per container, as a bounded buffer)."""
        self._logs.setdefault(container, collections.deque(maxlen=1000)).append(line)

    def logs(self, container: str) -> list[str]:
        return list(self._logs.get(container, ()))

    @property
    def meshed(self) -> bool:
        return self.proxy is not None

    async def start(self, cluster: Cluster, pod: dict, identity: Identity | None, gateway_mode: bool,
                    require_identity: bool) -> None:
        """Start every container, then the proxy in front of them. Errors become the pod's status."""
        try:
            for container in pod["spec"].get("containers", []):
                if container["name"] == "linkerd-proxy":
                    continue  # injected: the proxy below plays it
                program = programs.for_container(container, self.name)
                if program is not None:
                    name = container["name"]
                    self.containers[name] = programs.ContainerRun(
                        name, program, pod["spec"].get("restartPolicy", "Always"),
                        lambda line, name=name: self.log(name, line), self.started)
                    continue
                app = apps.for_container(container, self.name, lambda: cluster.store.list("Mapping"))
                self.apps.append(app)
                self.handlers.update(app.handlers())
                # A meshed pod's apps do not listen: the network reaches them through the proxy (proxy.py)
                started = await app.start() if identity is None else dict.fromkeys(app.handlers(), 0)
                self.ports.update(started)
                for line in app.startup_log(container.get("image", ""), sorted(started)):
                    self.log(container["name"], line)
        except apps.ImageError as exc:
            self.error, self.error_reason = str(exc), exc.reason
            await self.stop()
            return
        self.loopback = Loopback(self.handlers)
        if identity is not None:
            self.proxy = Proxy(cluster, self.name, self.ip, identity, dict(self.handlers), gateway_mode, require_identity,
                               log=lambda line: self.log("linkerd-proxy", line), namespace=self.namespace)
            self.ports.update(await self.proxy.start())
            self.identity = identity.name

    async def local(self, port: int, request, timeout: float):
        """A request from one of the pod's own processes to localhost:`port` on a connection of its own (None:
        nothing listens there). On a real pod that traffic never meets the proxy: it crosses the pod's
        loopback to the app as HTTP/1.1, or, for the proxy's own ports, the host's."""
        if port in self.loopback:
            return await self.loopback.fetch(port, request, timeout)
        real = self.ports.get(port)
        return None if not real else await httpwire.fetch("127.0.0.1", real, request, timeout)

    async def outbound(self, request, timeout: float):
        """A request from one of the pod's own processes to anywhere else: into its proxy's outbound side."""
        return await self.proxy.outbound(request, timeout)

    def advance(self, now: float) -> bool:
        """Move the containers' programs on to `now`; True when any container's state changed."""
        return any([run.advance(now) for run in self.containers.values()])

    @property
    def due(self) -> float | None:
        """When a container's program next needs the clock (None: not before something else changes)."""
        return min((d for d in (run.due for run in self.containers.values()) if d is not None), default=None)

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening at once; let open connections finish for up to `grace` seconds."""
        self.ports, self.handlers = {}, {}
        # The apps and the proxy are told together, as the kubelet signals every container at once.
        await asyncio.gather(self.loopback.close(grace), *([self.proxy.stop(grace)] if self.proxy else []))
        for app in self.apps:
            await app.stop()
