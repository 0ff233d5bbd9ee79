"""Every object the lab renders is one a real API server would take.

Each object is read against its profile's pins by tests/schema_check.py: the built-in kinds with
kubernetes-validate's strict schemas at the profile's Kubernetes (current: 1.37.0; seed-2.8 pins v1.18.2,
older than any release kubernetes-validate ships, so it is read at 1.25.0, the nearest covered), custom
resources against the upstream CRD schemas at the pinned tags (fixtures/schemas/, from
scripts/extract_schemas.py), unknown fields refused. The tests comparing the lab's objects with upstream's
rendered output read ../shared/reference/ and skip where it is not beside the checkout.
"""
import json
from pathlib import Path

import pytest
import yaml

import schema_check
from lab.model import config, fixtures_dir, gateways, profiles
from lab.render import manifests
from lab.trust import files as trust

REFERENCE = schema_check.SHARED_REFERENCE
CURRENT, SEED = profiles.PROFILES["current"], profiles.PROFILES["seed-2.8"]


def rendered(tmp_path) -> list[tuple[profiles.Profile, dict]]:
    """Each object the lab renders, with the profile whose clusters it is applied to."""
    cfg = config.load()
    material = trust.ensure(cfg, tmp_path)
    objects = manifests.metallb(cfg.cluster("east").lb_pool)
    issuer = material.issuers["east"]
    objects += manifests.linkerd_identity(cfg, material.roots_for("east"), issuer.cert_pem, issuer.key_pem)
    objects += manifests.multicluster(cfg, "west")
    objects += manifests.gateway_api_crds(cfg.profile.gateway_api)
    gateway = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "linkerd-gateway")
    served = {**gateway, "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.254"}]}}}
    objects += manifests.link(cfg, "east", "https://172.18.0.2:6443", "token", served)
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
    tagged = [(cfg.profile, o) for o in objects]
    seed = config.parse({"profile": "seed-2.8"})
    tagged += [(SEED, o) for o in [manifests.metallb_configmap(cfg.cluster("east").lb_pool)]
               + manifests.multicluster(seed, "west") + manifests.link(seed, "east", "https://172.18.0.2:6443", "token", None)]
    for profile in profiles.PROFILES:
        with_profile = config.parse({"profile": profile, "gateway": "ambassador"})
        tagged += [(with_profile.profile, o) for o in gateways.resolve(with_profile).objects(with_profile)]
    return tagged


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return rendered(tmp_path_factory.mktemp("pki"))


# CRDs are rendered as names and versions only (the simulation stores them); kind applies upstream's own.
SKETCHED = {"CustomResourceDefinition"}


def failures(tagged) -> list[str]:
    return [f"{profile.name}: {obj['kind']} {obj['metadata'].get('name')}: {p.field}: {p.message}"
            for profile, obj in tagged for p in schema_check.read(profile, obj)]


