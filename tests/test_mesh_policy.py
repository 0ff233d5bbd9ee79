"""Which clients a meshed pod's proxy admits once Linkerd's policy resources select its port (the
scenario in scenarios/test_pod_to_pod.py shows one policy end to end; these are the rest of the rules).

linkerd.io/2/reference/authorization-policy: a port no Server selects follows the default policy (the
lab's is all-unauthenticated); a Server selects pods by labels and a port by number or by container
port name; then only clients an AuthorizationPolicy on that Server authorizes pass, and a policy
authorizes a client when every one of its required authentications matches the client's identity.

Upstream, read at linkerd/linkerd2 edge-26.8.3 (policy-controller/k8s/index/src/inbound/index.rs client_authzs
and policy_client_authz; .../inbound/meshtls_authentication.rs; .../defaults.rs; core/src/identity_match.rs;
charts/linkerd-crds/templates/policy/server.yaml for accessPolicy's default `deny`) and linkerd2-proxy
linkerd/proxy/server-policy/src/authz.rs (Suffix::contains). stable-2.8.1 has no policy resources at all."""
import pytest

from lab import names
from lab.sim.kube.store import ObjectStore
from lab.sim.mesh import policy

DOMAIN = "cluster.local"
NS = "apps"
POD = {"metadata": {"name": "web-0", "namespace": NS, "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090}]}]}}


def who(account: str, namespace: str = NS) -> str:
    return names.identity(account, namespace, DOMAIN)


def _server(name: str, port, app: str = "web") -> dict:
    return {"kind": "Server", "metadata": {"name": name, "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": app}}, "port": port}}


def _policy(name: str, server: str, *refs: dict) -> dict:
    return {"kind": "AuthorizationPolicy", "metadata": {"name": name, "namespace": NS},
            "spec": {"targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": server},
                     "requiredAuthenticationRefs": list(refs)}}


def _authn(name: str, identities=(), accounts=()) -> dict:
    return {"kind": "MeshTLSAuthentication", "metadata": {"name": name, "namespace": NS},
            "spec": {"identities": list(identities), "identityRefs": [{"kind": "ServiceAccount", **a} for a in accounts]}}


def _store(*objects: dict) -> ObjectStore:
    store = ObjectStore()
    for obj in objects:
        store.apply(obj)
    return store


def denied(store, client: str, port: int = 8080, pod=POD):
    """The name of the Server that refuses the client, or None."""
    refused = policy.denied_by(store, pod, port, client, DOMAIN)
    assert refused is None or refused.kind == "server", refused
    return refused.name if refused else None


def test_without_a_server_selecting_the_port_everyone_is_admitted():
    assert denied(_store(), who("anyone")) is None
    store = _store(_server("other-app", 8080, app="db"), _server("metrics", 9090))
    assert denied(store, who("anyone")) is None, "a Server for other pods"
    assert denied(store, who("anyone"), port=8080) is None, "a Server for another port"
    assert denied(store, who("anyone"), pod=None) is None, "a destination that is no pod"


@pytest.mark.parametrize("port", [8080, "http"])
def test_a_server_with_no_authorization_refuses_everyone_on_its_port_by_number_or_name(port):
    store = _store(_server("web-http", port))
    assert denied(store, who("client")) == "web-http"
    assert denied(store, who("client"), port=9090) is None


def test_a_policy_admits_the_identities_it_names_exactly_or_by_domain_and_refuses_the_rest():
    store = _store(_policy("a-policy-for-another-server", "metrics", {"kind": "ServiceAccount", "name": "stranger"}),
                   _server("web-http", "http"), _authn("clients", identities=[who("client"), f"*.ops.serviceaccount.identity.linkerd.{DOMAIN}"]),
                   _policy("from-clients", "web-http", {"kind": "MeshTLSAuthentication", "name": "clients"}))
    assert denied(store, who("client")) is None
    assert denied(store, who("robot", "ops")) is None
    assert denied(store, who("stranger")) == "web-http"
    assert denied(store, "-") == "web-http", "a client without an identity"


