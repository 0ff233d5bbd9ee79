"""One regression test for each upstream fact the kind path once got wrong (issue 9).

Each docstring names the upstream file and tag it rests on. Where the simulation models the fact,
the test drives the simulation and shows it fails where the real tool fails.
"""
import asyncio
from pathlib import Path

import pytest

from lab.parsers import cli_output
from lab.model import config, gateways, profiles
from lab.render import manifests
from lab import names, steps
from lab.trust import pki, files as trust
from lab.backends.base import LabError
from lab.backends import kind_backend, sim_backend, sim_install
from lab.sim.wire import httpwire
from lab.sim.mesh.gateway import GatewayProbe, GatewayTarget, go_duration, probe_url
from lab.backends.doctor import cgroup_findings, cgroup_version

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "plans"
SEED, CURRENT = profiles.PROFILES["seed-2.8"], profiles.PROFILES["current"]


def golden(name: str) -> str:
    return (GOLDEN / f"kind-{name}.sh").read_text()


@pytest.fixture
def sim(tmp_path, request):
    """A private simulated lab with the profile (and installer) the test names."""
    overrides = getattr(request, "param", {})
    cfg = config.parse({"name": "fidelity", "probe_period": 1, **overrides})
    backend = sim_backend(cfg, tmp_path)
    try:
        yield steps.Context(cfg, backend, tmp_path)
    finally:
        backend.provider.destroy()


# 1 ---------------------------------------------------------------------------------------------
def test_current_install_refuses_without_the_gateway_api_crds(sim):
    """edge-26.8.3 cli/cmd/install.go validateFinalValues + pkg/healthcheck/healthcheck.go
    GatewayAPICRDsMissingError; charts/linkerd-crds/values.yaml installGatewayAPI: false."""
    steps.up(sim, until="trust")
    with pytest.raises(LabError, match="The Gateway API CRDs must be installed prior to installing Linkerd"):
        sim.backend.installer.install_linkerd("east")  # the wrong order: Linkerd before the CRDs
    sim.backend.installer.install_gateway_api("east")
    sim.backend.installer.install_linkerd("east")
    assert steps.by_name("linkerd").check(sim, steps.Target.cluster("east")).ok
    script = golden("current")
    assert script.index(f"apply --server-side -f {CURRENT.gateway_api_manifest}") < script.index("install --crds")
    assert "gateway-api" not in golden("seed-2.8")


# 2 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["seed-2.8", "current"])
def test_the_bundle_comes_before_anything_links(profile):
    """stable-2.8.1 pkg/healthcheck/healthcheck_multicluster.go and edge-26.8.3 multicluster/cmd/check.go:
    "clusters share trust anchors" fails while anchors differ, and the link step runs that check.
    Both versions' service mirrors are meshed (2.8.1 templates/service-mirror.yaml, edge
    templates/controller/deployment.yaml), so a bundle restarts them too."""
    order = [s.name for s in steps.STEPS]
    assert order.index("bundle") == order.index("linkerd") + 1 < order.index("link")
    script = golden(f"{profile}-bundle")
    assert script.index("upgrade --identity-trust-anchors-file") < script.index("multicluster install")
    cfg = config.parse({"profile": profile, "trust": {"mode": "bundle"}})
    restarted = steps.lab_workloads(steps.Context(cfg, None, Path(".")), "west")
    mirror = "linkerd-service-mirror" if profile == "seed-2.8" else "controller-east"
    assert ("Deployment", names.MC_NS, mirror) in restarted


