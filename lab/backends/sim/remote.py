"""How one simulated cluster reads another: through a link's credentials Secret, at the API server its
kubeconfig names, as the account its token proves, allowed what that account's RBAC grants. The service
mirror (watching services) and the destination controller (resolving pod-to-pod endpoints, from the copy
link-gen puts in the control plane's namespace) both go this way, so revoked credentials stop both.
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
def _kubeconfig_credentials(encoded: str) -> tuple[str, str] | None:
    try:
        kubeconfig = yaml.safe_load(base64.b64decode(encoded))
        return kubeconfig["clusters"][0]["cluster"]["server"], kubeconfig["users"][0]["user"]["token"]
    except (KeyError, IndexError, TypeError, ValueError, yaml.YAMLError):
        return None


def credentials(secret: dict) -> tuple[str, str] | None:
    """(server, token) from a link credentials Secret's kubeconfig; parsed once per distinct kubeconfig."""
    encoded = (secret.get("data") or {}).get("kubeconfig")
    return _kubeconfig_credentials(encoded) if isinstance(encoded, str) else None


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
