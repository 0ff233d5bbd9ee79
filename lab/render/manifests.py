"""The Kubernetes objects the lab applies, rendered once for every backend.

Shapes follow upstream: MetalLB's metallb.io/v1beta1 CRDs (v0.16.1), and
Linkerd's `linkerd multicluster install` output (edge-26.8.3,
multicluster/cmd/testdata/install_default.golden) for the gateway and the
remote-access service account. Exports use the guide's two annotations.
"""
from __future__ import annotations

import copy
import functools
import json
import string

import yaml

from ..model import crds
from ..model import gateways
from . import gateway_policy
from .. import names
from ..model.config import LabConfig
from .encoding import b64
from .readback import ingress_ip
from ..model.fixtures_dir import WORKLOADS
from ..model.topology import AddressPool

POOL_NAME = "lab-pool"
L2_NAME = "lab-l2"


def metallb(pool: AddressPool) -> list[dict]:
    """MetalLB >= 0.13: an IPAddressPool and the L2Advertisement that announces it."""
    return [
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
         "metadata": {"name": POOL_NAME, "namespace": names.METALLB_NS},
         "spec": {"addresses": [str(pool)]}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": L2_NAME, "namespace": names.METALLB_NS},
         "spec": {"ipAddressPools": [POOL_NAME]}},
    ]


def metallb_configmap(pool: AddressPool) -> dict:
    """MetalLB < 0.13 (v0.9 docs): one ConfigMap `config` with a layer2 address pool."""
    config = {"address-pools": [{"name": "default", "protocol": "layer2", "addresses": [str(pool)]}]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": names.METALLB_NS},
            "data": {"config": yaml.safe_dump(config, sort_keys=False)}}


def trust_roots_object(cfg: LabConfig, bundle_pem: str) -> dict:
    """Where the control plane keeps its trust anchors: `linkerd-config` `.data.global`
    (identityContext.trustAnchorsPem) in 2.8, the `linkerd-identity-trust-roots` ConfigMap today."""
    if cfg.profile.trust_roots == "linkerd-config":
        glob = {"linkerdNamespace": names.LINKERD_NS, "identityContext": {
            "trustDomain": cfg.trust_domain, "trustAnchorsPem": bundle_pem}}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "linkerd-config", "namespace": names.LINKERD_NS},
                "data": {"global": json.dumps(glob)}}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.TRUST_ROOTS_CM, "namespace": names.LINKERD_NS},
            "data": {"ca-bundle.crt": bundle_pem}}


def trust_roots_name(cfg: LabConfig) -> str:
    return trust_roots_object(cfg, "")["metadata"]["name"]


def created_by(cfg: LabConfig) -> dict[str, str]:
    """The annotation every object `linkerd install` renders carries (`linkerd.io/created-by`); the
    simulation reads the installed version from it, as a user reads it with kubectl."""
    return {"linkerd.io/created-by": f"linkerd/cli {cfg.profile.linkerd}"}


def stored_trust_roots(cfg: LabConfig, anchors_pem: str) -> str:
    """The anchors as the control plane stores them: edge's chart trims them
    (charts/linkerd-control-plane/templates/identity.yaml `| trim`, edge-26.8.3); 2.8.1 keeps the
    file as read (cli/cmd/install.go readValues, stable-2.8.1)."""
    return anchors_pem.strip() if cfg.profile.trims_trust_roots else anchors_pem


def linkerd_identity(cfg: LabConfig, anchors_pem: str, issuer_cert_pem: str | None, issuer_key_pem: str | None) -> list[dict]:
    """The identity objects `linkerd install --identity-trust-anchors-file F --identity-issuer-certificate-file
    issuer.crt --identity-issuer-key-file issuer.key` renders (`linkerd upgrade` without the issuer files
    keeps the issuer it has: pass None). Both versions' charts `trim` the issuer's PEMs."""
    objects = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": names.LINKERD_NS, "labels": {"linkerd.io/is-control-plane": "true"}, "annotations": created_by(cfg)}},
        trust_roots_object(cfg, stored_trust_roots(cfg, anchors_pem)),
    ]
    objects[1]["metadata"]["annotations"] = created_by(cfg)
    if issuer_cert_pem is not None and issuer_key_pem is not None:
        objects.append(
            {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": names.ISSUER_SECRET, "namespace": names.LINKERD_NS, "annotations": created_by(cfg)},
             "data": {"crt.pem": b64(issuer_cert_pem.strip()), "key.pem": b64(issuer_key_pem.strip())}})
    return objects


