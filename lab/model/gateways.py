"""The gateways exported services can use, one class per type: everything a type is, in one place.

A type says where it runs (namespace, name, image), the identity it has,
the readiness path the service mirror probes, the objects a cluster that
takes manifests directly applies (the simulation), and the real tools'
commands that install it on kind. Steps, backends, config validation and
the printed plans ask the class; none of them names a type. Adding one is
a subclass and a `register` call (tests/test_gateway_types.py does it).

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

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Protocol

from .. import names
from .crds import crd
from ..tools.run import cmd, pipe

if TYPE_CHECKING:
    from .profiles import Profile

GATEWAY_PORT = names.PROXY_INBOUND_PORT  # where multicluster traffic arrives, whatever the gateway


class LabView(Protocol):
    """What a gateway reads of the lab's config.LabConfig. config.py validates `gateway:` against the types
    registered here, so this module names only what it reads and never imports config: no circle."""

    @property
    def gateway(self) -> str: ...

    @property
    def profile(self) -> Profile: ...

    @property
    def probe_period(self) -> int: ...

    @property
    def apiext_wait(self) -> int: ...

    def identity(self, serviceaccount: str, namespace: str) -> str: ...


@dataclass(frozen=True)
class Gateway:
    """One gateway type, as the profile that uses it pins it."""

    gateway_type: ClassVar[str] = ""  # the name lab.yaml's `gateway:` and `./labctl gateway` use
    bundled: ClassVar[bool] = False  # installed by the multicluster extension: nothing of its own to install
    name: str = ""                 # its Deployment, Service and ServiceAccount
    namespace: str = ""
    image: str | None = None
    version: str | None = None

    def identity(self, cfg: LabView) -> str:
        return cfg.identity(self.name, self.namespace)

    def probe_path(self, profile: Profile) -> str:
        """The `mirror.linkerd.io/probe-path` its Service needs under `profile`."""
        raise NotImplementedError

    def objects(self, cfg: LabView) -> list[dict]:
        """The gateway as installed, injected and patched, for a cluster that takes manifests directly
        (the simulation); on kind the same end state comes from `install_on_kind`."""
        return []

    def install_on_kind(self, kind, cluster: str) -> None:
        """The real tools' commands, run through the kind backend `kind` (its runner records or scripts them)."""

    def describe(self, cfg: LabView) -> str:
        """One plan line: what the gateway step does for this type."""
        raise NotImplementedError


@dataclass(frozen=True)
class LinkerdGateway(Gateway):
    """The bundled gateway `linkerd multicluster install` renders (lab/render/manifests.py `multicluster`)."""

    gateway_type: ClassVar[str] = "linkerd"
    bundled: ClassVar[bool] = True

    def probe_path(self, profile: Profile) -> str:
        return profile.gateway_probe[1]

    def describe(self, cfg: LabView) -> str:
        return f"use the bundled gateway {self.namespace}/{self.name} (installed by the multicluster step)"


