"""What the simulated API server's RBAC authorizer allows, rule by rule, as the Kubernetes authorizer decides it.

The oracle is upstream, read at kubernetes/kubernetes (the stored index's copies):
- plugin/pkg/auth/authorizer/rbac/rbac.go (commit 01aa0f3f): RuleAllows joins the resource and subresource
  as "<resource>/<subresource>" and needs the verb, the API group, the resource and the resource name to match;
- pkg/apis/rbac/v1/evaluation_helpers.go (commit 03bf11a3): VerbMatches / APIGroupMatches accept "*" or the
  exact value; ResourceMatches accepts "*", the exact combined resource, or "*/<subresource>" for a
  subresource; ResourceNameMatches accepts anything when the rule names none;
- pkg/registry/rbac/validation/rule.go (commit 05c351a9): VisitRulesFor reads every ClusterRoleBinding, then
  the RoleBindings of the request's namespace only; GetRoleReferenceRules resolves a "Role" in the binding's
  namespace ("" for a ClusterRoleBinding, so none), a "ClusterRole" by name, and any other kind to an error
  (no rules); appliesToUser matches a User by name, a Group by membership, a ServiceAccount as
  system:serviceaccount:<namespace>:<name> with the namespace defaulting to the binding's (none for a
  ClusterRoleBinding, which then matches nobody), and any other kind never. A binding whose role is missing
  grants nothing, and the other bindings are still read.
A service account's token authenticates as system:serviceaccount:<ns>:<name> in the groups
system:serviceaccounts, system:serviceaccounts:<ns> and system:authenticated.
"""
import pytest

from lab.sim.kube import rbac
from lab.sim.kube.store import ObjectStore

ALICE = rbac.User("alice", ("system:authenticated",))


def _store(*objects: dict) -> ObjectStore:
    store = ObjectStore()
    for obj in objects:
        store.apply(obj)
    return store


def cluster_role(name: str, *rules: dict) -> dict:
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}


def role(name: str, namespace: str, *rules: dict) -> dict:
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": list(rules)}


def binding(kind: str, name: str, ref_kind: str, ref_name: str, *subjects: dict, namespace: str = "") -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind,
                                                         "name": ref_name}, "subjects": list(subjects)}


def user(name: str) -> dict:
    return {"kind": "User", "name": name}


def rule(verbs, groups, resources, names=None) -> dict:
    out = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names is not None:
        out["resourceNames"] = list(names)
    return out


def granted_to_alice(*rules: dict):
    """A store where a ClusterRoleBinding gives alice a ClusterRole of `rules`, and a check for her requests."""
    store = _store(cluster_role("r", *rules), binding("ClusterRoleBinding", "r", "ClusterRole", "r", user("alice")))
    return lambda verb, group, resource, namespace="apps", name="": rbac.allowed(
        store, ALICE, rbac.Request(verb, group, resource, namespace, name))


def test_a_verb_wildcard_grants_every_verb_and_a_named_verb_that_verb_alone():
    star = granted_to_alice(rule(["*"], [""], ["pods"]))
    assert all(star(verb, "", "pods") for verb in ("get", "list", "watch", "create", "delete", "deletecollection"))
    named = granted_to_alice(rule(["get", "list"], [""], ["pods"]))
    assert named("get", "", "pods") and named("list", "", "pods")
    assert not named("watch", "", "pods") and not named("delete", "", "pods")
    assert not granted_to_alice(rule([], [""], ["pods"]))("get", "", "pods"), "a rule with no verbs grants none"


def test_api_groups_match_exactly_or_by_wildcard_and_the_empty_group_is_only_the_core_group():
    core = granted_to_alice(rule(["get"], [""], ["*"]))
    assert core("get", "", "configmaps")
    assert not core("get", "apps", "deployments"), '"" is the core group only'
    apps = granted_to_alice(rule(["get"], ["apps"], ["deployments"]))
    assert apps("get", "apps", "deployments") and not apps("get", "extensions", "deployments")
    anygroup = granted_to_alice(rule(["get"], ["*"], ["deployments"]))
    assert anygroup("get", "apps", "deployments") and anygroup("get", "extensions", "deployments")
    assert not granted_to_alice(rule(["get"], [], ["pods"]))("get", "", "pods"), "a rule with no API groups grants none"