def test_a_policy_admits_service_accounts_named_directly_or_through_an_authentication():
    store = _store(_server("web-http", 8080), _authn("accounts", accounts=[{"name": "client"}, {"name": "ci", "namespace": "ops"}]),
                   _policy("by-authn", "web-http", {"kind": "MeshTLSAuthentication", "name": "accounts"}),
                   _policy("by-account", "web-http", {"kind": "ServiceAccount", "name": "robot", "namespace": "ops"}))
    assert denied(store, who("client")) is None, "identityRefs default to the authentication's namespace"
    assert denied(store, who("ci", "ops")) is None
    assert denied(store, who("robot", "ops")) is None
    assert denied(store, who("ci")) == "web-http", "the same account name in another namespace"
    assert denied(store, who("robot")) == "web-http"


def test_every_required_authentication_must_match_and_a_missing_one_voids_the_policy():
    store = _store(_server("web-http", 8080), _authn("clients", identities=[who("client")]),
                   _policy("both", "web-http", {"kind": "MeshTLSAuthentication", "name": "clients"},
                           {"kind": "ServiceAccount", "name": "robot"}),
                   _policy("missing", "web-http", {"kind": "MeshTLSAuthentication", "name": "nowhere"}),
                   _policy("network", "web-http", {"kind": "NetworkAuthentication", "name": "cluster-network"}),
                   _policy("elsewhere", "another-server", {"kind": "ServiceAccount", "name": "client"}))
    assert denied(store, who("client")) == "web-http", "matches one of the two required authentications only"
    assert denied(store, who("robot")) == "web-http"


def test_a_policy_that_requires_no_authentication_admits_every_client_even_without_an_identity():
    """policy_client_authz: no MeshTLS/ServiceAccount ref means ClientAuthentication::Unauthenticated, and no
    NetworkAuthentication means every network."""
    store = _store(_server("web-http", 8080), _server("metrics", 9090), _policy("open", "web-http"))
    assert denied(store, who("client")) is None
    assert denied(store, "") is None and denied(store, "-") is None, "plaintext clients too"
    assert denied(store, who("client"), port=9090) == "metrics", "only on the Server it targets"


def test_a_policy_on_the_namespace_applies_to_every_server_in_it():
    store = _store(_server("web-http", 8080), _server("metrics", 9090),
                   {"kind": "AuthorizationPolicy", "metadata": {"name": "ns-wide", "namespace": NS},
                    "spec": {"targetRef": {"kind": "Namespace", "name": NS},
                             "requiredAuthenticationRefs": [{"kind": "ServiceAccount", "name": "client"}]}},
                   {"kind": "AuthorizationPolicy", "metadata": {"name": "other-ns", "namespace": NS},
                    "spec": {"targetRef": {"kind": "Namespace", "name": "ops"},
                             "requiredAuthenticationRefs": [{"kind": "ServiceAccount", "name": "robot"}]}})
    assert denied(store, who("client")) is None and denied(store, who("client"), port=9090) is None
    assert denied(store, who("robot")) == "web-http", "a policy naming another namespace applies nowhere"
    assert denied(store, who("stranger"), port=9090) == "metrics"


def test_identities_are_exact_names_or_a_star_dot_suffix_and_nothing_else_is_a_wildcard():
    suffix = f"*.ops.serviceaccount.identity.linkerd.{DOMAIN}"
    store = _store(_server("web-http", 8080),
                   _authn("clients", identities=[suffix, f"web-*.{NS}.serviceaccount.identity.linkerd.{DOMAIN}",
                                                 f"cl?ent.{NS}.serviceaccount.identity.linkerd.{DOMAIN}"]),
                   _policy("from-clients", "web-http", {"kind": "MeshTLSAuthentication", "name": "clients"}))
    assert denied(store, who("robot", "ops")) is None
    assert denied(store, f"a.b.ops.serviceaccount.identity.linkerd.{DOMAIN}") is None, "any number of labels before"
    assert denied(store, f"xops.serviceaccount.identity.linkerd.{DOMAIN}") == "web-http", "the suffix starts at a dot"
    assert denied(store, f"ops.serviceaccount.identity.linkerd.{DOMAIN}") == "web-http"
    assert denied(store, who("web-1")) == "web-http", "a `*` inside a name is a character, not a glob"
    assert denied(store, who("client")) == "web-http", "so is `?`"
    assert denied(store, f"web-*.{NS}.serviceaccount.identity.linkerd.{DOMAIN}") is None, "compared exactly"


