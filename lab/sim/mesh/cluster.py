"""What Linkerd's side needs of the world it runs in, as typing.Protocols: the simulated cluster its
proxies and controllers belong to, and the network the clusters share. lab.sim.world's SimCluster and
Network are what provide them; the mesh, below the world, never imports it.
"""
from __future__ import annotations

from typing import Callable, Protocol

from ...model.profiles import Profile
from ..kube.store import ObjectStore
from .routes import Route


class Network(Protocol):
    """The lab network, as the mesh dials across it and finds another cluster's API on it."""

    def resolve(self, ip: str, port: int, source: Cluster | None = None) -> tuple[str, int] | None:
        """The loopback socket behind ip:port as a pod of `source` reaches it (None: from the host)."""

    def api_server(self, server_url: str) -> Cluster | None:
        """The cluster whose Kubernetes API a kubeconfig's `server:` names."""

    def routes_changed(self) -> None:
        """Say that what the proxies route by may have changed (a destination watch heard news)."""

    async def changed(self, timeout: float) -> None:
        """Until what the proxies route by may have changed (a reconcile pass ended, a destination watch heard
        news), `timeout` seconds at most."""


class Cluster(Protocol):
    """One simulated cluster, as its proxies, service mirror, destination controller and check read it."""

    name: str
    spec: dict  # its domain above all (identities and service names end in it)
    store: ObjectStore
    network: Network
    controllers: list  # what reconciles it: the service mirror among them
    wake: Callable[[], None]  # ask for a controller pass when something outside the store changed

    @property
    def profile(self) -> Profile:
        """The profile the cluster was created for."""

    def routes(self, authority: str) -> list[Route]:
        """The proxy's destination lookup for `host[:port]`: every endpoint its balancer may choose from."""

    def log_from(self, namespace: str, deployment: str, line: str, container: str | None = None) -> None:
        """A line in the log of a Deployment's pods (how the controllers write what the real ones log)."""
