"""Who a request to the API server is, and what it may ask about itself.

Authentication as a kind cluster's: the admin's client certificate (verified against the cluster's CA by
the TLS layer, its subject read here), or a ServiceAccount token from the cluster's token Secrets.
Authorization is RBAC over the cluster's own Roles and bindings (..rbac); `kubectl auth can-i` asks it
through a SelfSubjectAccessReview, which every user may send. A caller RBAC lets impersonate may act as
another user (`kubectl --as`, `--as-group`, `--as-uid`): `impersonated` decides whom a request acts as, by the
Kubernetes version's filter (below), and every later decision is about the user impersonated.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from .. import protobodies, rbac
from ..objects import b64decode
from ..store import ObjectStore
from ....names import SA_NAME_ANNOTATION, SA_UID_ANNOTATION
from .rules import NAME_RULES
from .status import ApiError


# kind leaves the API server's --anonymous-auth at its default (true): a request that presents no credentials is
# system:anonymous, and RBAC decides (403); credentials that fail are 401, never anonymous (union.NewFailOnError
# in pkg/kubeapiserver/authenticator/config.go, v1.32).
ANONYMOUS = rbac.User("system:anonymous", ("system:unauthenticated",))
# What the bootstrap `system:public-info-viewer` ClusterRole lets anyone read, anonymous included
# (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, v1.32): exact paths, no wildcard.
PUBLIC_INFO = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})


CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def authenticate(request: web.Request, store: ObjectStore, credential_ids: bool = False) -> rbac.User:
    """Who sent the request: the admin's client certificate, a ServiceAccount token, or nobody (anonymous).
    A bearer token that matches no account is refused here with 401. `credential_ids` (Kubernetes 1.32+): a
    certificate's user carries `X509SHA256=<its fingerprint>` as its credential id (CommonNameUserConversion in
    k8s.io/apiserver pkg/authentication/request/x509/x509.go at v0.32.0 and v0.37.0-beta.0; not at v0.31.0)."""
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    if peer:
        fields = [item for rdn in peer.get("subject", ()) for item in rdn]
        cn = next((v for k, v in fields if k == "commonName"), None)
        groups = tuple(v for k, v in fields if k == "organizationName")
        if cn:
            extra = ()
            tls = request.transport.get_extra_info("ssl_object")
            if credential_ids and tls is not None:
                fingerprint = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
                extra = ((CREDENTIAL_ID, (f"X509SHA256={fingerprint}",)),)
            return rbac.User(cn, (*groups, "system:authenticated"), extra)
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


def info_forbidden(user: rbac.User, path: str, verb: str = "get") -> ApiError:
    """403 for a path that is not a resource: `forbiddenMessage` for a non-resource request
    (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go) behind NewForbidden's
    empty group-resource, which leaves "forbidden: " before it."""
    return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {verb} path "{path}"')


def token_user(store: ObjectStore, token: str) -> rbac.User | None:
    """The service account a bearer token belongs to (from its token Secret), or None (401)."""
    for secret in store.views("Secret"):
        if secret.get("type") != "kubernetes.io/service-account-token":
            continue
        stored = secret.get("data", {}).get("token")
        sa = secret["metadata"].get("annotations", {}).get(SA_NAME_ANNOTATION)
        ns = secret["metadata"]["namespace"]
        account = store.view("ServiceAccount", ns, sa) if stored and hmac.compare_digest(
            b64decode(stored).encode(), token.encode()) else None
        if account is None:
            continue
        # pkg/serviceaccount/legacy.go (kubernetes/kubernetes): the token is its account's while that account is the
        # one it was issued for (the UID the token controller wrote) and is not being deleted; its UID is the user's
        uid, issued_to = account["metadata"].get("uid", ""), (secret["metadata"].get("annotations") or {}).get(SA_UID_ANNOTATION)
        if (issued_to is not None and issued_to != uid) or account["metadata"].get("deletionTimestamp"):
            return None
        user = rbac.User.service_account(ns, sa)
        return rbac.User(user.name, user.groups, uid=uid)
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
    selfsubjectreview REST `Create`: a creation time, and the user's name, groups and extra)."""
    info = {"username": user.name, **({"uid": user.uid} if user.uid else {}), "groups": list(user.groups)}
    if user.extra:
        info["extra"] = {key: list(values) for key, values in user.extra}
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "status": {"userInfo": info}}


def access_review_from_protobuf(body: bytes) -> dict:
    """kubectl's typed clients send protobuf (`kubectl auth can-i`): the SelfSubjectAccessReview is read as
    any other body is (protobodies, k8s.io/api authorization/v1 generated.proto at v0.32.3)."""
    if not body.startswith(b"k8s\x00"):
        raise ApiError(400, "BadRequest", "a protobuf body must start with the k8s magic")
    try:
        return protobodies.decode(body, "authorization.k8s.io", "v1", "SelfSubjectAccessReview")
    except protobodies.Unreadable as exc:
        raise ApiError(400, "BadRequest", f"cannot read the SelfSubjectAccessReview: {exc}") from None