CONTROL_PLANE_COMPONENT = "linkerd.io/control-plane-component"  # on the control plane's pods, e.g. destination


def control_plane(cfg: LabConfig) -> list[dict]:
    """The control plane's Deployments as `linkerd install` names them at the profile's tag, each with its
    ServiceAccount; the simulation runs them (they log, and show in `kubectl -n linkerd get pods`)."""
    profile, objects = cfg.profile, []
    for name, containers in profile.control_plane:
        component = name.removeprefix("linkerd-")
        labels = {CONTROL_PLANE_COMPONENT: component, names.CONTROL_PLANE_NS_LABEL: names.LINKERD_NS}
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": names.LINKERD_NS}})
        objects.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": names.LINKERD_NS, "labels": {**labels, "app.kubernetes.io/name": component},
                         "annotations": created_by(cfg)},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"serviceAccountName": name,
                                           "containers": [{"name": c, "image": image if "/" in image else
                                                           f"{profile.registry}/{image}:{profile.linkerd}"}
                                                          for c, image in containers]}}}})
    return objects


GATEWAY_API_CRDS = ("httproutes", "grpcroutes")  # what edge's CheckGatewayAPICRDs looks for (pkg/healthcheck)


def gateway_api_crds(version: str) -> list[dict]:
    """The CRDs of a Gateway API standard-install that `linkerd install` looks for, as names and versions
    (the simulation stores them; kind applies the release's own standard-install.yaml)."""
    return [crds.crd("gateway.networking.k8s.io", {"httproutes": "HTTPRoute", "grpcroutes": "GRPCRoute"}[plural], plural,
                     ("v1",), annotations={"gateway.networking.k8s.io/bundle-version": version,
                                           "gateway.networking.k8s.io/channel": "standard"})
            for plural in GATEWAY_API_CRDS]


def policy_crds() -> list[dict]:
    """The CRDs `linkerd install --crds` applies (edge-26.8.3 cli/cmd/testdata/install_crds.golden: each with its
    served versions, newest first with the storage one, and its short names), which a scenario's Server and
    AuthorizationPolicy, and the multicluster gateway's policy (render/gateway_policy.py), need served."""
    policy = "policy.linkerd.io"
    return [crds.crd(policy, "AuthorizationPolicy", "authorizationpolicies", ("v1alpha1",), short_names=("authzpolicy",)),
            crds.crd(policy, "EgressNetwork", "egressnetworks", ("v1alpha1",), categories=("policy",)),
            crds.crd(policy, "HTTPLocalRateLimitPolicy", "httplocalratelimitpolicies", ("v1alpha1",)),
            crds.crd(policy, "HTTPRoute", "httproutes", ("v1beta3", "v1beta2", "v1beta1", "v1alpha1")),
            crds.crd(policy, "MeshTLSAuthentication", "meshtlsauthentications", ("v1alpha1",), short_names=("meshtlsauthn",)),
            crds.crd(policy, "NetworkAuthentication", "networkauthentications", ("v1alpha1",),
                     short_names=("netauthn", "networkauthn")),
            crds.crd(policy, "ServerAuthorization", "serverauthorizations", ("v1beta1", "v1alpha1"),
                     short_names=("saz", "serverauthz", "srvauthz"), deprecated={"v1alpha1": "v1beta1"}),
            crds.crd(policy, "Server", "servers", ("v1beta3", "v1beta2", "v1beta1", "v1alpha1"), short_names=("srv",),
                     deprecated={"v1beta1": "v1beta3", "v1alpha1": "v1beta1"}),
            crds.crd("linkerd.io", "ServiceProfile", "serviceprofiles", ("v1alpha2", "v1alpha1"), short_names=("sp",)),
            crds.crd("workload.linkerd.io", "ExternalWorkload", "externalworkloads", ("v1beta1", "v1alpha1"),
                     categories=("external",))]


