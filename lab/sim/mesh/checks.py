"""The profile's multicluster check, answered from a simulated cluster's state in that version's words.

stable-2.8.1 `linkerd check --multicluster` runs the core checks (here: the identity category) and the
categories of pkg/healthcheck/healthcheck_multicluster.go; edge-26.8.3 `linkerd multicluster check`
runs only multicluster/cmd/check.go's "linkerd-multicluster" category. The names, the categories,
which checks are warnings, and the shape of the error texts (`[cluster]`, `* cluster`) follow those
files, so the lab reads the simulation's output exactly as it reads the real CLI's.
"""
from __future__ import annotations

from dataclasses import dataclass

from ... import names
from ...trust import pki
from ...parsers.cli_output import CheckResult
from ...names import MC_NS
from ...model.profiles import Profile
from .cluster import Cluster
from . import controlplane
from .mirror import MIRRORED_LABEL, ServiceMirror
from ..kube import rbac
from .remote import authenticated

HINTS = "https://linkerd.io/checks/#"


def _result(category: str, name: str, error: str | None, anchor: str, warning: bool = False) -> CheckResult:
    if error is None:
        return CheckResult(category, name, "success")
    return CheckResult(category, name, "warning" if warning else "error", error, HINTS + anchor)


def _identity(cluster: Cluster) -> list[CheckResult]:
    category = "linkerd-identity"
    roots, issuer = controlplane.trust_roots(cluster.store), controlplane.issuer(cluster.store)
    try:
        anchors = pki.go_pem_certificates(roots) if roots else None
        config_error = None if anchors is not None and issuer is not None else "linkerd-config not found"
    except pki.PKIError as exc:
        anchors, config_error = None, str(exc)
    out = [_result(category, "certificate config is valid", config_error, "l5d-identity-cert-config-valid")]
    if anchors is not None and issuer is not None:
        try:
            pki.validate_issuer(issuer.cert, anchors)
            error = None
        except pki.PKIError as exc:
            error = str(exc)
        out.append(_result(category, "issuer cert is issued by the trust anchor", error, "l5d-identity-issuer-cert-issued-by-trust-anchor"))
    return out


@dataclass
class _Caller:
    """Who a link's credentials make the caller at its target, asked afresh for each check (edge-26.8.3
    multicluster/cmd/check.go builds a client from the credentials Secret every time), so revoked credentials
    fail a check at once while the controller's open watch carries on until it ends."""
    target: str
    remote: Cluster | None = None  # the target's cluster, where the credentials were accepted
    user: rbac.User | None = None
    error: str | None = None  # else what stopped the request: no Secret, or what `authenticated` said
    no_secret: bool = False


def _callers(cluster: Cluster, mirror: ServiceMirror) -> list[_Caller]:
    out = []
    for name, spec in sorted(mirror.link_specs().items()):
        target = spec.get("targetClusterName", name)
        secret = cluster.store.view("Secret", MC_NS, spec.get("clusterCredentialsSecret", ""))
        if secret is None:
            out.append(_Caller(target, error=f'secrets "{spec.get("clusterCredentialsSecret")}" not found', no_secret=True))
            continue
        remote, user, error = authenticated(cluster, secret, target)
        out.append(_Caller(target, remote, user, error))
    return out


def _targets(callers: list[_Caller]) -> list[tuple[str, Cluster | None, str | None]]:
    """(target, its cluster or None, why not) for each link, as `clusters share trust anchors` reads each
    target: the `linkerd-config` ConfigMap in the target's `linkerd` namespace (healthcheck.
    FetchCurrentConfiguration, edge-26.8.3 check.go checkRemoteClusterAnchors). Why not is what the API
    answered: "Unauthorized", or the 403's message."""
    out = []
    wanted = rbac.Request("get", "", "configmaps", names.LINKERD_NS, "linkerd-config")
    for caller in callers:
        if caller.remote is None:
            out.append((caller.target, None, caller.error))
        elif not rbac.allowed(caller.remote.store, caller.user, wanted):
            out.append((caller.target, None, rbac.forbidden_message(caller.user, wanted)))
        else:
            out.append((caller.target, caller.remote, None))
    return out


