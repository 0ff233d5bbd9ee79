"""Inbound authorization policy, as a meshed pod's proxy enforces it (Linkerd 2.11+ policy CRDs).

With no Server selecting a pod's port, the pod's default inbound policy applies: its
`config.linkerd.io/default-inbound-policy` annotation (the injector copies a namespace's onto the pods it
injects, pkg/inject/inject.go AppendNamespaceAnnotations), else the cluster's, which the lab installs as
Linkerd's default, all-unauthenticated (policy-controller/k8s/index/src/inbound/workload.rs default_policy,
index.rs default_inbound_server: an invalid value is ignored with a warning). Once a Server selects the port, only
clients some AuthorizationPolicy on that Server (or on its whole namespace) authorizes get through: one
whose required authentications all hold for the client: MeshTLSAuthentication identities or service accounts
matching its mTLS identity, a NetworkAuthentication's networks holding its address. One that requires no
identity admits unauthenticated clients; one that requires none at all admits every client. Anything else is refused, HTTP requests
with 403 (linkerd.io/2/reference/authorization-policy: "a Server with no authorizations denies all traffic";
default policy `all-unauthenticated`), unless the Server's `accessPolicy` (default `deny`) lets it through.
The upstream behind this, at linkerd/linkerd2 edge-26.8.3: policy-controller/k8s/index/src/inbound/index.rs
(client_authzs, policy_client_authz), .../inbound/meshtls_authentication.rs, .../network_authentication.rs,
.../defaults.rs, policy-controller/core/src/identity_match.rs and network_match.rs.

An identity is `*` (any authenticated client), `*.<suffix>` (any identity ending in `.<suffix>`), or else
compared exactly: no other glob (identity_match.rs; the proxy's Suffix::contains is an `ends_with`,
linkerd2-proxy linkerd/proxy/server-policy/src/authz.rs). A client without a verified identity ("" or "-":
plaintext, or TLS without a client certificate) matches no MeshTLSAuthentication or service account, not
even `*`.

A NetworkAuthentication holds a client whose address is in one of its `networks`: in the `cidr` (a network or
a single address) and in none of its `except` entries (policy-controller/k8s/api/src/policy/network.rs
Network::contains); one with no networks is refused by the index, so it holds nobody. A policy naming one that
does not exist, or a MeshTLSAuthentication that does not exist, is ignored (policy_client_authz bails), as is
one naming two NetworkAuthentications. The simulated proxies do not know a client's source address: their
connections are loopback sockets, and the address a real gateway sees depends on the cluster's SNAT (the
chart's comment: on some providers the local node's). So where the client's address is unknown (`client_ip`
None, as the proxy calls decide) a network holds the client only when it is a whole address family
(`0.0.0.0/0`, `::/0`) with no exception: the multicluster chart's `source-cluster` does, a narrower one
admits nobody here. ServerAuthorization is not modelled: the lab serves no such CRD.
"""
from __future__ import annotations

import ipaddress
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

    def labels(self, port: int) -> dict[str, str]:
        """The srv_* labels of the proxy's inbound metrics (linkerd2-proxy v2.366.0 transport/labels.rs, metrics.rs)."""
        return {"srv_group": self.group, "srv_kind": self.kind, "srv_name": self.name, "srv_port": str(port)}


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
    # containers and init containers (a native-sidecar proxy's `linkerd-proxy` port is on one), TCP ports only
    # (workload.rs pod_tcp_ports_by_name, edge-26.8.3)
    spec = pod.get("spec", {})
    port_names = {p["containerPort"]: p.get("name", "")
                  for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
                  for p in c.get("ports") or [] if "containerPort" in p and p.get("protocol", "TCP") == "TCP"}
    for server in store.views("Server", namespace):
        if _selects_pod(server, labels) and _selects_port(server, port, port_names):
            return server
    return None