# -- impersonation ------------------------------------------------------------------------------------------
# `kubectl --as`, `--as-group`, `--as-uid`: whom a request acts as, and the API server's refusals, by version.
#
# Up to Kubernetes 1.35 the filter is the legacy one (staging/src/k8s.io/apiserver/pkg/endpoints/filters/
# impersonation.go, v1.32): each thing asked for needs the `impersonate` verb on it (users, groups and service
# accounts in the core group; uids and userextras in authentication.k8s.io), checked in order; the first refused
# is the 403. From 1.36, where the ConstrainedImpersonation gate is beta and on (k8s.io/apiserver
# pkg/features/kube_features.go at v0.37.0-beta.0), the filter tries its modes in order and keeps the first
# refusal (pkg/endpoints/filters/impersonation/constrained_impersonation.go and mode.go at v0.37.0-beta.0):
# `arbitrary-node` (a `system:node:<name>` user alone), `serviceaccount` (a service account alone), `user-info`
# (any other user, with any groups, uid and extras), then `legacy`, exactly as before. A constrained mode first
# asks `impersonate-on:<mode>:<verb>` on what the request itself asks (its resource, or its path), then
# `impersonate:<mode>` on each part in authentication.k8s.io, and never lets anyone be in `system:masters`. The
# `associated-node` mode (a pod's service account acting as its node) needs node-bound tokens, which the lab's
# clusters do not issue: it never applies here.
USER, GROUP, UID, EXTRA = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid", "impersonate-extra-"
SA_PREFIX, NODE_PREFIX = "system:serviceaccount:", "system:node:"
AUTHENTICATION = "authentication.k8s.io"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MANY = 4  # mode.go manyAuthorizationChecksInLoop: from this many groups or extras, one wildcard check first


@dataclass(frozen=True)
class Asked:
    """What the request itself asks (the authorizer's attributes): a resource request, or a path."""
    resource: rbac.Request | None
    path: str = ""
    verb: str = "get"  # a path's verb: the method, lowercase