# 3 ---------------------------------------------------------------------------------------------
def test_probe_urls_are_joined_as_each_version_joins_them():
    """stable-2.8.1 controller/cmd/service-mirror/probe_worker.go "http://%s:%d/%s"; edge-26.8.3
    multicluster/service-mirror/probe_worker.go "http://%s%s" with the path as given."""
    assert probe_url("172.18.255.201", 80, "-/ambassador/ready", SEED.probe_slash_joined)[1] == "/-/ambassador/ready"
    assert probe_url("172.18.255.201", 4181, "/health", SEED.probe_slash_joined)[1] == "//health"
    assert probe_url("172.18.255.201", 80, "/-/ambassador/ready", CURRENT.probe_slash_joined)[1] == "/-/ambassador/ready"
    with pytest.raises(ValueError, match='invalid port ":80-" after host'):
        probe_url("172.18.255.201", 80, "-/ambassador/ready", CURRENT.probe_slash_joined)
    # what the lab writes on Ambassador's Service: the guide's value for 2.8.1, a joinable path for edge
    assert gateways.AMBASSADOR_1.probe_path(SEED) == "-/ambassador/ready"
    assert gateways.EMISSARY_3.probe_path(CURRENT) == "/-/ambassador/ready"


# 4 ---------------------------------------------------------------------------------------------
def _probe_target(threshold: int) -> GatewayTarget:
    return GatewayTarget(namespace="linkerd-multicluster", name="linkerd-gateway", address="172.18.255.200", port=4143,
                         identity="linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local",
                         probe_port=4191, probe_path="/ready", probe_period=300, failure_threshold=threshold,
                         probe_timeout=2.0)


def test_the_probe_worker_reports_liveness_as_edges_does():
    """edge-26.8.3 probe_worker.go: the gauge drops only after failureThreshold failures in a row; the worker's
    own flag starts false, so a gateway dead from the start is never reported dead to the watcher, and only
    the first success and a later death are."""
    async def scenario():
        answering = {"up": False}
        async def ready(request):
            return httpwire.text_response(200, "ok\n")

        server = await httpwire.serve_http(ready)

        class Network:
            def resolve(self, address, port, source):
                return ("127.0.0.1", server.port) if answering["up"] else None

        class Cluster:
            network = Network()

        reported: list[bool] = []
        probe = GatewayProbe(Cluster(), _probe_target(threshold=3), slash_joined=False, on_liveness=reported.append)
        try:
            seen = []
            for up in (False, False, False, True, False, False, True, False, False, False):
                answering["up"] = up
                await probe.probe_once()
                seen.append(probe.alive)
            return seen, reported
        finally:
            probe.stop()
            await server.close()

    seen, reported = asyncio.run(scenario())
    assert seen == [None, None, False, True, True, True, True, True, True, False]
    assert reported == [True, False]


def test_link_durations_are_read_as_go_writes_them():
    assert [go_duration(d) for d in ("3s", "1m0s", "1m30s", "30s", "1h0m0s")] == [3, 60, 90, 30, 3600]
    with pytest.raises(ValueError):
        go_duration("3")


def test_a_trimmed_anchor_glued_by_cat_is_refused_and_the_lab_bundle_is_not(sim, tmp_path):
    """edge-26.8.3 charts/linkerd-control-plane/templates/identity.yaml stores ca-bundle.crt `| trim`;
    pkg/tls/codec.go decodes with Go's encoding/pem, which refuses an END line followed by a BEGIN."""
    cfg = sim.cfg
    material = trust.ensure(cfg, tmp_path)
    stored = manifests.stored_trust_roots(cfg, material.roots_for("east"))
    assert not stored.endswith("\n")
    other = pki.create_anchor(cfg.trust_domain).cert_pem
    with pytest.raises(pki.PKIError, match="not a PEM certificate"):
        pki.go_pem_certificates(stored + other)  # what `cat trustAnchor.crt root.crt` makes of it
    (tmp_path / "trustAnchor.crt").write_text(stored)
    (tmp_path / "root.crt").write_text(other)
    sim.backend.installer.write_bundle(tmp_path / "bundle.crt", [tmp_path / "trustAnchor.crt", tmp_path / "root.crt"])
    assert len(pki.go_pem_certificates((tmp_path / "bundle.crt").read_text())) == 2
    assert "awk 1 .lab/lab/pki/trustAnchor.crt" in golden("current-bundle")

    # The simulated `linkerd upgrade` reads the file as the CLI does and refuses a glued one.
    steps.up(sim, until="linkerd")
    bundle = trust.pki_dir(cfg, tmp_path) / "bundle.crt"
    bundle.write_text(stored + other)
    with pytest.raises(LabError, match="not a PEM certificate"):
        sim.backend.installer.upgrade_linkerd("east", with_issuer=False)


