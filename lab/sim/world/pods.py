"""A running pod: its containers' apps and, when meshed, its proxy."""
from __future__ import annotations

import collections
import json
import time

from ..mesh.cluster import Cluster
from ..mesh.proxy import Proxy
from ..wire.tls import Identity
from . import apps


class PodRuntime:
    def __init__(self, namespace: str, name: str, ip: str):
        self.namespace, self.name, self.ip = namespace, name, ip
        self.apps: list[apps.App] = []
        self.proxy: Proxy | None = None
        self.ports: dict[int, int] = {}  # pod port -> real loopback port
        self.identity: str | None = None
        self.error: str | None = None
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
                app = apps.for_container(container, self.name, lambda: cluster.store.list("Mapping"))
                self.apps.append(app)
                started = await app.start()
                self.ports.update(started)
                self.log(container["name"], json.dumps({"level": "info", "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                        "msg": f"started {container.get('image', '')}",
                                                        "ports": sorted(started)}))
        except apps.ImageError as exc:
            self.error = str(exc)
            await self.stop()
            return
        if identity is not None:
            app_ports = dict(self.ports)
            self.proxy = Proxy(cluster, self.name, self.ip, identity, app_ports, gateway_mode, require_identity,
                               log=lambda line: self.log("linkerd-proxy", line), namespace=self.namespace)
            self.ports.update(await self.proxy.start())
            self.identity = identity.name

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening at once; let open connections finish for up to `grace` seconds."""
        self.ports = {}
        if self.proxy:
            await self.proxy.stop(grace)
        for app in self.apps:
            await app.stop()