@dataclass(frozen=True)
class Ambassador(Gateway):
    """Ambassador 1.x (getambassador.io/v2), the guide's era, installed from its own YAML at its tag."""

    gateway_type: ClassVar[str] = "ambassador"
    api: ClassVar[str] = "getambassador.io/v2"
    container: ClassVar[str] = "ambassador"  # the container name in the release YAML
    readiness: ClassVar[str] = "/-/ambassador/ready"  # the guide's Mapping prefix
    # The `ambassador` Module's config the release YAML ships itself (None: the YAML has no Module; Ambassador
    # 1.5.5's docs/yaml/ambassador/ files define only its CRD).
    shipped_module: ClassVar[dict | None] = None

    def probe_path(self, profile: Profile) -> str:
        # 2.8.1 joins the probe URL as host:port/<path>, so the guide writes the path without its slash.
        return self.readiness.lstrip("/") if profile.probe_slash_joined else self.readiness

    @staticmethod
    def probe_port(profile: Profile) -> int:
        """The Service's `mc-probe` port (to the listener on 8080), which link-gen copies into the Link.
        The guide's 80 where the mirror probes a Service it makes with that port (2.8.1). Edge's probe worker
        dials `probe-<link>:<the Link's port>` (multicluster/service-mirror/probe_worker.go, edge-26.8.3), and
        `probe-<link>` is the extension's Service on controllerDefaults.gateway.probe.port, 4191
        (multicluster/charts/linkerd-multicluster/templates/controller/probe-svc.yaml, values.yaml): a Link
        on 80 reaches a port that Service does not serve and the gateway is never alive. So the gateway takes
        4191, the port the bundled gateway's mc-probe has too (values.yaml gateway.probe.port), and the
        extension keeps its defaults whichever gateway a link names."""
        return profile.probe_service_port or 80

    def describe(self, cfg: LabView) -> str:
        return (f"install {self.image} as {self.namespace}/{self.name}, injected (skip inbound 80,443; identity required "
                f"on {GATEWAY_PORT}), with the guide's Module, Host, readiness Mapping and Service patches")

    # -- the guide's configuration, the same on every backend ---------------------------------
    def config_objects(self) -> list[dict]:
        """The guide's Module (add_linkerd_headers), wildcard Host and readiness Mapping."""
        host = {"hostname": "*", "requestPolicy": {"insecure": {"action": "Route"}}}
        mapping = {"prefix": self.readiness, "rewrite": "/ambassador/v0/check_ready",
                   "service": "localhost:8877", "bypass_auth": True}
        objects = [self._object("Module", "ambassador", {"config": {**(self.shipped_module or {}), "add_linkerd_headers": True}})]
        objects += self._for_release(mapping, host)
        objects.append(self._object("Host", "wildcard", host))
        objects.append(self._object("Mapping", "public-health-check", mapping))
        return objects

    def _for_release(self, mapping: dict, host: dict) -> list[dict]:
        host.update({"selector": {"matchLabels": {"nothing": "nothing"}}, "acmeProvider": {"authority": "none"}})
        return []

    def _object(self, kind: str, name: str, spec: dict) -> dict:
        return {"apiVersion": self.api, "kind": kind, "metadata": {"name": name, "namespace": self.namespace}, "spec": spec}

    def service_annotations(self, cfg: LabView) -> dict[str, str]:
        """What the guide patches onto the gateway's Service for the service mirror."""
        return {names.GATEWAY_IDENTITY_ANNOTATION: self.identity(cfg),
                names.MULTICLUSTER_GATEWAY_ANNOTATION: "true",
                names.PROBE_PATH_ANNOTATION: self.probe_path(cfg.profile),
                names.PROBE_PERIOD_ANNOTATION: str(cfg.probe_period)}

    @staticmethod
    def pod_annotations() -> dict[str, str]:
        """What `linkerd inject --skip-inbound-ports 80,443 --require-identity-on-inbound-ports 4143`
        and the guide's `enable-gateway` patch leave on the pod template."""
        return {"linkerd.io/inject": "enabled",
                "config.linkerd.io/skip-inbound-ports": "80,443",
                "config.linkerd.io/proxy-require-identity-inbound-ports": str(GATEWAY_PORT),
                "config.linkerd.io/enable-gateway": "true"}

    def crds(self) -> list[dict]:
        """The CRDs of the kinds the guide's configuration uses, as the release's CRD manifest installs them."""
        group, version = self.api.split("/")
        kinds = [("Module", "modules"), ("Host", "hosts"), ("Mapping", "mappings")] + self._release_kinds()
        return [crd(group, kind, plural, (version,)) for kind, plural in kinds]

    def _release_kinds(self) -> list[tuple[str, str]]:
        return []

    def objects(self, cfg: LabView) -> list[dict]:
        labels = {"app.kubernetes.io/name": self.name}
        return self.crds() + [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": self.name, "namespace": self.namespace}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": self.name, "namespace": self.namespace},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels, "annotations": self.pod_annotations()},
                                   "spec": {"serviceAccountName": self.name,
                                            "containers": [{"name": self.container, "image": self.image,
                                                            "ports": [{"name": "http", "containerPort": 8080},
                                                                      {"name": "https", "containerPort": 8443},
                                                                      {"name": "admin", "containerPort": 8877}]}]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": self.name, "namespace": self.namespace, "annotations": self.service_annotations(cfg)},
             "spec": {"type": "LoadBalancer", "selector": labels,
                      "ports": [{"name": "mc-probe", "port": self.probe_port(cfg.profile), "targetPort": 8080},
                                {"name": "https", "port": 443, "targetPort": 8443},
                                {"name": "mc-gateway", "port": GATEWAY_PORT}]}},
        ] + self.config_objects()

    # -- kind: the release YAML, then the guide's inject and patches -----------------------------
    def install_release_on_kind(self, kind, cluster: str) -> None:
        # Ambassador 1.5.5's own YAML at its tag (emissary-ingress/emissary v1.5.5 docs/yaml/ambassador/;
        # the unversioned hosted copy is whatever is hosted today), with the `$version$` placeholder its
        # release filled in. Its RBAC binds the service account in `default`, so the binding is pointed at
        # the namespace used here.
        ns = self.namespace
        base = f"https://raw.githubusercontent.com/emissary-ingress/emissary/v{self.version}/docs/yaml/ambassador"
        kind.apply_output(cluster, kind.kubectl(cluster, "create", "namespace", ns, "--dry-run=client", "-o", "yaml"))
        kind.runner.run(kind.kubectl(cluster, "apply", "-f", f"{base}/ambassador-crds.yaml"))
        kind.runner.run(pipe(cmd("curl", "-fsSL", f"{base}/ambassador-rbac.yaml"),
                             pipe(cmd("sed", f"s/\\$version\\$/{self.version}/g"),
                                  kind.kubectl(cluster, "-n", ns, "apply", "-f", "-"))))
        kind.runner.run(kind.kubectl(cluster, "patch", "clusterrolebinding", "ambassador", "--type=json", "-p",
                                     json.dumps([{"op": "replace", "path": "/subjects/0/namespace", "value": ns}])))
        kind.runner.run(kind.kubectl(cluster, "-n", ns, "apply", "-f", f"{base}/ambassador-service.yaml"))

    def install_on_kind(self, kind, cluster: str) -> None:
        ns = self.namespace
        self.install_release_on_kind(kind, cluster)
        kind.wait_rollout(cluster, ns, self.name)
        # The guide's inject: skip the public ports, require identity on the port gateway traffic uses
        # (4143, not the guide's 4183: see the module's docstring).
        kind.runner.run(pipe(kind.kubectl(cluster, "-n", ns, "get", "deploy", self.name, "-o", "yaml"),
                             pipe(kind.linkerd(cluster, "inject", "--skip-inbound-ports", "80,443",
                                               "--require-identity-on-inbound-ports", str(GATEWAY_PORT), "-"),
                                  kind.kubectl(cluster, "apply", "-f", "-"))))
        objects = self.config_objects()
        if self.shipped_module is not None:
            # The release's own Module stays and gains the guide's setting: a merge patch, not an apply, which
            # would drop the settings the shipped one has (client-side apply removes what its last-applied
            # annotation has and the new manifest lacks).
            objects = [o for o in objects if o["kind"] != "Module"]
            kind.runner.run(kind.kubectl(cluster, "-n", ns, "patch", "modules.getambassador.io", "ambassador", "--type=merge",
                                         "-p", json.dumps({"spec": {"config": {"add_linkerd_headers": True}}})))
        kind.apply(cluster, objects)
        kind.runner.run(kind.kubectl(cluster, "-n", ns, "patch", "deploy", self.name, "-p", json.dumps(
            {"spec": {"template": {"metadata": {"annotations": {"config.linkerd.io/enable-gateway": "true"}}}}})))
        # mc-probe: 80 as in the guide on 2.8.1, 4191 on edge, where the probe Service the extension renders
        # serves 4191 (edge-26.8.3 multicluster/charts/linkerd-multicluster/templates/controller/probe-svc.yaml,
        # multicluster/service-mirror/probe_worker.go; see probe_port).
        probe = {"name": "mc-probe", "port": self.probe_port(kind.cfg.profile), "targetPort": 8080}
        kind.runner.run(kind.kubectl(cluster, "-n", ns, "patch", "svc", self.name, "--type=json", "-p", json.dumps([
            {"op": "add", "path": "/spec/ports/-", "value": {"name": "mc-gateway", "port": GATEWAY_PORT}},
            {"op": "replace", "path": "/spec/ports/0", "value": probe}])))
        kind.runner.run(kind.kubectl(cluster, "-n", ns, "patch", "svc", self.name, "-p", json.dumps(
            {"metadata": {"annotations": self.service_annotations(kind.cfg)}})))
        kind.wait_rollout(cluster, ns, self.name)


