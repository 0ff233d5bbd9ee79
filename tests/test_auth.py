"""Who a request to the simulated API server is, and who it acts as: lab/sim/kube/apiserver/auth.py, in process.

The scenarios (scenarios/test_impersonation.py, test_helm_access.py) show the same through kubectl; these
pin each rule on its own, as the pinned upstream decides it:
- client certificates: the CN is the user name and each O a group (staging/src/k8s.io/apiserver/pkg/
  authentication/request/x509/x509.go, CommonNameUserConversion, v1.32); every authenticated user is
  also in `system:authenticated` (pkg/authentication/group/authenticated_group_adder.go);
- bearer tokens of `kubernetes.io/service-account-token` Secrets belong to the account the Secret's
  `kubernetes.io/service-account.name` annotation names, while that account exists (legacy tokens,
  pkg/serviceaccount/legacy.go, v1.32);
- impersonation: staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go (v1.32) and
  staging/src/k8s.io/apiserver/pkg/authentication/serviceaccount/util.go (SplitUsername, MakeGroupNames).
"""
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from lab.sim.kube import rbac
from lab.sim.kube.apiserver import auth
from lab.sim.kube.apiserver.status import ApiError
from lab.sim.kube.store import ObjectStore
from lab.sim.wire.protowire import field_bytes

ADMIN = rbac.User("kubernetes-admin", ("system:masters", "system:authenticated"))


class _Transport:
    def __init__(self, peercert):
        self.peercert = peercert

    def get_extra_info(self, name, default=None):
        return self.peercert if name == "peercert" else default


def _request(headers=(), peercert=None, path="/api/v1/pods"):
    return make_mocked_request("GET", path, headers=CIMultiDict(headers), transport=_Transport(peercert))


def _store_with_robot(token: str = "s3cret", before: tuple[dict, ...] = ()) -> ObjectStore:
    import base64
    store = ObjectStore()
    for obj in before:
        store.apply(obj)
    store.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "ops"}})
    store.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                 "metadata": {"name": "robot-token", "namespace": "ops",
                              "annotations": {"kubernetes.io/service-account.name": "robot"}},
                 "data": {"token": base64.b64encode(token.encode()).decode()}})
    return store


# -- authentication -------------------------------------------------------------------------------
def test_a_client_certificate_is_its_common_name_in_its_organizations():
    subject = ((("countryName", "NL"),), (("organizationName", "system:masters"),), (("organizationName", "ops"),),
               (("commonName", "kubernetes-admin"),))
    user = auth.authenticate(_request(peercert={"subject": subject}), ObjectStore())
    assert user == rbac.User("kubernetes-admin", ("system:masters", "ops", "system:authenticated"))
    # A certificate without a common name names nobody: the bearer token (if any) decides, else anonymous.
    no_cn = {"subject": ((("organizationName", "system:masters"),),)}
    assert auth.authenticate(_request(peercert=no_cn), ObjectStore()) == auth.ANONYMOUS
    store = _store_with_robot()
    robot = auth.authenticate(_request({"Authorization": "Bearer s3cret"}, peercert=no_cn), store)
    assert robot == _robot(store)


def _robot(store) -> rbac.User:
    """The user a legacy token of ops/robot is: the account, with its UID (pkg/serviceaccount/legacy.go)."""
    account = rbac.User.service_account("ops", "robot")
    return rbac.User(account.name, account.groups, uid=store.view("ServiceAccount", "ops", "robot")["metadata"]["uid"])


