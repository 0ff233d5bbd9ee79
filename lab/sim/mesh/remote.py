"""How one simulated cluster reads another, through a link's credentials Secret, at the API server its
kubeconfig names, as the account its token proves, allowed what that account's RBAC grants.

The multicluster check asks afresh (`authenticated`, then RBAC), as check.go does, so revoked credentials fail it at once.
The controllers watch: the service mirror (mirror.py) and the destination controller (`ClusterStore`,
pod-to-pod and federated endpoints) keep an informer (informer.py) on the target's API over HTTPS, and
see a revocation when their open watch ends, as on a real cluster.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import time

import aiohttp

from ... import names
from ...names import CREDENTIALS_SECRET_TYPE, LINKERD_NS
from ..kube import rbac
from ..kube.apiserver.auth import ANONYMOUS, bearer_token, token_user
from ..kube.informer import (ENDPOINT_SLICES, PODS, REQUEST_TIMEOUT, SERVERS, SERVICES, Informer, api_session,
                             status_message)
from .cluster import Cluster

log = logging.getLogger("lab.sim.destination")


@functools.lru_cache(maxsize=64)
def _parse_kubeconfig(encoded: str) -> tuple[str, str, str | None] | None:
    import yaml  # noqa: PLC0415 - needed once a link exists, not for the lab process's start

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


def authenticated(cluster: Cluster, secret: dict, target: str) -> tuple[Cluster | None, rbac.User | None, str | None]:
    """(the target's cluster, who the link's credentials make the caller there, None), or (None, None, why
    not): the API server answers when the kubeconfig is usable, names a server that exists and its token is
    an account's ("Unauthorized" when it is not). client-go sends no Authorization header for an empty token,
    so that caller is anonymous."""
    found = kubeconfig(secret)
    if found is None:
        return None, None, f"credentials secret {secret['metadata'].get('namespace')}/{secret['metadata']['name']} holds no usable kubeconfig"
    server, token, _ = found
    remote = cluster.network.api_server(server)
    if remote is None:
        return None, None, f"cannot reach the API server of {target} at {server}"
    presented = bearer_token(f"Bearer {token}")
    user = token_user(remote.store, presented) if presented else ANONYMOUS
    if user is None:
        return None, None, "Unauthorized"  # the API server's 401, in the words client-go reports it
    return remote, user, None


# The annotations the destination controller requires on a remote cluster's Secret (cluster_store.go addCluster)
DOMAIN_ANNOTATIONS = ("multicluster.linkerd.io/trust-domain", "multicluster.linkerd.io/cluster-domain")
# What it watches there with EndpointSlices enabled, the default (cluster_store.go decodeK8sConfigFromSecret)
REMOTE_DISCOVERY = (ENDPOINT_SLICES, PODS, SERVICES, SERVERS)
SERVER_GROUP_VERSION = "policy.linkerd.io/v1beta3"  # pkg/k8s/k8s.go PolicyAPIGroup, PolicyServerCRDVersion


async def _access_review(session, server: str, verb: str, group: str, resource: str) -> str | None:
    """pkg/k8s/authz.go ResourceAuthz: a SelfSubjectAccessReview, and its error text when refused."""
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}}}
    async with session.post(f"{server}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review) as response:
        body = await response.text()
        if response.status != 201:
            return status_message(response.status, body)
    status = json.loads(body).get("status") or {}
    if status.get("allowed"):
        return None
    kind = f"{resource}.{group}" if group else resource  # schema.GroupKind's String()
    return f"not authorized to access {kind}" + (f": {status['reason']}" if status.get("reason") else "")


async def cluster_access(server: str, token: str, ca_pem: str | None) -> str | None:
    """What the destination controller asks before it watches a linked cluster (controller/k8s/api.go
    initAPI, edge-26.8.3): may the account list pods cluster-wide (ClusterAccess), is the Server CRD served
    and may it list servers (ServersAccess)? The error it logs, or None."""
    server = server.rstrip("/")
    async with api_session(token, ca_pem, 2, aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as session:
        try:
            refused = await _access_review(session, server, "list", "", "pods")
            if refused:
                return refused
            async with session.get(f"{server}/apis/{SERVER_GROUP_VERSION}") as response:
                body = await response.text()
                if response.status == 404:
                    return f"server CRD ({SERVER_GROUP_VERSION}) not found"
                if response.status != 200:
                    return status_message(response.status, body)
            if not any(r.get("kind") == "Server" for r in json.loads(body).get("resources", [])):
                return f"server CRD ({SERVER_GROUP_VERSION}) not found"
            return await _access_review(session, server, "list", "policy.linkerd.io", "servers")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"


class ClusterStore:
    """The destination controller's remote clusters (edge-26.8.3 controller/api/destination/watcher/
    cluster_store.go): for each Secret in the control plane's namespace of type
    mirror.linkerd.io/remote-kubeconfig labelled with a cluster name, it checks the Secret (the trust- and
    cluster-domain annotations, a kubeconfig) and its access to that cluster (`cluster_access`), then
    watches EndpointSlices, Pods, Services and Servers there with the Secret's kubeconfig. It acts when a
    Secret is added or deleted, never when one is updated, and a failed add is logged once and not
    retried: new credentials in the same Secret, or access granted later, count only once the Secret is
    recreated (or the controller restarts, which the simulation does not model)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.watches: dict[str, Informer] = {}  # cluster name -> its watch there
        self.errors: dict[str, str] = {}  # cluster name -> why adding it failed
        self._handled: dict[str, str] = {}  # cluster name -> the uid of the Secret last added (or tried)
        self._adding: dict[str, asyncio.Task] = {}

    def get(self, target: str) -> Informer | None:
        return self.watches.get(target)

    async def reconcile(self) -> None:
        secrets = {}  # cluster name -> its Secret (AddFunc's type and label filter)
        for secret in self.cluster.store.views("Secret", LINKERD_NS):
            target = (secret["metadata"].get("labels") or {}).get(names.LINK_CLUSTER_LABEL)
            if secret.get("type") == CREDENTIALS_SECRET_TYPE and target:
                secrets[target] = secret
        for target in list(self._handled):
            secret = secrets.get(target)
            if secret is None or secret["metadata"].get("uid") != self._handled[target]:
                await self._remove(target)  # DeleteFunc (a recreated Secret is a delete, then an add)
        for target, secret in secrets.items():
            if target not in self._handled:
                self._handled[target] = secret["metadata"].get("uid")
                self._adding[target] = asyncio.get_running_loop().create_task(self._add(target, secret))

    def in_flight(self) -> list:
        """What has not answered yet: adds still asking the linked cluster, and new watches that have neither
        synced nor failed (what `settle` waits for, so a scenario sees the controller's decision)."""
        return ([asyncio.gather(task, return_exceptions=True) for task in self._adding.values()]
                + [watch.wait_answered() for watch in self.watches.values() if not watch.answered])

    async def _add(self, target: str, secret: dict) -> None:
        missing = [a for a in reversed(DOMAIN_ANNOTATIONS) if a not in (secret["metadata"].get("annotations") or {})]
        found = kubeconfig(secret)
        if missing:
            error = f'missing "{missing[0]}" annotation'
        elif found is None or not found[0].startswith("https://"):
            error = "the Secret holds no usable kubeconfig"
        else:
            error = await cluster_access(*found)
        self._adding.pop(target, None)
        if self._handled.get(target) != secret["metadata"].get("uid"):
            return  # removed while it was being added
        if error is not None:
            self.errors[target] = f"Error adding cluster {target} to store: {error}"
            self._log("error", self.errors[target])
            return
        self.errors.pop(target, None)
        self._log("info", f"Added cluster {target} to ClusterStore")
        # Nothing is reconciled from these: the proxies read the cache per request, and a request waiting for an
        # endpoint is told when the cache changes, as the destination controller streams the change to proxies.
        self.watches[target] = Informer(*found, REMOTE_DISCOVERY, on_change=self.cluster.network.routes_changed)

    async def _remove(self, target: str) -> None:
        self._handled.pop(target, None)
        self.errors.pop(target, None)
        adding = self._adding.pop(target, None)
        if adding is not None:
            adding.cancel()
        watch = self.watches.pop(target, None)
        if watch is not None:
            await watch.close()
            self._log("info", f"Removed cluster {target} from ClusterStore")

    def _log(self, level: str, message: str) -> None:
        """In linkerd-destination's log (`kubectl -n linkerd logs deploy/linkerd-destination -c destination`),
        as its logrus writes it with the default plain format."""
        log.log(logging.ERROR if level == "error" else logging.INFO, "cluster %s: destination: %s", self.cluster.name, message)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.cluster.log_from(LINKERD_NS, "linkerd-destination",
                              f'time="{stamp}" level={level} msg="{message}" component=cluster-store', "destination")

    async def stop(self) -> None:
        for target in list(self._handled):
            await self._remove(target)