# 5 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sim", [{"installer": "helm"}], indirect=True)
def test_a_second_edge_release_would_own_the_link_crd_twice(sim):
    """edge-26.8.3 multicluster/charts/linkerd-multicluster/templates/link-crd.yaml renders in every
    release; Helm 3 refuses to adopt an object another release owns. Accounts go into the main
    release's remoteMirrorServiceAccountName list instead (templates/remote-access-service-mirror-rbac.yaml)."""
    steps.up(sim, until="multicluster")
    second = [o for o in manifests.multicluster(sim.cfg, "east", accounts=["west"])
              if o["kind"] in ("CustomResourceDefinition", "ClusterRole", "ServiceAccount")]
    with pytest.raises(LabError, match='invalid ownership metadata.*must equal "linkerd2-mc-west"'):
        sim.backend.installer.helm_install("east", "linkerd2-mc-west", names.MC_NS, second)
    sim.backend.installer.allow_access("east", "west")
    assert sim.backend.kube.get("east", "ServiceAccount", names.MC_NS, "west") is not None
    sim.backend.installer.revoke_access("east", "west")
    assert sim.backend.kube.get("east", "ServiceAccount", names.MC_NS, "west") is None
    assert sim.backend.kube.get("east", "CustomResourceDefinition", "", manifests.LINK_CRD) is not None
    assert "helm upgrade linkerd2-multicluster" in golden("current-helm") and "linkerd2-mc-west" not in golden("current-helm")


# 6 ---------------------------------------------------------------------------------------------
def test_both_versions_gateways_tables_are_read_by_header():
    """stable-2.8.1 cli/cmd/multicluster.go buildGatewaysTable; edge-26.8.3 multicluster/cmd/gateways.go."""
    seed = ("CLUSTER  NAMESPACE             NAME             ALIVE    NUM_SVC  LATENCY_P50  LATENCY_P95  LATENCY_P99\n"
            "east     linkerd-multicluster  linkerd-gateway  True           1          2ms          3ms          4ms\n"
            "north    ambassador            ambassador       False          0            -            -            -\n")
    edge = "CLUSTER  ALIVE    NUM_SVC      LATENCY\neast     True           1          2ms\n"
    assert cli_output.parse_gateways(seed) == [
        cli_output.GatewayStatus("east", True, 1, 2.0, "linkerd-multicluster", "linkerd-gateway"),
        cli_output.GatewayStatus("north", False, 0, None, "ambassador", "ambassador")]
    assert cli_output.parse_gateways(edge) == [cli_output.GatewayStatus("east", True, 1, 2.0)]
    for profile in (SEED, CURRENT):
        rows = cli_output.parse_gateways(seed)
        rendered = cli_output.render_gateways(rows if not profile.link_crd else [
            cli_output.GatewayStatus(r.cluster, r.alive, r.paired_services, r.latency_ms) for r in rows], profile.gateways_columns)
        assert rendered.split()[:len(profile.gateways_columns)] == list(profile.gateways_columns)
        assert [r.alive for r in cli_output.parse_gateways(rendered)] == [True, False]
    with pytest.raises(cli_output.OutputError):
        cli_output.parse_gateways("NAME  STATUS\nfoo  up\n")


