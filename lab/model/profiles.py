"""Profiles: pinned versions that belong together, and the commands of their era.

Every version here was confirmed in upstream release notes or manifests
(the sources are named beside each). The README's version table is checked
against this module by tests/test_profiles.py.
"""
from __future__ import annotations

from dataclasses import dataclass

# Each multicluster mode and the Linkerd release that introduced it; README's modes table is checked against
# this. gateway: the guide (2.8). remote-discovery: pod-to-pod on a flat network, read at stable-2.14.0
# (pkg/k8s/labels.go RemoteDiscoveryLabel; absent at stable-2.13.0; linkerd.io/2023/09/11/linkerd-214).
# federated: `<svc>-federated` over the members in every linked cluster (linkerd.io/2.17/reference/multicluster
# names three modes, 2.16's two; pkg/k8s/labels.go DefaultFederatedServiceSelector at edge-26.8.3).
# headless: an exported headless service mirrored per pod (StatefulSets), read at stable-2.11.0
# (charts/linkerd-multicluster enableHeadlessServices; absent at stable-2.10.0).
# link-gen: links declared with `link-gen`, their controllers run by the extension (`multicluster install` values
# controllers[]; linkerd.io/2/tasks/uninstall-multicluster "Unlinking in Earlier Versions (pre-v2.18)").
MODES: dict[str, str] = {"gateway": "2.8", "headless": "2.11", "remote-discovery": "2.14", "federated": "2.17",
                         "link-gen": "2.18"}
