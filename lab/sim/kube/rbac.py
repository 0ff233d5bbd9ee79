"""Authorization as the API server's RBAC authorizer decides it, from the Roles, ClusterRoles and
their bindings in the cluster's store (what the multicluster chart applies for the remote-access
account), so a token is allowed exactly what its account is bound to and refused the rest.

Rules (rbac.authorization.k8s.io/v1): a request is allowed when any binding whose subjects name the
user (User), one of its groups (Group) or its ServiceAccount refers to a role with a rule matching
the verb, API group, resource (`pods/exec` for a subresource) and, where the rule names some, the
resource name. RoleBindings count only in their namespace. `system:masters` is allowed everything,
and every authenticated user may read discovery (the default `system:discovery` binding).
"""
from __future__ import annotations

from dataclasses import dataclass


def service_account_groups(namespace: str) -> tuple[str, ...]:
    """The groups a service account is in (k8s.io/apiserver pkg/authentication/serviceaccount MakeGroupNames)."""
    return "system:serviceaccounts", f"system:serviceaccounts:{namespace}"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # user.Info's Extra: (key, values), keys sorted
    uid: str = ""

    @classmethod
    def service_account(cls, namespace: str, name: str) -> "User":
        return cls(f"system:serviceaccount:{namespace}:{name}", (*service_account_groups(namespace), "system:authenticated"))

    def named_by(self, subject: dict, binding_namespace: str) -> bool:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User":
            return name == self.name
        if kind == "Group":
            return name in self.groups
        if kind == "ServiceAccount":
            namespace = subject.get("namespace") or binding_namespace
            return self.name == f"system:serviceaccount:{namespace}:{name}"
        return False


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str          # plural, with "/<subresource>" for a subresource
    namespace: str = ""    # "" for cluster-scoped requests (and lists across namespaces)
    name: str = ""


def _has(values: list | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)


def _rule_allows(rule: dict, req: Request) -> bool:
    if not (_has(rule.get("verbs"), req.verb) and _has(rule.get("apiGroups"), req.group)):
        return False
    # ResourceMatches (pkg/apis/rbac/v1/evaluation_helpers.go, v1.32.0): `*`, the exact `<resource>` or
    # `<resource>/<subresource>`, or `*/<subresource>` for that subresource of any resource; `pods/*` is
    # not a wildcard (it names a subresource called "*").
    resources = rule.get("resources") or []
    _, slash, subresource = req.resource.partition("/")
    if not ("*" in resources or req.resource in resources or (slash and f"*/{subresource}" in resources)):
        return False
    names = rule.get("resourceNames")
    return not names or req.name in names


def _bound_rules(store, user: User, namespace: str):
    """Every rule of every role bound to `user`: ClusterRoleBindings, and the RoleBindings of `namespace` ("" for
    none). GetRoleReferenceRules (pkg/registry/rbac/validation/rule.go): a "Role" in the binding's namespace,
    a "ClusterRole" by name, any other kind no rules at all."""
    bindings = [(b, "") for b in store.views("ClusterRoleBinding")]
    if namespace:
        bindings += [(b, namespace) for b in store.views("RoleBinding", namespace)]
    for binding, binding_namespace in bindings:
        if not any(user.named_by(s, binding_namespace) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef", {})
        kind, name = ref.get("kind"), ref.get("name", "")
        role = (store.view("ClusterRole", "", name) if kind == "ClusterRole"
                else store.view("Role", binding_namespace, name) if kind == "Role" else None)
        yield from (role or {}).get("rules") or []


def allowed(store, user: User, req: Request) -> bool:
    if "system:masters" in user.groups:
        return True
    return any(_rule_allows(rule, req) for rule in _bound_rules(store, user, req.namespace))


def forbidden_message(user: User, req: Request) -> str:
    """The API server's words: `forbiddenMessage` in staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
    responsewriters/errors.go (resource/subresource; "in the namespace" or "at the cluster scope"), behind the
    `<group resource> ["<name>"] is forbidden: ` that apimachinery's errors.NewForbidden puts before it."""
    plural = req.resource.split("/")[0]
    qualified = f"{plural}.{req.group}" if req.group else plural
    what = f'{qualified} "{req.name}"' if req.name else qualified
    where = f' in the namespace "{req.namespace}"' if req.namespace else " at the cluster scope"
    return f'{what} is forbidden: User "{user.name}" cannot {req.verb} resource "{req.resource}" in API group "{req.group}"{where}'


def path_allowed(store, user: User, verb: str, path: str) -> bool:
    """A request for a path that is not a resource: allowed by a ClusterRole rule naming the verb and the path
    in `nonResourceURLs` (exactly, `*`, or a prefix ending in `*`: NonResourceURLMatches in
    pkg/apis/rbac/v1/evaluation_helpers.go), bound by a ClusterRoleBinding (RoleBindings hold no paths)."""
    if "system:masters" in user.groups:
        return True
    return any(_has(rule.get("verbs"), verb) and any(u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1]))
                                                     for u in rule.get("nonResourceURLs") or [])
               for rule in _bound_rules(store, user, ""))
