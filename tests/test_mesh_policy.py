"""Which clients a meshed pod's proxy admits once Linkerd's policy resources select its port (the
scenario in scenarios/test_pod_to_pod.py shows one policy end to end; these are the rest of the rules).

linkerd.io/2/reference/authorization-policy: a port no Server selects follows the default policy (the
lab's is all-unauthenticated); a Server selects pods by labels and a port by number or by container
port name; then only clients an AuthorizationPolicy on that Server authorizes pass, and a policy
authorizes a client when every one of its required authentications matches the client's identity."""
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
    return policy.denied_by(store, pod, port, client, DOMAIN)


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


def test_every_required_authentication_must_match_and_a_policy_with_none_admits_nobody():
    store = _store(_server("web-http", 8080), _authn("clients", identities=[who("client")]),
                   _policy("both", "web-http", {"kind": "MeshTLSAuthentication", "name": "clients"},
                           {"kind": "ServiceAccount", "name": "robot"}),
                   _policy("empty", "web-http"),
                   _policy("missing", "web-http", {"kind": "MeshTLSAuthentication", "name": "nowhere"}),
                   _policy("network", "web-http", {"kind": "NetworkAuthentication", "name": "cluster-network"}),
                   _policy("elsewhere", "another-server", {"kind": "ServiceAccount", "name": "client"}))
    assert denied(store, who("client")) == "web-http", "matches one of the two required authentications only"
    assert denied(store, who("robot")) == "web-http"