def metallb_install(profile) -> list[dict]:
    """What MetalLB's manifests leave that the lab relies on, for a cluster that takes manifests directly:
    its namespace, its CRDs (metallb.io/v1beta1, MetalLB >= 0.13) and its controller Deployment (labelled as in
    metallb/metallb v0.16.1 config/manifests/metallb-native.yaml and v0.9.3 manifests/metallb.yaml,
    `app=metallb, component=controller`), which the kind plans wait for with `kubectl rollout status`."""
    labels = {"app": "metallb", "component": "controller"}
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names.METALLB_NS}}]
    if profile.metallb_config == "crds":
        objects += [crds.crd("metallb.io", "IPAddressPool", "ipaddresspools", ("v1beta1",)),
                    crds.crd("metallb.io", "L2Advertisement", "l2advertisements", ("v1beta1",))]
    objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "controller", "namespace": names.METALLB_NS, "labels": dict(labels)},
                    "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                             "template": {"metadata": {"labels": dict(labels)},
                                          "spec": {"containers": [{"name": "controller",
                                                                   "image": f"quay.io/metallb/controller:{profile.metallb}"}]}}}})
    return objects


def gateway_identity(cfg: LabConfig) -> str:
    return cfg.identity(names.GATEWAY, names.MC_NS)


LINK_CRD = "links.multicluster.linkerd.io"


def access_objects(cfg: LabConfig, account: str) -> list[dict]:
    """A remote-access service account as the chart's templates/remote-access-service-mirror-rbac.yaml
    renders it, its ClusterRole's rules as written there at each tag: ClusterRole, ServiceAccount and
    ClusterRoleBinding all named after the account, plus
    (edge-26.8.3) its token Secret `<account>-token`; 2.8.1 leaves the token to Kubernetes 1.18's token
    controller (`<account>-token-xxxxx`, found through the account's `secrets`)."""
    labels = {"linkerd.io/extension": "multicluster"}
    read = ["list", "get", "watch"]
    config = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["linkerd-config"]}
    if cfg.profile.link_crd:  # what the destination controller watches for pod-to-pod, and the mirror's events
        rules = [{"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": read},
                 {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": read},
                 {"apiGroups": [""], "resources": ["pods", "endpoints", "services"], "verbs": read},
                 {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                 {"apiGroups": ["policy.linkerd.io"], "resources": ["servers"], "verbs": read},
                 config,
                 {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]
    else:  # stable-2.8.1 charts/linkerd2-multicluster/templates/remote-access-service-mirror-rbac.yaml
        rules = [{"apiGroups": [""], "resources": ["services"], "verbs": read}, config]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": account, "labels": dict(labels)}, "rules": rules}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": account, "namespace": names.MC_NS, "labels": dict(labels)}}
    token = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": f"{account}-token", "namespace": names.MC_NS, "labels": dict(labels),
                          "annotations": {"kubernetes.io/service-account.name": account}}}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": account, "labels": dict(labels)},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": account},
               "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": names.MC_NS}]}
    if not cfg.profile.link_crd:  # 2.8.1: the token controller adds the Secret and lists it on the account
        token["metadata"]["name"] = f"{account}-token-lab00"
        sa["secrets"] = [{"name": token["metadata"]["name"]}]
    return [role, sa, token, binding]