SERVICE_VERBS = ("get", "list", "watch")  # what both versions ask of a target, on Services in all namespaces
SSAR = rbac.Request("create", "authorization.k8s.io", "selfsubjectaccessreviews")


def _service_access(callers: list[_Caller]) -> list[tuple[str, str | None, tuple[str, ...], list[str]]]:
    """Per link: (target, why it could not even connect or None, the verbs on Services its credentials are
    allowed, why each other verb is not), asked as both versions ask: a SelfSubjectAccessReview per verb
    (pkg/k8s/authz.go ResourceAuthz at edge-26.8.3; hc.checkCanPerformAction at stable-2.8.1). An anonymous
    caller (an empty token) may not send one: its reviews are refused with the API server's 403."""
    out = []
    for caller in callers:
        remote, user = caller.remote, caller.user
        if remote is None:
            out.append((caller.target, "Unauthorized" if caller.no_secret else caller.error, (), []))
        elif "system:authenticated" not in user.groups and not rbac.allowed(remote.store, user, SSAR):
            out.append((caller.target, None, (), [rbac.forbidden_message(user, SSAR)] * len(SERVICE_VERBS)))
        else:
            allowed = tuple(v for v in SERVICE_VERBS if rbac.allowed(remote.store, user, rbac.Request(v, "", "services")))
            out.append((caller.target, None, allowed,
                        ["not authorized to access services"] * (len(SERVICE_VERBS) - len(allowed))))
    return out


def _edge_access_problems(callers: list[_Caller]) -> list[str]:
    """checkRemoteClusterConnectivity (edge-26.8.3 multicluster/cmd/check.go): a failed version request
    names the cluster; then one line per verb the credentials lack."""
    problems = []
    for target, error, allowed, reasons in _service_access(callers):
        if error:
            problems.append(f"* failed to connect to API for cluster: [{target}]: {error}")
            continue
        missing = [v for v in SERVICE_VERBS if v not in allowed]
        problems += [f"* missing service permission [{verb}] for cluster [{target}]: {reason}"
                     for verb, reason in zip(missing, reasons)]
    return problems


def _seed_access_problems(callers: list[_Caller]) -> list[str]:
    """stable-2.8.1 pkg/healthcheck/healthcheck_multicluster.go checkRemoteClusterConnectivity: the verbs a
    review allowed, compared with get,list,watch (comparePermissions, both sides sorted)."""
    return [f"* cluster: [{target}]: Insufficient Service permissions: expected get,list,watch, got {','.join(sorted(allowed))}"
            for target, _, allowed, _ in _service_access(callers) if set(allowed) != set(SERVICE_VERBS)]


def _anchors_error(cluster: Cluster, targets: list[tuple[str, Cluster | None, str | None]]) -> str | None:
    """`clusters share trust anchors`: each target's anchors, read through the link's credentials, are the
    local ones (same count, same certificates). Both versions list offenders as `* <cluster>`."""
    roots = controlplane.trust_roots(cluster.store)
    local = pki.load_certs(roots) if roots else []
    problems = []
    for target, remote, error in targets:
        if remote is None:
            problems.append(f"* {target}: unable to fetch anchors: {error}")
            continue
        theirs = (pki.load_certs(controlplane.trust_roots(remote.store) or "")
                  if controlplane.trust_roots(remote.store) else [])
        if len(theirs) != len(local) or set(theirs) != set(local):
            problems.append(f"* {target}")
    return "Problematic clusters:\n    " + "\n    ".join(problems) if problems else None