# 7 ---------------------------------------------------------------------------------------------
def test_seed_link_is_a_credentials_secret_and_no_link_object():
    """stable-2.8.1 cli/cmd/multicluster.go newLinkCommand: one Secret cluster-credentials-<name>,
    type mirror.linkerd.io/remote-kubeconfig, annotated with the target's name, domain and namespace."""
    objects = manifests.link(config.parse({"profile": "seed-2.8"}), "east", "https://172.18.0.2:6443", "t", None)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [("Secret", "cluster-credentials-east")]
    assert objects[0]["type"] == "mirror.linkerd.io/remote-kubeconfig"
    assert objects[0]["metadata"]["annotations"]["mirror.linkerd.io/cluster-name"] == "east"


# 8 ---------------------------------------------------------------------------------------------
def test_check_results_are_read_from_each_versions_json_and_names():
    """stable-2.8.1 cli/cmd/check.go checkOutput and pkg/healthcheck/healthcheck_multicluster.go;
    edge-26.8.3 pkg/healthcheck/healthcheck_output.go and multicluster/cmd/check.go."""
    assert SEED.check_credentials == "service mirror controller can access target clusters"
    assert CURRENT.check_credentials == "remote cluster access credentials are valid"
    report = ('{"success": false, "categories": [{"categoryName": "linkerd-multicluster", "checks": ['
              '{"description": "remote cluster access credentials are valid", "result": "error", '
              '"error": "* failed to connect to API for cluster: [east]: Unauthorized", '
              '"hint": "https://linkerd.io/checks/#l5d-smc-target-clusters-access"},'
              '{"description": "clusters share trust anchors", "result": "error", "error": "Problematic clusters:\\n    * north"},'
              '{"description": "all mirror services are part of a Link", "result": "warning", "error": "x"}]}]}')
    results = cli_output.parse_check(report)
    creds = cli_output.find_check(results, CURRENT.check_credentials)
    assert creds.failed and creds.names_cluster("east") and not creds.names_cluster("north")
    anchors = cli_output.find_check(results, CURRENT.check_anchors)
    assert anchors.names_cluster("north") and not anchors.names_cluster("east")
    assert not results[2].failed and not results[2].ok
    assert cli_output.parse_check(cli_output.render_check(results)) == results
    with pytest.raises(cli_output.OutputError):
        cli_output.parse_check("Error: not json")


# 9 ---------------------------------------------------------------------------------------------
def test_ambassador_1_5_5_comes_from_its_tag():
    """emissary-ingress/emissary v1.5.5 docs/yaml/ambassador/ambassador-rbac.yaml names its image
    `$version$`; the unversioned hosted YAML is whatever is hosted today (emissary issues 3140, 3855)."""
    script = golden("seed-2.8")
    base = "https://raw.githubusercontent.com/emissary-ingress/emissary/v1.5.5/docs/yaml/ambassador"
    assert f"curl -fsSL {base}/ambassador-rbac.yaml | sed 's/\\$version\\$/1.5.5/g' |" in script
    assert f"{base}/ambassador-crds.yaml" in script and "www.getambassador.io" not in script


# 10 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["seed-2.8", "current"])
def test_cli_revoke_deletes_the_account_and_never_the_namespace(profile, tmp_path):
    """`multicluster allow` renders templates/namespace.yaml too (stable-2.8.1 allow values keep
    installNamespace: true; edge renders it whenever the CLI does), and refuses while the account
    exists without --ignore-cluster: piping it into `kubectl delete` would remove the extension.
    With the CLI every link to a cluster carries the token of the one account `multicluster install`
    made there (the chart's remoteMirrorServiceAccountName, linkerd-service-mirror-remote-access-default):
    revoking the only source deletes that account; with another source linked too, it is refused."""
    from lab.tools.run import RecordingRunner

    runner = RecordingRunner()
    kind_backend(config.parse({"profile": profile}), tmp_path, runner=runner).installer.revoke_access("east", "west")
    lines = runner.lines
    account = names.REMOTE_ACCESS_SA
    assert lines and not any("namespace" in line.split(" delete ", 1)[-1].split() or "allow" in line for line in lines)
    assert any(f"clusterrolebinding/{account}" in line and f"clusterrole/{account}" in line for line in lines)
    assert any(f"serviceaccount/{account}" in line for line in lines)
    three = config.load(Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "three-clusters.yaml")
    shared = kind_backend(config.with_flags(three, profile, None, None), tmp_path / "three", runner=RecordingRunner())
    with pytest.raises(LabError, match=f"^west shares east's access account {account} with north: .* Fix: use the Helm"):
        shared.installer.revoke_access("east", "west")


