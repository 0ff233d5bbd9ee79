"""Inbound authorization policy, as a meshed pod's proxy enforces it (Linkerd 2.11+ policy CRDs).

With no Server selecting a pod's port, the pod's default inbound policy applies: its
`config.linkerd.io/default-inbound-policy` annotation (the injector copies a namespace's onto the pods it
injects, pkg/inject/inject.go AppendNamespaceAnnotations), else the cluster's, which the lab installs as
Linkerd's default, all-unauthenticated (policy-controller/k8s/index/src/inbound/workload.rs default_policy,
index.rs default_inbound_server: an invalid value is ignored with a warning). Once a Server selects the port, only
clients some AuthorizationPolicy on that Server (or on its whole namespace) authorizes get through: one
whose required authentications (MeshTLSAuthentication identities or service accounts) all match the client's
mTLS identity, or one that requires none, which admits every client. Anything else is refused, HTTP requests
with 403 (linkerd.io/2/reference/authorization-policy: "a Server with no authorizations denies all traffic";
default policy `all-unauthenticated`), unless the Server's `accessPolicy` (default `deny`) lets it through.
The upstream behind this, at linkerd/linkerd2 edge-26.8.3: policy-controller/k8s/index/src/inbound/index.rs
(client_authzs, policy_client_authz), .../inbound/meshtls_authentication.rs, .../defaults.rs, and
policy-controller/core/src/identity_match.rs.

An identity is `*` (any authenticated client), `*.<suffix>` (any identity ending in `.<suffix>`), or else
compared exactly: no other glob (identity_match.rs; the proxy's Suffix::contains is an `ends_with`,
linkerd2-proxy linkerd/proxy/server-policy/src/authz.rs). A client without a verified identity ("" or "-":
plaintext, or TLS without a client certificate) matches no MeshTLSAuthentication or service account, not
even `*`. NetworkAuthentication and ServerAuthorization are not modelled: the lab serves neither CRD, and a
policy naming a NetworkAuthentication that does not exist is ignored, as upstream ignores it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ... import names
from ..kube.store import ObjectStore

DEFAULT_POLICY_ANNOTATION = "config.linkerd.io/default-inbound-policy"
CLUSTER_DEFAULT_POLICY = "all-unauthenticated"  # charts/linkerd-control-plane/values.yaml proxy.defaultInboundPolicy
DEFAULT_POLICIES = ("all-unauthenticated", "all-authenticated", "cluster-unauthenticated", "cluster-authenticated",
                    "deny", "audit")  # policy-controller/core/src/inbound/defaults.rs (edge-26.8.3) FromStr


@dataclass(frozen=True)
class Refusal:
    """Which server refused: a Server resource (`server`, its name) or the pod's default (`default`, the
    policy's name), as the proxy's "Request denied" line names it (server.kind, server.name)."""
    kind: str
    name: str

    @property
    def group(self) -> str:
        return "policy.linkerd.io" if self.kind == "server" else ""


def _selects_pod(server: dict, labels: dict[str, str]) -> bool:
    """podSelector as policy-controller/k8s/api/src/labels.rs matches it: every matchExpression and every
    matchLabels entry must hold, so an empty selector selects every pod; a Server with an
    externalWorkloadSelector instead selects no pod."""
    spec = server.get("spec", {})
    if "podSelector" not in spec:
        return False
    selector = spec["podSelector"] or {}
    for expr in selector.get("matchExpressions") or []:
        operator, key, values = expr.get("operator"), expr.get("key"), expr.get("values")
        has_values, present = values is not None, key in labels
        holds = {("In", True): present and labels.get(key) in (values or ()),
                 ("NotIn", True): not present or labels.get(key) not in (values or ()),
                 ("Exists", False): present, ("DoesNotExist", False): not present}
        if not holds.get((operator, has_values), False):  # an illegal expression matches nothing
            return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _selects_port(server: dict, port: int, port_names: dict[int, str]) -> bool:
    want = server.get("spec", {}).get("port")
    return want == port or (isinstance(want, str) and port_names.get(port) == want)


def server_for(store: ObjectStore, pod: dict, port: int) -> dict | None:
    """The Server that selects the pod's `port` (by number or container port name), if any."""
    namespace, labels = pod["metadata"]["namespace"], pod["metadata"].get("labels") or {}
    port_names = {p["containerPort"]: p.get("name", "") for c in pod.get("spec", {}).get("containers", [])
                  for p in c.get("ports", []) if "containerPort" in p}
    for server in store.views("Server", namespace):
        if _selects_pod(server, labels) and _selects_port(server, port, port_names):
            return server
    return None


def _authenticated(store: ObjectStore, ref: dict, namespace: str, client_id: str, trust_domain: str) -> bool:
    kind, ref_ns = ref.get("kind"), ref.get("namespace") or namespace
    if client_id in ("", "-"):
        return False
    if kind == "ServiceAccount":
        return client_id == names.identity(ref.get("name", ""), ref_ns, trust_domain)
    if kind != "MeshTLSAuthentication":
        return False
    authn = store.view("MeshTLSAuthentication", ref_ns, ref.get("name", ""))
    if authn is None:
        return False
    spec = authn.get("spec", {})
    if any(_identity_matches(pattern, client_id) for pattern in spec.get("identities") or []):
        return True
    for target in spec.get("identityRefs") or []:
        name = target.get("name", "")
        if target.get("kind") == "ServiceAccount" and \
                client_id == names.identity(name, target.get("namespace") or ref_ns, trust_domain):
            return True
        # a Namespace: every account in it, `*.<ns>.serviceaccount.identity.linkerd.<domain>` (cluster_info.rs)
        if target.get("kind") == "Namespace" and _identity_matches(names.identity("*", name, trust_domain), client_id):
            return True
    return False