def _link_crd() -> dict:
    """The Link CRD `multicluster install` renders (edge-26.8.3 templates/link-crd.yaml), names only."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": LINK_CRD, "labels": {"linkerd.io/extension": "multicluster"}},
            "spec": {"group": "multicluster.linkerd.io", "scope": "Namespaced",
                     "names": {"plural": "links", "singular": "link", "kind": "Link"},
                     "versions": [{"name": v, "served": True, "storage": v == "v1alpha3"}
                                  for v in ("v1alpha1", "v1alpha2", "v1alpha3")]}}


def mirror_controllers(cfg: LabConfig, cluster: str) -> list[str]:
    """The meshed service mirror Deployments `cluster` runs for its links, whoever installs them."""
    targets = [link.target for link in cfg.links if link.source == cluster]
    if cfg.links_bring_controllers:
        return [legacy_controller_name(t) for t in targets]
    return cfg.profile.service_mirrors(targets)


def _mirror_args(cfg: LabConfig, target: str, probe_service: str) -> list[str]:
    """The flags a link's controller runs with, in either chart (the simulation reads -enable-headless-services)."""
    return ["service-mirror", f"-namespace={names.MC_NS}", *(["-enable-headless-services"] if headless_exports(cfg, target) else []),
            f"-probe-service={probe_service}", target]


def probe_service(name: str, target: str, port: int) -> dict:
    """A link's probe Service in the source cluster, without a selector (its controller writes the Endpoints: the
    gateway's address on the Link's probe port), as the probe worker dials it: `probe-<target>` from the
    extension (multicluster/charts/linkerd-multicluster/templates/controller/probe-svc.yaml, port
    controllerDefaults.gateway.probe.port) or `probe-gateway-<target>` from the deprecated link's chart
    (linkerd-multicluster-link/templates/gateway-mirror.yaml, gateway.probe.port), edge-26.8.3; both 4191."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": names.MC_NS,
                         "labels": {"linkerd.io/extension": "multicluster", names.MIRRORED_GATEWAY: "true", names.CLUSTER_NAME: target}},
            "spec": {"ports": [{"name": "mc-probe", "port": port, "protocol": "TCP"}]}}


def legacy_controller_name(target: str) -> str:
    return f"linkerd-service-mirror-{target}"


def legacy_controller_objects(cfg: LabConfig, target: str) -> list[dict]:
    """What the deprecated `linkerd multicluster link` adds for its link (edge-26.8.3 multicluster/charts/
    linkerd-multicluster-link/templates/service-mirror.yaml): the link's own controller, labelled component
    service-mirror, with its account and RBAC; `multicluster check` warns that the extension does not manage it."""
    name = legacy_controller_name(target)
    labels = {"component": "service-mirror", names.CLUSTER_NAME: target}
    args = _mirror_args(cfg, target, f"probe-gateway-{target}")
    local, creds = f"linkerd-service-mirror-access-local-resources-{target}", f"linkerd-service-mirror-read-remote-creds-{target}"
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": names.MC_NS}]
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": local, "labels": dict(labels)},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "get", "watch", "create", "delete", "update"]},
                   {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "get", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": local, "labels": dict(labels)},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": local}, "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": creds, "namespace": names.MC_NS, "labels": dict(labels)},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "get", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": creds, "namespace": names.MC_NS, "labels": dict(labels)},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": creds}, "subjects": subject},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": names.MC_NS, "labels": dict(labels)}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": names.MC_NS, "labels": dict(labels), "annotations": created_by(cfg)},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"component": "linkerd-service-mirror", names.CLUSTER_NAME: target}},
                  "template": {"metadata": {"labels": {"component": "linkerd-service-mirror", names.CLUSTER_NAME: target},
                                            "annotations": {"linkerd.io/inject": "enabled"}},
                               "spec": {"serviceAccountName": name,
                                        "containers": [{"name": "service-mirror", "args": args,
                                                        "image": f"{cfg.profile.registry}/controller:{cfg.profile.linkerd}"}]}}}},
    ]


def _probes_gateway(cfg: LabConfig, source: str, target: str) -> bool:
    """The link's controller has a gateway to probe (controllers[].gateway.enabled; false for pod-to-pod)."""
    return any(link.source == source and link.target == target and link.via_gateway for link in cfg.links)