def test_star_admits_any_authenticated_client_and_a_namespace_ref_every_account_of_that_namespace():
    store = _store(_server("web-http", 8080), _server("metrics", 9090),
                   _authn("anyone", identities=["*"]),
                   _policy("meshed", "web-http", {"kind": "MeshTLSAuthentication", "name": "anyone"}),
                   {"kind": "MeshTLSAuthentication", "metadata": {"name": "ops-accounts", "namespace": NS},
                    "spec": {"identityRefs": [{"kind": "Namespace", "name": "ops"}]}},
                   _policy("from-ops", "metrics", {"kind": "MeshTLSAuthentication", "name": "ops-accounts"}))
    assert denied(store, who("anyone-at-all", "elsewhere")) is None
    assert denied(store, "") == "web-http" and denied(store, "-") == "web-http", "`*` needs an identity"
    assert denied(store, who("robot", "ops"), port=9090) is None and denied(store, who("ci", "ops"), port=9090) is None
    assert denied(store, who("robot"), port=9090) == "metrics", "an account of another namespace"
    assert denied(store, "", port=9090) == "metrics"


@pytest.mark.parametrize("access_policy, meshed, plaintext", [
    (None, False, False), ("deny", False, False), ("no-such-policy", False, False),
    ("all-unauthenticated", True, True), ("cluster-unauthenticated", True, True), ("audit", True, True),
    ("all-authenticated", True, False), ("cluster-authenticated", True, False),
])
def test_a_servers_access_policy_decides_for_clients_no_authorization_admits(access_policy, meshed, plaintext):
    server = _server("web-http", 8080)
    if access_policy is not None:
        server["spec"]["accessPolicy"] = access_policy
    store = _store(server, _policy("robot-only", "web-http", {"kind": "ServiceAccount", "name": "robot"}))
    assert denied(store, who("robot")) is None, "an authorization admits whatever the access policy"
    assert (denied(store, who("client")) is None) == meshed
    assert (denied(store, "") is None) == plaintext
    assert (denied(store, "-") is None) == plaintext


def test_a_server_selects_pods_by_labels_all_pods_with_an_empty_selector_and_a_named_port_in_any_container():
    pod = {"metadata": {"name": "api-0", "namespace": NS, "labels": {"app": "api", "tier": "back"}},
           "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]},
                                   {"name": "admin", "ports": [{"containerPort": 9990, "name": "admin-http"}]}]}}
    every_pod = {"kind": "Server", "metadata": {"name": "every-admin", "namespace": NS},
                 "spec": {"podSelector": {}, "port": "admin-http"}}
    assert denied(_store(every_pod), who("client"), port=9990, pod=pod) == "every-admin"
    assert denied(_store(every_pod), who("client"), port=8080, pod=pod) is None
    both = {"kind": "Server", "metadata": {"name": "api-back", "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": "api", "tier": "back"}}, "port": 8080}}
    assert denied(_store(both), who("client"), pod=pod) == "api-back"
    assert denied(_store(both), who("client"), pod=POD) is None, "every label must match"
    elsewhere = dict(pod, metadata=dict(pod["metadata"], namespace="ops"))
    assert denied(_store(both), who("client"), pod=elsewhere) is None, "a Server selects pods in its own namespace"


