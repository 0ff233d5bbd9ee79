"""The gateways exported services can use: the bundled Linkerd gateway, or Ambassador.

"Leverage Ambassador" in the guide: Ambassador injected with the proxy
(skipping its public ports 80 and 443, identity required on the gateway
port), told to add Linkerd headers, given a wildcard Host and a readiness
Mapping, its Deployment marked `config.linkerd.io/enable-gateway`, its Service
given the `mc-gateway` and `mc-probe` ports and the mirror annotations.

The guide requires identity on port 4183, but gateway traffic arrives on the
proxy's inbound port 4143 (the `mc-gateway` port it adds to the Service):
requiring identity on 4183 leaves 4143 open to clients without a mesh
identity. The lab requires it on 4143, the port that really serves, and a
scenario proves a client without a certificate is refused there.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import LabConfig

GATEWAY_PORT = 4143  # the proxy's inbound port: where multicluster traffic arrives


@dataclass(frozen=True)
class Gateway:
    kind: str            # "linkerd" or "ambassador"
    name: str            # Deployment, Service and ServiceAccount name
    namespace: str
    image: str | None    # Ambassador's image; the bundled gateway comes with the extension

    def identity(self, cfg: LabConfig) -> str:
        return cfg.identity(self.name, self.namespace)


LINKERD = Gateway("linkerd", "linkerd-gateway", "linkerd-multicluster", None)
# Ambassador 1.x (getambassador.io/v2), the guide's era: namespace and names as the guide writes them.
AMBASSADOR_1_VERSION = "1.5.5"
AMBASSADOR_1 = Gateway("ambassador", "ambassador", "ambassador", f"docker.io/datawire/ambassador:{AMBASSADOR_1_VERSION}")
# Emissary-ingress 3.10.0 (getambassador.io/v3alpha1), installed as its release YAML names it.
EMISSARY_3 = Gateway("ambassador", "emissary-ingress", "emissary", "docker.io/emissaryingress/emissary:3.10.0")
EMISSARY_VERSION = "3.10.0"


def resolve(cfg: LabConfig, kind: str | None = None) -> Gateway:
    """The gateway `kind` (default: the lab's) stands for under the lab's profile."""
    kind = kind or cfg.gateway
    if kind == "linkerd":
        return LINKERD
    return AMBASSADOR_1 if cfg.profile.ambassador_api == "getambassador.io/v2" else EMISSARY_3


def ambassador_config(cfg: LabConfig, gw: Gateway) -> list[dict]:
    """The guide's Module (add_linkerd_headers), wildcard Host and readiness Mapping."""
    api = cfg.profile.ambassador_api
    host = {"hostname": "*", "requestPolicy": {"insecure": {"action": "Route"}}}
    mapping = {"prefix": "/-/ambassador/ready", "rewrite": "/ambassador/v0/check_ready",
               "service": "localhost:8877", "bypass_auth": True}
    objects = [{"apiVersion": api, "kind": "Module", "metadata": {"name": "ambassador", "namespace": gw.namespace},
                "spec": {"config": {"add_linkerd_headers": True}}}]
    if api == "getambassador.io/v2":
        host.update({"selector": {"matchLabels": {"nothing": "nothing"}}, "acmeProvider": {"authority": "none"}})
    else:
        # Emissary 2.x+: Hosts and Mappings associate only by hostname, and ports need a Listener.
        mapping["hostname"] = "*"
        objects.append({"apiVersion": api, "kind": "Listener", "metadata": {"name": "http-8080", "namespace": gw.namespace},
                        "spec": {"port": 8080, "protocol": "HTTP", "securityModel": "XFP",
                                 "hostBinding": {"namespace": {"from": "ALL"}}}})
    objects.append({"apiVersion": api, "kind": "Host", "metadata": {"name": "wildcard", "namespace": gw.namespace},
                    "spec": host})
    objects.append({"apiVersion": api, "kind": "Mapping", "metadata": {"name": "public-health-check",
                                                                       "namespace": gw.namespace}, "spec": mapping})
    return objects


def service_annotations(cfg: LabConfig, gw: Gateway) -> dict[str, str]:
    """What the guide patches onto the Ambassador Service for the service mirror."""
    return {"mirror.linkerd.io/gateway-identity": gw.identity(cfg),
            "mirror.linkerd.io/multicluster-gateway": "true",
            "mirror.linkerd.io/probe-path": cfg.profile.ambassador_probe_path,
            "mirror.linkerd.io/probe-period": str(cfg.probe_period)}


def pod_annotations() -> dict[str, str]:
    """What `linkerd inject --skip-inbound-ports 80,443 --require-identity-on-inbound-ports 4143`
    and the guide's `enable-gateway` patch leave on the pod template."""
    return {"linkerd.io/inject": "enabled",
            "config.linkerd.io/skip-inbound-ports": "80,443",
            "config.linkerd.io/proxy-require-identity-inbound-ports": str(GATEWAY_PORT),
            "config.linkerd.io/enable-gateway": "true"}


def ambassador_objects(cfg: LabConfig, gw: Gateway) -> list[dict]:
    """Ambassador as the switch leaves it (installed, injected, patched), for a cluster that takes
    manifests directly (the simulation). On kind the same end state comes from the release YAML
    and the guide's inject and patch commands."""
    labels = {"app.kubernetes.io/name": gw.name}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": gw.namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": gw.name, "namespace": gw.namespace}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": gw.name, "namespace": gw.namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels, "annotations": pod_annotations()},
                               "spec": {"serviceAccountName": gw.name,
                                        "containers": [{"name": "ambassador", "image": gw.image,
                                                        "ports": [{"name": "http", "containerPort": 8080},
                                                                  {"name": "https", "containerPort": 8443},
                                                                  {"name": "admin", "containerPort": 8877}]}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": gw.name, "namespace": gw.namespace, "annotations": service_annotations(cfg, gw)},
         "spec": {"type": "LoadBalancer", "selector": labels,
                  "ports": [{"name": "mc-probe", "port": 80, "targetPort": 8080},
                            {"name": "https", "port": 443, "targetPort": 8443},
                            {"name": "mc-gateway", "port": GATEWAY_PORT}]}},
    ] + ambassador_config(cfg, gw)
