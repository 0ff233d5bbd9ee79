"""Who a request to the API server is, and what it may ask about itself.

Authentication as a kind cluster's: the admin's client certificate (verified against the cluster's CA by
the TLS layer, its subject read here), or a ServiceAccount token from the cluster's token Secrets.
Authorization is RBAC over the cluster's own Roles and bindings (..rbac); `kubectl auth can-i` asks it
through a SelfSubjectAccessReview, which every user may send. A caller RBAC lets `impersonate` may act as
another user (`kubectl --as`, `--as-group`, `--as-uid`): `impersonated` checks each header as the API
server's impersonation filter does, and every later decision is about the user impersonated.
"""
from __future__ import annotations

import hmac
import re
import time
from urllib.parse import unquote

from aiohttp import web

from .. import protobodies, rbac
from ..objects import b64decode
from ..store import ObjectStore
from .status import ApiError


# kind leaves the API server's --anonymous-auth at its default (true): a request that presents no credentials is
# system:anonymous, and RBAC decides (403); credentials that fail are 401, never anonymous (union.NewFailOnError
# in pkg/kubeapiserver/authenticator/config.go, v1.32).
ANONYMOUS = rbac.User("system:anonymous", ("system:unauthenticated",))
# What the bootstrap `system:public-info-viewer` ClusterRole lets anyone read, anonymous included
# (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, v1.32): exact paths, no wildcard.
PUBLIC_INFO = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})


