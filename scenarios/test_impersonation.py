"""`kubectl --as`, `--as-group`, `--as-uid`: the API server acts as the user named when the caller may
`impersonate` it (RBAC on users, groups, serviceaccounts, uids), and refuses with 403 otherwise
(staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go). The lab's admin (kubeadm's admin.conf:
cluster-admin from 1.29, system:masters before) may; a ServiceAccount token may only what its account is bound to.

From Kubernetes 1.36 the ConstrainedImpersonation gate is on (k8s.io/apiserver pkg/features/kube_features.go
at v0.37.0-beta.0): the filter first tries a constrained mode (`serviceaccount` for a service account alone,
`user-info` for any other user), which asks `impersonate-on:<mode>:<verb>` about the request itself, then
`impersonate:<mode>` on each part in authentication.k8s.io, then the legacy checks above; a refusal names the
first mode's (filters/impersonation/constrained_impersonation.go, mode.go). The tests ask the cluster's version."""
import base64
import hashlib
import json
from dataclasses import dataclass

import pytest
import yaml

NS = "impersonation"
IN_DEFAULT = 'in API group "" in the namespace "default"'


@pytest.fixture
def constrained(east) -> bool:
    """The cluster's API server tries the constrained modes first (Kubernetes 1.36+)."""
    server = json.loads(_ok(east.kubectl("version", "-o", "json")))["serverVersion"]
    return (int(server["major"]), int("".join(c for c in server["minor"] if c.isdigit()))) >= (1, 36)


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass(frozen=True)
class Robot:
    name: str        # its ServiceAccount in NS
    kubeconfig: str  # a kubeconfig holding its token

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{NS}:{self.name}"


@pytest.fixture
def robot(lab, east, tmp_path, request):
    """A ServiceAccount of this test's own (bound to nothing yet) and a kubeconfig holding its token, as a user
    would write one from the account's token Secret. Its own: from 1.36 the API server remembers, per requestor,
    the impersonation mode that last worked for it (constrained_impersonation.go), so a robot shared between tests
    would carry one test's grants into the next one's refusals."""
    name = "robot-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NS}},
               {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": {"name": f"{name}-token", "namespace": NS,
                             "annotations": {"kubernetes.io/service-account.name": name}}}]
    _ok(east.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects)))

    def token() -> str:
        return east.kubectl("-n", NS, "get", "secret", f"{name}-token", "-o", "jsonpath={.data.token}").stdout.strip()

    lab.wait_for(lambda: bool(token()), 15, "the token controller to fill the robot's token")
    admin = yaml.safe_load(open(lab.backend.provider.kubeconfig_path()))
    cluster = next(c for c in admin["clusters"] if c["name"] == f"kind-{east.name}")
    path = tmp_path / "robot.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster], "current-context": "robot",
        "users": [{"name": "robot", "user": {"token": base64.b64decode(token()).decode()}}],
        "contexts": [{"name": "robot", "context": {"cluster": cluster["name"], "user": "robot"}}]}))
    try:
        yield Robot(name, str(path))
    finally:
        east.kubectl("delete", "clusterrolebinding,clusterrole", "-l", "lab-test=impersonation", "--ignore-not-found")
        east.kubectl("delete", "namespace", NS)  # and wait: a namespace is Terminating until its content is gone


def test_the_admin_acting_as_nobody_is_allowed_nothing_and_the_refusal_names_nobody(east):
    answer = east.kubectl("--as=nobody", "auth", "can-i", "list", "secrets")
    assert (answer.returncode, answer.stdout.strip()) == (1, "no"), answer
    assert _ok(east.kubectl("auth", "can-i", "list", "secrets")).strip() == "yes"
    refused = east.kubectl("--as=nobody", "get", "secrets")
    assert refused.returncode == 1
    assert 'Error from server (Forbidden): secrets is forbidden: User "nobody" cannot list resource "secrets" in API ' \
           'group "" in the namespace "default"' in refused.stderr, refused.stderr
    # The groups asked for are the user's groups: system:masters may do everything.
    assert _ok(east.kubectl("--as=nobody", "--as-group=system:masters", "auth", "can-i", "list", "secrets")).strip() == "yes"
    _ok(east.kubectl("--as=nobody", "--as-group=system:masters", "--as-uid=1234", "get", "secrets"))


def test_the_admin_acting_as_a_service_account_gets_what_its_bindings_grant(east, robot):
    assert east.kubectl("--as", robot.user, "-n", NS, "get", "pods").returncode == 1
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader", "namespace": NS},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "pod-reader", "namespace": NS},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": robot.name, "namespace": NS}]}
    _ok(east.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([role, binding])))
    _ok(east.kubectl("--as", robot.user, "-n", NS, "get", "pods"))
    refused = east.kubectl("--as", robot.user, "-n", NS, "get", "secrets")
    assert f'User "{robot.user}" cannot list resource "secrets"' in refused.stderr, refused.stderr
    # The account's own token is allowed exactly the same.
    _ok(east.kubectl("-n", NS, "get", "pods", kubeconfig=robot.kubeconfig))


