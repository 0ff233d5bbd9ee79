"""Inbound authorization policy, as a meshed pod's proxy enforces it (Linkerd 2.11+ policy CRDs).

With no Server selecting a pod's port, the cluster's default inbound policy applies; the lab installs
Linkerd's default, all-unauthenticated, so everything is allowed. Once a Server selects the port, only
clients some AuthorizationPolicy on that Server authorizes get through: one whose required
authentications (MeshTLSAuthentication identities or service accounts) all match the client's mTLS
identity. Anything else is refused, HTTP requests with 403 (linkerd.io/2/reference/authorization-policy:
"a Server with no authorizations denies all traffic"; default policy `all-unauthenticated`). Identities may
start with `*` to match a domain (charts/linkerd-crds/templates/policy/meshtls-authentication.yaml, edge-26.8.3).
A client without a verified identity ("" or "-": plaintext, or TLS without a client certificate) matches no
MeshTLSAuthentication or service account, not even `*`: "*" means any authenticated mesh client.
"""
from __future__ import annotations

import fnmatch

from ... import names
from ..kube.store import ObjectStore, matches

def _selects_port(server: dict, port: int, port_names: dict[int, str]) -> bool:
    want = server.get("spec", {}).get("port")
    return want == port or (isinstance(want, str) and port_names.get(port) == want)


def server_for(store: ObjectStore, pod: dict, port: int) -> dict | None:
    """The Server that selects the pod's `port` (by number or container port name), if any."""
    namespace, labels = pod["metadata"]["namespace"], pod["metadata"].get("labels") or {}
    port_names = {p["containerPort"]: p.get("name", "") for c in pod.get("spec", {}).get("containers", [])
                  for p in c.get("ports", []) if "containerPort" in p}
    for server in store.views("Server", namespace):
        selector = (server.get("spec", {}).get("podSelector") or {}).get("matchLabels") or {}
        if matches(labels, selector) and _selects_port(server, port, port_names):
            return server
    return None


def _authenticated(store: ObjectStore, ref: dict, namespace: str, client_id: str, trust_domain: str) -> bool:
    kind, ref_ns = ref.get("kind"), ref.get("namespace") or namespace
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
    if any(fnmatch.fnmatchcase(client_id, pattern) for pattern in spec.get("identities") or []):
        return True
    return any(client_id == names.identity(sa.get("name", ""), sa.get("namespace") or ref_ns, trust_domain)
               for sa in spec.get("identityRefs") or [] if sa.get("kind") == "ServiceAccount")


def denied_by(store: ObjectStore, pod: dict | None, port: int, client_id: str, trust_domain: str) -> str | None:
    """None when the request may pass; else the name of the Server that refuses it."""
    if pod is None or not store.view_all("Server"):
        return None
    server = server_for(store, pod, port)
    if server is None:
        return None
    namespace, name = server["metadata"]["namespace"], server["metadata"]["name"]
    for policy in store.views("AuthorizationPolicy", namespace):
        spec = policy.get("spec", {})
        target = spec.get("targetRef") or {}
        if target.get("kind") != "Server" or target.get("name") != name:
            continue
        refs = spec.get("requiredAuthenticationRefs") or []
        if refs and all(_authenticated(store, ref, namespace, client_id, trust_domain) for ref in refs):
            return None
    return name
