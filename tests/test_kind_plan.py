"""`inv plan --backend kind --format sh`: a script a person could run, with the guide's commands.

Golden copies live in fixtures/plans/; after a deliberate change, regenerate
them with UPDATE_GOLDEN=1 and review the diff.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.model import profiles

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "fixtures" / "plans"


def plan_sh(profile: str, cwd: Path, *extra: str) -> str:
    result = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "plan", "--backend", "kind", "--format", "sh",
                             "--profile", profile, *extra], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


SCRIPTS = [(p, variant) for p in sorted(profiles.PROFILES) for variant in ("shared", "bundle", "helm")]


def golden_name(profile: str, variant: str) -> str:
    return f"kind-{profile}.sh" if variant == "shared" else f"kind-{profile}-{variant}.sh"


def variant_flags(variant: str) -> list[str]:
    return {"shared": [], "bundle": ["--trust", "bundle"], "helm": ["--installer", "helm"]}[variant]


@pytest.mark.parametrize("profile, trust", SCRIPTS)
def test_script_matches_its_golden_copy(profile, trust, tmp_path):
    script = plan_sh(profile, tmp_path, *variant_flags(trust))
    golden = GOLDEN / golden_name(profile, trust)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(script)
    assert script == golden.read_text(), f"plan for {profile} changed; if intended, rerun with UPDATE_GOLDEN=1"
    assert not (tmp_path / ".lab").exists(), "printing a plan must not touch the lab"


@pytest.mark.parametrize("profile, trust", SCRIPTS)
def test_script_is_valid_bash(profile, trust):
    result = subprocess.run(["bash", "-n", str(GOLDEN / golden_name(profile, trust))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


TOPOLOGIES = REPO / "fixtures" / "topologies"
TOPOLOGY_PLANS = ["pod-to-pod", "three-clusters", "bidirectional", "federated", "statefulset", "legacy-link"]


@pytest.mark.parametrize("topology", TOPOLOGY_PLANS)
def test_each_topologys_plan_matches_its_golden_copy_and_is_valid_bash(topology, tmp_path):
    script = plan_sh(profiles.DEFAULT_PROFILE, tmp_path, "--config", str(TOPOLOGIES / f"{topology}.yaml"))
    golden = GOLDEN / f"kind-{profiles.DEFAULT_PROFILE}-{topology}.sh"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(script)
    assert script == golden.read_text(), f"plan for {topology} changed; if intended, rerun with UPDATE_GOLDEN=1"
    result = subprocess.run(["bash", "-n", str(golden)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_guide_topology_is_the_default_plan(tmp_path):
    assert plan_sh(profiles.DEFAULT_PROFILE, tmp_path, "--config", str(TOPOLOGIES / "guide.yaml")) == \
        (GOLDEN / golden_name(profiles.DEFAULT_PROFILE, "shared")).read_text()


def test_pod_to_pod_plan_routes_the_pod_networks_and_links_without_a_gateway():
    """linkerd2 justfile mc-flat-network-init (edge-26.8.3): each node routes the other's pod CIDR through the
    other node's docker address; link-gen --gateway=false; the export label link-gen's
    --remote-discovery-selector matches; the controller installed without a gateway probe."""
    script = (GOLDEN / f"kind-{profiles.DEFAULT_PROFILE}-pod-to-pod.sh").read_text()
    node = "$(docker inspect -f '{{.NetworkSettings.Networks.kind.IPAddress}}' NODE-control-plane)"
    for line in [
        f"docker exec west-control-plane ip route replace 10.244.0.0/16 via \"{node.replace('NODE', 'east')}\"",
        f"docker exec east-control-plane ip route replace 10.245.0.0/16 via \"{node.replace('NODE', 'west')}\"",
        "multicluster link-gen --cluster-name east",
        "--set 'controllers[0].link.ref.name=east' --set 'controllers[0].gateway.enabled=false'",
        "label service foobar mirror.linkerd.io/exported=remote-discovery",
    ]:
        assert line in script, line
    link = next(l for l in script.splitlines() if "multicluster link-gen" in l)
    assert "--gateway=false" in link
    assert "Ambassador" not in script and "mirror.linkerd.io/exported=true" not in script


def test_seed_script_follows_the_guide():
    script = (GOLDEN / golden_name("seed-2.8", "shared")).read_text()
    pki = ".lab/lab/pki"
    guide = [
        # Trust anchor and issuers (Trust Anchor Bundle section)
        f"step certificate create identity.linkerd.cluster.local {pki}/root.crt {pki}/root.key --profile root-ca "
        "--no-password --insecure --san identity.linkerd.cluster.local",
        f"step certificate create identity.linkerd.cluster.local {pki}/east/issuer.crt {pki}/east/issuer.key "
        f"--profile intermediate-ca --not-after 8760h --no-password --insecure --ca {pki}/root.crt --ca-key {pki}/root.key "
        "--san identity.linkerd.cluster.local",
        f"linkerd --context=kind-east install --identity-trust-anchors-file {pki}/bundle.crt "
        f"--identity-issuer-certificate-file {pki}/east/issuer.crt --identity-issuer-key-file {pki}/east/issuer.key "
        "| kubectl --context=kind-east apply -f -",
        # Step 1
        "linkerd --context=kind-east multicluster install | kubectl --context=kind-east apply -f -",
        "linkerd --context=kind-west multicluster install | kubectl --context=kind-west apply -f -",
        # Step 2
        "linkerd --context=kind-east multicluster link --cluster-name east",
        "| kubectl --context=kind-west apply -f -",
        "linkerd --context=kind-west check --multicluster",
        "linkerd --context=kind-west multicluster gateways",
        # Step 3: the two annotations export-service adds
        "annotate service foobar mirror.linkerd.io/gateway-name=linkerd-gateway mirror.linkerd.io/gateway-ns=linkerd-multicluster",
        # MetalLB of that era
        "https://raw.githubusercontent.com/metallb/metallb/v0.9.3/manifests/metallb.yaml",
        "kind create cluster --name=east",
    ]
    for line in guide:
        assert line in script, line
    order = [script.index(s) for s in ("kind create cluster --name=east", "metallb.yaml", "step certificate create",
                                       "install --identity-trust-anchors-file", "multicluster install",
                                       "multicluster link", "annotate service foobar")]
    assert order == sorted(order), "the script's steps are out of the guide's order"


def test_current_script_uses_todays_commands():
    script = (GOLDEN / "kind-current.sh").read_text()
    for line in [
        "linkerd --context=kind-east install --crds | kubectl --context=kind-east apply -f -",
        "linkerd --context=kind-west multicluster install --set 'controllers[0].link.ref.name=east'",
        "linkerd --context=kind-east multicluster link-gen --cluster-name east",
        "linkerd --context=kind-west multicluster check",
        "label service foobar mirror.linkerd.io/exported=true",
        "https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml",
        "apiVersion: metallb.io/v1beta1",
    ]:
        assert line in script, line
    # The API address the other cluster dials: the control plane on the docker `kind` network.
    assert "--api-server-address=https://$(docker inspect -f '{{.NetworkSettings.Networks.kind.IPAddress}}' east-control-plane):6443" in script
    assert "check --multicluster" not in script


@pytest.mark.parametrize("profile, ns, name, api", [("seed-2.8", "ambassador", "ambassador", "getambassador.io/v2"),
                                                    ("current", "emissary", "emissary-ingress", "getambassador.io/v3alpha1")])
def test_script_switches_to_ambassador_as_the_guide_does(profile, ns, name, api):
    script = (GOLDEN / f"kind-{profile}.sh").read_text()
    part = script[script.index("=== inv gateway ambassador"):script.index("=== inv gateway linkerd")]
    for line in [
        f"kubectl --context=kind-east -n {ns} get deploy {name} -o yaml | linkerd --context=kind-east inject "
        "--skip-inbound-ports 80,443 --require-identity-on-inbound-ports 4143 - | kubectl --context=kind-east apply -f -",
        "prefix: /-/ambassador/ready",
        "rewrite: /ambassador/v0/check_ready",
        f"-n {ns} patch deploy {name} -p '" + '{"spec": {"template": {"metadata": {"annotations": {"config.linkerd.io/enable-gateway": "true"}}}}}' + "'",
        '{"op": "add", "path": "/spec/ports/-", "value": {"name": "mc-gateway", "port": 4143}}',
        # mc-probe on the port the probe Service serves: 80 where 2.8.1's mirror makes it from the gateway,
        # edge's probe-<link> on controllerDefaults.gateway.probe.port (controller/probe-svc.yaml, edge-26.8.3)
        '{"op": "replace", "path": "/spec/ports/0", "value": {"name": "mc-probe", "port": '
        + {"seed-2.8": "80", "current": "4191"}[profile] + ', "targetPort": 8080}}',
        f'"mirror.linkerd.io/gateway-identity": "{name}.{ns}.serviceaccount.identity.linkerd.cluster.local"',
        # the path each version's service mirror can join (2.8.1 inserts the slash, edge does not)
        '"mirror.linkerd.io/probe-path": "' + {"seed-2.8": "-/ambassador/ready", "current": "/-/ambassador/ready"}[profile] + '"',
    ]:
        assert line in part, line
    assert "4183" not in part, "identity must be required on the port gateway traffic uses (4143)"
    if profile == "seed-2.8":  # Ambassador 1.5.5's YAML ships no Module: the guide's is applied
        assert f"apiVersion: {api}\nkind: Module" in part and "add_linkerd_headers: true" in part
    else:  # Emissary's release ships one with its diagnostics settings (emissary-emissaryns.yaml, v3.10.0): merged into
        assert f"-n {ns} patch modules.getambassador.io ambassador --type=merge -p " + \
            """'{"spec": {"config": {"add_linkerd_headers": true}}}'""" in part
        assert "kind: Module" not in part
    if profile == "seed-2.8":
        assert f"annotate service foobar mirror.linkerd.io/gateway-name={name} mirror.linkerd.io/gateway-ns={ns}" in part
    else:
        assert "link-gen --cluster-name east" in part and f"--gateway-name {name} --gateway-namespace {ns}" in part
    back = script[script.index("=== inv gateway linkerd"):]
    if profile == "seed-2.8":
        assert "gateway-name=linkerd-gateway mirror.linkerd.io/gateway-ns=linkerd-multicluster" in back
    else:
        assert "link-gen --cluster-name east" in back and "--gateway-name" not in back


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_bundle_script_follows_the_guides_trust_anchor_bundle(profile):
    script = (GOLDEN / golden_name(profile, "bundle")).read_text()
    pki = ".lab/lab/pki"
    read = ("-n linkerd get cm/linkerd-config -o 'jsonpath={.data.global}' | python3 -c" if profile == "seed-2.8"
            else "-n linkerd get cm/linkerd-identity-trust-roots -o 'jsonpath={.data.ca-bundle\\.crt}'")
    steps_in_order = [
        f"step certificate create identity.linkerd.cluster.local {pki}/east/root.crt {pki}/east/root.key --profile root-ca",
        f"rm {pki}/east/root.key",
        f"install --identity-trust-anchors-file {pki}/east/root.crt",
        f"kubectl --context=kind-east {read}",
        f"awk 1 {pki}/trustAnchor.crt {pki}/west/root.crt > {pki}/bundle.crt",
        f"linkerd --context=kind-east upgrade --identity-trust-anchors-file {pki}/bundle.crt | kubectl --context=kind-east apply -f -",
        f"linkerd --context=kind-west upgrade --identity-trust-anchors-file {pki}/bundle.crt --identity-issuer-certificate-file "
        f"{pki}/west/issuer.crt --identity-issuer-key-file {pki}/west/issuer.key",
        # the bundle before anything links: the multicluster check fails while anchors differ
        "multicluster install",
        "multicluster link",
    ]
    positions = []
    for line in steps_in_order:
        assert line in script, line
        positions.append(script.index(line))
    assert positions == sorted(positions)
    assert "jq" not in script
    # Nothing meshed exists yet when a fresh lab's bundle runs, so nothing is restarted (patching a
    # deployment that does not exist would stop the script).
    assert " patch deploy " not in script[:script.index("multicluster install")]


def test_seed_helm_script_uses_the_guides_helm_commands():
    script = (GOLDEN / golden_name("seed-2.8", "helm")).read_text()
    for line in [
        "helm repo add linkerd https://helm.linkerd.io/stable",
        "helm install linkerd2-multicluster linkerd/linkerd2-multicluster --version 2.8.1 --kube-context kind-east",
        "helm install linkerd2-mc-west linkerd/linkerd2-multicluster --version 2.8.1 --set gateway=false --set serviceMirror=false "
        "--set remoteMirrorServiceAccountName=west --set installNamespace=false --kube-context kind-east",
        "linkerd --context=kind-east multicluster link --cluster-name east",
        "--service-account-name west | kubectl --context=kind-west apply -f -",
        "helm uninstall linkerd2-mc-west --kube-context kind-east",
    ]:
        assert line in script, line
    assert "linkerd --context=kind-east multicluster install" not in script
    revoke = script[script.index("=== inv revoke west"):]
    assert "helm uninstall linkerd2-mc-west" in revoke and "linkerd2-multicluster" not in revoke.split("\n", 1)[1]


def test_plan_sh_needs_the_kind_backend(tmp_path):
    result = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "plan", "--format", "sh"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--backend kind" in result.stderr


def test_bundle_restart_patches_are_json_once_the_shell_expands_them(tmp_path):
    """The restart stamp is computed by the script ($(sha256sum ...)): the patch must still be JSON.
    Deployments that exist are restarted (a lab re-bundled after its workloads run)."""
    import json as json_mod

    from lab.model import config
    from lab import steps
    from lab.backends import kind_backend
    from lab.tools.run import Dynamic, RecordingRunner

    existing = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    runner = RecordingRunner({"kubectl --context=kind-west get Deployment": lambda command: json_mod.dumps(existing)})
    cfg = config.parse({"trust": {"mode": "bundle"}})
    backend = kind_backend(cfg, tmp_path, runner=runner)
    stamp = Dynamic("$(sha256sum .lab/lab/pki/bundle.crt | cut -c1-16)", lambda: "0" * 16)
    backend.installer.restart_workloads("west", steps.lab_workloads(steps.Context(cfg, backend, tmp_path), "west"), stamp)
    lines = [c.command.text() for c in runner.calls if " patch deploy " in c.command.text()]
    assert len(lines) == 3  # west's gateway, its service mirror for east (controller-east), and its client
    (tmp_path / ".lab" / "lab" / "pki").mkdir(parents=True)
    (tmp_path / ".lab" / "lab" / "pki" / "bundle.crt").write_text("anchors\n")
    for line in lines:
        out = subprocess.run(["bash", "-c", "kubectl() { printf '%s\\n' \"${@: -1}\"; }; " + line], cwd=tmp_path,
                             capture_output=True, text=True, check=True).stdout
        patch = json_mod.loads(out)
        stamp_value = patch["spec"]["template"]["metadata"]["annotations"]["lab.multicluster/trust-roots"]
        assert len(stamp_value) == 16 and all(ch in "0123456789abcdef" for ch in stamp_value)


def test_a_bundle_restarts_statefulsets_too(tmp_path):
    """A StatefulSet's pods run proxies with the old anchors as much as a Deployment's: the bundle
    patches its template and waits for its rollout."""
    import json as json_mod

    from lab.model import config
    from lab import steps
    from lab.backends import kind_backend
    from lab.tools.run import RecordingRunner

    import yaml

    data = yaml.safe_load((REPO / "fixtures" / "topologies" / "statefulset.yaml").read_text())
    cfg = config.parse({**data, "trust": {"mode": "bundle"}})
    web = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "mc-demo"}}
    runner = RecordingRunner({"kubectl --context=kind-east get StatefulSet web": lambda command: json_mod.dumps(web)})
    backend = kind_backend(cfg, tmp_path, runner=runner)
    workloads = steps.lab_workloads(steps.Context(cfg, backend, tmp_path), "east")
    assert ("StatefulSet", "mc-demo", "web") in workloads
    backend.installer.restart_workloads("east", workloads, "0" * 16)
    lines = [c.command.text() for c in runner.calls]
    patch = next(i for i, line in enumerate(lines) if " -n mc-demo patch statefulset web -p " in line)
    assert "rollout status statefulset/web" in lines[patch + 1]


def test_federated_plan_labels_the_members_in_each_member_cluster():
    script = (GOLDEN / f"kind-{profiles.DEFAULT_PROFILE}-federated.sh").read_text()
    for cluster in ("east", "north"):
        assert f"kubectl --context=kind-{cluster} -n mc-demo label service foobar mirror.linkerd.io/federated=member" in script
    assert script.count("--gateway=false") == 2 and "ip route replace" in script


def test_statefulset_plan_enables_headless_mirroring_for_the_link_and_waits_for_the_statefulset():
    script = (GOLDEN / f"kind-{profiles.DEFAULT_PROFILE}-statefulset.sh").read_text()
    assert "--set 'controllers[0].link.ref.name=east' --set 'controllers[0].enableHeadlessServices=true'" in script
    assert "kubectl --context=kind-east -n mc-demo rollout status statefulset/web --timeout=300s" in script
    assert "kubectl --context=kind-east -n mc-demo label service web mirror.linkerd.io/exported=true" in script


def test_legacy_link_plan_links_with_link_and_declares_no_controllers():
    """edge-26.8.3 multicluster/cmd/link.go: deprecated, and its output carries the link's own controller."""
    whole = (GOLDEN / f"kind-{profiles.DEFAULT_PROFILE}-legacy-link.sh").read_text()
    script = whole[:whole.index("=== inv relink link-gen")]  # until the plan moves the lab to link-gen
    assert "linkerd --context=kind-east multicluster link --cluster-name east" in script
    assert "link-gen" not in script and "controllers[0]" not in script