@dataclass(frozen=True)
class Wanted:
    user: str
    groups: tuple[str, ...]
    uid: str
    extras: tuple[tuple[str, str], ...]  # (key, value), in the order the headers came

    @property
    def only_name(self) -> bool:
        return not (self.groups or self.uid or self.extras)

    @property
    def extra(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The extras as the impersonated user.Info holds them: values gathered by key, keys sorted."""
        keys = sorted({key for key, _ in self.extras})
        return tuple((key, tuple(v for k, v in self.extras if k == key)) for key in keys)


def _subdomain(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(p) for p in name.split("."))


def service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a `system:serviceaccount:NS:NAME` user name, as serviceaccount.SplitUsername
    reads it (a DNS label namespace and a DNS subdomain name), else None: a plain user."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX):].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    return (namespace, name) if len(namespace) <= 63 and _LABEL.fullmatch(namespace) and _subdomain(name) else None


def node(username: str) -> str | None:
    """The node a `system:node:<name>` user name names, when the name is a DNS subdomain (mode.go isNodeUsername)."""
    name = username[len(NODE_PREFIX):] if username.startswith(NODE_PREFIX) else ""
    return name if _subdomain(name) else None


def _forbidden(user: rbac.User, wanted: rbac.Request, reason: str = "") -> ApiError:
    message = rbac.forbidden_message(user, wanted) + (f": {reason}" if reason else "")
    return ApiError(403, "Forbidden", message, {"name": wanted.name, "group": wanted.group,
                                                "kind": wanted.resource.partition("/")[0]})


def _check(store: ObjectStore, user: rbac.User, wanted: rbac.Request) -> None:
    if not rbac.allowed(store, user, wanted):
        raise _forbidden(user, wanted)


def _impersonated_groups(name: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    """The groups the API server adds: system:unauthenticated for system:anonymous, else system:authenticated
    unless system:unauthenticated was asked for (mode.go check; impersonation.go at v1.32 likewise)."""
    if name == "system:anonymous":
        return groups if "system:unauthenticated" in groups else (*groups, "system:unauthenticated")
    if {"system:authenticated", "system:unauthenticated"} & set(groups):
        return groups
    return (*groups, "system:authenticated")


def _legacy(store: ObjectStore, requestor: rbac.User, wanted: Wanted, rewritten: bool = False) -> rbac.User:
    """The legacy filter: `impersonate` on each thing asked for, the first refused is the 403: user, groups,
    extras, uid (impersonation.go, v1.32); `rewritten`, mode.go's legacy mode from 1.36: user, uid, groups, extras."""
    account = service_account(wanted.user)
    user = [rbac.Request("impersonate", "", "serviceaccounts", *account) if account else
            rbac.Request("impersonate", "", "users", "", wanted.user)]
    uid = [rbac.Request("impersonate", AUTHENTICATION, "uids", "", wanted.uid)] if wanted.uid else []
    groups = [rbac.Request("impersonate", "", "groups", "", g) for g in wanted.groups]
    extras = [rbac.Request("impersonate", AUTHENTICATION, f"userextras/{k}", "", v) for k, v in wanted.extras]
    asked = user + uid + groups + extras if rewritten else user + groups + extras + uid
    for request in asked:
        _check(store, requestor, request)
    groups = wanted.groups
    if account and not groups:  # a service account's groups follow from it (serviceaccount.MakeGroupNames)
        groups = rbac.service_account_groups(account[0])
    return rbac.User(wanted.user, _impersonated_groups(wanted.user, groups), wanted.extra, wanted.uid)


def _mode(wanted: Wanted) -> str | None:
    """The constrained mode whose filter takes `wanted` (mode.go), or None: only legacy may."""
    if wanted.only_name and node(wanted.user):
        return "arbitrary-node"
    if wanted.only_name and service_account(wanted.user):
        return "serviceaccount"
    if not node(wanted.user) and not service_account(wanted.user):
        return "user-info"
    return None


def _constrained(store: ObjectStore, requestor: rbac.User, wanted: Wanted, mode: str, asked: Asked) -> rbac.User:
    """One constrained mode: `impersonate-on:<mode>:<verb>` on the request, then `impersonate:<mode>` on
    each part of the user, in authentication.k8s.io (mode.go constrainedImpersonationModeState.check)."""
    on = f"impersonate-on:{mode}:"
    if asked.resource is not None:
        _check(store, requestor, rbac.Request(on + asked.resource.verb, asked.resource.group, asked.resource.resource,
                                              asked.resource.namespace, asked.resource.name))
    elif not rbac.path_allowed(store, requestor, on + asked.verb, asked.path):
        raise info_forbidden(requestor, asked.path, on + asked.verb)
    verb = f"impersonate:{mode}"
    account, node_name = service_account(wanted.user), node(wanted.user)
    groups = wanted.groups
    if node_name:
        _check(store, requestor, rbac.Request(verb, AUTHENTICATION, "nodes", "", node_name))
        groups = ("system:nodes",)  # every node has this one group in constrained impersonation
    elif account:
        _check(store, requestor, rbac.Request(verb, AUTHENTICATION, "serviceaccounts", *account))
        groups = rbac.service_account_groups(account[0])
    else:
        _check(store, requestor, rbac.Request(verb, AUTHENTICATION, "users", "", wanted.user))
    if wanted.uid:
        _check(store, requestor, rbac.Request(verb, AUTHENTICATION, "uids", "", wanted.uid))
    if wanted.groups:
        for refused, why in (("", "impersonating the empty string group is not allowed"),
                             ("system:masters", "impersonating the system:masters group is not allowed")):
            if refused in wanted.groups:
                raise _forbidden(requestor, rbac.Request(verb, AUTHENTICATION, "groups", "", refused), why)
        if not (len(wanted.groups) >= MANY and rbac.allowed(store, requestor, rbac.Request(verb, AUTHENTICATION, "groups", "", "*"))):
            for group in wanted.groups:
                _check(store, requestor, rbac.Request(verb, AUTHENTICATION, "groups", "", group))
    if wanted.extras:
        _check_extras(store, requestor, verb, wanted.extras)
    return rbac.User(wanted.user, _impersonated_groups(wanted.user, groups), wanted.extra, wanted.uid)


def _check_extras(store: ObjectStore, requestor: rbac.User, verb: str, extras: tuple[tuple[str, str], ...]) -> None:
    """mode.go authorizeExtra: validateExtra's refusals first, one wildcard check for many, then each value."""
    for key, value in extras:
        invalid = _domain_prefixed_path(key)
        why = ("impersonating the empty string key in extra is not allowed" if not key else
               f"impersonating an invalid key in extra is not allowed: extra.key: {invalid}" if invalid else
               f'impersonating a non-lowercase key in extra is not allowed: "{key}"' if key != key.lower() else
               "impersonating the empty string value in extra is not allowed" if not value else "")
        if why:
            raise _forbidden(requestor, rbac.Request(verb, AUTHENTICATION, "userextras"), why)
    if len(extras) >= MANY and rbac.allowed(store, requestor, rbac.Request(verb, AUTHENTICATION, "userextras/*", "", "*")):
        return
    for key, value in extras:
        _check(store, requestor, rbac.Request(verb, AUTHENTICATION, f"userextras/{key}", "", value))


HTTP_PATH = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"  # apimachinery util/validation httpPathFmt


def _domain_prefixed_path(key: str) -> str:
    """What apimachinery's IsDomainPrefixedPath (util/validation at v0.37.0-beta.0) says of `key`, as
    field.Invalid words it (the value it names, then why), or "": a DNS subdomain, a slash, then a path."""
    host, slash, path = key.partition("/")
    if not (slash and host and path):
        return f'Invalid value: "{key}": must be a domain-prefixed path (such as "acme.io/foo")'
    pattern, longest, message = NAME_RULES["subdomain"]
    if len(host) > longest or not re.fullmatch(pattern, host):
        return f'Invalid value: "{host}": {message}'
    if not re.fullmatch(HTTP_PATH, path):
        return f"Invalid value: \"{path}\": Invalid path (regex used for validation is '{HTTP_PATH}')"
    return ""


def _wanted(request: web.Request) -> Wanted | None:
    headers = request.headers
    extras = tuple((unquote(k.lower()[len(EXTRA):]), v) for k, v in headers.items() if k.lower().startswith(EXTRA))
    wanted = Wanted(headers.get(USER, ""), tuple(headers.getall(GROUP, [])), headers.get(UID, ""), extras)
    return None if not wanted.user and wanted.only_name else wanted


def _no_user(request: web.Request, wanted: Wanted, constrained: bool) -> Exception:
    """Groups, a uid or extras without a user name: a 400 naming what was asked, as Go's %#v prints a
    user.DefaultInfo (constrained_impersonation.go), or the legacy filter's plain-text 500."""
    if constrained:
        groups = "[]string{" + ", ".join(f'"{g}"' for g in wanted.groups) + "}" if wanted.groups else "[]string(nil)"
        extra = "map[string][]string{" + ", ".join(
            f'"{k}":[]string{{{", ".join(chr(34) + v + chr(34) for v in vs)}}}' for k, vs in wanted.extra) + "}" \
            if wanted.extras else "map[string][]string(nil)"
        info = f'&user.DefaultInfo{{Name:"", UID:"{wanted.uid}", Groups:{groups}, Extra:{extra}}}'
        return ApiError(400, "BadRequest", f"requested {info} without impersonating a user name")
    asked = ([("Group", "", "groups", "", g) for g in wanted.groups] +
             [("UserExtra", AUTHENTICATION, f"userextras/{k}", "", v) for k, v in wanted.extras] +
             ([("UID", AUTHENTICATION, "uids", "", wanted.uid)] if wanted.uid else []))
    refs = " ".join("{" + " ".join((kind, ns, name, "", f"{AUTHENTICATION}/v1" if group else "", "",
                                    resource.partition("/")[2])) + "}" for kind, group, resource, ns, name in asked)
    return web.HTTPInternalServerError(text=f'Internal Server Error: "{request.path_qs}": requested [{refs}] '
                                            "without impersonating a user\n")


MODES = ("arbitrary-node", "serviceaccount", "user-info", "legacy")  # mode.go allImpersonationModes, in order


def impersonated(request: web.Request, store: ObjectStore, requestor: rbac.User, asked: Asked | None = None,
                 constrained: bool = False, remembered: dict[str, str] | None = None) -> rbac.User:
    """The user a request acts as: `requestor`, or the one its Impersonate-* headers name when `requestor` may
    impersonate it: by the legacy filter, or (`constrained`, Kubernetes 1.36+) by the first mode that allows
    it for what the request asks (`asked`), refused with the first refusal met. The modes are tried in order,
    but the one that last worked for this requestor first (`remembered`, by requestor name, for the API server's
    life: constrained_impersonation.go getImpersonatedUser and cache.go modeIndexCache)."""
    wanted = _wanted(request)
    if wanted is None:
        return requestor
    if not wanted.user:
        raise _no_user(request, wanted, constrained)
    if not constrained:
        return _legacy(store, requestor, wanted)
    remembered = {} if remembered is None else remembered
    applies = [m for m in MODES if m in ("legacy", _mode(wanted))]  # a mode whose filter refuses is no attempt
    last = remembered.get(requestor.name)
    order = ([last] if last in applies else []) + [m for m in applies if m != last]
    first: ApiError | None = None
    for mode in order:
        try:
            user = (_legacy(store, requestor, wanted, rewritten=True) if mode == "legacy" else
                    _constrained(store, requestor, wanted, mode, asked or Asked(None, request.path, "get")))
        except ApiError as refused:
            first = first or refused
            continue
        remembered[requestor.name] = mode
        return user
    raise first
