"""What every backend answers, so steps and scenarios never ask which one they run on.

A backend is three small roles over one config:
- `Provider`: the clusters themselves (create, delete, list, kubeconfig) and what the guide's read-only
  commands show of them (`multicluster check`, `gateways`, a request from a pod, proxy metrics);
- `ClusterAPI`: the Kubernetes verbs on them (get, list, apply, delete, annotate, scale);
- `Installer`: what the guide installs (MetalLB, Linkerd, the extension, links, access, gateways), with
  the linkerd CLI or with Helm: one class each, chosen once, so no step asks which.
On kind and existing contexts, writes are printed `kubectl`/`linkerd`/`helm` lines (the plans are scripts
people run); on the simulation they go to the simulated clusters' Kubernetes API.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..parsers.cli_output import CheckResult, GatewayStatus
from ..model.config import LabConfig
from ..errors import LabError  # noqa: F401 - the root every backend raises; imported from here too
from ..tools.run import Arg, resolved
from .. import names


ROOTS_ANNOTATION = "lab.multicluster/trust-roots"  # on pod templates: the anchors the pods were restarted for


@dataclass(frozen=True)
class HttpResult:
    """What `curl` run in a pod saw: a response, or an error instead of one."""

    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    pod: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.error:
            return f"error: {self.error}"
        reason = self.headers.get("l5d-proxy-error")
        return f"HTTP {self.status}" + (f" (l5d-proxy-error: {reason})" if reason else "")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1,
               pause: Callable[[float], Any] = time.sleep) -> Any:
    """Poll `predicate` until it returns something truthy; raise LabError naming `what` on timeout.
    Between polls, `pause(interval)`: a sleep, or a wait that ends sooner when there is news."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        pause(interval)


class Role(ABC):
    """A part of a backend. The config and root are the backend's (the one copy, which the Lab replaces)."""

    def __init__(self, backend: "Backend"):
        self.backend = backend

    @property
    def cfg(self) -> LabConfig:
        return self.backend.cfg

    @property
    def root(self) -> Path:
        return self.backend.root