def test_the_sims_cli_revoke_cuts_the_only_source_off_and_its_check_says_so(sim):
    """`./labctl revoke west` on the CLI path: west's credentials stop working, and its check says so."""
    steps.up(sim)
    sim.backend.installer.revoke_access("east", "west")
    found = next(r for r in sim.backend.kube.check("west") if r.name == sim.cfg.profile.check_credentials)
    assert found.result == "error" and "[east]" in found.error, found


# 11 --------------------------------------------------------------------------------------------
def test_no_viz_is_installed():
    """edge-26.8.3 multicluster/cmd/gateways.go reads the service mirror's metrics itself (the viz
    dependency went in linkerd2 PR 8467)."""
    for path in GOLDEN.glob("kind-*.sh"):
        assert " viz " not in path.read_text(), path.name


# 12 --------------------------------------------------------------------------------------------
def test_seed_profile_refuses_a_cgroup_v2_host(tmp_path):
    """kubernetes-sigs/kind v0.20.0 site/content/docs/user/known-issues.md: on cgroup v2 only
    Kubernetes >= 1.19 runs; seed-2.8's node image is v1.18.2."""
    assert cgroup_version({"CgroupVersion": "2"}) == "2"
    assert cgroup_version(None, marker=tmp_path / "absent") == "1"
    finding = cgroup_findings(SEED, "2")[0]
    assert not finding.ok and "cgroup v1" in finding.detail and "--profile current" in finding.fix
    assert cgroup_findings(SEED, "1")[0].ok and cgroup_findings(CURRENT, "2")[0].ok

    class V2Docker:
        def info(self):
            return {"CgroupVersion": "2"}

    backend = kind_backend(config.parse({"profile": "seed-2.8"}), tmp_path, docker=V2Docker())
    with pytest.raises(LabError, match="needs cgroup v1.*Fix:"):
        backend.provider.preflight()
    assert not (tmp_path / ".lab").exists(), "the refusal must leave nothing behind"


# 13 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile, refusal", [
    ("current", "could not find the token data in service account secret linkerd-service-mirror-remote-access-default-token"),
    ("seed-2.8", "could not find the token data in the service account secret"),
])
def test_link_reads_the_account_token_as_each_version_does(profile, refusal):
    """stable-2.8.1 cli/cmd/multicluster.go (`link`): the account's `secrets` entry named `<account>-token...`,
    then its `token` data; edge-26.8.3 multicluster/cmd/link-gen.go getKubeconfig/extractSAToken: the token
    Secret annotated with the account. Both refuse a Secret without `token` data in their own words, and
    copy an empty value as it is."""
    cfg = config.parse({"profile": profile})
    account = names.REMOTE_ACCESS_SA
    objects = {o["kind"]: o for o in manifests.access_objects(cfg, account)}
    sa, secret = objects["ServiceAccount"], objects["Secret"]  # as applied, before the token controller fills it
    with pytest.raises(LabError) as refused:
        sim_install.link_token(cfg.profile, account, sa, [secret])
    assert str(refused.value) == refusal
    filled = {**secret, "data": {"token": "c2VjcmV0"}}
    assert sim_install.link_token(cfg.profile, account, sa, [filled]) == "secret"
    assert sim_install.link_token(cfg.profile, account, sa, [{**secret, "data": {"token": ""}}]) == ""
    with pytest.raises(LabError, match=f"^could not find service account token secret for {account}$"):
        sim_install.link_token(cfg.profile, account, {**sa, "secrets": []}, [])
    with pytest.raises(LabError, match=f'^serviceaccounts "{account}" not found$'):
        sim_install.link_token(cfg.profile, account, None, [filled])


