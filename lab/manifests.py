"""The Kubernetes objects the lab applies, rendered once for every backend.

Shapes follow upstream: MetalLB's metallb.io/v1beta1 CRDs (v0.16.1), and
Linkerd's `linkerd multicluster install` output (edge-26.8.3,
multicluster/cmd/testdata/install_default.golden) for the gateway and the
remote-access service account. Exports use the guide's two annotations.
"""
from __future__ import annotations

import base64
import json
import string
from pathlib import Path

import yaml

from . import gateways
from .config import AddressPool, LabConfig
from .trust import TrustMaterial

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
METALLB_NS = "metallb-system"
POOL_NAME = "lab-pool"
L2_NAME = "lab-l2"
LINKERD_NS = "linkerd"
MC_NS = "linkerd-multicluster"
GATEWAY = "linkerd-gateway"
REMOTE_ACCESS_SA = "linkerd-service-mirror-remote-access-default"
EXPORT_NAME = "mirror.linkerd.io/gateway-name"
EXPORT_NS = "mirror.linkerd.io/gateway-ns"
# `linkerd multicluster link-gen`'s default --selector (multicluster/cmd/link-gen.go)
EXPORT_SELECTOR = {"mirror.linkerd.io/exported": "true"}


def ingress_ip(svc: dict | None) -> str | None:
    """The LoadBalancer address a Service was given (status.loadBalancer.ingress[0].ip), or None."""
    ingress = (svc or {}).get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def metallb(pool: AddressPool) -> list[dict]:
    """MetalLB >= 0.13: an IPAddressPool and the L2Advertisement that announces it."""
    return [
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
         "metadata": {"name": POOL_NAME, "namespace": METALLB_NS},
         "spec": {"addresses": [str(pool)]}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": L2_NAME, "namespace": METALLB_NS},
         "spec": {"ipAddressPools": [POOL_NAME]}},
    ]


def metallb_configmap(pool: AddressPool) -> dict:
    """MetalLB < 0.13 (v0.9 docs): one ConfigMap `config` with a layer2 address pool."""
    config = {"address-pools": [{"name": "default", "protocol": "layer2", "addresses": [str(pool)]}]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": METALLB_NS},
            "data": {"config": yaml.safe_dump(config, sort_keys=False)}}


def trust_roots_object(cfg: LabConfig, bundle_pem: str) -> dict:
    """Where the control plane keeps its trust anchors: `linkerd-config` `.data.global`
    (identityContext.trustAnchorsPem) in 2.8, the `linkerd-identity-trust-roots` ConfigMap today."""
    if cfg.profile.trust_roots == "linkerd-config":
        glob = {"linkerdNamespace": LINKERD_NS, "identityContext": {
            "trustDomain": cfg.trust_domain, "trustAnchorsPem": bundle_pem}}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "linkerd-config", "namespace": LINKERD_NS},
                "data": {"global": json.dumps(glob)}}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "linkerd-identity-trust-roots", "namespace": LINKERD_NS},
            "data": {"ca-bundle.crt": bundle_pem}}


def read_trust_roots(obj: dict | None) -> str | None:
    """The anchors PEM from either shape of trust_roots_object (no jq needed)."""
    data = (obj or {}).get("data", {})
    if "ca-bundle.crt" in data:
        return data["ca-bundle.crt"]
    if "global" in data:
        return json.loads(data["global"]).get("identityContext", {}).get("trustAnchorsPem")
    return None


def trust_roots_name(cfg: LabConfig) -> str:
    return trust_roots_object(cfg, "")["metadata"]["name"]


def linkerd_identity(cfg: LabConfig, cluster: str, trust: TrustMaterial) -> list[dict]:
    """The identity objects `linkerd install --identity-trust-anchors-file bundle.crt
    --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key` renders."""
    issuer = trust.issuers[cluster]
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": LINKERD_NS, "labels": {"linkerd.io/is-control-plane": "true"}}},
        trust_roots_object(cfg, trust.roots_for(cluster)),
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": "linkerd-identity-issuer", "namespace": LINKERD_NS},
         "data": {"crt.pem": b64(issuer.cert_pem), "key.pem": b64(issuer.key_pem)}},
    ]


def gateway_identity(cfg: LabConfig) -> str:
    return cfg.identity(GATEWAY, MC_NS)