def _network(text) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A `cidr` or `except` entry (a network or one address, network.rs Cidr); None when it is neither. Host
    bits are allowed, as ipnet keeps them and matches by the prefix."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def network_holds(networks: list[dict], client_ip: str | None) -> bool:
    """Whether a NetworkAuthentication's `networks` hold the client's address (any one network holds it when the
    address is in its cidr and in none of its exceptions); with the address unknown, whether one of them is a
    whole address family without exceptions."""
    address = None
    if client_ip is not None:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
    for entry in networks:
        net = _network(entry.get("cidr", ""))
        if net is None:
            continue
        excepts = [n for n in (_network(e) for e in entry.get("except") or []) if n is not None]
        if address is None:
            if net.prefixlen == 0 and not excepts:
                return True
            continue
        if address.version == net.version and address in net and \
                not any(address.version == ex.version and address in ex for ex in excepts):
            return True
    return False


def _policy_refs_valid(store: ObjectStore, refs: list[dict], namespace: str) -> bool:
    """Whether the policy controller indexes the policy at all: every MeshTLSAuthentication and
    NetworkAuthentication it names exists, and it names at most one NetworkAuthentication
    (index.rs policy_client_authz bails otherwise, and the policy authorizes nobody)."""
    networks = [r for r in refs if r.get("kind") == "NetworkAuthentication"]
    if len(networks) > 1:
        return False
    return all(store.view(r.get("kind"), r.get("namespace") or namespace, r.get("name", "")) is not None
               for r in refs if r.get("kind") in ("MeshTLSAuthentication", "NetworkAuthentication"))


def _authenticated(store: ObjectStore, ref: dict, namespace: str, client_id: str, trust_domain: str,
                   client_ip: str | None = None) -> bool:
    kind, ref_ns = ref.get("kind"), ref.get("namespace") or namespace
    if kind == "NetworkAuthentication":  # an address, not an identity: unauthenticated clients too
        authn = store.view("NetworkAuthentication", ref_ns, ref.get("name", ""))
        return authn is not None and network_holds(authn.get("spec", {}).get("networks") or [], client_ip)
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
        labels = {**self.server.labels(port), "route_group": "", "route_kind": "default", "route_name": "default"}
        if self.authz:
            kind, name = self.authz
            labels |= {"authz_group": "policy.linkerd.io" if kind == "authorizationpolicy" else "",
                       "authz_kind": kind, "authz_name": name}
        return labels


def decide(store: ObjectStore, pod: dict, port: int, client_id: str, trust_domain: str,
           client_ip: str | None = None) -> Decision:
    """Whether `client_id` (from `client_ip`, None where unknown) may reach the pod's `port`, and which server
    and authorization said so."""
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
        if _policy_refs_valid(store, refs, namespace) and \
                all(_authenticated(store, ref, namespace, client_id, trust_domain, client_ip) for ref in refs):
            return Decision(Refusal("server", name), ("authorizationpolicy", policy["metadata"]["name"]))
    access_policy = server.get("spec", {}).get("accessPolicy") or "deny"
    allowed = _access_policy_admits(access_policy, client_id)
    return Decision(Refusal("server", name), ("default", access_policy) if allowed else None)


def denied_by(store: ObjectStore, pod: dict | None, port: int, client_id: str, trust_domain: str,
              client_ip: str | None = None) -> Refusal | None:
    """None when the request may pass; else the server that refuses it."""
    if pod is None:
        return None
    decision = decide(store, pod, port, client_id, trust_domain, client_ip)
    return None if decision.allowed else decision.server


def _access_policy_admits(access_policy: str, client_id: str) -> bool:
    """The Server's default for traffic no authorization admits (defaults.rs DefaultPolicy; an unknown value
    is dropped, leaving none). `cluster-*` also wants the client's address in clusterNetworks, whose default
    (charts/linkerd-control-plane/values.yaml: every private IPv4 range and fd00::/8, which the lab keeps) holds
    every pod, node and host address of a kind lab, so here it admits what `all-*` admits."""
    if access_policy in ("all-unauthenticated", "cluster-unauthenticated", "audit"):
        return True
    return access_policy in ("all-authenticated", "cluster-authenticated") and client_id not in ("", "-")