def authenticate(request: web.Request, store: ObjectStore) -> rbac.User:
    """Who sent the request: the admin's client certificate, a ServiceAccount token, or nobody (anonymous).
    A bearer token that matches no account is refused here with 401."""
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    if peer:
        fields = [item for rdn in peer.get("subject", ()) for item in rdn]
        cn = next((v for k, v in fields if k == "commonName"), None)
        groups = tuple(v for k, v in fields if k == "organizationName")
        if cn:
            return rbac.User(cn, (*groups, "system:authenticated"))
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        return ANONYMOUS
    user = token_user(store, token)
    if user is None:
        raise ApiError(401, "Unauthorized", "Unauthorized")
    return user


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header as the API server reads it
    (staging/src/k8s.io/apiserver/pkg/authentication/request/bearertoken/bearertoken.go, v1.32): the scheme in
    any case, the token up to the next space; no header, another scheme or an empty token is no token at all."""
    parts = header.strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def may_read_info(user: rbac.User, path: str) -> bool:
    """Discovery, OpenAPI, version and health: every authenticated user (system:discovery, system:basic-user,
    system:public-info-viewer); anonymous only the public-info paths."""
    return "system:authenticated" in user.groups or path in PUBLIC_INFO


def info_forbidden(user: rbac.User, path: str) -> ApiError:
    """403 for a path that is not a resource: `forbiddenMessage` for a non-resource request
    (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go) behind NewForbidden's
    empty group-resource, which leaves "forbidden: " before it."""
    return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot get path "{path}"')


# staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go (v1.32): the headers, the resources each
# one needs `impersonate` on, and the groups an impersonated user gets.
USER, GROUP, UID, EXTRA = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid", "impersonate-extra-"
SA_PREFIX = "system:serviceaccount:"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a `system:serviceaccount:NS:NAME` user name, as serviceaccount.SplitUsername
    reads it (a DNS label namespace and a DNS subdomain name), else None: a plain user."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX):].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    valid_name = 0 < len(name) <= 253 and all(_LABEL.fullmatch(p) for p in name.split("."))
    return (namespace, name) if len(namespace) <= 63 and _LABEL.fullmatch(namespace) and valid_name else None


def impersonated(request: web.Request, store: ObjectStore, requestor: rbac.User) -> rbac.User:
    """The user a request acts as: `requestor`, or the one its Impersonate-* headers name when `requestor`
    may impersonate every part of it (403 naming the first it may not, as the filter's Forbidden does)."""
    headers = request.headers
    user = headers.get(USER, "")
    groups = headers.getall(GROUP, [])
    uid = headers.get(UID, "")
    extras = [(unquote(k.lower()[len(EXTRA):]), v) for k, v in headers.items() if k.lower().startswith(EXTRA)]
    if not (user or groups or uid or extras):
        return requestor
    # Each thing asked for, as the filter lists them: (kind, group, resource, namespace, name).
    asked: list[tuple[str, str, str, str, str]] = []
    account = _service_account(user) if user else None
    if account:
        asked.append(("ServiceAccount", "", "serviceaccounts", *account))
    elif user:
        asked.append(("User", "", "users", "", user))
    asked += [("Group", "", "groups", "", g) for g in groups]
    asked += [("UserExtra", "authentication.k8s.io", f"userextras/{key}", "", value) for key, value in extras]
    if uid:
        asked.append(("UID", "authentication.k8s.io", "uids", "", uid))
    if not user:  # the filter answers this with responsewriters.InternalError, a plain-text 500
        refs = " ".join("{" + " ".join((kind, ns, name, "", "authentication.k8s.io/v1" if group else "", "",
                                        resource.partition("/")[2])) + "}" for kind, group, resource, ns, name in asked)
        raise web.HTTPInternalServerError(text=f'Internal Server Error: "{request.path_qs}": requested [{refs}] '
                                               "without impersonating a user\n")
    for _, group, resource, namespace, name in asked:
        wanted = rbac.Request("impersonate", group, resource, namespace, name)
        if not rbac.allowed(store, requestor, wanted):
            raise ApiError(403, "Forbidden", rbac.forbidden_message(requestor, wanted),
                           {"name": name, "group": group, "kind": resource.partition("/")[0]})
    if account:
        name = f"{SA_PREFIX}{account[0]}:{account[1]}"
        # a service account's groups follow from it, unless groups are asked for (serviceaccount.MakeGroupNames)
        groups = groups or ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    else:
        name = user
    if name != "system:anonymous" and not {"system:authenticated", "system:unauthenticated"} & set(groups):
        groups = [*groups, "system:authenticated"]
    elif name == "system:anonymous" and "system:unauthenticated" not in groups:
        groups = [*groups, "system:unauthenticated"]
    return rbac.User(name, tuple(groups))


def token_user(store: ObjectStore, token: str) -> rbac.User | None:
    """The service account a bearer token belongs to (from its token Secret), or None (401)."""
    for secret in store.views("Secret"):
        if secret.get("type") != "kubernetes.io/service-account-token":
            continue
        stored = secret.get("data", {}).get("token")
        sa = secret["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name")
        ns = secret["metadata"]["namespace"]
        if stored and hmac.compare_digest(b64decode(stored).encode(), token.encode()) and \
                store.view("ServiceAccount", ns, sa):
            return rbac.User.service_account(ns, sa)
    return None


def access_review(store: ObjectStore, user: rbac.User, review: dict) -> dict:
    attrs = review.get("spec", {}).get("resourceAttributes") or {}
    resource = attrs.get("resource", "") + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    asked = rbac.Request(attrs.get("verb", ""), attrs.get("group", ""), resource, attrs.get("namespace", ""),
                         attrs.get("name", ""))
    # A denial has no reason: the RBAC authorizer gives one only for errors resolving roles
    # (plugin/pkg/auth/authorizer/rbac/rbac.go Authorize), so `kubectl auth can-i` prints a bare "no".
    return {**review, "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "status": {"allowed": rbac.allowed(store, user, asked)}}


def self_review(user: rbac.User) -> dict:
    """A SelfSubjectReview's answer: the user the request was made as, after impersonation (the registry's
    selfsubjectreview REST `Create`: a creation time, and the user's name and groups)."""
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}}}


def access_review_from_protobuf(body: bytes) -> dict:
    """kubectl's typed clients send protobuf (`kubectl auth can-i`): the SelfSubjectAccessReview is read as
    any other body is (protobodies, k8s.io/api authorization/v1 generated.proto at v0.32.3)."""
    if not body.startswith(b"k8s\x00"):
        raise ApiError(400, "BadRequest", "a protobuf body must start with the k8s magic")
    try:
        return protobodies.decode(body, "authorization.k8s.io", "v1", "SelfSubjectAccessReview")
    except protobodies.Unreadable as exc:
        raise ApiError(400, "BadRequest", f"cannot read the SelfSubjectAccessReview: {exc}") from None