def test_core_objects_validate_strictly(objects):
    core = [(p, o) for p, o in objects if schema_check.is_builtin(o["apiVersion"]) and o["kind"] not in SKETCHED]
    assert {o["kind"] for _, o in core} >= {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Service"}
    assert {p.name for p, _ in core} == {"current", "seed-2.8"}
    found = failures(core)
    assert not found, "\n".join(found)


def test_custom_resources_validate_strictly_against_their_pinned_crds(objects):
    custom = [(p, o) for p, o in objects if not schema_check.is_builtin(o["apiVersion"])]
    assert {o["kind"] for _, o in custom} >= {"IPAddressPool", "L2Advertisement", "Link", "Module", "Host", "Mapping",
                                              "Listener"}
    found = failures(custom)
    assert not found, "\n".join(found)


def test_a_broken_object_is_caught():
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": "http"}]}}
    assert [p.field for p in schema_check.read(CURRENT, bad)] == ["spec.ports[0].port"]
    assert [p.field for p in schema_check.read(SEED, {**bad, "spec": {"portz": []}})] == ["spec.portz"]


def test_metallb_objects_are_read_against_the_v0_16_1_crds(objects):
    pools = [o for _, o in objects if o["kind"] in ("IPAddressPool", "L2Advertisement")]
    assert [o["apiVersion"] for o in pools] == ["metallb.io/v1beta1"] * 2
    assert schema_check.read(CURRENT, {**pools[0], "spec": {"addresses": "not-a-list"}})
    assert schema_check.read(CURRENT, {**pools[0], "spec": {**pools[0]["spec"], "adresses": []}})


def test_links_are_read_against_the_edge_26_8_3_crd(objects):
    """Every Link the lab writes, with a gateway and without (pod-to-pod, federated)."""
    links = [o for _, o in objects if o["kind"] == "Link"]
    assert any("gatewayAddress" in l["spec"] for l in links) and any("gatewayAddress" not in l["spec"] for l in links)
    assert {l["apiVersion"] for l in links} == {"multicluster.linkerd.io/v1alpha3"}
    found = schema_check.read(CURRENT, {**links[0], "spec": {**links[0]["spec"], "gatewayAdress": "x"}})
    assert [p.field for p in found] == ["spec.gatewayAdress"]


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


GATEWAY_POLICY = {("policy.linkerd.io/v1beta3", "Server", "linkerd-gateway"),
                  ("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "linkerd-gateway"),
                  ("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", "any-meshed"),
                  ("policy.linkerd.io/v1alpha1", "NetworkAuthentication", "source-cluster")}


def test_the_gateways_policy_objects_are_the_edge_chart_s_and_stable_2_8_1_has_none():
    """edge-26.8.3 multicluster/charts/linkerd-multicluster/templates/gateway-policy.yaml (install_default.golden):
    a Server on the gateway pods' `linkerd-proxy` port, authorized for any meshed identity from any network."""
    ours = manifests.multicluster(config.load(), "west")
    policy = [o for o in ours if o["apiVersion"].startswith("policy.linkerd.io/")]
    assert {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in policy} == GATEWAY_POLICY
    assert len(policy) == len(GATEWAY_POLICY)
    by_kind = {o["kind"]: o for o in policy}
    for obj in policy:
        assert obj["metadata"]["namespace"] == "linkerd-multicluster"
        assert obj["metadata"]["labels"] == {"linkerd.io/extension": "multicluster", "app": "linkerd-gateway"}
    assert by_kind["Server"]["spec"] == {"podSelector": {"matchLabels": {"app": "linkerd-gateway"}}, "port": "linkerd-proxy"}
    assert by_kind["AuthorizationPolicy"]["spec"] == {
        "targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "linkerd-gateway"},
        "requiredAuthenticationRefs": [
            {"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": "any-meshed",
             "namespace": "linkerd-multicluster"},
            {"group": "policy.linkerd.io", "kind": "NetworkAuthentication", "name": "source-cluster",
             "namespace": "linkerd-multicluster"}]}
    assert by_kind["MeshTLSAuthentication"]["spec"] == {"identities": ["*"]}
    assert by_kind["NetworkAuthentication"]["spec"] == {"networks": [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}]}
    template = next(o for o in ours if o["kind"] == "Deployment" and o["metadata"]["name"] == "linkerd-gateway")
    assert template["spec"]["template"]["metadata"]["annotations"]["config.linkerd.io/default-inbound-policy"] == \
        "all-authenticated"
    seed = manifests.multicluster(config.parse({"profile": "seed-2.8"}), "west")
    assert not [o for o in seed if o["apiVersion"].startswith("policy.linkerd.io/")]
    # the CRDs `linkerd install --crds` applies serve each kind at its apiVersion
    served = {(f"{c['spec']['group']}/{v['name']}", c["spec"]["names"]["kind"])
              for c in manifests.policy_crds() for v in c["spec"]["versions"]}
    assert {(a, k) for a, k, _ in GATEWAY_POLICY} <= served


def test_the_gateways_policy_objects_are_read_against_the_edge_26_8_3_crds(objects):
    policy = [o for p, o in objects if p.name == "current" and o["kind"] == "NetworkAuthentication"]
    assert policy, "the gateway's NetworkAuthentication is among the objects read"
    found = schema_check.read(CURRENT, {**policy[0], "spec": {"networks": [{"cidr": "0.0.0.0/0", "excpt": []}]}})
    assert [p.field for p in found] == ["spec.networks[0].excpt"]


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside this checkout")
def test_gateway_policy_objects_match_upstream_install_output():
    golden = {(d["kind"], d["metadata"]["name"]): d for d in
              yaml.safe_load_all((REFERENCE / "linkerd-edge-26.8.3" / "install_default.golden").read_text()) if d}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in manifests.multicluster(config.load(), "west")}
    for _, kind, name in GATEWAY_POLICY:
        mine, want = ours[(kind, name)], golden[(kind, name)]
        assert (mine["apiVersion"], mine["spec"], mine["metadata"]["labels"]) == \
            (want["apiVersion"], want["spec"], want["metadata"]["labels"]), (kind, name)
        assert set(mine["metadata"]["annotations"]) == set(want["metadata"]["annotations"])
    mine = ours[("Deployment", "linkerd-gateway")]["spec"]["template"]["metadata"]["annotations"]
    want = golden[("Deployment", "linkerd-gateway")]["spec"]["template"]["metadata"]["annotations"]
    assert set(mine) == set(want)


def test_the_simulation_serves_every_kind_and_version_linkerd_install_crds_applies():
    """policy_crds() is what the simulated `linkerd install --crds` applies: the same kinds and served versions as
    the CRDs in edge-26.8.3's cli/cmd/testdata/install_crds.golden (read by scripts/extract_schemas.py into
    fixtures/schemas/.../served.json), so `kubectl api-resources` and `kubectl get` answer as on kind."""
    served = json.loads((fixtures_dir.FIXTURES / "schemas" / "linkerd-edge-26.8.3" / "served.json").read_text())
    upstream = set(served["served"]["cli/cmd/testdata/install_crds.golden"])
    simulated = {f"{crd['spec']['group']}/{v['name']} {crd['spec']['names']['kind']}"
                 for crd in manifests.policy_crds() for v in crd["spec"]["versions"] if v["served"]}
    assert simulated == upstream