def _mirror_endpoints(cluster: Cluster, category: str, warning: bool) -> CheckResult:
    """"all mirror services have endpoints": a warning in 2.8.1, an error on edge, where pod-to-pod mirrors and
    federated services are left out: they have none by design (checkIfMirrorServicesHaveEndpoints). Both leave
    out gateway mirrors (`!mirror.linkerd.io/mirrored-gateway`: healthcheck_multicluster.go:656 at
    stable-2.8.1, multicluster/cmd/check.go at edge-26.8.3)."""
    missing = []
    for svc in cluster.store.list("Service", labels={MIRRORED_LABEL: "true"}):
        meta = svc["metadata"]
        if names.REMOTE_DISCOVERY_LABEL in (meta.get("labels") or {}) or names.MIRRORED_GATEWAY in (meta.get("labels") or {}) or \
                names.REMOTE_DISCOVERY_ANNOTATION in (meta.get("annotations") or {}):
            continue
        if not (cluster.store.get("Endpoints", meta["namespace"], meta["name"]) or {}).get("subsets"):
            target = meta.get("labels", {}).get(names.CLUSTER_NAME, "")
            missing.append(f"{meta['name']}.{meta['namespace']} mirrored from cluster [{target}]")
    return _result(category, "all mirror services have endpoints",
                   "Some mirror services do not have endpoints:\n    " + "\n    ".join(missing) if missing else None,
                   "l5d-multicluster-services-endpoints", warning=warning)


def _gateway_mirror_endpoints(cluster: Cluster, category: str) -> CheckResult:
    """2.8.1's "all gateway mirrors have endpoints" (a warning): each Service labelled mirrored-gateway has an
    Endpoints with a subset (checkIfGatewayMirrorsHaveEndpoints, healthcheck_multicluster.go:678-701, stable-2.8.1)."""
    missing = [f"{s['metadata']['name']}.{s['metadata']['namespace']} mirrored from cluster "
               f"[{s['metadata'].get('labels', {}).get(names.CLUSTER_NAME, '')}]"
               for s in cluster.store.list("Service", labels={names.MIRRORED_GATEWAY: "true"})
               if not (cluster.store.get("Endpoints", s["metadata"]["namespace"], s["metadata"]["name"]) or {}).get("subsets")]
    return _result(category, "all gateway mirrors have endpoints",
                   "Some gateway mirrors do not have endpoints:\n    " + "\n    ".join(missing) if missing else None,
                   "l5d-multicluster-gateways-endpoints", warning=True)


def _deployment_available(cluster: Cluster, name: str) -> bool:
    dep = cluster.store.get("Deployment", MC_NS, name) or {}
    return dep.get("status", {}).get("availableReplicas", 0) >= 1


def _seed_2_8(cluster: Cluster, profile: Profile, mirror: ServiceMirror) -> list[CheckResult]:
    """stable-2.8.1 pkg/healthcheck/healthcheck_multicluster.go, source and target categories."""
    source, target = "linkerd-multicluster-source", "linkerd-multicluster-target"
    out = _identity(cluster)
    running = _deployment_available(cluster, profile.service_mirror)
    out.append(_result(source, "service mirror controller is running",
                       None if running else "Service mirror controller is not present", "l5d-multicluster-service-mirror-running"))
    if not running:
        return out  # a fatal check: the rest is not run
    if mirror.links:
        callers = _callers(cluster, mirror)
        targets, problems = _targets(callers), _seed_access_problems(callers)
        out.append(_result(source, profile.check_credentials, "\n    ".join(problems) or None, "l5d-smc-target-clusters-access"))
        dead = [f"* cluster: [{g['cluster']}], gateway: [{g['namespace']}/{g['name']}]" for g in mirror.gateways() if not g["alive"]]
        if mirror.gateways():
            out.append(_result(source, "all target cluster gateways are alive",
                               "Some gateways are not alive:\n    " + "\n    ".join(dead) if dead else None,
                               "l5d-multicluster-target-gateways-alive"))
        out.append(_result(source, profile.check_anchors, _anchors_error(cluster, targets),
                           "l5d-multicluster-clusters-share-anchors"))
    out.append(_mirror_endpoints(cluster, source, warning=True))
    out.append(_gateway_mirror_endpoints(cluster, source))
    gateway = cluster.store.get("Service", MC_NS, "linkerd-gateway")
    if gateway is not None:
        valid = bool(gateway.get("status", {}).get("loadBalancer", {}).get("ingress")) and _deployment_available(cluster, "linkerd-gateway")
        out.append(_result(target, "all cluster gateways are valid",
                           None if valid else f"Some gateway services do not have endpoints:\n    {MC_NS}/linkerd-gateway",
                           "l5d-multicluster-gateways-exist", warning=True))
    return out