def test_resource_wildcards_and_subresources():
    everything = granted_to_alice(rule(["get"], [""], ["*"]))
    assert everything("get", "", "pods") and everything("get", "", "pods/log"), '"*" covers subresources too'
    exec_only = granted_to_alice(rule(["create"], [""], ["pods/exec"]))
    assert exec_only("create", "", "pods/exec")
    assert not exec_only("create", "", "pods"), "a subresource grant is not a grant on the resource"
    assert not exec_only("create", "", "pods/attach")
    assert not exec_only("create", "", "services/exec"), "pods/exec is the pods' subresource only"
    scale = granted_to_alice(rule(["update"], ["apps"], ["*/scale"]))
    assert scale("update", "apps", "deployments/scale") and scale("update", "apps", "statefulsets/scale")
    assert not scale("update", "apps", "deployments"), "*/scale grants the subresource, not the resource"
    assert not scale("update", "apps", "deployments/status")
    assert not granted_to_alice(rule(["get"], [""], []))("get", "", "pods"), "a rule with no resources grants none"
    urls = granted_to_alice({"verbs": ["*"], "nonResourceURLs": ["*"]})
    assert not urls("get", "", "pods"), "a rule for non-resource URLs grants no resource (RuleAllows)"


def test_resource_names_restrict_a_rule_to_those_objects_and_so_never_grant_a_list():
    named = granted_to_alice(rule(["get", "list"], [""], ["secrets"], names=["linkerd-identity-issuer"]))
    assert named("get", "", "secrets", "linkerd", "linkerd-identity-issuer")
    assert not named("get", "", "secrets", "linkerd", "linkerd-identity-token")
    assert not named("list", "", "secrets", "linkerd"), "a list request has no name, which no resourceNames holds"
    unnamed = granted_to_alice(rule(["get"], [""], ["secrets"], names=[]))
    assert unnamed("get", "", "secrets", "linkerd", "anything"), "an empty resourceNames restricts nothing"


def test_a_cluster_role_binding_grants_in_every_namespace_and_at_the_cluster_scope():
    check = granted_to_alice(rule(["list"], [""], ["services", "nodes"]))
    assert check("list", "", "services", "apps") and check("list", "", "services", "linkerd")
    assert check("list", "", "services", ""), "across namespaces"
    assert check("list", "", "nodes", ""), "a cluster-scoped resource"


def test_a_role_binding_grants_only_in_its_own_namespace_even_for_a_cluster_role():
    store = _store(cluster_role("view", rule(["get", "list"], [""], ["services"])),
                   binding("RoleBinding", "view", "ClusterRole", "view", user("alice"), namespace="apps"))
    assert rbac.allowed(store, ALICE, rbac.Request("get", "", "services", "apps", "web"))
    assert not rbac.allowed(store, ALICE, rbac.Request("get", "", "services", "linkerd", "web"))
    assert not rbac.allowed(store, ALICE, rbac.Request("list", "", "services", "")), "not across namespaces"


def test_a_role_binding_uses_the_role_of_its_own_namespace():
    store = _store(role("exec", "apps", rule(["create"], [""], ["pods/exec"])),
                   role("exec", "ops"),  # the same name in the binding's namespace, granting nothing
                   binding("RoleBinding", "exec", "Role", "exec", user("alice"), namespace="ops"),
                   binding("RoleBinding", "exec", "Role", "missing", user("alice"), namespace="apps"))
    assert not rbac.allowed(store, ALICE, rbac.Request("create", "", "pods/exec", "ops", "web-0"))
    assert not rbac.allowed(store, ALICE, rbac.Request("create", "", "pods/exec", "apps", "web-0")), \
        "the binding in apps names a Role that does not exist"
    store.apply(binding("RoleBinding", "exec-2", "Role", "exec", user("alice"), namespace="apps"))
    assert rbac.allowed(store, ALICE, rbac.Request("create", "", "pods/exec", "apps", "web-0")), \
        "a binding with a missing role does not stop the next one granting"


def test_a_cluster_role_binding_to_a_role_or_a_binding_to_an_unknown_kind_grants_nothing():
    grant = rule(["get"], [""], ["pods"])
    store = _store(role("reader", "apps", grant), cluster_role("reader", rule(["list"], [""], ["pods"])),
                   binding("ClusterRoleBinding", "reader", "Role", "reader", user("alice")),
                   binding("RoleBinding", "odd", "Pod", "reader", user("alice"), namespace="apps"))
    assert not rbac.allowed(store, ALICE, rbac.Request("get", "", "pods", "apps", "web-0"))
    assert not rbac.allowed(store, ALICE, rbac.Request("list", "", "pods", "apps"))


