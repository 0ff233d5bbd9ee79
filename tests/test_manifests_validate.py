"""Every object the lab renders is one a real API server would take.

Core objects are checked with kubernetes-validate (the Kubernetes version of
the current profile's node image, strict: no unknown fields); custom
resources against the upstream CRD schemas in ../shared/reference/.
"""
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from lab.model import config, fixtures_dir, gateways, profiles
from lab.render import manifests
from lab.trust import files as trust

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
# The Kubernetes version the current profile's node image runs (kindest/node:v1.37.0@sha256:...).
K8S_VERSION = profiles.PROFILES["current"].node_image.split(":v", 1)[1].split("@", 1)[0]


def crd_schema(path: Path, version: str) -> dict:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "CustomResourceDefinition":
            for v in doc["spec"]["versions"]:
                if v["name"] == version:
                    return v["schema"]["openAPIV3Schema"]
    raise LookupError(f"{version} not in {path}")


def rendered(tmp_path) -> list[dict]:
    cfg = config.load()
    material = trust.ensure(cfg, tmp_path)
    objects = manifests.metallb(cfg.cluster("east").lb_pool) + [manifests.metallb_configmap(cfg.cluster("east").lb_pool)]
    issuer = material.issuers["east"]
    objects += manifests.linkerd_identity(cfg, material.roots_for("east"), issuer.cert_pem, issuer.key_pem)
    objects += manifests.multicluster(cfg, "west")
    objects += manifests.gateway_api_crds(cfg.profile.gateway_api)
    seed = config.parse({"profile": "seed-2.8"})
    objects += manifests.multicluster(seed, "west")
    objects += manifests.link(seed, "east", "https://172.18.0.2:6443", "token", None)
    gateway = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "linkerd-gateway")
    served = {**gateway, "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.254"}]}}}
    objects += manifests.link(cfg, "east", "https://172.18.0.2:6443", "token", served)
    for profile in profiles.PROFILES:
        with_profile = config.parse({"profile": profile, "gateway": "ambassador"})
        objects += gateways.resolve(with_profile).objects(with_profile)
    for cluster in cfg.clusters:
        for name in cluster.workloads:
            objects += manifests.workload(cfg, cluster.name, name)
    # Every example topology: its installs, its Links (with or without a gateway), its workloads (a StatefulSet
    # and a headless Service among them), and the deprecated link's own controller.
    for path in sorted((fixtures_dir.FIXTURES / "topologies").glob("*.yaml")):
        topo = config.load(path)
        for cluster in topo.clusters:
            objects += manifests.multicluster(topo, cluster.name)
            objects += [o for name in cluster.workloads for o in manifests.workload(topo, cluster.name, name)]
        for link in topo.links:
            objects += manifests.link(topo, link.target, "https://172.18.0.2:6443", "token", served if link.via_gateway else None)
    return objects


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return rendered(tmp_path_factory.mktemp("pki"))


CUSTOM = {"IPAddressPool", "L2Advertisement", "Link", "Module", "Host", "Mapping", "Listener"}
# CRDs are rendered as names and versions only (the simulation stores them); kind applies upstream's own.
SKETCHED = {"CustomResourceDefinition"}