@dataclass(frozen=True)
class Emissary(Ambassador):
    """Emissary-ingress 3.x (getambassador.io/v3alpha1), installed as its release YAML names it."""

    api: ClassVar[str] = "getambassador.io/v3alpha1"
    # emissary v3.10.0 manifests/emissary/emissary-emissaryns.yaml.in: Module `ambassador` in `emissary`
    shipped_module: ClassVar[dict | None] = {"diagnostics": {"allow_non_local": True, "enabled": False}}

    def _for_release(self, mapping: dict, host: dict) -> list[dict]:
        # Emissary 2.x+: Hosts and Mappings associate only by hostname, and ports need a Listener.
        mapping["hostname"] = "*"
        return [self._object("Listener", "http-8080", {"port": 8080, "protocol": "HTTP", "securityModel": "XFP",
                                                       "hostBinding": {"namespace": {"from": "ALL"}}})]

    def _release_kinds(self) -> list[tuple[str, str]]:
        return [("Listener", "listeners")]

    def install_release_on_kind(self, kind, cluster: str) -> None:
        # Emissary-ingress's release YAML: CRDs and their conversion webhook first, then the gateway.
        base = f"https://app.getambassador.io/yaml/emissary/{self.version}"
        kind.runner.run(kind.kubectl(cluster, "apply", "-f", f"{base}/emissary-crds.yaml"))
        # Upstream's quickstart and its own CI wait 90 s (emissary v3.10.0 Makefile, build-aux/check.mk,
        # python/kat/harness.py), on clusters with the images pulled; the release's own Deployment waits up to
        # 5 minutes (manifests/emissary/emissary-emissaryns.yaml.in, init container wait-for-apiext). A cold
        # kind node pulls the apiext image first, so the lab waits lab.yaml's `apiext_wait` (default 300 s).
        kind.runner.run(kind.kubectl(cluster, "wait", f"--timeout={kind.cfg.apiext_wait}s", "--for=condition=available",
                                     "deployment", "emissary-apiext", "-n", "emissary-system"))
        kind.apply_output(cluster, kind.kubectl(cluster, "create", "namespace", self.namespace, "--dry-run=client",
                                                "-o", "yaml"))
        kind.runner.run(kind.kubectl(cluster, "apply", "-f", f"{base}/emissary-emissaryns.yaml"))


