"""Who a request to the API server is, and what it may ask about itself.

Authentication as a kind cluster's: the admin's client certificate (verified against the cluster's CA by
the TLS layer, its subject read here), or a ServiceAccount token from the cluster's token Secrets.
Authorization is RBAC over the cluster's own Roles and bindings (..rbac); `kubectl auth can-i` asks it
through a SelfSubjectAccessReview, which every user may send.
"""
from __future__ import annotations

import hmac

from aiohttp import web

from ...wire import protowire
from .. import rbac
from ..objects import b64decode
from ..store import ObjectStore
from .status import ApiError


def authenticate(request: web.Request, store: ObjectStore) -> rbac.User | None:
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    if peer:
        fields = [item for rdn in peer.get("subject", ()) for item in rdn]
        cn = next((v for k, v in fields if k == "commonName"), None)
        groups = tuple(v for k, v in fields if k == "organizationName")
        if cn:
            return rbac.User(cn, (*groups, "system:authenticated"))
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return token_user(store, header.removeprefix("Bearer ").strip())
    return None


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


def access_review_from_protobuf(body: bytes) -> dict:
    """kubectl's typed clients send protobuf: the `k8s\\0` magic, a runtime.Unknown envelope whose raw
    bytes (field 2) are the SelfSubjectAccessReview (k8s.io/api/authorization/v1 generated.proto: spec = 2,
    resourceAttributes = 1, then namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7)."""
    if not body.startswith(b"k8s\x00"):
        raise ApiError(400, "BadRequest", "a protobuf body must start with the k8s magic")
    try:
        raw = dict(protowire.fields(body[4:])).get(2, b"")
        spec = dict(protowire.fields(dict(protowire.fields(raw)).get(2, b"")))
        attrs = dict(protowire.fields(spec.get(1, b"")))
    except protowire.ProtoError as exc:
        raise ApiError(400, "BadRequest", f"cannot read the SelfSubjectAccessReview: {exc}") from None
    keys = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"}
    return {"spec": {"resourceAttributes": {keys[n]: v.decode() for n, v in attrs.items() if n in keys}}}