def service_mirror_objects(cfg: LabConfig, cluster: str) -> list[dict]:
    """The meshed service mirror(s) `multicluster install` runs in `cluster`: 2.8.1's one
    `linkerd-service-mirror` (templates/service-mirror.yaml, label linkerd.io/control-plane-component),
    edge's `controller-<target>` per controllers[] entry (templates/controller/deployment.yaml); none on edge
    when links bring their own (the deprecated `link`)."""
    if cfg.links_bring_controllers:
        return []
    targets = [link.target for link in cfg.links if link.source == cluster]
    image = f"{cfg.profile.registry}/controller:{cfg.profile.linkerd}"
    out = []
    for target, name in zip(targets or [""], cfg.profile.service_mirrors(targets)):
        labels = ({"component": "controller", names.CLUSTER_NAME: target} if cfg.profile.link_crd
                  else {"linkerd.io/control-plane-component": "linkerd-service-mirror"})
        # edge templates/controller/deployment.yaml: the flags the mirror runs with (the simulation reads them)
        args = _mirror_args(cfg, target, f"probe-{target}") if cfg.profile.link_crd else []
        if cfg.profile.link_crd and cfg.profile.probe_service_port and _probes_gateway(cfg, cluster, target):
            out.append(probe_service(f"probe-{target}", target, cfg.profile.probe_service_port))
        out += [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": names.MC_NS}},
                {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": name, "namespace": names.MC_NS, "labels": dict(labels), "annotations": created_by(cfg)},
                 "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                          "template": {"metadata": {"labels": {**labels, "app": name},
                                                    "annotations": {"linkerd.io/inject": "enabled"}},
                                       "spec": {"serviceAccountName": name,
                                                "containers": [{"name": "controller" if cfg.profile.link_crd else "service-mirror",
                                                                "image": image, **({"args": args} if args else {})}]}}}}]
    return out


def _gateway_container(cfg: LabConfig) -> dict:
    """Edge's gateway is a bare proxy beside `pause`; 2.8.1's is nginx answering the probe
    (charts/linkerd2-multicluster/templates/gateway.yaml: `location = <probe path>` on the probe port)."""
    if cfg.profile.link_crd:
        return {"name": "pause", "image": "registry.k8s.io/pause:3.2"}
    port, _ = cfg.profile.gateway_probe
    return {"name": "nginx", "image": "nginx:1.17",
            "ports": [{"name": "mc-relay", "containerPort": 4180}, {"name": "mc-probe", "containerPort": port},
                      {"name": "local-probe", "containerPort": 8888}]}


def multicluster(cfg: LabConfig, cluster: str, accounts: list[str] | None = None) -> list[dict]:
    """`linkerd multicluster install` for `cluster`: the gateway, the remote-access accounts (the chart's
    `remoteMirrorServiceAccountName`, default just the default account), the service mirror(s), and
    (edge) the Link CRD. The gateway follows each version's chart:
    stable-2.8.1 charts/linkerd2-multicluster/templates/gateway.yaml (probe 4181 /health, identity
    required on 4181,4143,4180); edge-26.8.3 multicluster/cmd/testdata/install_default.golden
    (probe on the proxy's admin port 4191 /ready, identity required on 4143)."""
    labels = {"linkerd.io/extension": "multicluster"}
    probe_port, probe_path = cfg.profile.gateway_probe
    inbound = names.PROXY_INBOUND_PORT
    required = str(inbound) if cfg.profile.link_crd else f"{probe_port},{inbound},4180"
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names.MC_NS, "labels": dict(labels)}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": names.GATEWAY, "namespace": names.MC_NS, "labels": dict(labels)}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": names.GATEWAY, "namespace": names.MC_NS, "annotations": created_by(cfg),
                      "labels": {**labels, "app": names.GATEWAY, "component": "gateway"}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": names.GATEWAY}},
                  "template": {
                      "metadata": {"labels": {**labels, "app": names.GATEWAY},
                                   "annotations": _gateway_pod_annotations(cfg, required)},
                      "spec": {"serviceAccountName": names.GATEWAY, "automountServiceAccountToken": False,
                               "containers": [_gateway_container(cfg)]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": names.GATEWAY, "namespace": names.MC_NS, "labels": dict(labels),
                      "annotations": {names.GATEWAY_IDENTITY_ANNOTATION: gateway_identity(cfg),
                                      names.PROBE_PERIOD_ANNOTATION: str(cfg.probe_period),
                                      names.PROBE_PATH_ANNOTATION: probe_path,
                                      names.MULTICLUSTER_GATEWAY_ANNOTATION: "true"}},
         "spec": {"type": "LoadBalancer", "selector": {"app": names.GATEWAY},
                  "ports": [{"name": "mc-gateway", "port": names.PROXY_INBOUND_PORT, "protocol": "TCP"},
                            {"name": "mc-probe", "port": probe_port, "protocol": "TCP"}]}},
    ]
    if cfg.profile.policy:
        objects += gateway_policy.objects(created_by(cfg))
    for account in accounts or [names.REMOTE_ACCESS_SA]:
        objects += access_objects(cfg, account)
    objects += service_mirror_objects(cfg, cluster)
    if cfg.profile.link_crd:
        objects.append(_link_crd())
    return objects