@pytest.mark.parametrize("expression, selects", [
    ({"key": "app", "operator": "In", "values": ["web", "api"]}, True),
    ({"key": "app", "operator": "In", "values": ["api"]}, False),
    ({"key": "tier", "operator": "In", "values": ["back"]}, False),
    ({"key": "app", "operator": "NotIn", "values": ["api"]}, True),
    ({"key": "app", "operator": "NotIn", "values": ["web"]}, False),
    ({"key": "tier", "operator": "NotIn", "values": ["back"]}, True),
    ({"key": "app", "operator": "Exists"}, True),
    ({"key": "tier", "operator": "Exists"}, False),
    ({"key": "tier", "operator": "DoesNotExist"}, True),
    ({"key": "app", "operator": "DoesNotExist"}, False),
    ({"key": "app", "operator": "Exists", "values": ["web"]}, False),
    ({"key": "app", "operator": "In"}, False),
    ({"key": "app", "operator": "Equals", "values": ["web"]}, False),
])
def test_a_server_selects_pods_by_match_expressions_as_the_policy_controller_reads_them(expression, selects):
    """labels.rs Expression::matches: In needs the label with a listed value, NotIn passes a missing label,
    Exists/DoesNotExist take no values, and an expression of any other shape matches nothing."""
    server = {"kind": "Server", "metadata": {"name": "web-http", "namespace": NS},
              "spec": {"podSelector": {"matchExpressions": [expression]}, "port": 8080}}
    assert (denied(_store(server), who("client")) == "web-http") == selects
    server["spec"]["podSelector"]["matchLabels"] = {"app": "db"}
    assert denied(_store(server), who("client")) is None, "matchLabels must hold as well"


def test_a_server_for_external_workloads_selects_no_pod():
    server = {"kind": "Server", "metadata": {"name": "vm-http", "namespace": NS},
              "spec": {"externalWorkloadSelector": {}, "port": 8080}}
    assert denied(_store(server), who("client")) is None


def _annotated(default: str) -> dict:
    return {**POD, "metadata": {**POD["metadata"], "annotations": {policy.DEFAULT_POLICY_ANNOTATION: default}}}


def test_a_port_no_server_selects_follows_the_pods_default_inbound_policy_else_the_clusters():
    """policy-controller/k8s/index/src/inbound/workload.rs default_policy and index.rs default_inbound_server
    (edge-26.8.3): the pod's `config.linkerd.io/default-inbound-policy`, else the cluster's all-unauthenticated;
    an unknown value is ignored. The refusal names the default policy, as the proxy's log does."""
    store = _store(_server("metrics", 9090))  # a Server elsewhere changes nothing for port 8080
    assert policy.denied_by(store, POD, 8080, "", DOMAIN) is None, "the cluster's default admits plaintext"
    deny = _annotated("deny")
    assert policy.denied_by(_store(), deny, 8080, who("client"), DOMAIN) == policy.Refusal("default", "deny")
    assert policy.denied_by(store, deny, 8080, who("client"), DOMAIN).group == ""
    for default in ("all-authenticated", "cluster-authenticated"):
        assert policy.denied_by(store, _annotated(default), 8080, who("client"), DOMAIN) is None
        assert policy.denied_by(store, _annotated(default), 8080, "", DOMAIN) == policy.Refusal("default", default)
        assert policy.denied_by(store, _annotated(default), 8080, "-", DOMAIN) == policy.Refusal("default", default)
    for default in ("all-unauthenticated", "cluster-unauthenticated", "audit", "no-such-policy", ""):
        assert policy.denied_by(store, _annotated(default), 8080, "", DOMAIN) is None, default


def test_a_server_decides_for_its_port_whatever_the_pods_default():
    store = _store(_server("web-http", 8080))
    assert policy.denied_by(store, _annotated("all-unauthenticated"), 8080, who("client"), DOMAIN) == \
        policy.Refusal("server", "web-http")
    assert policy.Refusal("server", "web-http").group == "policy.linkerd.io"