def _edge(cluster: Cluster, profile: Profile, mirror: ServiceMirror) -> list[CheckResult]:
    """edge-26.8.3 multicluster/cmd/check.go multiclusterCategory."""
    category = "linkerd-multicluster"
    crd = cluster.store.get("CustomResourceDefinition", "", "links.multicluster.linkerd.io")
    out = [_result(category, "Link CRD exists",
                   None if crd else "multicluster.linkerd.io/Link CRD is missing: the server could not find the requested resource",
                   "l5d-multicluster-link-crd-exists")]
    if crd is None:
        return out  # fatal
    out.append(_result(category, "Link resources are valid", None, "l5d-multicluster-links-are-valid"))
    callers = _callers(cluster, mirror)
    targets, problems = _targets(callers), _edge_access_problems(callers)
    if mirror.links:
        out.append(_result(category, profile.check_credentials, "\n    ".join(problems) or None, "l5d-smc-target-clusters-access"))
        out.append(_result(category, profile.check_anchors, _anchors_error(cluster, targets),
                           "l5d-multicluster-clusters-share-anchors"))
        absent, legacy = [], []
        for state in mirror.links.values():
            found = mirror.controllers(state.target)
            if len(found) > 1:
                absent.append(f"* too many service mirror controller deployments for Link {state.target}")
            elif not found:
                absent.append(f"* no service mirror controller deployment for Link {state.target}")
            elif found[0].get("status", {}).get("availableReplicas", 0) < 1:
                absent.append(f"* service mirror controller is not available: {MC_NS}/{found[0]['metadata']['name']}")
            if found and found[0]["metadata"].get("labels", {}).get("component") == "service-mirror":
                legacy.append(f"* using legacy service mirror controller for Link: {state.target}")
        out.append(_result(category, "service mirror controllers are running", "\n    ".join(absent) or None,
                           "l5d-multicluster-service-mirror-running"))
        out.append(_result(category, "extension is managing controllers", "\n    ".join(legacy) or None,
                           "l5d-multicluster-managed-controllers", warning=True))
        dead = _probe_service_counts(cluster, mirror)
        # gateway_alive 0, as it is from the probe worker's start until its first successful probe
        dead += [f"liveness checks failed for {g['cluster']}" for g in mirror.gateways() if not g["alive"]]
        out.append(_result(category, "probe services able to communicate with all gateway mirrors",
                           "\n    ".join(dead) or None, "l5d-multicluster-gateways-endpoints"))
    out.append(_mirror_endpoints(cluster, category, warning=False))
    return out


def _probe_service_counts(cluster: Cluster, mirror: ServiceMirror) -> list[str]:
    """Each Link with a gateway and a probe path has exactly one probe Service (labelled mirrored-gateway and
    with its cluster name) in the cluster; the extension's probe-<t> beside the deprecated link's
    probe-gateway-<t> fails (multicluster/cmd/check.go, edge-26.8.3)."""
    out = []
    for link in cluster.store.views("Link", MC_NS):
        spec = link.get("spec", {})
        if not spec.get("gatewayAddress") or not spec.get("probeSpec", {}).get("path"):
            continue
        target = spec.get("targetClusterName", link["metadata"]["name"])
        found = cluster.store.views("Service", None, labels={names.MIRRORED_GATEWAY: "true", names.CLUSTER_NAME: target})
        if len(found) != 1:
            out.append(f"wrong number ({len(found)}) of probe gateways for target cluster {target}")
    return out


def cluster_checks(cluster: Cluster, profile: Profile) -> list[CheckResult]:
    mirror = next(c for c in cluster.controllers if isinstance(c, ServiceMirror))
    return _edge(cluster, profile, mirror) if profile.link_crd else _seed_2_8(cluster, profile, mirror)