LINK_MODES = ("gateway", "remote-discovery")  # the MODES a link itself can be in


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    linkerd: str                 # CLI and control plane release
    kind_cli: str                # the kind CLI release (the word "kind" alone is the backend)
    node_image: str              # kindest/node image built for that kind release (by digest)
    kubectl: str
    helm: str                    # the helm CLI the `helm` installer's plans run
    step: str                    # the step CLI that makes the trust anchors and issuers
    metallb: str
    metallb_config: str          # "configmap" (MetalLB < 0.13) or "crds" (metallb.io/v1beta1)
    linkerd_crds_first: bool     # `linkerd install --crds` before `linkerd install` (2.12+)
    mc_check: tuple[str, ...]    # the multicluster check command of that era
    link_command: str            # "link" (2.8) or "link-gen" (2.18+, controllers in the extension)
    export: str                  # "annotations" (2.8 gateway-name/-ns) or "label" (mirror.linkerd.io/exported=true)
    trust_roots: str             # where a cluster's anchors are read: "linkerd-config" or "trust-roots-configmap"
    proxy_metrics: tuple[str, ...]  # a pod's proxy metrics: `linkerd metrics` (2.8), `linkerd diagnostics proxy-metrics` (2.10+)
    ambassador_api: str          # Ambassador 1.x getambassador.io/v2; Emissary-ingress 3.x getambassador.io/v3alpha1
    # -- what the real tools do at these versions, each read at the pinned tag --------------------
    gateway_api: str | None      # Gateway API release `linkerd install --crds` requires first (None: not required)
    link_crd: bool               # `link` emits a Link object (False: only the credentials Secret)
    check_credentials: str       # the check naming a link's access credentials
    check_gateway_alive: str     # the check that fails until a linked gateway's first probe has run
    mirror_creates_namespaces: bool  # the service mirror creates a mirrored service's missing namespace
    gateways_columns: tuple[str, ...]  # `linkerd multicluster gateways` table header
    probe_slash_joined: bool     # the probe URL is http://host:port/<path> (True) or http://host:port<path>
    liveness_gates_endpoints: bool  # a dead gateway's mirrors list it under notReadyAddresses
    # -- the proxy it ships (its errors and reconnects) -------------------------------------------
    proxy_error_headers: bool    # the proxy says why it failed a request in `l5d-proxy-error`
    failfast_status: int         # its answer once a service is in fail-fast
    connect_backoff: tuple[float, float]  # reconnect backoff after a failed connect: (min, max) seconds
    # the proxy counts what its inbound side decides: each authorized request by the client's identity
    # (inbound_http_authz_allow_total) and each connection it drops (inbound_tcp_errors_total); False: neither
    proxy_authz_metrics: bool
    trims_trust_roots: bool      # the stored anchors lose their final newline (helm `trim`)
    gateway_probe: tuple[int, str]  # the bundled gateway's mc-probe port and probe path
    service_mirror: str          # the service mirror deployment in a source cluster ({target}: per link)
    helm_access: str             # "release": one access release per source; "values": accounts listed in the main release
    helm_chart: tuple[str, str, str, str]  # the multicluster chart: (repo name, repo URL, chart, chart version)
    native_sidecar: bool         # the injector adds the proxy as a restartable init container (else a container)
    cgroup_v1_only: bool         # the node image's Kubernetes (< 1.19) cannot run on a cgroup v2 host
    registry: str                # where the control plane's images come from (`--registry` overrides it)
    # `linkerd install`'s Deployments: (name, ((container, image), ...)), an image under `registry` unless it
    # names its own; every pod also runs the proxy
    control_plane: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    modes: tuple[str, ...] = ("gateway",)  # the MODES this release has
    policy: bool = False  # the policy.linkerd.io CRDs (Server, AuthorizationPolicy, ...; Linkerd 2.11+)
    # The port of the probe Service the extension renders in a source cluster for each link's controller,
    # which the probe worker dials as `probe-<link>:<the Link's probe port>`; None where the service mirror
    # makes its gateway's probe Service itself, with the gateway's own mc-probe port (2.8.1).
    probe_service_port: int | None = None

    @property
    def check_anchors(self) -> str:
        """The same words at both tags: 2.8.1 pkg/healthcheck/healthcheck_multicluster.go, edge multicluster/cmd/check.go."""
        return "clusters share trust anchors"

    @property
    def kubernetes_version(self) -> str:
        """The Kubernetes release the node image runs (kindest/node:v1.32.2@sha256:... -> v1.32.2)."""
        return self.node_image.split(":", 1)[1].split("@", 1)[0]

    @property
    def gateway_api_manifest(self) -> str | None:
        """The URL `linkerd check`'s own hint gives (edge-26.8.3 pkg/healthcheck/healthcheck.go GatewayAPICRDsMissingError)."""
        if self.gateway_api is None:
            return None
        return f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{self.gateway_api}/standard-install.yaml"

    def service_mirrors(self, targets: list[str]) -> list[str]:
        """The meshed service mirror deployments a source cluster runs for links to `targets`."""
        if "{target}" not in self.service_mirror:
            return [self.service_mirror]  # 2.8.1 installs one in every cluster
        return [self.service_mirror.format(target=t) for t in targets]

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
            kind_cli="v0.8.1",
            node_image="kindest/node:v1.18.2@sha256:7b27a6d0f2517ff88ba444025beae41491b016bc6af573ba467b70c5e8e0d85f",
            kubectl="v1.18.2",
            # the newest releases tagged before stable-2.8.1 (2020-06-23): helm/helm v3.2.4 (2020-06-15),
            # smallstep/cli v0.14.4 (2020-05-06; v0.14.5 came 2020-06-30)
            helm="v3.2.4",
            step="v0.14.4",
            # MetalLB v0.9.x: manifests/namespace.yaml + metallb.yaml, a memberlist secret, ConfigMap `config`
            metallb="v0.9.3",
            metallb_config="configmap",
            linkerd_crds_first=False,
            mc_check=("check", "--multicluster"),
            link_command="link",
            export="annotations",
            trust_roots="linkerd-config",
            proxy_metrics=("metrics",),
            ambassador_api="getambassador.io/v2",
            gateway_api=None,
            # cli/cmd/multicluster.go (stable-2.8.1): `link` prints only Secret cluster-credentials-<name>
            link_crd=False,
            # pkg/healthcheck/healthcheck_multicluster.go (stable-2.8.1)
            check_credentials="service mirror controller can access target clusters",
            # ibid.: read from the service mirror's metrics, first set one probe period after the link
            # (controller/cmd/service-mirror/probe_worker.go: a ticker, no probe at start)
            check_gateway_alive="all target cluster gateways are alive",
            # controller/cmd/service-mirror/cluster_watcher.go mirrorNamespaceIfNecessary, always called
            mirror_creates_namespaces=True,
            # cli/cmd/multicluster.go buildGatewaysTable (stable-2.8.1)
            gateways_columns=("CLUSTER", "NAMESPACE", "NAME", "ALIVE", "NUM_SVC", "LATENCY_P50", "LATENCY_P95",
                              "LATENCY_P99"),
            # controller/cmd/service-mirror/probe_worker.go (stable-2.8.1): "http://%s:%d/%s"
            probe_slash_joined=True,
            # controller/cmd/service-mirror/cluster_watcher.go (stable-2.8.1): endpoints always name the gateway
            liveness_gates_endpoints=False,
            # linkerd2-proxy v2.100.0 (.proxy-version at stable-2.8.1): app/core/src/errors.rs answers with a
            # status and an empty body, no l5d-proxy-error; FailFastError is 503; app/src/env.rs
            # DEFAULT_OUTBOUND_CONNECT_BACKOFF 100ms..500ms
            proxy_error_headers=False, failfast_status=503, connect_backoff=(0.1, 0.5),
            # no authz and no TCP error metrics at v2.100.0: a connection dropped for want of an identity leaves
            # a debug log line only (app/core/src/accept_error.rs), and the gateway's requests are counted
            # outbound only (inbound/src/lib.rs: the gateway is the loop-prevention fallback, before the
            # inbound endpoint metrics)
            proxy_authz_metrics=False,
            # cli/cmd/install.go readValues + charts/linkerd2/templates/config.yaml: the anchors file as read
            trims_trust_roots=False,
            # charts/linkerd2-multicluster/values.yaml (stable-2.8.1): gatewayProbePort 4181, gatewayProbePath /health
            gateway_probe=(4181, "/health"),
            # charts/linkerd2-multicluster/templates/service-mirror.yaml (stable-2.8.1): one for every link
            service_mirror="linkerd-service-mirror",
            helm_access="release",
            helm_chart=("linkerd", "https://helm.linkerd.io/stable", "linkerd/linkerd2-multicluster", "2.8.1"),
            native_sidecar=False,  # 2.8.1 appends linkerd-proxy to the pod's containers
            # kind known issues (kubernetes-sigs/kind v0.20.0 site/content/docs/user/known-issues.md):
            # cgroup v2 hosts only run Kubernetes >= 1.19
            cgroup_v1_only=True,
            # charts/linkerd2-multicluster/values.yaml (stable-2.8.1): controllerImage gcr.io/linkerd-io/controller
            registry="gcr.io/linkerd-io",
            # cli/cmd/testdata/install_default.golden (stable-2.8.1): the Deployments and their containers
            control_plane=(("linkerd-identity", (("identity", "controller"),)),
                           ("linkerd-controller", (("public-api", "controller"),)),
                           ("linkerd-destination", (("destination", "controller"),)),
                           ("linkerd-web", (("web", "web"),)),
                           ("linkerd-prometheus", (("prometheus", "prom/prometheus:v2.15.2"),)),
                           ("linkerd-proxy-injector", (("proxy-injector", "controller"),)),
                           ("linkerd-sp-validator", (("sp-validator", "controller"),)),
                           ("linkerd-tap", (("tap", "controller"),)),
                           ("linkerd-grafana", (("grafana", "grafana"),))),
        ),
        Profile(
            name="current",
            summary="the newest releases confirmed on 2026-11-24, with today's commands",
            linkerd="edge-26.8.3",
            # kind v0.33.0 release notes: default node image kindest/node:v1.37.0 by digest
            kind_cli="v0.33.0",
            node_image="kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
            kubectl="v1.37.1",  # client; the node runs v1.37.0 (one patch apart is within skew)
            # the newest release tags in the stored snapshots of helm/helm (v4.2.4, 2026-08-13) and smallstep/cli
            # (v0.30.6, 2026-06-10); releases after those snapshots, up to 2026-11-24, were not seen
            helm="v4.2.4",
            step="v0.30.6",
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
            proxy_metrics=("diagnostics", "proxy-metrics"),
            ambassador_api="getambassador.io/v3alpha1",
            # cli/cmd/install.go validateFinalValues and charts/linkerd-crds/values.yaml installGatewayAPI: false;
            # the version is the one pkg/healthcheck/healthcheck.go tells users to apply (edge-26.8.3)
            gateway_api="v1.5.1",
            link_crd=True,
            # multicluster/cmd/check.go (edge-26.8.3): one check for every link, no target suffix
            check_credentials="remote cluster access credentials are valid",
            # ibid., without a retry deadline; the probe worker's first probe comes one period after the
            # link (multicluster/service-mirror/probe_worker.go: a ticker)
            check_gateway_alive="probe services able to communicate with all gateway mirrors",
            # multicluster/service-mirror/cluster_watcher.go: only with -enable-namespace-creation, which the
            # chart passes when enableNamespaceCreation (values.yaml: false); else an event ServiceMirroringSkipped
            mirror_creates_namespaces=False,
            # multicluster/cmd/gateways.go buildGatewaysTable (edge-26.8.3)
            gateways_columns=("CLUSTER", "ALIVE", "NUM_SVC", "LATENCY"),
            # multicluster/service-mirror/probe_worker.go (edge-26.8.3): "http://%s%s" with the path as given
            probe_slash_joined=False,
            # multicluster/service-mirror/cluster_watcher.go updateReadiness (edge-26.8.3), after the probe
            # worker's failureThreshold (Link CRD default 3) failures in a row
            liveness_gates_endpoints=True,
            # linkerd2-proxy v2.366.0 (.proxy-version at edge-26.8.3): app/core/src/errors/respond.rs sets
            # l5d-proxy-error; outbound/src/http/server.rs answers FailFastError with 504; app/src/env.rs
            # DEFAULT_OUTBOUND_CONNECT_BACKOFF 100ms..60s
            proxy_error_headers=True, failfast_status=504, connect_backoff=(0.1, 60.0),
            # inbound/src/policy/http.rs and metrics/authz.rs: inbound_http_authz_allow_total per authorized
            # request, with the client's identity (the gateway's requests too: gateway/src/http.rs authorizes
            # them, and counts no inbound request_total, which only inbound/src/http/router.rs adds);
            # inbound/src/metrics/error.rs: inbound_tcp_errors_total per dropped connection (direct.rs
            # RefusedNoIdentity is error="unexpected", as integration/src/tests/telemetry/tcp_errors.rs asserts)
            proxy_authz_metrics=True,
            # charts/linkerd-control-plane/templates/identity.yaml (edge-26.8.3): ca-bundle.crt `| trim`
            trims_trust_roots=True,
            # multicluster/charts/linkerd-multicluster/values.yaml (edge-26.8.3): probe port 4191, path /ready
            gateway_probe=(4191, "/ready"),
            # multicluster/charts/linkerd-multicluster/templates/controller/deployment.yaml (edge-26.8.3)
            service_mirror="controller-{target}",
            # templates/remote-access-service-mirror-rbac.yaml (edge-26.8.3) ranges over a comma-separated
            # remoteMirrorServiceAccountName; a second release would own the Link CRD twice
            helm_access="values",
            # edge releases publish their charts to the edge repo, versioned 20YY.M.N for edge-YY.M.N (the
            # Chart.yaml at the tag says 0.0.0-undefined: CI sets the version when it publishes)
            helm_chart=("linkerd-edge", "https://helm.linkerd.io/edge", "linkerd-edge/linkerd-multicluster", "2026.8.3"),
            # charts/linkerd-control-plane/values.yaml proxy.nativeSidecar: true; charts/patch/templates/patch.json
            # then puts linkerd-init and linkerd-proxy (restartPolicy Always) in initContainers (edge-26.8.3)
            native_sidecar=True,
            cgroup_v1_only=False,
            registry="cr.l5d.io/linkerd",
            # cli/cmd/testdata/install_default.golden (edge-26.8.3): the policy controller runs from the
            # controller image too
            control_plane=(("linkerd-identity", (("identity", "controller"),)),
                           ("linkerd-destination", (("destination", "controller"), ("sp-validator", "controller"),
                                                    ("policy", "controller"))),
                           ("linkerd-proxy-injector", (("proxy-injector", "controller"),))),
            modes=("gateway", "headless", "remote-discovery", "federated", "link-gen"),
            policy=True,
            # multicluster/charts/linkerd-multicluster/templates/controller/probe-svc.yaml: `probe-<link>`'s port is
            # controllerDefaults.gateway.probe.port (values.yaml: 4191) unless a controller sets its own
            # (edge-26.8.3)
            probe_service_port=4191,
        ),
    ]
}
DEFAULT_PROFILE = "current"