def test_subjects_name_a_user_a_group_or_a_service_account_and_any_one_of_them_suffices():
    store = _store(cluster_role("reader", rule(["get"], [""], ["configmaps"])),
                   binding("ClusterRoleBinding", "reader", "ClusterRole", "reader",
                           {"kind": "Robot", "name": "alice"}, user("bob"), {"kind": "Group", "name": "ops"}))
    get = rbac.Request("get", "", "configmaps", "apps", "c")
    assert not rbac.allowed(store, ALICE, get), "a subject of an unknown kind names nobody"
    assert rbac.allowed(store, rbac.User("bob", ()), get)
    assert rbac.allowed(store, rbac.User("carol", ("system:authenticated", "ops")), get)
    assert not rbac.allowed(store, rbac.User("ops", ("system:authenticated",)), get), "a Group is not a user name"
    assert not rbac.allowed(store, rbac.User("dave", ("system:authenticated", "ops-team")), get)


def test_a_service_account_subject_defaults_to_the_role_bindings_namespace_but_names_nobody_cluster_wide():
    store = _store(cluster_role("reader", rule(["get"], [""], ["configmaps"])),
                   binding("RoleBinding", "local", "ClusterRole", "reader", {"kind": "ServiceAccount", "name": "app"},
                           namespace="apps"),
                   binding("ClusterRoleBinding", "unqualified", "ClusterRole", "reader",
                           {"kind": "ServiceAccount", "name": "ci"}),
                   binding("ClusterRoleBinding", "qualified", "ClusterRole", "reader",
                           {"kind": "ServiceAccount", "name": "mirror", "namespace": "mc"}))

    def get(account: rbac.User, namespace: str) -> bool:
        return rbac.allowed(store, account, rbac.Request("get", "", "configmaps", namespace, "c"))

    app, other_app = rbac.User.service_account("apps", "app"), rbac.User.service_account("ops", "app")
    assert get(app, "apps")
    assert not get(other_app, "apps"), "the same account name in another namespace"
    assert not get(app, "ops"), "the RoleBinding grants in its namespace only"
    assert not any(get(rbac.User.service_account(ns, "ci"), "apps") for ns in ("apps", "default", "kube-system"))
    assert get(rbac.User.service_account("mc", "mirror"), "apps") and get(rbac.User.service_account("mc", "mirror"), "ops")
    assert not get(rbac.User.service_account("apps", "mirror"), "apps")
    # a User subject naming a service account's user name is that account too (names are compared)
    store.apply(binding("RoleBinding", "by-name", "ClusterRole", "reader", user("system:serviceaccount:ops:app"),
                        namespace="ops"))
    assert get(other_app, "ops")


@pytest.mark.parametrize("group, who_passes", [
    ("system:authenticated", {"alice", "system:serviceaccount:apps:app", "system:serviceaccount:ops:ci"}),
    ("system:serviceaccounts", {"system:serviceaccount:apps:app", "system:serviceaccount:ops:ci"}),
    ("system:serviceaccounts:ops", {"system:serviceaccount:ops:ci"}),
])
def test_the_built_in_groups_cover_every_user_every_service_account_or_one_namespaces_accounts(group, who_passes):
    store = _store(cluster_role("reader", rule(["get"], [""], ["configmaps"])),
                   binding("ClusterRoleBinding", "reader", "ClusterRole", "reader", {"kind": "Group", "name": group}))
    users = [ALICE, rbac.User.service_account("apps", "app"), rbac.User.service_account("ops", "ci")]
    passed = {u.name for u in users if rbac.allowed(store, u, rbac.Request("get", "", "configmaps", "apps", "c"))}
    assert passed == who_passes


def test_nothing_is_allowed_without_a_binding_except_to_system_masters():
    store = _store(cluster_role("admin", rule(["*"], ["*"], ["*"])))
    delete_nodes = rbac.Request("delete", "", "nodes", "", "node-1")
    assert not rbac.allowed(store, ALICE, delete_nodes), "a role nobody is bound to grants nothing"
    assert rbac.allowed(store, rbac.User("root", ("system:masters", "system:authenticated")), delete_nodes)
    store.apply(binding("ClusterRoleBinding", "admin", "ClusterRole", "admin", user("alice")))
    assert rbac.allowed(store, ALICE, delete_nodes)
    assert rbac.allowed(store, ALICE, rbac.Request("create", "policy.linkerd.io", "servers/status", "apps", "web"))
