"""How one simulated cluster reads another, through a link's credentials Secret, at the API server its
kubeconfig names, as the account its token proves, allowed what that account's RBAC grants.

The multicluster check asks afresh (`reach`), as check.go does, so revoked credentials fail it at once.
The controllers watch: the service mirror (mirror.py) and the destination controller (`ClusterStore`,
pod-to-pod and federated endpoints) keep an informer (informer.py) on the target's API over HTTPS, and
see a revocation when their open watch ends, as on a real cluster.
"""
from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING

import yaml

from ... import names
from ...names import CREDENTIALS_SECRET_TYPE, LINKERD_NS
from . import rbac
from .informer import ENDPOINTS, SERVICES, Informer

if TYPE_CHECKING:
    from .cluster import SimCluster


@functools.lru_cache(maxsize=64)
def _parse_kubeconfig(encoded: str) -> tuple[str, str, str | None] | None:
    try:
        config = yaml.safe_load(base64.b64decode(encoded))
        cluster = config["clusters"][0]["cluster"]
        ca = cluster.get("certificate-authority-data")
        return cluster["server"], config["users"][0]["user"]["token"], base64.b64decode(ca).decode() if ca else None
    except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError, yaml.YAMLError):
        return None


def kubeconfig(secret: dict) -> tuple[str, str, str | None] | None:
    """(server, token, CA PEM) from a link credentials Secret's kubeconfig; parsed once per distinct one."""
    encoded = (secret.get("data") or {}).get("kubeconfig")
    return _parse_kubeconfig(encoded) if isinstance(encoded, str) else None


def reach(cluster: "SimCluster", secret: dict, target: str, resources: tuple[str, ...]):
    """(the target's cluster, None) as a link's credentials reach its API server and may watch `resources`
    there, or (None, what the API server said), decided now: how the multicluster check reads a target."""
    found = kubeconfig(secret)
    if found is None:
        return None, f"credentials secret {secret['metadata'].get('namespace')}/{secret['metadata']['name']} holds no usable kubeconfig"
    server, token, _ = found
    remote = cluster.network.api_server(server)
    if remote is None:
        return None, f"cannot reach the API server of {target} at {server}"
    user = remote.authenticate(token)
    if user is None:
        return None, f"the API server of {target} refused the link's credentials (401 Unauthorized)"
    for resource in resources:
        wanted = rbac.Request("watch", "", resource)
        if not rbac.allowed(remote.store, user, wanted):
            return None, f"the API server of {target} refused: {rbac.forbidden_message(user, wanted)}"
    return remote, None


# The annotations the destination controller requires on a remote cluster's Secret (cluster_store.go addCluster)
DOMAIN_ANNOTATIONS = ("multicluster.linkerd.io/trust-domain", "multicluster.linkerd.io/cluster-domain")


class ClusterStore:
    """The destination controller's remote clusters (edge-26.8.3 controller/api/destination/watcher/
    cluster_store.go): for each Secret in the control plane's namespace of type
    mirror.linkerd.io/remote-kubeconfig, labelled with a cluster name and carrying the trust- and
    cluster-domain annotations, a watch on that cluster's API with the Secret's kubeconfig. Upstream
    reacts to a Secret being added or deleted only, not updated: new credentials in the same Secret are
    not used until the Secret is recreated. Upstream watches EndpointSlices, Pods, Services and Servers;
    the simulation's endpoints are Endpoints objects, so it watches those and Services."""

    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster
        self.watches: dict[str, tuple[str, Informer]] = {}  # cluster name -> (the Secret's uid, its watch)
        self.errors: dict[str, str] = {}

    def get(self, target: str) -> Informer | None:
        found = self.watches.get(target)
        return found[1] if found else None

    async def reconcile(self) -> None:
        wanted: dict[str, tuple] = {}  # cluster name -> (the Secret's uid, its kubeconfig)
        self.errors = {}
        for secret in self.cluster.store.views("Secret", LINKERD_NS):
            target = (secret["metadata"].get("labels") or {}).get(names.LINK_CLUSTER_LABEL)
            if secret.get("type") != CREDENTIALS_SECRET_TYPE or not target:
                continue
            missing = [a for a in DOMAIN_ANNOTATIONS if a not in (secret["metadata"].get("annotations") or {})]
            found = kubeconfig(secret)
            if missing:
                self.errors[target] = f'missing "{missing[0]}" annotation'
            elif found is None or not found[0].startswith("https://"):
                self.errors[target] = "the Secret holds no usable kubeconfig"
            else:
                wanted[target] = (secret["metadata"].get("uid"), found)
        for target, (uid, watch) in list(self.watches.items()):
            if target not in wanted or wanted[target][0] != uid:
                del self.watches[target]
                await watch.close()
        for target, (uid, found) in wanted.items():
            if target not in self.watches:
                # No on_change: nothing is reconciled from these; the proxies read the cache per request.
                self.watches[target] = (uid, Informer(*found, (SERVICES, ENDPOINTS)))

    async def stop(self) -> None:
        for _, watch in self.watches.values():
            await watch.close()
        self.watches.clear()