def test_relink_retires_the_links_own_controller_and_probe_service_the_way_upstream_does():
    """edge-26.8.3 multicluster/cmd/unlink.go: `unlink --only-controller` renders the link's controller, its RBAC
    and its probe-gateway-<target> Service (left beside the extension's probe-<target>, `multicluster check`
    finds "wrong number (2) of probe gateways", multicluster/cmd/check.go), not the Link or its credentials.
    It runs after the extension's controller is installed and before the Link is regenerated."""
    script = (GOLDEN / f"kind-{profiles.DEFAULT_PROFILE}-legacy-link.sh").read_text()
    relink = script[script.index("=== inv relink link-gen"):]
    order = ["linkerd --context=kind-west multicluster install --set 'controllers[0].link.ref.name=east' | kubectl --context=kind-west apply -f -",
             "linkerd --context=kind-west multicluster unlink --cluster-name east --only-controller | kubectl --context=kind-west delete -f -",
             "linkerd --context=kind-east multicluster link-gen --cluster-name east",
             "linkerd --context=kind-west multicluster check"]
    positions = [relink.index(line) for line in order]
    assert positions == sorted(positions)
    assert "unlink" not in script[:script.index("=== inv relink link-gen")], "nothing to unlink before the relink"
    assert "kubectl --context=kind-west -n linkerd-multicluster delete" not in relink, "upstream's unlink names what goes"