def test_a_token_without_impersonate_rights_is_refused_each_thing_it_asks_to_be(east, robot, constrained):
    cluster_scope = 'in API group "" at the cluster scope'
    reviews = 'selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "' + robot.user + '" cannot {verb} resource ' \
              '"selfsubjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope'
    # (kubectl get pods, kubectl auth can-i list pods): the same refusal of the user, or each request's own
    refusals = {
        ("--as=nobody",): 2 * [f'users "nobody" is forbidden: User "{robot.user}" cannot impersonate resource "users" {cluster_scope}'],
        ("--as=system:serviceaccount:kube-system:default",): 2 * [
            f'serviceaccounts "default" is forbidden: User "{robot.user}" cannot impersonate resource "serviceaccounts" '
            'in API group "" in the namespace "kube-system"'],
    }
    if constrained:
        refusals = {flags: [f'pods is forbidden: User "{robot.user}" cannot impersonate-on:{mode}:list resource "pods" {IN_DEFAULT}',
                            reviews.format(verb=f"impersonate-on:{mode}:create")]
                    for flags, mode in zip(refusals, ("user-info", "serviceaccount"))}
    for flags, (on_get, on_can_i) in refusals.items():
        refused = east.kubectl(*flags, "get", "pods", kubeconfig=robot.kubeconfig)
        assert refused.returncode == 1 and f"Error from server (Forbidden): {on_get}" in refused.stderr, (flags, refused.stderr)
        answer = east.kubectl(*flags, "auth", "can-i", "list", "pods", kubeconfig=robot.kubeconfig)
        assert answer.returncode == 1 and on_can_i in answer.stderr, (flags, answer.stderr)


def test_a_token_granted_impersonate_on_some_names_acts_as_those_and_only_those(east, robot):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "impersonate-alice", "labels": {"lab-test": "impersonation"}},
            "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]},
                      {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["ops"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "impersonate-alice", "labels": {"lab-test": "impersonation"}},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "impersonate-alice"},
               "subjects": [{"kind": "ServiceAccount", "name": robot.name, "namespace": NS}]}
    _ok(east.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([role, binding])))
    # Acting as alice works (from 1.36 by the legacy mode, after the constrained one refused); alice herself may
    # not list pods.
    refused = east.kubectl("--as=alice", "get", "pods", kubeconfig=robot.kubeconfig)
    assert 'pods is forbidden: User "alice" cannot list resource "pods"' in refused.stderr, refused.stderr
    answer = east.kubectl("--as=alice", "--as-group=ops", "auth", "can-i", "list", "pods", kubeconfig=robot.kubeconfig)
    assert (answer.returncode, answer.stdout.strip()) == (1, "no"), answer
    refusals = {
        ("--as=bob",): 'users "bob" is forbidden',
        ("--as=alice", "--as-group=system:masters"): 'groups "system:masters" is forbidden: User "' + robot.user +
                                                     '" cannot impersonate resource "groups"',
        ("--as=alice", "--as-uid=1234"): f'uids.authentication.k8s.io "1234" is forbidden: User "{robot.user}" cannot '
                                         'impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope',
    }
    # From 1.36 too: acting as alice worked through the legacy mode above, so for this robot the API server
    # tries legacy first from then on (constrained_impersonation.go), and these refusals are legacy's.
    for flags, message in refusals.items():
        refused = east.kubectl(*flags, "get", "pods", kubeconfig=robot.kubeconfig)
        assert refused.returncode == 1 and message in refused.stderr, (flags, refused.stderr)


def test_constrained_impersonation_is_granted_per_verb_and_never_into_system_masters(east, robot, constrained):
    """1.36+: `impersonate-on:user-info:list` on pods and `impersonate:user-info` on user alice let the robot list
    pods as alice, and nothing else as her; a group named system:masters is refused outright (mode.go)."""
    if not constrained:
        pytest.skip("the cluster's API server (before Kubernetes 1.36) has only the legacy impersonation")
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["impersonate-on:user-info:list"]},
             {"apiGroups": ["authentication.k8s.io"], "resources": ["users"], "verbs": ["impersonate:user-info"],
              "resourceNames": ["alice"]},
             {"apiGroups": ["authentication.k8s.io"], "resources": ["groups"], "verbs": ["impersonate:user-info"]}]
    _apply_bound(east, "ClusterRole", "constrained-alice", rules, [{"kind": "ServiceAccount", "name": robot.name, "namespace": NS}])
    refused = east.kubectl("--as=alice", "get", "pods", kubeconfig=robot.kubeconfig)
    assert f'pods is forbidden: User "alice" cannot list resource "pods" {IN_DEFAULT}' in refused.stderr, refused.stderr
    other_verb = east.kubectl("--as=alice", "get", "secrets", kubeconfig=robot.kubeconfig)
    assert f'User "{robot.user}" cannot impersonate-on:user-info:list resource "secrets"' in other_verb.stderr, other_verb.stderr
    other_user = east.kubectl("--as=bob", "get", "pods", kubeconfig=robot.kubeconfig)
    assert f'users.authentication.k8s.io "bob" is forbidden: User "{robot.user}" cannot impersonate:user-info resource ' \
           '"users" in API group "authentication.k8s.io" at the cluster scope' in other_user.stderr, other_user.stderr
    masters = east.kubectl("--as=alice", "--as-group=system:masters", "get", "pods", kubeconfig=robot.kubeconfig)
    assert f'groups.authentication.k8s.io "system:masters" is forbidden: User "{robot.user}" cannot impersonate:user-info ' \
           'resource "groups" in API group "authentication.k8s.io" at the cluster scope: impersonating the ' \
           'system:masters group is not allowed' in masters.stderr, masters.stderr