def _identity_matches(pattern: str, client_id: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return client_id.endswith(pattern[1:])
    return client_id == pattern


REQUIRE_IDENTITY_ANNOTATION = "config.linkerd.io/proxy-require-identity-inbound-ports"


def default_policy(pod: dict, port: int) -> str:
    """The pod's default inbound policy for `port`: its annotation when valid, else the cluster's; on a port
    the pod requires identity for, an `*-unauthenticated` policy admits authenticated clients only
    (index.rs default_inbound_server sets authenticated_only, so the policy is named `*-authenticated`)."""
    annotations = pod["metadata"].get("annotations") or {}
    wanted = annotations.get(DEFAULT_POLICY_ANNOTATION)
    name = wanted if wanted in DEFAULT_POLICIES else CLUSTER_DEFAULT_POLICY
    if name.endswith("-unauthenticated") and port in _ports(annotations.get(REQUIRE_IDENTITY_ANNOTATION, "")):
        name = name.replace("-unauthenticated", "-authenticated")
    return name


def _ports(text: str) -> set[int]:
    """A port-set annotation as parse_portset reads it (policy-controller/k8s/index/src/ports.rs): ports and
    increasing `low-high` ranges of ports 1-65535, comma separated; a list with any bad entry is no ports at
    all (ports_annotation in workload.rs ignores it with a log line)."""
    ports: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, dash, high = (x.strip() for x in part.partition("-"))
        if not (low.isdigit() and (high.isdigit() or not dash)):
            return set()
        first, last = int(low), int(high) if dash else int(low)
        if not 0 < first <= last < 65536:
            return set()
        ports.update(range(first, last + 1))
    return ports


@dataclass(frozen=True)
class Decision:
    """What the proxy decided for one client on one port, with the refs its authz metrics carry: the server
    (a Server, or the pod's default policy) and, when allowed, the authorization that allowed it."""
    server: Refusal
    authz: tuple[str, str] | None  # (kind, name): "authorizationpolicy" and its name, or "default" and the policy's

    @property
    def allowed(self) -> bool:
        return self.authz is not None

    def labels(self, port: int) -> dict[str, str]:
        """inbound_http_authz_*_total's server, route and authorization labels (linkerd2-proxy v2.366.0
        app/core/src/metrics.rs RouteAuthzLabels; a Server without routes has the policy controller's route
        `default`, policy-controller/k8s/index/src/inbound/index.rs at edge-26.8.3; the default policy's refs,
        inbound/src/policy/defaults.rs); deny_total has no authz_* labels."""
        labels = {"srv_group": self.server.group, "srv_kind": self.server.kind, "srv_name": self.server.name,
                  "srv_port": str(port), "route_group": "", "route_kind": "default", "route_name": "default"}
        if self.authz:
            kind, name = self.authz
            labels |= {"authz_group": "policy.linkerd.io" if kind == "authorizationpolicy" else "",
                       "authz_kind": kind, "authz_name": name}
        return labels


def decide(store: ObjectStore, pod: dict, port: int, client_id: str, trust_domain: str) -> Decision:
    """Whether `client_id` may reach the pod's `port`, and which server and authorization said so."""
    server = server_for(store, pod, port) if store.view_all("Server") else None
    if server is None:
        policy_name = default_policy(pod, port)
        allowed = _access_policy_admits(policy_name, client_id)
        return Decision(Refusal("default", policy_name), ("default", policy_name) if allowed else None)
    namespace, name = server["metadata"]["namespace"], server["metadata"]["name"]
    for policy in store.views("AuthorizationPolicy", namespace):
        spec = policy.get("spec", {})
        target = spec.get("targetRef") or {}
        # a policy on this Server, or on the namespace (admission refuses one naming another namespace)
        if (target.get("kind"), target.get("name")) not in (("Server", name), ("Namespace", namespace)):
            continue
        # no required authentication: unauthenticated clients from any network (policy_client_authz)
        refs = spec.get("requiredAuthenticationRefs") or []
        if all(_authenticated(store, ref, namespace, client_id, trust_domain) for ref in refs):
            return Decision(Refusal("server", name), ("authorizationpolicy", policy["metadata"]["name"]))
    access_policy = server.get("spec", {}).get("accessPolicy") or "deny"
    allowed = _access_policy_admits(access_policy, client_id)
    return Decision(Refusal("server", name), ("default", access_policy) if allowed else None)


def denied_by(store: ObjectStore, pod: dict | None, port: int, client_id: str, trust_domain: str) -> Refusal | None:
    """None when the request may pass; else the server that refuses it."""
    if pod is None:
        return None
    decision = decide(store, pod, port, client_id, trust_domain)
    return None if decision.allowed else decision.server


def _access_policy_admits(access_policy: str, client_id: str) -> bool:
    """The Server's default for traffic no authorization admits (defaults.rs DefaultPolicy; an unknown value
    is dropped, leaving none). `cluster-*` also wants the client's address in clusterNetworks, whose default
    (charts/linkerd-control-plane/values.yaml: every private IPv4 range and fd00::/8, which the lab keeps) holds
    every pod, node and host address of a kind lab, so here it admits what `all-*` admits."""
    if access_policy in ("all-unauthenticated", "cluster-unauthenticated", "audit"):
        return True
    return access_policy in ("all-authenticated", "cluster-authenticated") and client_id not in ("", "-")