def test_a_live_relink_unlinks_only_where_the_links_own_controller_runs(tmp_path):
    """Outside a plan the controller is looked up first: a lab already on link-gen runs no unlink (which would
    fail without the deprecated link's objects)."""
    import json as json_mod

    import yaml

    from lab.backends import kind_backend
    from lab.model import config
    from lab.tools.run import RecordingRunner

    data = yaml.safe_load((TOPOLOGIES / "legacy-link.yaml").read_text())
    cfg = config.parse({**data, "link_with": "link-gen"})
    for running, expected in ((True, 1), (False, 0)):
        deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "linkerd-service-mirror-east"}}
        runner = RecordingRunner({"kubectl --context=kind-west get Deployment linkerd-service-mirror-east":
                                  (lambda command: json_mod.dumps(deploy)) if running else ""})
        kind_backend(cfg, tmp_path, runner=runner).installer.retire_link_controller("west", "east")
        unlinks = [line for line in runner.lines if " multicluster unlink " in line]
        assert len(unlinks) == expected, runner.lines


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_metallb_is_waited_for_by_its_workloads_not_a_selector_that_may_match_nothing(profile):
    """metallb v0.9.3 manifests/metallb.yaml, v0.16.1 config/manifests/metallb-native.yaml: Deployment controller, whose
    webhook refuses pools until it is ready. `kubectl wait pod --selector` right after the apply fails or passes on
    whichever pods exist."""
    script = (GOLDEN / golden_name(profile, "shared")).read_text()
    part = script[script.index("# step loadbalancer [east]"):script.index("# step loadbalancer [west]")]
    line = "kubectl --context=kind-east -n metallb-system rollout status deploy/controller --timeout=300s"
    assert line in part
    assert part.index(line) < part.index("apply -f - <<'EOF'"), "MetalLB ready before its pool"
    assert "--selector" not in script


