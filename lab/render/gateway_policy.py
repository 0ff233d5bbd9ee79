"""The multicluster gateway's policy objects, as `linkerd multicluster install` renders them at edge-26.8.3
(lab/render/manifests.py `multicluster` adds them where the profile has the policy CRDs)."""
from __future__ import annotations

from .. import names

GATEWAY_SERVER = "linkerd-gateway"  # the Server and the AuthorizationPolicy on it
GATEWAY_MESHTLS_AUTHN = "any-meshed"
GATEWAY_NETWORK_AUTHN = "source-cluster"


def objects(annotations: dict[str, str]) -> list[dict]:
    """The gateway's policy objects as edge-26.8.3's chart renders them with its default values
    (multicluster/charts/linkerd-multicluster/templates/gateway-policy.yaml; install_default.golden): a Server
    on the gateway pods' proxy port by its name `linkerd-proxy` (the injected proxy container's 4143), and an
    AuthorizationPolicy on it requiring a MeshTLSAuthentication of any identity and a NetworkAuthentication of
    every IPv4 and IPv6 address (the chart's comment asks the user to narrow it to the source clusters').
    stable-2.8.1 has no policy CRDs, so none there. `annotations`: the created-by every object carries."""
    labels = {"linkerd.io/extension": "multicluster", "app": names.GATEWAY}

    def meta(name: str) -> dict:
        return {"namespace": names.MC_NS, "name": name, "labels": dict(labels), "annotations": dict(annotations)}

    def ref(kind: str, name: str) -> dict:
        return {"group": "policy.linkerd.io", "kind": kind, "name": name, "namespace": names.MC_NS}

    return [
        {"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server", "metadata": meta(GATEWAY_SERVER),
         "spec": {"podSelector": {"matchLabels": {"app": names.GATEWAY}}, "port": "linkerd-proxy"}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "AuthorizationPolicy", "metadata": meta(GATEWAY_SERVER),
         "spec": {"targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": GATEWAY_SERVER},
                  "requiredAuthenticationRefs": [ref("MeshTLSAuthentication", GATEWAY_MESHTLS_AUTHN),
                                                 ref("NetworkAuthentication", GATEWAY_NETWORK_AUTHN)]}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
         "metadata": meta(GATEWAY_MESHTLS_AUTHN), "spec": {"identities": ["*"]}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "NetworkAuthentication",
         "metadata": meta(GATEWAY_NETWORK_AUTHN), "spec": {"networks": [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}]}},
    ]