def _gateway_pod_annotations(cfg: LabConfig, required: str) -> dict[str, str]:
    """The gateway pod template's annotations. edge-26.8.3 templates/gateway.yaml (install_default.golden) adds
    created-by, the pod's default inbound policy `all-authenticated` and cluster-autoscaler's safe-to-evict to
    the three stable-2.8.1's chart has (inject, the ports requiring identity, enable-gateway)."""
    annotations = {"linkerd.io/inject": "enabled", "config.linkerd.io/proxy-require-identity-inbound-ports": required,
                   "config.linkerd.io/enable-gateway": "true"}
    if cfg.profile.policy:
        annotations = {**created_by(cfg), **annotations, "config.linkerd.io/default-inbound-policy": "all-authenticated",
                       "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
    return annotations


def credentials_secret_name(target: str) -> str:
    return f"cluster-credentials-{target}"


def link(cfg: LabConfig, target: str, server: str, token: str, gateway: dict | None,
         service_account: str = names.REMOTE_ACCESS_SA, ca_pem: str | None = None) -> list[dict]:
    """What the profile's `link` prints for `target`.

    stable-2.8.1 cli/cmd/multicluster.go: one Secret `cluster-credentials-<target>` (type
    mirror.linkerd.io/remote-kubeconfig, annotations cluster-name, remote-cluster-domain,
    remote-cluster-l5d-ns), no Link. edge-26.8.3 multicluster/cmd/link-gen.go: that Secret (no
    annotations), the same in the control plane's namespace for the destination controller, and a
    Link naming the target's gateway, with the probe path copied as the Service's annotation has it.
    """
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": target,
        "clusters": [{"name": target, "cluster": {"server": server, **(
            {"certificate-authority-data": b64(ca_pem)} if ca_pem else {})}}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": target, "context": {"cluster": target, "user": service_account}}],
    }
    secret_name = credentials_secret_name(target)
    data = {"kubeconfig": b64(yaml.safe_dump(kubeconfig, sort_keys=False))}
    if not cfg.profile.link_crd:
        return [{"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE,
                 "metadata": {"name": secret_name, "namespace": names.MC_NS,
                              "annotations": {names.CLUSTER_NAME: target,
                                              names.REMOTE_CLUSTER_DOMAIN: cfg.trust_domain,
                                              names.REMOTE_CLUSTER_L5D_NS: names.LINKERD_NS}},
                 "data": data}]
    spec = {"targetClusterName": target, "targetClusterDomain": cfg.trust_domain,
            "targetClusterLinkerdNamespace": names.LINKERD_NS, "clusterCredentialsSecret": secret_name,
            # link-gen's defaults, written whatever the gateway (newLinkGenOptionsWithDefault)
            "remoteDiscoverySelector": {"matchLabels": dict(names.REMOTE_DISCOVERY_SELECTOR)},
            "federatedServiceSelector": {"matchLabels": dict(names.FEDERATED_SELECTOR)}}
    if gateway is not None:  # `--gateway=false` (pod-to-pod) leaves out the gateway, its probe and the selector
        ann = gateway["metadata"].get("annotations", {})
        ports = {p.get("name"): p["port"] for p in gateway["spec"]["ports"]}
        period = ann.get(names.PROBE_PERIOD_ANNOTATION, str(cfg.probe_period))
        spec.update({"gatewayAddress": ingress_ip(gateway), "gatewayPort": str(ports["mc-gateway"]),
                     "gatewayIdentity": ann[names.GATEWAY_IDENTITY_ANNOTATION],
                     "probeSpec": {"path": ann.get(names.PROBE_PATH_ANNOTATION, ""), "port": str(ports["mc-probe"]),
                                   "period": period if period.endswith("s") else f"{period}s"},
                     "selector": {"matchLabels": dict(names.EXPORT_SELECTOR)}})
    legacy = legacy_controller_objects(cfg, target) if cfg.links_bring_controllers else []
    if legacy and gateway is not None:  # the link chart's gateway.enabled follows link's --gateway
        legacy.append(probe_service(f"probe-gateway-{target}", target, names.PROXY_ADMIN_PORT))
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE,
         "metadata": {"name": secret_name, "namespace": names.MC_NS}, "data": data},
        {"apiVersion": "v1", "kind": "Secret", "type": names.CREDENTIALS_SECRET_TYPE,
         "metadata": {"name": secret_name, "namespace": names.LINKERD_NS,
                      "labels": {names.LINK_CLUSTER_LABEL: target},
                      "annotations": {"multicluster.linkerd.io/trust-domain": cfg.trust_domain,
                                      "multicluster.linkerd.io/cluster-domain": cfg.trust_domain}},
         "data": data},
        {"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
         "metadata": {"name": target, "namespace": names.MC_NS, "annotations": created_by(cfg)},
         "spec": spec},
    ] + legacy


