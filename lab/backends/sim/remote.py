"""How one simulated cluster reads another: through a link's credentials Secret, at the API server its
kubeconfig names, as the account its token proves, allowed what that account's RBAC grants, decided at
the moment of asking. The multicluster check (fresh requests, as check.go makes them) and the destination
controller (resolving pod-to-pod endpoints, from the copy link-gen puts in the control plane's namespace)
read this way, so revoked credentials fail both at once. The service mirror does not: it lists and
watches over HTTPS (informer.py), and sees a revocation when its open watch ends.
"""
from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING

import yaml

from . import rbac

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


def credentials(secret: dict) -> tuple[str, str] | None:
    """(server, token) from a link credentials Secret's kubeconfig."""
    found = kubeconfig(secret)
    return found[:2] if found else None


def reach(cluster: "SimCluster", secret: dict, target: str, resources: tuple[str, ...]):
    """(the target's cluster, None) as a link's credentials reach its API server and may watch `resources`
    there, or (None, what the API server said): how the service mirror and the destination controller
    both read a linked cluster."""
    found = credentials(secret)
    if found is None:
        return None, f"credentials secret {secret['metadata'].get('namespace')}/{secret['metadata']['name']} holds no usable kubeconfig"
    server, token = found
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