class ClusterAPI(Role):
    """The Kubernetes verbs on the lab's clusters, each named by the lab's cluster name: all that steps,
    status and scenarios read and change; and what the guide's read-only commands show of them."""

    @abstractmethod
    def apply(self, cluster: str, objects: list[dict]) -> list[str]: ...

    @abstractmethod
    def get(self, cluster: str, kind: str, namespace: str, name: str) -> dict | None: ...

    @abstractmethod
    def list(self, cluster: str, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]: ...

    @abstractmethod
    def delete(self, cluster: str, kind: str, namespace: str, name: str) -> bool: ...

    @abstractmethod
    def set_metadata(self, cluster: str, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> None:
        """`kubectl annotate` (field "annotations") or `kubectl label` ("labels"); a None value removes the key."""

    @abstractmethod
    def scale(self, cluster: str, namespace: str, deployment: str, replicas: int) -> None: ...

    def wait_rollout(self, cluster: str, namespace: str, name: str, kind: str = "Deployment") -> None:
        """`kubectl rollout status` of a Deployment or StatefulSet; the sim's steps wait through their checks instead."""

    def events(self, cluster: str) -> list[dict]:
        return []

    # -- observing, as the guide's commands do ----------------------------------
    @abstractmethod
    def gateways(self, cluster: str) -> list[GatewayStatus]:
        """`linkerd --context=<cluster> multicluster gateways`, parsed from the version's table."""

    @abstractmethod
    def check(self, cluster: str) -> list[CheckResult]:
        """The profile's multicluster check (`check --multicluster` or `multicluster check`), from its JSON."""

    @abstractmethod
    def request(self, cluster: str, namespace: str, deployment: str, url: str, timeout: float = 5.0) -> HttpResult: ...

    @abstractmethod
    def proxy_metrics(self, cluster: str, namespace: str, deployment: str) -> str:
        """The Prometheus text of the proxies of a deployment's pods, concatenated."""

    def trust_roots(self, cluster: str) -> str | None:
        """The anchors the cluster's control plane trusts, as stored where the profile keeps them."""
        from ..render import manifests, readback

        return readback.read_trust_roots(self.get(cluster, "ConfigMap", names.LINKERD_NS, manifests.trust_roots_name(self.cfg)))

    def gateway_api_installed(self, cluster: str) -> bool:
        """What edge's CheckGatewayAPICRDs asks: do the HTTPRoute and GRPCRoute CRDs exist
        (pkg/healthcheck/healthcheck.go, edge-26.8.3)."""
        from ..render import manifests

        return all(self.get(cluster, "CustomResourceDefinition", "", f"{plural}.gateway.networking.k8s.io")
                   for plural in manifests.GATEWAY_API_CRDS)


class Provider(Role):
    """Where the lab's clusters come from (kind, the lab process, existing contexts): create and remove
    them, and reach them."""

    name: str = "?"
    # True where `pause` ends as soon as the clusters' controllers have made a pass the caller has not seen
    # (the lab process's); elsewhere it is a plain sleep, and a poller keeps its short interval.
    pause_ends_on_pass: bool = False

    # -- lifecycle -----------------------------------------------------------
    @abstractmethod
    def cluster_exists(self, cluster: str) -> bool: ...

    @abstractmethod
    def create_cluster(self, cluster: str) -> None:
        """Create one cluster; called for every cluster at once, so it must be thread-safe."""

    @abstractmethod
    def destroy(self) -> list[str]:
        """Tear everything down; safe on a lab that never came up. Returns what was removed."""

    @abstractmethod
    def running(self) -> bool: ...

    def preflight(self) -> None:
        """Refuse to start when something the backend needs is missing (one LabError with the fix)."""

    def kubeconfig_path(self) -> str:
        """What to put in KUBECONFIG for kubectl to reach every cluster of the lab by its context."""
        raise LabError(f"the {self.name} backend has no kubeconfig of its own. Fix: use your kubeconfig's contexts")

    def lab_process(self) -> int | None:
        """The PID of the process that holds the clusters' data plane, when it is one of ours."""
        return None

    def settle(self) -> None:
        """Wait for controllers to act on the last change (a no-op where they are not ours)."""

    def pause(self, seconds: float) -> None:
        """Wait before looking at the clusters again: `seconds`, or less where the provider can tell that
        its controllers have acted since the caller last looked (a sleep where they are not ours)."""
        time.sleep(seconds)

    def write_diagnostics(self, dest: Path) -> None:
        """Add what only this backend knows to a diagnostics bundle."""

    # -- the network -----------------------------------------------------------
    def lb_pool(self, cluster: str):
        """The cluster's LoadBalancer range (the config's; kind computes it from its network), or None
        where the cluster brings its own LoadBalancer implementation (existing contexts)."""
        return self.cfg.cluster(cluster).lb_pool

    def route_pods(self, source: str, target: str) -> None:
        """Make `target`'s pod IPs routable from `source`'s pods and back (a pod-to-pod link needs a flat
        network). Nothing to do where the clusters already are on one (the simulation's network groups, or
        an existing context's own network)."""

    def pods_routed(self, source: str, target: str) -> bool:
        """Whether `route_pods` holds now, both ways (a restart of the nodes can lose routes)."""
        return True

    @abstractmethod
    def host_address(self, address: str, port: int) -> tuple[str, int] | None:
        """Where a test on this machine connects to reach `address:port` on the lab network."""

    def load(self, cluster: str, namespace: str, deployment: str, url: str, requests: int,
             concurrency: int, in_process: bool = False) -> dict | None:
        """`requests` GETs of `url` from `concurrency` workers run as one of the deployment's pods' processes:
        {"statuses", "latencies", "seconds", "errors", "pod"}; None where the backend has no such generator
        (kind: use `request`). `in_process`: to the pod's own app, called without its loopback (a measure of
        what the wire costs; no real pod can)."""
        return None


class Installer(Role):
    """What the guide installs, with one installer (the linkerd CLI or Helm); the cluster API does the writes."""

    @property
    def kube(self) -> ClusterAPI:
        return self.backend.kube

    def loadbalancer_objects(self, cluster: str) -> list[dict]:
        """The pool as the profile's MetalLB takes it: a ConfigMap before 0.13, CRDs since; none where the
        cluster brings its own LoadBalancer implementation."""
        from ..render import manifests

        pool = self.backend.provider.lb_pool(cluster)
        if pool is None:
            return []
        if self.cfg.profile.metallb_config == "configmap":
            return [manifests.metallb_configmap(pool)]
        return manifests.metallb(pool)

    @abstractmethod
    def install_loadbalancer(self, cluster: str) -> None:
        """MetalLB itself (the step then applies the lab's pool)."""

    @abstractmethod
    def install_gateway_api(self, cluster: str) -> None:
        """The profile's Gateway API CRDs (server-side apply of the release's standard-install.yaml)."""

    @abstractmethod
    def install_linkerd(self, cluster: str) -> None:
        """`linkerd install [--crds]` with the anchors file (roots_path) and the cluster's issuer files."""

    @abstractmethod
    def upgrade_linkerd(self, cluster: str, with_issuer: bool) -> None:
        """`linkerd upgrade --identity-trust-anchors-file bundle.crt` (and the issuer, for a cluster
        the guide installs fresh with the bundle)."""

    @abstractmethod
    def install_multicluster(self, cluster: str) -> None: ...

    def link_account(self, source: str) -> str | None:
        """The target's service account whose token `source`'s credentials carry (None: the chart's default)."""
        return None

    def grant_link_access(self, target: str, source: str) -> None:
        """What the installer does in `target` before `source` links to it: nothing for the CLI (the
        extension's default account serves every link); Helm gives each source its own account."""

    @abstractmethod
    def link(self, source: str, target: str, gateway, service_account: str | None = None) -> None:
        """`linkerd --context=<target> multicluster link --cluster-name <target> | kubectl --context=<source> apply -f -`;
        `gateway` (a gateways.Gateway) is the one the Link names, where the profile's Link names one (None:
        a pod-to-pod link, `link-gen --gateway=false`);
        `service_account` the target's account whose token the credentials carry (default: the chart's)."""

    @abstractmethod
    def allow_access(self, target: str, source: str) -> None:
        """Credentials in `target` for `source`'s service mirror: a Helm release, or `linkerd multicluster allow`."""

    @abstractmethod
    def revoke_access(self, target: str, source: str) -> None:
        """Remove exactly those credentials (`helm uninstall linkerd2-mc-<source>`); nothing else is touched."""

    def shared_account(self, target: str, source: str) -> str:
        """The account to remove in `target` to revoke `source` where the CLI installed the extension: one
        account (`linkerd-service-mirror-remote-access-default`, the chart's remote-access RBAC) serves every
        link to `target`, so it is `source`'s alone only when no other cluster links there."""
        others = sorted({link.source for link in self.cfg.links if link.target == target and link.source != source})
        if others:
            raise LabError(f"{source} shares {target}'s access account {names.REMOTE_ACCESS_SA} with "
                           f"{', '.join(others)}: removing it would revoke them too. Fix: use the Helm installer "
                           f"(--installer helm), which gives each source an account of its own")
        return names.REMOTE_ACCESS_SA

    def retire_link_controller(self, source: str, target: str) -> None:
        """Remove the controller (and its RBAC) that the deprecated `multicluster link` brought for the link to
        `target`, if `source` runs one; the Link, its credentials and its mirrors stay."""
        from ..render import manifests

        if self.kube.get(source, "Deployment", names.MC_NS, manifests.legacy_controller_name(target)) is None:
            return
        for obj in manifests.legacy_controller_objects(self.cfg, target):
            self.kube.delete(source, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        # What `unlink --only-controller` deletes too (edge-26.8.3 multicluster/cmd/unlink.go): the link chart's
        # probe Service, which beside the extension's probe-<target> fails the check (multicluster/cmd/check.go).
        probe = f"probe-gateway-{target}"
        if self.kube.get(source, "Service", names.MC_NS, probe) is not None:
            self.kube.delete(source, "Service", names.MC_NS, probe)

    @abstractmethod
    def install_gateway(self, cluster: str, gateway) -> None:
        """Make `gateway` (a gateways.Gateway) serve in `cluster`; the bundled one comes with the extension."""

    # -- the trust anchor bundle (the guide's "Trust Anchor Bundle") -------------
    def fetch_trust_anchors(self, cluster: str, dest: Path) -> None:
        """Write the anchors `cluster` trusts now to `dest` (the guide's trustAnchor.crt), no jq needed."""
        from ..trust import pki

        roots = self.kube.trust_roots(cluster)
        if not roots:
            raise LabError(f"cluster {cluster} has no trust anchors to read. Fix: run `./labctl step linkerd` first")
        pki.write_public(dest, roots)

    def write_bundle(self, dest: Path, sources: list[Path]) -> None:
        """`awk 1 trustAnchor.crt root.crt > bundle.crt`: the guide's `cat`, but every file ends in a
        newline first. Edge stores the anchors trimmed (no final newline) and kubectl's jsonpath adds
        none, so a plain `cat` glues two PEM blocks on one line, which Linkerd refuses."""
        from ..trust import pki

        pki.write_public(dest, "".join(text if text.endswith("\n") else text + "\n"
                                       for text in (p.read_text() for p in sources)))

    def restart_workloads(self, cluster: str, workloads: list[tuple[str, str, str]], stamp: Arg) -> None:
        """Restart meshed pods (each (kind, namespace, name): a Deployment or StatefulSet) so their proxies
        load the new anchors: the template gets `stamp` (the bundle's fingerprint) in an annotation, as
        `kubectl rollout restart` does with a time."""
        for kind, namespace, name in workloads:
            dep = self.kube.get(cluster, kind, namespace, name)
            if dep is None:
                continue
            value = resolved(stamp)
            dep["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})[ROOTS_ANNOTATION] = value
            dep.pop("status", None)
            self.kube.apply(cluster, [dep])


class Backend:
    """One way to have the lab's clusters: a provider, its cluster API and an installer, over the one copy
    of the lab's config (the Lab replaces `cfg` when a command changes the gateway or the link command)."""

    def __init__(self, cfg: LabConfig, root: Path | None, provider: Callable[["Backend"], Provider],
                 kube: Callable[["Backend"], ClusterAPI], installer: Callable[["Backend"], Installer]):
        self.cfg = cfg
        self.root = root or Path.cwd()
        # Each role is made with the backend it belongs to: the provider first (it knows how the clusters are
        # reached), then the API over them, then the installer that writes through it.
        self.provider = provider(self)
        self.kube = kube(self)
        self.installer = installer(self)

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def state_dir(self) -> Path:
        return self.cfg.state_dir(self.root)
