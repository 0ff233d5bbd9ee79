"""The network both simulated clusters sit on, as kind nodes share the docker `kind` network.

Addresses on it (pod IPs, cluster IPs, LoadBalancer IPs from the MetalLB
pools) are names, never dialled: `resolve` turns one into the loopback
socket that really serves it right now, or None when nothing does (which a
dialler reports as connection refused).
"""
from __future__ import annotations

import asyncio
from typing import Protocol

from ..mesh.cluster import Cluster
from .pods import PodRuntime


class Member(Cluster, Protocol):
    """A cluster on the network (cluster.SimCluster): what the mesh reads of any cluster, and what the
    network and the other clusters on it ask besides: where an address of it lands, which of its pods
    has an IP."""

    def resolve_address(self, ip: str, port: int, source: Cluster | None = None) -> tuple[str, int] | None: ...

    def pod_by_ip(self, ip: str) -> PodRuntime | None: ...


class Network:
    def __init__(self) -> None:
        self.clusters: dict[str, Member] = {}
        self._news = asyncio.Event()

    def routes_changed(self) -> None:
        """What the proxies route by may have changed: a cluster finished a reconcile pass (endpoints, pods,
        mirrors), or a destination controller's watch on another cluster heard news (pod-to-pod, federated).
        Wakes every `changed` waiting."""
        self._news, done = asyncio.Event(), self._news
        done.set()

    async def changed(self, timeout: float) -> None:
        """Until `routes_changed` is next called, `timeout` seconds at most. A caller that looked at the clusters
        and then calls this without awaiting in between misses no news."""
        if timeout <= 0:
            return
        waiting = self._news
        try:
            async with asyncio.timeout(timeout):
                await waiting.wait()
        except TimeoutError:
            pass

    def resolve(self, ip: str, port: int, source: Cluster | None = None) -> tuple[str, int] | None:
        """The loopback socket behind ip:port as a pod of `source` reaches it (None: from the host)."""
        for cluster in self.clusters.values():
            real = cluster.resolve_address(ip, port, source)
            if real is not None:
                return real
        return None

    def api_server(self, server_url: str) -> Member | None:
        """The cluster whose Kubernetes API a kubeconfig's `server:` names: https://127.0.0.1:<its port>
        (sim://<cluster> in labs linked before the API was served)."""
        if server_url.startswith("sim://"):
            return self.clusters.get(server_url.removeprefix("sim://"))
        for cluster in self.clusters.values():
            if cluster.spec.get("api_port") and server_url.rstrip("/") == f"https://127.0.0.1:{cluster.spec['api_port']}":
                return cluster
        return None