def export_marks(cfg: LabConfig, cluster: str) -> tuple[str, dict[str, str]]:
    """How the profile exports `cluster`'s services: the guide's two annotations naming the gateway
    (Linkerd 2.8), or the label the Link's selector matches (2.9 and later): `true` through the gateway,
    `remote-discovery` for pod-to-pod (the Link's remoteDiscoverySelector, 2.14 and later)."""
    if cfg.profile.export == "annotations":
        gw = gateways.resolve(cfg)
        return "annotations", {names.EXPORT_NAME: gw.name, names.EXPORT_NS: gw.namespace}
    if cfg.export_mode(cluster) == "remote-discovery":
        return "labels", dict(names.REMOTE_DISCOVERY_SELECTOR)
    return "labels", dict(names.EXPORT_SELECTOR)


def workload(cfg: LabConfig, cluster: str, name: str) -> list[dict]:
    """A sample workload from fixtures/workloads/<name>.yaml, for `cluster`."""
    path = WORKLOADS / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in WORKLOADS.glob("*.yaml"))
        raise FileNotFoundError(f"no workload fixture {path.name}; available: {', '.join(available)}")
    text = string.Template(path.read_text()).substitute(namespace=cfg.namespace, cluster=cluster)
    return copy.deepcopy(list(_documents(text)))  # the caller's to change


@functools.lru_cache(maxsize=64)
def _documents(text: str) -> tuple[dict, ...]:
    """A fixture's documents, parsed once per text: the export step's check asks for them on every poll,
    and the pure-Python YAML parser took most of that check's time."""
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


ROLLOUT_KINDS = ("Deployment", "StatefulSet")  # what `kubectl rollout status` waits for, among the lab's objects


def rollouts(objects: list[dict]) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of each Deployment and StatefulSet."""
    return [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] in ROLLOUT_KINDS]


def headless_exports(cfg: LabConfig, cluster: str) -> list[tuple[str, str]]:
    """The exported services of `cluster`'s workload fixtures that are headless (clusterIP None): mirrored per pod
    only where the linked cluster's mirror runs with -enable-headless-services."""
    objects = [o for w in cfg.cluster(cluster).workloads for o in workload(cfg, cluster, w)]
    headless = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects
                if o["kind"] == "Service" and o.get("spec", {}).get("clusterIP") == "None"}
    return [key for key in cfg.exported(cluster) if key in headless]