def multicluster(cfg: LabConfig) -> list[dict]:
    """`linkerd multicluster install`: the gateway and the remote-access service account."""
    labels = {"linkerd.io/extension": "multicluster"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MC_NS, "labels": dict(labels)}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": GATEWAY, "namespace": MC_NS, "labels": dict(labels)}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": GATEWAY, "namespace": MC_NS,
                      "labels": {**labels, "app": GATEWAY, "component": "gateway"}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": GATEWAY}},
                  "template": {
                      "metadata": {"labels": {**labels, "app": GATEWAY},
                                   "annotations": {"linkerd.io/inject": "enabled",
                                                   "config.linkerd.io/proxy-require-identity-inbound-ports": "4143",
                                                   "config.linkerd.io/enable-gateway": "true"}},
                      "spec": {"serviceAccountName": GATEWAY, "automountServiceAccountToken": False,
                               "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.2"}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": GATEWAY, "namespace": MC_NS, "labels": dict(labels),
                      "annotations": {"mirror.linkerd.io/gateway-identity": gateway_identity(cfg),
                                      "mirror.linkerd.io/probe-period": str(cfg.probe_period),
                                      "mirror.linkerd.io/probe-path": "/ready",
                                      "mirror.linkerd.io/multicluster-gateway": "true"}},
         "spec": {"type": "LoadBalancer", "selector": {"app": GATEWAY},
                  "ports": [{"name": "mc-gateway", "port": 4143, "protocol": "TCP"},
                            {"name": "mc-probe", "port": 4191, "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": REMOTE_ACCESS_SA, "namespace": MC_NS, "labels": dict(labels)}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": f"{REMOTE_ACCESS_SA}-token", "namespace": MC_NS, "labels": dict(labels),
                      "annotations": {"kubernetes.io/service-account.name": REMOTE_ACCESS_SA}}},
    ]


def link(cfg: LabConfig, target: str, server: str, token: str, gateway: dict,
         service_account: str = REMOTE_ACCESS_SA) -> list[dict]:
    """What `linkerd multicluster link --cluster-name <target>` prints: credentials and the Link,
    which names the target's gateway (`gateway`: its Service) as link-gen does."""
    ann = gateway["metadata"].get("annotations", {})
    ports = {p.get("name"): p["port"] for p in gateway["spec"]["ports"]}
    gateway_address = ingress_ip(gateway)
    probe_path = ann.get("mirror.linkerd.io/probe-path", "/ready")
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": target,
        "clusters": [{"name": target, "cluster": {"server": server}}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": target, "context": {"cluster": target, "user": service_account}}],
    }
    secret_name = f"cluster-credentials-{target}"
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": "mirror.linkerd.io/remote-kubeconfig",
         "metadata": {"name": secret_name, "namespace": MC_NS,
                      "annotations": {"multicluster.linkerd.io/cluster-domain": cfg.trust_domain}},
         "data": {"kubeconfig": b64(yaml.safe_dump(kubeconfig, sort_keys=False))}},
        {"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
         "metadata": {"name": target, "namespace": MC_NS},
         "spec": {"targetClusterName": target, "targetClusterDomain": cfg.trust_domain,
                  "targetClusterLinkerdNamespace": LINKERD_NS, "clusterCredentialsSecret": secret_name,
                  "gatewayAddress": gateway_address, "gatewayPort": str(ports["mc-gateway"]),
                  "gatewayIdentity": ann["mirror.linkerd.io/gateway-identity"],
                  "probeSpec": {"path": probe_path if probe_path.startswith("/") else "/" + probe_path,
                                "port": str(ports["mc-probe"]),
                                "period": f"{ann.get('mirror.linkerd.io/probe-period', cfg.probe_period)}s"},
                  **({"selector": {"matchLabels": dict(EXPORT_SELECTOR)}} if cfg.profile.export == "label" else {})}},
    ]


def export_marks(cfg: LabConfig) -> tuple[str, dict[str, str]]:
    """How the profile exports a service: the guide's two annotations naming the gateway
    (Linkerd 2.8), or the label the Link's selector matches (2.9 and later)."""
    if cfg.profile.export == "annotations":
        gw = gateways.resolve(cfg)
        return "annotations", {EXPORT_NAME: gw.name, EXPORT_NS: gw.namespace}
    return "labels", dict(EXPORT_SELECTOR)


def workload(cfg: LabConfig, cluster: str, name: str) -> list[dict]:
    """A sample workload from fixtures/workloads/<name>.yaml, for `cluster`."""
    path = FIXTURES / "workloads" / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in (FIXTURES / "workloads").glob("*.yaml"))
        raise FileNotFoundError(f"no workload fixture {path.name}; available: {', '.join(available)}")
    text = string.Template(path.read_text()).substitute(namespace=cfg.namespace, cluster=cluster)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def deployments(objects: list[dict]) -> list[tuple[str, str]]:
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Deployment"]
