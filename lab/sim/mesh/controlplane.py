"""What a cluster's Linkerd control plane says about itself, read from the cluster's object store: its
trust roots, its identity issuer, and which profile's Linkerd installed it. The proxies, the service
mirror, the check and the proxy injector (lab.sim.world) all read it here.
"""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from ...trust import pki
from ...render.readback import read_trust_roots
from ...names import ISSUER_SECRET, LINKERD_NS, TRUST_ROOTS_CM
from ...model.profiles import PROFILES, Profile
from ..kube.objects import b64decode
from ..kube.store import ObjectStore


def trust_roots(store: ObjectStore) -> str | None:
    for name in (TRUST_ROOTS_CM, "linkerd-config"):
        roots = read_trust_roots(store.get("ConfigMap", LINKERD_NS, name))
        if roots:
            return roots
    return None


def issuer(store: ObjectStore) -> pki.CertKey | None:
    secret = store.get("Secret", LINKERD_NS, ISSUER_SECRET)
    if not secret:
        return None
    data = secret.get("data", {})
    cert = pki.load_certs(b64decode(data["crt.pem"]))[0]
    key = serialization.load_pem_private_key(b64decode(data["key.pem"]).encode(), password=None)
    return pki.CertKey(cert, key)


def installed_profile(store: ObjectStore) -> Profile | None:
    """The profile whose Linkerd the control plane was installed with, read from the
    `linkerd.io/created-by: linkerd/cli <version>` annotation its objects carry."""
    for name in (TRUST_ROOTS_CM, "linkerd-config"):
        obj = store.get("ConfigMap", LINKERD_NS, name)
        created = ((obj or {}).get("metadata", {}).get("annotations") or {}).get("linkerd.io/created-by", "")
        for profile in PROFILES.values():
            if created.endswith(" " + profile.linkerd):
                return profile
    return None


def mesh_ready(store: ObjectStore) -> bool:
    return issuer(store) is not None and trust_roots(store) is not None