def test_a_bearer_token_is_the_account_its_token_secret_names_and_nothing_else_is_anyone():
    store = _store_with_robot()
    robot = _robot(store)
    assert robot.uid
    assert auth.authenticate(_request({"Authorization": "Bearer s3cret"}), store) == robot
    assert auth.authenticate(_request({"Authorization": "Bearer s3cret "}), store) == robot, "a trailing space"
    assert auth.authenticate(_request({"Authorization": "bearer s3cret"}), store) == robot, "the scheme in any case"
    assert auth.authenticate(_request({"Authorization": "Bearer s3cret extra"}), store) == robot, "up to a space"
    with pytest.raises(ApiError) as refused:  # a token that is no account's is refused, never anonymous
        auth.authenticate(_request({"Authorization": "Bearer wrong"}), store)
    assert (refused.value.code, refused.value.reason) == (401, "Unauthorized")
    # No credentials at all is the anonymous user (kind keeps --anonymous-auth=true): RBAC decides, not 401.
    assert auth.authenticate(_request(), store) == auth.ANONYMOUS
    assert auth.ANONYMOUS == rbac.User("system:anonymous", ("system:unauthenticated",))
    for header in ("Basic czNjcmV0", "Bearer", "Bearer ", "Bearer  s3cret", "s3cret"):
        assert auth.authenticate(_request({"Authorization": header}), store) == auth.ANONYMOUS, header
    # The same data in a Secret of another type is no token; the account's own token Secret, stored after
    # it, still is.
    lookalike = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                 "metadata": {"name": "lookalike", "namespace": "ops",
                              "annotations": {"kubernetes.io/service-account.name": "robot"}},
                 "data": {"token": "czNjcmV0"}}
    opaque = _store_with_robot("other", before=(lookalike,))
    assert auth.token_user(opaque, "s3cret") is None
    assert auth.token_user(opaque, "other") == _robot(opaque)
    # A token outlives nothing: once its account is gone, it is refused.
    store.delete("ServiceAccount", "ops", "robot")
    assert auth.token_user(store, "s3cret") is None


def test_anonymous_reads_only_health_and_version_and_authenticated_users_read_discovery_too():
    robot = rbac.User.service_account("ops", "robot")
    for path in ("/healthz", "/livez", "/readyz", "/version", "/version/"):
        assert auth.may_read_info(auth.ANONYMOUS, path), path
    for path in ("/api", "/apis", "/api/v1", "/openapi/v3", "/healthz/etcd", "/versions"):
        assert not auth.may_read_info(auth.ANONYMOUS, path), path
        assert auth.may_read_info(robot, path), path
    refused = auth.info_forbidden(auth.ANONYMOUS, "/api")
    assert (refused.code, str(refused.message)) == (403, 'forbidden: User "system:anonymous" cannot get path "/api"')


# -- impersonation --------------------------------------------------------------------------------
def _as(store, requestor, headers):
    return auth.impersonated(_request(headers), store, requestor)


def test_a_request_without_impersonation_headers_is_its_sender():
    assert auth.impersonated(_request({"Accept": "application/json"}), ObjectStore(), ADMIN) is ADMIN


def test_an_impersonated_user_is_in_system_authenticated_unless_anonymous_or_told_otherwise():
    store = ObjectStore()
    assert _as(store, ADMIN, {"Impersonate-User": "alice"}) == rbac.User("alice", ("system:authenticated",))
    assert _as(store, ADMIN, [("Impersonate-User", "alice"), ("Impersonate-Group", "ops"), ("Impersonate-Group", "dev")]) \
        == rbac.User("alice", ("ops", "dev", "system:authenticated"))
    # a group of system:authenticated or system:unauthenticated asked for is kept and nothing added
    assert _as(store, ADMIN, [("Impersonate-User", "alice"), ("Impersonate-Group", "system:unauthenticated")]) \
        == rbac.User("alice", ("system:unauthenticated",))
    assert _as(store, ADMIN, [("Impersonate-User", "alice"), ("Impersonate-Group", "system:authenticated")]) \
        == rbac.User("alice", ("system:authenticated",))
    assert _as(store, ADMIN, {"Impersonate-User": "system:anonymous"}) == \
        rbac.User("system:anonymous", ("system:unauthenticated",))
    assert _as(store, ADMIN, [("Impersonate-User", "system:anonymous"), ("Impersonate-Group", "system:unauthenticated")]) \
        == rbac.User("system:anonymous", ("system:unauthenticated",))
    assert _as(store, ADMIN, [("Impersonate-User", "system:anonymous"), ("Impersonate-Group", "ops")]) \
        == rbac.User("system:anonymous", ("ops", "system:unauthenticated"))