def _apply_bound(east, kind: str, name: str, rules: list, subjects: list, namespace: str | None = None) -> None:
    meta = {"name": name, "labels": {"lab-test": "impersonation"}, **({"namespace": namespace} if namespace else {})}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": f"{kind}Binding", "metadata": meta,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}, "subjects": subjects}
    _ok(east.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([role, binding])))


def test_can_i_answers_for_the_exact_verb_group_resource_subresource_name_and_namespace(east, robot):
    """`kubectl auth can-i` sends every attribute of the question (as protobuf): each one counts."""
    _apply_bound(east, "Role", "scale-web", [{"apiGroups": ["apps"], "resources": ["deployments/scale"],
                                              "verbs": ["update"], "resourceNames": ["web"]}],
                 [{"kind": "ServiceAccount", "name": robot.name, "namespace": NS}], namespace=NS)

    def can(*args: str) -> str:
        return east.kubectl("auth", "can-i", *args, kubeconfig=robot.kubeconfig).stdout.strip()

    assert can("update", "deployments.apps/web", "--subresource=scale", "-n", NS) == "yes"
    assert can("update", "deployments.apps/other", "--subresource=scale", "-n", NS) == "no", "another name"
    assert can("update", "deployments.apps/web", "-n", NS) == "no", "the resource, not its subresource"
    assert can("get", "deployments.apps/web", "--subresource=scale", "-n", NS) == "no", "another verb"
    assert can("update", "deployments.apps/web", "--subresource=scale", "-n", "default") == "no", "another namespace"


def test_an_impersonated_user_gets_the_groups_the_api_server_gives_it(east, robot):
    """A service account impersonated without --as-group is in its service-account groups; system:anonymous is
    in system:unauthenticated, any other user in system:authenticated (impersonation.go, v1.32)."""
    _apply_bound(east, "ClusterRole", "by-group", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
                 [{"kind": "Group", "name": f"system:serviceaccounts:{NS}"}])
    _apply_bound(east, "ClusterRole", "anonymous-secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
                 [{"kind": "Group", "name": "system:unauthenticated"}])
    _ok(east.kubectl("--as", robot.user, "-n", NS, "get", "configmaps"))
    assert east.kubectl("--as", robot.user, "--as-group=ops", "-n", NS, "get", "configmaps").returncode == 1, \
        "groups asked for replace the account's own"
    _ok(east.kubectl("--as=system:anonymous", "-n", NS, "get", "secrets"))
    refused = east.kubectl("--as=alice", "-n", NS, "get", "secrets", "-v=6")
    assert refused.returncode == 1 and "403 Forbidden" in refused.stderr, refused.stderr


def test_only_a_valid_service_account_name_is_impersonated_as_a_service_account(east, robot, constrained):
    """serviceaccount.SplitUsername: a DNS-label namespace (at most 63 characters) and a DNS-subdomain name
    (at most 253); anything else after `system:serviceaccount:` is a plain user name."""
    def refused_as(user: str) -> str:
        refused = east.kubectl(f"--as={user}", "get", "pods", "-v=6", kubeconfig=robot.kubeconfig)
        assert refused.returncode == 1 and "403 Forbidden" in refused.stderr, refused
        return refused.stderr

    prefix = "system:serviceaccount:"
    for user, resource in {f"{prefix}{'n' * 63}:{'a' * 253}": "serviceaccounts",
                           f"{prefix}{'n' * 64}:robot": "users", f"{prefix}{NS}:{'a' * 254}": "users",
                           f"{prefix}{NS}:Robot_1": "users", f"{prefix}Bad_NS:robot": "users"}.items():
        # 1.36+: the mode that takes it says so first (serviceaccount for a service account, else user-info)
        said = f"cannot impersonate-on:{ {'serviceaccounts': 'serviceaccount', 'users': 'user-info'}[resource]}:list" \
            if constrained else f'cannot impersonate resource "{resource}"'
        assert said in refused_as(user), user