def test_a_port_the_pod_requires_identity_for_admits_authenticated_clients_only_by_default():
    """index.rs default_inbound_server: on a port in `config.linkerd.io/proxy-require-identity-inbound-ports`
    an Allow default becomes authenticated-only (named `*-authenticated`); ports as parse_portset reads them."""
    def pod(default: str | None, ports: str) -> dict:
        annotations = {policy.REQUIRE_IDENTITY_ANNOTATION: ports, **({policy.DEFAULT_POLICY_ANNOTATION: default} if default else {})}
        return {**POD, "metadata": {**POD["metadata"], "annotations": annotations}}

    store = _store()
    for ports in ("8080", "80, 8080", "8000-8090", " 8000 - 8090 ,9090"):
        assert policy.denied_by(store, pod(None, ports), 8080, "", DOMAIN) == policy.Refusal("default", "all-authenticated"), ports
        assert policy.denied_by(store, pod(None, ports), 8080, who("client"), DOMAIN) is None, ports
        assert policy.denied_by(store, pod("cluster-unauthenticated", ports), 8080, "-", DOMAIN) == \
            policy.Refusal("default", "cluster-authenticated"), ports
    assert policy.denied_by(store, pod(None, "8080"), 9090, "", DOMAIN) is None, "another port keeps the default"
    assert policy.denied_by(store, pod("audit", "8080"), 8080, "", DOMAIN) is None, "audit lets everything through"
    assert policy.denied_by(store, pod("deny", "8080"), 8080, who("client"), DOMAIN) == policy.Refusal("default", "deny")
    assert policy.denied_by(store, pod(None, "1-8080"), 8080, "", DOMAIN) is not None, "ports start at 1"
    assert policy.denied_by(store, pod(None, "8000-8079"), 8080, "", DOMAIN) is None, "a range ends at its high port"
    assert policy.denied_by(store, pod(None, "65535"), 65535, "", DOMAIN) is not None, "the highest port"
    for bad in ("8080,http", "8090-8000", "0-8080", "8080,70000", "8080,65536", "-8080"):
        assert policy.denied_by(store, pod(None, bad), 8080, "", DOMAIN) is None, f"{bad!r} is no ports at all"


def test_a_decision_names_what_allowed_it_as_the_proxys_authz_metrics_label_it():
    """linkerd2-proxy v2.366.0 labels inbound_http_authz_allow_total with the server, the route (`default` where
    the Server has no routes) and the authorization; deny_total has no authz_* labels (metrics/authz.rs)."""
    store = _store(_server("web-http", 8080), _authn("only-client", identities=[who("client")]),
                   _policy("web-authz", "web-http", {"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication",
                                                    "name": "only-client"}))
    allowed = policy.decide(store, POD, 8080, who("client"), DOMAIN)
    assert allowed.allowed
    assert allowed.labels(8080) == {
        "srv_group": "policy.linkerd.io", "srv_kind": "server", "srv_name": "web-http", "srv_port": "8080",
        "route_group": "", "route_kind": "default", "route_name": "default",
        "authz_group": "policy.linkerd.io", "authz_kind": "authorizationpolicy", "authz_name": "web-authz"}
    refused = policy.decide(store, POD, 8080, who("stranger"), DOMAIN)
    assert not refused.allowed and "authz_name" not in refused.labels(8080)
    by_default = policy.decide(store, POD, 9090, "", DOMAIN)  # no Server on 9090: the cluster's default admits
    assert by_default.labels(9090)["srv_kind"] == "default" and by_default.labels(9090)["authz_name"] == "all-unauthenticated"


def _netauthn(name: str, *networks: dict) -> dict:
    return {"kind": "NetworkAuthentication", "metadata": {"name": name, "namespace": NS},
            "spec": {"networks": list(networks)}}


def _admits(store, client: str, client_ip: str | None) -> bool:
    return policy.decide(store, POD, 8080, client, DOMAIN, client_ip).allowed