def test_an_impersonated_service_account_gets_its_groups_unless_groups_are_asked_for():
    store = ObjectStore()
    robot = "system:serviceaccount:ops:robot"
    assert _as(store, ADMIN, {"Impersonate-User": robot}) == rbac.User.service_account("ops", "robot")
    assert _as(store, ADMIN, [("Impersonate-User", robot), ("Impersonate-Group", "dev")]) == \
        rbac.User(robot, ("dev", "system:authenticated"))


def test_only_a_valid_service_account_name_asks_for_serviceaccounts_impersonation():
    """SplitUsername: `system:serviceaccount:` + a DNS label namespace (<= 63) + `:` + a DNS subdomain name
    (<= 253); anything else is a plain user, which needs `impersonate` on users."""
    store = ObjectStore()
    store.apply({"kind": "ClusterRole", "metadata": {"name": "as-accounts"},
                 "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]})
    store.apply({"kind": "ClusterRoleBinding", "metadata": {"name": "as-accounts"},
                 "roleRef": {"kind": "ClusterRole", "name": "as-accounts"}, "subjects": [{"kind": "User", "name": "bob"}]})
    bob = rbac.User("bob", ("system:authenticated",))
    prefix = "system:serviceaccount:"
    for name in (f"{prefix}{'n' * 63}:{'a' * 253}", f"{prefix}ops:robot.v1", f"{prefix}o:r", f"{prefix}ops:a-b"):
        assert _as(store, bob, {"Impersonate-User": name}).name == name, name
    for name in (f"{prefix}{'n' * 64}:robot", f"{prefix}ops:{'a' * 254}", f"{prefix}ops:Robot", f"{prefix}Ops:robot",
                 f"{prefix}ops:", f"{prefix}:robot", f"{prefix}ops:robot:extra", f"{prefix}ops", f"{prefix}ops:-robot",
                 f"{prefix}ops:robot..v1", "serviceaccount:ops:robot"):
        with pytest.raises(ApiError) as refused:
            _as(store, bob, {"Impersonate-User": name})
        assert refused.value.details["kind"] == "users", name


def test_impersonation_is_refused_naming_the_first_thing_not_allowed():
    store = ObjectStore()
    store.apply({"kind": "ClusterRole", "metadata": {"name": "as-alice"}, "rules": [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]},
        {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["ops"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"], "verbs": ["impersonate"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["uids"], "verbs": ["impersonate"], "resourceNames": ["42"]}]})
    store.apply({"kind": "ClusterRoleBinding", "metadata": {"name": "as-alice"},
                 "roleRef": {"kind": "ClusterRole", "name": "as-alice"}, "subjects": [{"kind": "User", "name": "bob"}]})
    store.apply({"kind": "Role", "metadata": {"name": "as-robot", "namespace": "ops"}, "rules": [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"], "resourceNames": ["robot"]}]})
    store.apply({"kind": "RoleBinding", "metadata": {"name": "as-robot", "namespace": "ops"},
                 "roleRef": {"kind": "Role", "name": "as-robot"}, "subjects": [{"kind": "User", "name": "bob"}]})
    bob = rbac.User("bob", ("system:authenticated",))
    alice = _as(store, bob, [("Impersonate-User", "alice"), ("Impersonate-Group", "ops"), ("Impersonate-Uid", "42"),
                             ("Impersonate-Extra-Scopes", "view")])
    # the extras asked for are the impersonated user's (what `kubectl auth whoami` would list)
    assert alice == rbac.User("alice", ("ops", "system:authenticated"), (("scopes", ("view",)),), uid="42")
    assert _as(store, bob, {"Impersonate-User": "system:serviceaccount:ops:robot"}).name == "system:serviceaccount:ops:robot"

    def refusal(headers) -> ApiError:
        with pytest.raises(ApiError) as refused:
            _as(store, bob, headers)
        assert (refused.value.code, refused.value.reason) == (403, "Forbidden")
        return refused.value

    carol = refusal({"Impersonate-User": "carol"})
    assert carol.message == 'users "carol" is forbidden: User "bob" cannot impersonate resource "users" in API group "" ' \
                            'at the cluster scope'
    assert carol.details == {"name": "carol", "group": "", "kind": "users"}
    other = refusal({"Impersonate-User": "system:serviceaccount:dev:robot"})
    assert other.message == 'serviceaccounts "robot" is forbidden: User "bob" cannot impersonate resource ' \
                            '"serviceaccounts" in API group "" in the namespace "dev"'
    assert refusal([("Impersonate-User", "alice"), ("Impersonate-Group", "ops"), ("Impersonate-Group", "admins")]) \
        .details == {"name": "admins", "group": "", "kind": "groups"}
    assert refusal([("Impersonate-User", "alice"), ("Impersonate-Uid", "7")]).details == \
        {"name": "7", "group": "authentication.k8s.io", "kind": "uids"}
    extra = refusal([("Impersonate-User", "alice"), ("Impersonate-Extra-Reason", "debug")])
    assert extra.details == {"name": "debug", "group": "authentication.k8s.io", "kind": "userextras"}
    assert 'cannot impersonate resource "userextras/reason" in API group "authentication.k8s.io"' in extra.message
    # the user is checked before its groups: the refusal names the user
    assert refusal([("Impersonate-User", "carol"), ("Impersonate-Group", "admins")]).details["name"] == "carol"
    # the sender's own rights count, not the impersonated user's: alice in system:masters is not bob's to be
    assert refusal([("Impersonate-User", "alice"), ("Impersonate-Group", "system:masters")]).details["name"] == \
        "system:masters"


def test_groups_or_a_uid_without_a_user_is_an_internal_error_naming_what_was_asked():
    store = ObjectStore()
    for headers, asked in (({"Impersonate-Group": "ops"}, "{Group  ops    }"),
                           ({"Impersonate-Uid": "42"}, "{UID  42  authentication.k8s.io/v1  }"),
                           ({"Impersonate-Extra-Scopes": "view"}, "{UserExtra  view  authentication.k8s.io/v1  scopes}")):
        with pytest.raises(web.HTTPInternalServerError) as failed:
            auth.impersonated(_request(headers, path="/api/v1/pods?limit=1"), store, ADMIN)
        assert failed.value.text == (f'Internal Server Error: "/api/v1/pods?limit=1": requested [{asked}] '
                                     "without impersonating a user\n"), headers


# -- constrained impersonation (Kubernetes 1.36+) ---------------------------------------------------
# k8s.io/apiserver pkg/endpoints/filters/impersonation/{constrained_impersonation.go,mode.go} at v0.37.0-beta.0
LIST_PODS = auth.Asked(rbac.Request("list", "", "pods", "default"))


def _constrained(store, requestor, headers, asked=LIST_PODS, remembered=None):
    return auth.impersonated(_request(headers), store, requestor, asked, constrained=True, remembered=remembered)


def _bind(store, name: str, rules: list, user: str = "bob") -> None:
    store.apply({"kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
    store.apply({"kind": "ClusterRoleBinding", "metadata": {"name": name},
                 "roleRef": {"kind": "ClusterRole", "name": name}, "subjects": [{"kind": "User", "name": user}]})


BOB = rbac.User("bob", ("system:authenticated",))


def test_a_constrained_refusal_is_the_first_modes_and_names_the_request_not_the_user():
    store = ObjectStore()
    _bind(store, "legacy-carol", [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["carol"]}])
    with pytest.raises(ApiError) as refused:
        _constrained(store, BOB, {"Impersonate-User": "dave"})
    assert str(refused.value.message) == ('pods is forbidden: User "bob" cannot impersonate-on:user-info:list resource "pods" '
                                          'in API group "" in the namespace "default"')
    with pytest.raises(ApiError) as refused:  # a service account alone: the serviceaccount mode, about a path here
        _constrained(store, BOB, {"Impersonate-User": "system:serviceaccount:ops:robot"}, auth.Asked(None, "/api", "get"))
    assert str(refused.value.message) == 'forbidden: User "bob" cannot impersonate-on:serviceaccount:get path "/api"'


def test_the_mode_that_last_worked_for_a_requestor_is_tried_first_and_its_refusal_is_the_one_told():
    """constrained_impersonation.go getImpersonatedUser: bob became carol through the legacy mode, so legacy goes
    first for bob from then on, and dave's refusal is legacy's; another requestor still meets user-info's first."""
    store, remembered = ObjectStore(), {}
    _bind(store, "legacy-carol", [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["carol"]}])
    assert _constrained(store, BOB, {"Impersonate-User": "carol"}, remembered=remembered).name == "carol"
    assert remembered == {"bob": "legacy"}
    with pytest.raises(ApiError) as refused:
        _constrained(store, BOB, {"Impersonate-User": "dave"}, remembered=remembered)
    assert str(refused.value.message) == ('users "dave" is forbidden: User "bob" cannot impersonate resource "users" '
                                          'in API group "" at the cluster scope')
    with pytest.raises(ApiError) as refused:
        _constrained(store, rbac.User("eve", ("system:authenticated",)), {"Impersonate-User": "dave"}, remembered=remembered)
    assert "cannot impersonate-on:user-info:list" in str(refused.value.message)


def test_the_legacy_mode_from_1_36_checks_the_uid_before_the_groups():
    """mode.go's legacy mode: user, uid, groups, extras (the v1.32 filter asked the uid last)."""
    store = ObjectStore()
    _bind(store, "alice-only", [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]}])
    headers = [("Impersonate-User", "alice"), ("Impersonate-Group", "ops"), ("Impersonate-Uid", "42")]
    with pytest.raises(ApiError) as before:
        _as(store, BOB, headers)
    with pytest.raises(ApiError) as since:
        _constrained(store, BOB, headers, remembered={"bob": "legacy"})
    assert (before.value.details["kind"], since.value.details["kind"]) == ("groups", "uids")


def test_a_constrained_mode_checks_each_part_in_authentication_k8s_io_and_never_grants_system_masters():
    store = ObjectStore()
    _bind(store, "constrained", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["impersonate-on:user-info:list"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["users", "groups"], "verbs": ["impersonate:user-info"]}])
    assert _constrained(store, BOB, [("Impersonate-User", "alice"), ("Impersonate-Group", "ops")]) == \
        rbac.User("alice", ("ops", "system:authenticated"))
    with pytest.raises(ApiError) as refused:
        _constrained(store, BOB, [("Impersonate-User", "alice"), ("Impersonate-Group", "system:masters")])
    assert str(refused.value.message).endswith(': impersonating the system:masters group is not allowed')
    with pytest.raises(ApiError) as refused:
        _constrained(store, BOB, [("Impersonate-User", "alice"), ("Impersonate-Uid", "42")])
    assert str(refused.value.message).startswith('uids.authentication.k8s.io "42" is forbidden: User "bob" cannot '
                                                 'impersonate:user-info resource "uids"')
    with pytest.raises(ApiError) as refused:
        _constrained(store, BOB, [("Impersonate-User", "alice"), ("Impersonate-Extra-Scopes", "view")])
    assert str(refused.value.message).endswith('impersonating an invalid key in extra is not allowed: extra.key: '
                                               'Invalid value: "scopes": must be a domain-prefixed path (such as "acme.io/foo")')
    # the admin may be anyone in any group: the constrained mode refuses system:masters, the legacy one grants it
    assert "system:masters" in _constrained(store, ADMIN, [("Impersonate-User", "x"), ("Impersonate-Group", "system:masters")]).groups


def test_a_constrained_service_account_or_node_gets_its_fixed_groups():
    store = ObjectStore()
    assert _constrained(store, ADMIN, {"Impersonate-User": "system:serviceaccount:ops:robot"}) == \
        rbac.User.service_account("ops", "robot")
    assert _constrained(store, ADMIN, {"Impersonate-User": "system:node:worker-1"}) == \
        rbac.User("system:node:worker-1", ("system:nodes", "system:authenticated"))


def test_groups_without_a_user_are_a_bad_request_naming_what_was_asked_as_go_prints_it():
    with pytest.raises(ApiError) as refused:
        _constrained(ObjectStore(), ADMIN, [("Impersonate-Group", "ops"), ("Impersonate-Group", "dev")])
    assert (refused.value.code, str(refused.value.message)) == (
        400, 'requested &user.DefaultInfo{Name:"", UID:"", Groups:[]string{"ops", "dev"}, '
             'Extra:map[string][]string(nil)} without impersonating a user name')


# -- SelfSubjectAccessReview ----------------------------------------------------------------------
def _review(**attrs) -> dict:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}


def test_an_access_review_answers_for_the_asker_with_every_attribute_counted():
    store = ObjectStore()
    store.apply({"kind": "Role", "metadata": {"name": "scale", "namespace": "ops"}, "rules": [
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"], "resourceNames": ["web"]}]})
    store.apply({"kind": "RoleBinding", "metadata": {"name": "scale", "namespace": "ops"},
                 "roleRef": {"kind": "Role", "name": "scale"}, "subjects": [{"kind": "User", "name": "bob"}]})
    bob = rbac.User("bob", ("system:authenticated",))
    asked = dict(verb="update", group="apps", resource="deployments", subresource="scale", namespace="ops", name="web")
    answer = auth.access_review(store, bob, _review(**asked))
    assert answer["status"] == {"allowed": True} and answer["spec"] == {"resourceAttributes": asked}
    assert answer["kind"] == "SelfSubjectAccessReview" and answer["apiVersion"] == "authorization.k8s.io/v1"
    assert auth.access_review(store, bob, _review(**{**asked, "subresource": ""}))["status"] == {"allowed": False}
    assert auth.access_review(store, rbac.User("carol", ()), _review(**asked))["status"] == {"allowed": False}
    assert auth.access_review(store, bob, {"spec": {}})["status"] == {"allowed": False}


def test_a_protobuf_access_review_is_read_as_kubectl_auth_can_i_sends_it():
    # k8s.io/api authorization/v1 generated.proto (v0.32.3): SelfSubjectAccessReview.spec = 2,
    # spec.resourceAttributes = 1; ResourceAttributes namespace 1, verb 2, group 3, resource 5, subresource 6, name 7
    attrs = (field_bytes(1, b"ops") + field_bytes(2, b"update") + field_bytes(3, b"apps") + field_bytes(5, b"deployments")
             + field_bytes(6, b"scale") + field_bytes(7, b"web"))
    body = (b"k8s\x00" + field_bytes(1, field_bytes(1, b"authorization.k8s.io/v1") + field_bytes(2, b"SelfSubjectAccessReview"))
            + field_bytes(2, field_bytes(2, field_bytes(1, attrs))))
    review = auth.access_review_from_protobuf(body)
    assert review["spec"]["resourceAttributes"] == {"namespace": "ops", "verb": "update", "group": "apps",
                                                    "resource": "deployments", "subresource": "scale", "name": "web"}
    for bad, why in ((b'{"kind": "SelfSubjectAccessReview"}', "k8s magic"),
                     (b"k8s\x00" + b"\xff\xff", "cannot read the SelfSubjectAccessReview")):
        with pytest.raises(ApiError) as refused:
            auth.access_review_from_protobuf(bad)
        assert refused.value.code == 400 and why in refused.value.message


def test_a_token_is_refused_once_its_account_is_another_or_being_deleted():
    """pkg/serviceaccount/legacy.go: the Secret's kubernetes.io/service-account.uid must be the account's UID
    (an account deleted and made again under the same name is another account), and an account being deleted
    has no valid tokens."""
    store = _store_with_robot()
    secret = store.view("Secret", "ops", "robot-token")
    issued = {**secret, "metadata": {**secret["metadata"], "annotations": {
        **secret["metadata"]["annotations"], "kubernetes.io/service-account.uid": store.view("ServiceAccount", "ops", "robot")["metadata"]["uid"]}}}
    store.apply(issued)
    assert auth.token_user(store, "s3cret") == _robot(store)
    store.delete("ServiceAccount", "ops", "robot")
    store.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "ops"}})
    assert auth.token_user(store, "s3cret") is None, "the old account's token is not the new one's"
    renewed = {**issued, "metadata": {**issued["metadata"], "annotations": {
        **issued["metadata"]["annotations"], "kubernetes.io/service-account.uid": store.view("ServiceAccount", "ops", "robot")["metadata"]["uid"]}}}
    store.apply(renewed)
    assert auth.token_user(store, "s3cret") == _robot(store)
    account = store.view("ServiceAccount", "ops", "robot")
    store.apply({**account, "metadata": {**account["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["x"]}})
    assert auth.token_user(store, "s3cret") is None, "an account being deleted"