def test_the_sim_refuses_to_link_without_the_accounts_token_and_an_empty_token_cannot_authenticate(sim, monkeypatch):
    """edge-26.8.3 multicluster/cmd/link-gen.go: without the account's token Secret `link-gen` refuses
    and writes nothing; with an empty token it writes a kubeconfig that carries no credentials, which
    the target's API server takes for anonymous and refuses its access reviews, so `multicluster check` fails
    on the credentials."""
    steps.up(sim, until="multicluster")
    installer, kube = sim.backend.installer, sim.backend.kube
    gateway = gateways.resolve(sim.cfg, "linkerd")
    token_secret = f"{names.REMOTE_ACCESS_SA}-token"
    kept = kube.get("east", "Secret", names.MC_NS, token_secret)
    kube.delete("east", "Secret", names.MC_NS, token_secret)
    monkeypatch.setattr(sim_install, "TOKEN_WAIT", 0.5)
    with pytest.raises(LabError) as refused:
        installer.link("west", "east", gateway)
    assert str(refused.value) == ("`linkerd multicluster link-gen` against east refused: "
                                  f"could not find service account token secret for {names.REMOTE_ACCESS_SA}")
    assert kube.list("west", "Link", names.MC_NS) == []

    kube.apply("east", [{k: v for k, v in kept.items() if k != "data"}])
    monkeypatch.setattr(sim_install.SimCliInstaller, "_account_token", lambda self, target, account: "")
    with pytest.raises(LabError) as refused:
        installer.link("west", "east", gateway)
    # An empty token reaches the API server as system:anonymous: /version answers, but its access reviews
    # are refused, one line per verb (check.go checkRemoteClusterConnectivity, pkg/k8s/authz.go).
    assert "remote cluster access credentials are valid" in str(refused.value)
    for verb in ("get", "list", "watch"):
        assert (f'* missing service permission [{verb}] for cluster [east]: selfsubjectaccessreviews.authorization.k8s.io '
                'is forbidden: User "system:anonymous" cannot create resource "selfsubjectaccessreviews" in API group '
                '"authorization.k8s.io" at the cluster scope') in str(refused.value)


@pytest.mark.parametrize("sim", [{"profile": "current"}, {"profile": "seed-2.8"}], indirect=True)
def test_the_check_names_the_verbs_a_links_account_lacks_in_its_versions_words(sim):
    """A link's account allowed get and list on Services but not watch: edge-26.8.3 (multicluster/cmd/check.go
    checkRemoteClusterConnectivity, pkg/k8s/authz.go evaluateAccessReviewStatus) prints one line for the
    verb; stable-2.8.1 (pkg/healthcheck/healthcheck_multicluster.go comparePermissions) the sorted verbs."""
    steps.up(sim, until="link")
    kube = sim.backend.kube
    role = next(o for o in manifests.access_objects(sim.cfg, names.REMOTE_ACCESS_SA) if o["kind"] == "ClusterRole")
    rules = [r for r in role["rules"] if "services" not in r["resources"]]
    rules += [{"apiGroups": [""], "resources": ["pods", "endpoints"], "verbs": ["list", "get", "watch"]},
              {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}]
    kube.apply("east", [{**role, "rules": rules}])
    found = next(r for r in kube.check("west") if r.name == sim.cfg.profile.check_credentials)
    assert found.result == "error"
    if sim.cfg.profile.name == "current":
        assert found.error == "* missing service permission [watch] for cluster [east]: not authorized to access services"
    else:
        assert found.error == "* cluster: [east]: Insufficient Service permissions: expected get,list,watch, got get,list"
