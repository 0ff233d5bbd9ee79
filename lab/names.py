"""What Linkerd, MetalLB and the multicluster guide call things, in one place for every backend.

Namespaces, object names, ports, labels, annotations and the identity format,
each as upstream spells it at the pinned tags (stable-2.8.1 and edge-26.8.3
agree on all of these unless a comment says otherwise). The simulation
imports these too, so it cannot drift from what the kind path applies.
"""
from __future__ import annotations

# -- namespaces and objects ----------------------------------------------------------------
LINKERD_NS = "linkerd"
MC_NS = "linkerd-multicluster"
METALLB_NS = "metallb-system"
ISSUER_SECRET = "linkerd-identity-issuer"  # the identity issuer's certificate and key, in LINKERD_NS
TRUST_ROOTS_CM = "linkerd-identity-trust-roots"  # the trust anchors today (2.8: linkerd-config)
GATEWAY = "linkerd-gateway"  # the bundled gateway's Deployment, Service and ServiceAccount
REMOTE_ACCESS_SA = "linkerd-service-mirror-remote-access-default"

# -- proxy ports (the proxy's default inbound and admin ports at both tags) ---------------------
PROXY_INBOUND_PORT = 4143  # mutual TLS between proxies; where multicluster traffic arrives at a gateway
API_SERVER_PORT = 6443  # kind's kube-apiserver on its control-plane node (kubeadm's default bind port)
PROXY_ADMIN_PORT = 4191    # /ready, /metrics; edge's gateway probe port

# -- the service mirror's labels and annotations (pkg/k8s/labels.go at both tags, unless marked) --
EXPORT_NAME = "mirror.linkerd.io/gateway-name"  # 2.8.1 only: an exported service names its gateway
EXPORT_NS = "mirror.linkerd.io/gateway-ns"      # 2.8.1 only
# `linkerd multicluster link-gen`'s default --selector (edge-26.8.3 multicluster/cmd/link-gen.go)
EXPORT_SELECTOR = {"mirror.linkerd.io/exported": "true"}
# ... and its default --remote-discovery-selector: services mirrored without gateway endpoints (pod-to-pod, 2.14+)
REMOTE_DISCOVERY_SELECTOR = {"mirror.linkerd.io/exported": "remote-discovery"}
REMOTE_DISCOVERY_LABEL = "multicluster.linkerd.io/remote-discovery"  # on such a mirror: the target cluster's name
REMOTE_SERVICE_LABEL = "multicluster.linkerd.io/remote-service"      # ... and the service's name there
# On the copy of a link's credentials in the control plane's namespace, for the destination controller
# (edge-26.8.3 multicluster/cmd/root.go clusterNameLabel, used by link-gen.go)
LINK_CLUSTER_LABEL = "multicluster.linkerd.io/cluster-name"
# link-gen's default --federated-service-selector (2.17+): a member of `<name>-federated` in the linked clusters
FEDERATED_SELECTOR = {"mirror.linkerd.io/federated": "member"}
REMOTE_DISCOVERY_ANNOTATION = "multicluster.linkerd.io/remote-discovery"  # on it: the members, <svc>@<cluster>,...
MIRRORED_LABEL = "mirror.linkerd.io/mirrored-service"
MIRRORED_GATEWAY = "mirror.linkerd.io/mirrored-gateway"  # on probe Services; `multicluster check` counts them per link
MIRRORED_HEADLESS_LABEL = "mirror.linkerd.io/headless-mirror-svc-name"  # on an endpoint mirror: its headless mirror
CLUSTER_NAME = "mirror.linkerd.io/cluster-name"  # a label on mirrors, an annotation on link credentials
REMOTE_CLUSTER_DOMAIN = "mirror.linkerd.io/remote-cluster-domain"
REMOTE_CLUSTER_L5D_NS = "mirror.linkerd.io/remote-cluster-l5d-ns"
REMOTE_SVC_ANNOTATION = "mirror.linkerd.io/remote-svc-fq-name"
REMOTE_RESOURCE_VERSION = "mirror.linkerd.io/remote-resource-version"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"  # what client-side `kubectl apply` leaves
CONTROL_PLANE_NS_LABEL = "linkerd.io/control-plane-ns"  # on the control plane's pods: its namespace
# Kubernetes' EndpointSlice labels (k8s.io/api/discovery/v1 well_known_labels.go) and the two controllers
# that write slices (pkg/controller/endpointslice and endpointslicemirroring, ControllerName)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
MIRRORING_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
CREDENTIALS_SECRET_TYPE = "mirror.linkerd.io/remote-kubeconfig"  # MirrorSecretType
REMOTE_GATEWAY_IDENTITY_ANNOTATION = "mirror.linkerd.io/remote-gateway-identity"
GATEWAY_IDENTITY_ANNOTATION = "mirror.linkerd.io/gateway-identity"
PROBE_PATH_ANNOTATION = "mirror.linkerd.io/probe-path"
PROBE_PERIOD_ANNOTATION = "mirror.linkerd.io/probe-period"
REMOTE_GATEWAY_NAME = "mirror.linkerd.io/remote-gateway-name"  # 2.8.1 only: a label on a mirror naming its gateway
REMOTE_GATEWAY_NS = "mirror.linkerd.io/remote-gateway-ns"      # 2.8.1 only: ... and the gateway's namespace
OPAQUE_PORTS_ANNOTATION = "config.linkerd.io/opaque-ports"  # ProxyOpaquePortsAnnotation
MULTICLUSTER_GATEWAY_ANNOTATION = "mirror.linkerd.io/multicluster-gateway"  # 2.8.1's name; the guide sets it
# stable-2.8.1 only, on a gateway mirror (pkg/k8s/labels.go): the remote gateway it stands for and its probe
REMOTE_GATEWAY_RESOURCE_VERSION = "mirror.linkerd.io/remote-gateway-resource-version"
MIRRORED_GATEWAY_REMOTE_NAME = "mirror.linkerd.io/mirrored-gateway-remote-name"
MIRRORED_GATEWAY_REMOTE_NS = "mirror.linkerd.io/mirrored-gateway-remote-namespace"
MIRRORED_GATEWAY_PROBE_PATH = "mirror.linkerd.io/mirrored-gateway-probe-path"
MIRRORED_GATEWAY_PROBE_PERIOD = "mirror.linkerd.io/mirrored-gateway-probe-period"


def identity(serviceaccount: str, namespace: str, trust_domain: str) -> str:
    """A workload's mesh identity: its ServiceAccount's name in the trust domain (the identity
    controller's format, pkg/identity at both tags)."""
    return f"{serviceaccount}.{namespace}.serviceaccount.identity.linkerd.{trust_domain}"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"  # a token Secret's account (core/v1 ServiceAccountNameKey)
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"    # ...and that account's UID (ServiceAccountUIDKey)
