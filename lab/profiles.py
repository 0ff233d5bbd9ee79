"""Profiles: pinned versions that belong together, and the commands of their era.

Every version here was confirmed in upstream release notes or manifests
(the sources are named beside each). The README's version table is checked
against this module by tests/test_profiles.py.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    linkerd: str                 # CLI and control plane release
    kind: str                    # kind release
    node_image: str              # kindest/node image built for that kind release (by digest)
    kubectl: str
    metallb: str
    metallb_config: str          # "configmap" (MetalLB < 0.13) or "crds" (metallb.io/v1beta1)
    linkerd_crds_first: bool     # `linkerd install --crds` before `linkerd install` (2.12+)
    mc_check: tuple[str, ...]    # the multicluster check command of that era
    link_command: str            # "link" (2.8) or "link-gen" (2.18+, controllers in the extension)
    export: str                  # "annotations" (2.8 gateway-name/-ns) or "label" (mirror.linkerd.io/exported=true)
    trust_roots: str             # where a cluster's anchors are read: "linkerd-config" or "trust-roots-configmap"
    viz_for_gateways: bool       # `multicluster gateways` reads the viz metrics API (2.10+, multicluster/cmd/gateways.go)
    proxy_metrics: tuple[str, ...]  # a pod's proxy metrics: `linkerd metrics` (2.8), `linkerd diagnostics proxy-metrics` (2.10+)
    ambassador_api: str          # Ambassador 1.x getambassador.io/v2; Emissary-ingress 3.x getambassador.io/v3alpha1

    @property
    def metallb_manifests(self) -> list[str]:
        base = f"https://raw.githubusercontent.com/metallb/metallb/{self.metallb}"
        if self.metallb_config == "configmap":
            return [f"{base}/manifests/namespace.yaml", f"{base}/manifests/metallb.yaml"]
        return [f"{base}/config/manifests/metallb-native.yaml"]


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            name="seed-2.8",
            summary="the guide exactly, as of Linkerd stable-2.8.1 (2020)",
            linkerd="stable-2.8.1",
            # kind v0.8.1 release notes: images built for it (kubernetes-sigs/kind releases/tag/v0.8.0, v0.8.1)
            kind="v0.8.1",
            node_image="kindest/node:v1.18.2@sha256:7b27a6d0f2517ff88ba444025beae41491b016bc6af573ba467b70c5e8e0d85f",
            kubectl="v1.18.2",
            # MetalLB v0.9.x: manifests/namespace.yaml + metallb.yaml, a memberlist secret, ConfigMap `config`
            metallb="v0.9.3",
            metallb_config="configmap",
            linkerd_crds_first=False,
            mc_check=("check", "--multicluster"),
            link_command="link",
            export="annotations",
            trust_roots="linkerd-config",
            viz_for_gateways=False,
            proxy_metrics=("metrics",),
            ambassador_api="getambassador.io/v2",
        ),
        Profile(
            name="current",
            summary="the newest releases confirmed on 2026-11-24, with today's commands",
            linkerd="edge-26.8.3",
            # kind v0.33.0 release notes: default node image kindest/node:v1.37.0 by digest
            kind="v0.33.0",
            node_image="kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
            kubectl="v1.37.1",  # client; the node runs v1.37.0 (one patch apart is within skew)
            # MetalLB v0.16.1: config/manifests/metallb-native.yaml, IPAddressPool + L2Advertisement
            metallb="v0.16.1",
            metallb_config="crds",
            linkerd_crds_first=True,
            mc_check=("multicluster", "check"),
            # linkerd2 multicluster/cmd/link-gen.go: Link + credentials only; the controller comes
            # from `linkerd multicluster install` with controllers[].link.ref.name (Linkerd 2.18+)
            link_command="link-gen",
            export="label",
            trust_roots="trust-roots-configmap",
            viz_for_gateways=True,
            proxy_metrics=("diagnostics", "proxy-metrics"),
            ambassador_api="getambassador.io/v3alpha1",
        ),
    ]
}
DEFAULT_PROFILE = "current"