def test_core_objects_validate_strictly(objects):
    core = [o for o in objects if o["kind"] not in CUSTOM | SKETCHED]
    assert {o["kind"] for o in core} >= {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Service"}
    for obj in core:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_a_broken_object_is_caught():
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": "http"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside this checkout")
def test_metallb_objects_match_the_v0_16_1_crds(objects):
    schemas = {"IPAddressPool": crd_schema(REFERENCE / "metallb-v0.16.1" / "metallb.io_ipaddresspools.yaml", "v1beta1"),
               "L2Advertisement": crd_schema(REFERENCE / "metallb-v0.16.1" / "metallb.io_l2advertisements.yaml", "v1beta1")}
    checked = 0
    for obj in objects:
        if obj["kind"] in schemas:
            assert obj["apiVersion"] == "metallb.io/v1beta1"
            jsonschema.validate(obj, schemas[obj["kind"]])
            checked += 1
    assert checked == 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**objects[0], "spec": {"addresses": "not-a-list"}}, schemas["IPAddressPool"])


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside this checkout")
def test_links_match_the_edge_26_8_3_crd(objects):
    """Every Link the lab writes, with a gateway and without (pod-to-pod, federated)."""
    links = [o for o in objects if o["kind"] == "Link"]
    assert any("gatewayAddress" in l["spec"] for l in links) and any("gatewayAddress" not in l["spec"] for l in links)
    schema = crd_schema(REFERENCE / "linkerd-edge-26.8.3" / "install_default.golden", "v1alpha3")
    for link in links:
        assert link["apiVersion"] == "multicluster.linkerd.io/v1alpha3"
        jsonschema.validate(link, schema)
        assert set(link["spec"]) <= set(schema["properties"]["spec"]["properties"])


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside this checkout")
def test_gateway_objects_match_upstream_install_output(objects):
    """Names, ports and annotations of the gateway as `linkerd multicluster install` renders them."""
    golden = {(d["kind"], d["metadata"]["name"]): d for d in
              yaml.safe_load_all((REFERENCE / "linkerd-edge-26.8.3" / "install_default.golden").read_text()) if d}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in manifests.multicluster(config.load(), "west")}
    svc, want = ours[("Service", "linkerd-gateway")], golden[("Service", "linkerd-gateway")]
    assert svc["spec"]["ports"] == want["spec"]["ports"] and svc["spec"]["type"] == want["spec"]["type"]
    for key in ("mirror.linkerd.io/gateway-identity", "mirror.linkerd.io/probe-period", "mirror.linkerd.io/probe-path",
                "mirror.linkerd.io/multicluster-gateway"):
        assert svc["metadata"]["annotations"][key] == want["metadata"]["annotations"][key]
    dep_ann = ours[("Deployment", "linkerd-gateway")]["spec"]["template"]["metadata"]["annotations"]
    want_ann = golden[("Deployment", "linkerd-gateway")]["spec"]["template"]["metadata"]["annotations"]
    for key in ("linkerd.io/inject", "config.linkerd.io/enable-gateway", "config.linkerd.io/proxy-require-identity-inbound-ports"):
        assert dep_ann[key] == want_ann[key]
    token = golden[("Secret", "linkerd-service-mirror-remote-access-default-token")]
    assert ours[("Secret", "linkerd-service-mirror-remote-access-default-token")]["type"] == token["type"]


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside this checkout")
def test_seed_gateway_probes_where_the_2_8_1_chart_says():
    """stable-2.8.1 charts/linkerd2-multicluster/values.yaml: the bundled gateway's probe is nginx on
    gatewayProbePort 4181 at gatewayProbePath /health (not edge's 4191 /ready), and its proxy requires
    identity on the probe, gateway and relay ports (templates/gateway.yaml)."""
    values = yaml.safe_load((REFERENCE / "linkerd-stable-2.8.1" / "linkerd2-multicluster-values.yaml").read_text())
    ours = {(o["kind"], o["metadata"]["name"]): o for o in manifests.multicluster(config.parse({"profile": "seed-2.8"}), "west")}
    svc = ours[("Service", "linkerd-gateway")]
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"mc-gateway": values["gatewayPort"],
                                                                    "mc-probe": values["gatewayProbePort"]}
    assert svc["metadata"]["annotations"]["mirror.linkerd.io/probe-path"] == values["gatewayProbePath"]
    template = ours[("Deployment", "linkerd-gateway")]["spec"]["template"]
    assert template["metadata"]["annotations"]["config.linkerd.io/proxy-require-identity-inbound-ports"] == \
        f"{values['gatewayProbePort']},{values['gatewayPort']},4180"
    assert template["spec"]["containers"][0]["image"].startswith(values["gatewayNginxImage"] + ":")
    # The remote-access objects carry the account's own name (templates/remote-access-service-mirror-rbac.yaml).
    account = values["remoteMirrorServiceAccountName"]
    assert {("ClusterRole", account), ("ServiceAccount", account), ("ClusterRoleBinding", account)} <= set(ours)