def test_a_network_authentication_holds_addresses_in_its_cidrs_but_not_in_their_exceptions():
    """network.rs Network::contains (edge-26.8.3): the address is in the cidr (a network, or one address) and in
    no `except`; any one network of the list will do. It authenticates an address, not an identity, so a policy
    requiring only it admits plaintext clients from those networks (policy_client_authz: Unauthenticated)."""
    store = _store(_server("web-http", 8080),
                   _netauthn("cluster", {"cidr": "10.244.0.0/16", "except": ["10.244.3.0/24", "10.244.9.9"]},
                             {"cidr": "172.18.0.7"}, {"cidr": "fd00::/8"}),
                   _policy("from-cluster", "web-http", {"kind": "NetworkAuthentication", "name": "cluster"}))
    for ip in ("10.244.0.5", "10.244.255.1", "172.18.0.7", "fd00::12"):
        assert _admits(store, "", ip) and _admits(store, who("client"), ip), ip
    for ip in ("10.244.3.17", "10.244.9.9", "10.245.0.1", "172.18.0.8", "fe80::1", "not-an-ip"):
        assert not _admits(store, who("client"), ip), ip
    assert not _admits(store, who("client"), None), "an unknown address is in no network narrower than a family"


def test_a_network_authentication_beside_a_meshtls_one_requires_both_and_a_whole_family_holds_every_address():
    """The multicluster gateway's policy (charts/linkerd-multicluster/templates/gateway-policy.yaml): any
    meshed identity from 0.0.0.0/0 or ::/0, which holds a client whose address the lab does not know too."""
    store = _store(_server("web-http", 8080), _authn("any-meshed", identities=["*"]),
                   _netauthn("source-cluster", {"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}),
                   _policy("gw", "web-http", {"kind": "MeshTLSAuthentication", "name": "any-meshed"},
                           {"kind": "NetworkAuthentication", "name": "source-cluster"}))
    for ip in ("10.244.0.5", "2001:db8::1", None):
        assert _admits(store, who("client"), ip), ip
        assert not _admits(store, "", ip) and not _admits(store, "-", ip), "no identity: MeshTLS refuses"
    excepted = _store(_server("web-http", 8080), _netauthn("most", {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}),
                      _policy("p", "web-http", {"kind": "NetworkAuthentication", "name": "most"}))
    assert _admits(excepted, "", "192.168.1.1") and not _admits(excepted, "", "10.1.2.3")
    assert not _admits(excepted, "", None), "with an exception the family is not whole: unknown is not held"


def test_a_policy_naming_a_missing_or_two_network_authentications_authorizes_nobody():
    """policy_client_authz bails ("could not find NetworkAuthentication", "policy must not include multiple
    NetworkAuthentications"), so the index has no such authorization."""
    every = {"cidr": "0.0.0.0/0"}
    store = _store(_server("web-http", 8080), _netauthn("a", every), _netauthn("b", every), _netauthn("none"),
                   _policy("missing", "web-http", {"kind": "NetworkAuthentication", "name": "nowhere"}),
                   _policy("two", "web-http", {"kind": "NetworkAuthentication", "name": "a"},
                           {"kind": "NetworkAuthentication", "name": "b"}),
                   _policy("empty", "web-http", {"kind": "NetworkAuthentication", "name": "none"}))
    assert not _admits(store, who("client"), "10.0.0.1")
    assert _admits(_store(_server("web-http", 8080), _netauthn("a", every),
                          _policy("one", "web-http", {"kind": "NetworkAuthentication", "name": "a"})), "", "10.0.0.1")


def test_a_server_selects_a_port_named_on_an_init_container_as_a_native_sidecar_proxy_has_it():
    """workload.rs pod_tcp_ports_by_name chains init containers: the multicluster gateway's Server names the
    proxy's port `linkerd-proxy`, which edge's injector puts on a restartable init container."""
    pod = {"metadata": {"name": "gw-0", "namespace": NS, "labels": {"app": "gw"}},
           "spec": {"containers": [{"name": "pause"}],
                    "initContainers": [{"name": "linkerd-proxy", "restartPolicy": "Always",
                                        "ports": [{"name": "linkerd-proxy", "containerPort": 4143},
                                                  {"name": "udp", "containerPort": 5353, "protocol": "UDP"}]}]}}
    store = _store(_server("gw", "linkerd-proxy", app="gw"), _server("dns", "udp", app="gw"))
    assert denied(store, who("client"), port=4143, pod=pod) == "gw"
    assert denied(store, who("client"), port=5353, pod=pod) is None, "a UDP port is not named for a Server"