@pytest.mark.parametrize("profile, read", [
    ("current", "get secret west-token -o 'jsonpath={.data.token}'"),
    ("seed-2.8", "get serviceaccount west -o 'jsonpath={.secrets[*].name}'")])
def test_helm_plans_poll_the_link_accounts_token_before_linking(profile, read):
    """edge-26.8.3 multicluster/cmd/link-gen.go extractSAToken refuses a token Secret without data; stable-2.8.1
    cli/cmd/multicluster.go an account that lists no token Secret yet: the token controller fills them later."""
    script = (GOLDEN / golden_name(profile, "helm")).read_text()
    poll = next(line for line in script.splitlines() if line.startswith("n=0; until kubectl") and read in line)
    assert "| grep -q .; do" in poll and "[ \"$n\" -lt 30 ] || { echo 'the token of service account linkerd-multicluster/west" in poll
    assert script.index(poll) < script.index(f"multicluster {'link-gen' if profile == 'current' else 'link'} --cluster-name east")


def test_emissarys_webhook_wait_is_lab_yamls_setting(tmp_path):
    (tmp_path / "lab.yaml").write_text("apiext_wait: 600\n")
    script = plan_sh("current", tmp_path, "--config", str(tmp_path / "lab.yaml"))
    assert "wait --timeout=600s --for=condition=available deployment emissary-apiext -n emissary-system" in script