LINKERD = LinkerdGateway(name=names.GATEWAY, namespace=names.MC_NS)
AMBASSADOR_1 = Ambassador(name="ambassador", namespace="ambassador", version="1.5.5",
                          image="docker.io/datawire/ambassador:1.5.5")
EMISSARY_3 = Emissary(name="emissary-ingress", namespace="emissary", version="3.10.0",
                      image="docker.io/emissaryingress/emissary:3.10.0")

# Each type by its lab.yaml name, with the release a profile uses.
TYPES: dict[str, Callable[[Profile], Gateway]] = {
    "linkerd": lambda profile: LINKERD,
    "ambassador": lambda profile: AMBASSADOR_1 if profile.ambassador_api == Ambassador.api else EMISSARY_3,
}


def register(gateway_type: str, for_profile: Callable[[Profile], Gateway]) -> None:
    """A new gateway type, known to lab.yaml, `./labctl gateway`, the steps and both backends."""
    TYPES[gateway_type] = for_profile


def gateway_types() -> tuple[str, ...]:
    return tuple(TYPES)




def resolve(cfg: LabView, gateway_type: str | None = None) -> Gateway:
    """The gateway that `gateway_type` (default: the lab's) stands for under the lab's profile."""
    return for_profile(cfg.profile, gateway_type or cfg.gateway)


def for_profile(profile: Profile, gateway_type: str) -> Gateway:
    return TYPES[gateway_type](profile)
