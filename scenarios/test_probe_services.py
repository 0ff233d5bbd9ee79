"""The probe Services upstream makes in the linked cluster, and the probe going through them (edge-26.8.3).

The extension renders `probe-<link>` on controllerDefaults.gateway.probe.port, 4191
(multicluster/charts/linkerd-multicluster/templates/controller/probe-svc.yaml); the link's controller probes
`probe-<link>:<the Link's probe port>` (multicluster/service-mirror/probe_worker.go), so a Link whose probe
port that Service does not serve never sees its gateway alive. `multicluster check` wants exactly one probe
Service per link (multicluster/cmd/check.go "wrong number (2) of probe gateways"), which is what the
deprecated link's `probe-gateway-<link>` left beside it breaks. stable-2.8.1's mirror makes its own instead: a
gateway mirror `<gateway>-<link>` for every gateway of the linked cluster, probed from the link on
(controller/cmd/service-mirror/cluster_watcher.go, probe_manager.go)."""
import json

import pytest

from lab import names
from lab.parsers import cli_output


def _edge_only(lab):
    if not lab.cfg.profile.link_crd or lab.cfg.link_command != "link-gen":
        pytest.skip(f"{lab.cfg.profile.linkerd} with {lab.cfg.link_command}: the extension renders no probe-<link>")


def test_the_linked_cluster_lists_the_extensions_probe_service(lab, east, west):
    _edge_only(lab)
    out = west.kubectl("get", "svc", "-n", names.MC_NS, f"probe-{east.name}", "-o", "json")
    assert out.returncode == 0, out.stderr
    svc = json.loads(out.stdout)
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("mc-probe", 4191)]
    assert svc["metadata"]["labels"][names.MIRRORED_GATEWAY] == "true"
    assert svc["metadata"]["labels"][names.CLUSTER_NAME] == east.name


def test_a_probe_port_the_probe_service_does_not_serve_never_reaches_the_gateway(lab, east, west):
    _edge_only(lab)
    name = f"probe-{east.name}"
    moved = [{"op": "replace", "path": "/spec/ports/0/port", "value": 80}]
    back = [{"op": "replace", "path": "/spec/ports/0/port", "value": 4191}]
    periods = lab.probe_period * 5 + 5
    patched = west.kubectl("-n", names.MC_NS, "patch", "svc", name, "--type=json", "-p", json.dumps(moved))
    assert patched.returncode == 0, patched.stderr
    try:
        lab.wait_for(lambda: west.gateway(east.name) and not west.gateway(east.name).alive, periods,
                     f"west to find east's gateway dead through {name} on 80")
        result = cli_output.find_check(west.check(), lab.cfg.profile.check_gateway_alive)
        assert result.failed and f"liveness checks failed for {east.name}" in result.error  # edge check.go's words
    finally:
        restored = west.kubectl("-n", names.MC_NS, "patch", "svc", name, "--type=json", "-p", json.dumps(back))
        assert restored.returncode == 0, restored.stderr
        lab.wait_for(lambda: getattr(west.gateway(east.name), "alive", False), periods, "east's gateway alive again")


def test_two_probe_services_for_one_link_fail_the_check(lab, east, west):
    _edge_only(lab)
    from lab.render import manifests

    extra = manifests.probe_service(f"probe-gateway-{east.name}", east.name, names.PROXY_ADMIN_PORT)
    west.apply(extra)
    try:
        result = cli_output.find_check(west.check(), lab.cfg.profile.check_gateway_alive)
        assert result.failed and f"wrong number (2) of probe gateways for target cluster {east.name}" in result.error
    finally:
        west.delete("Service", names.MC_NS, extra["metadata"]["name"])
    result = cli_output.find_check(west.check(), lab.cfg.profile.check_gateway_alive)
    assert not result.failed, result.error


def test_a_link_with_nothing_exported_probes_its_gateway_one_period_after_the_link(lab):
    """edge-26.8.3: the Link's controller starts its probe worker as it starts watching (restartClusterWatcher in
    multicluster/cmd/service-mirror/main.go), exported or not; the first probe comes one probe period later
    (probe_worker.go), and until then `gateway_alive` is 0 and the check fails, which `link` waits out."""
    if not lab.cfg.profile.link_crd:
        pytest.skip("2.8.1 probes from the link on too, but its link waits for no probe: "
                    "test_2_8_1_mirrors_and_probes_the_linked_clusters_gateway_with_nothing_exported")
    with lab.sibling({"name": "probed"}) as other:
        results = other.run(until="link")
        (link,) = [r for r in results if r.step == "link"]
        source = other.cluster(other.cfg.links[0].source)
        target = other.cfg.links[0].target
        assert source.list("Service", labels={names.MIRRORED_LABEL: "true", names.CLUSTER_NAME: target}) == []
        row = source.gateway(target)
        assert row is not None and row.alive and row.paired_services == 0, source.gateways()
        assert link.seconds >= other.probe_period  # the check passed only after the first probe
        assert not cli_output.find_check(source.check(), other.cfg.profile.check_gateway_alive).failed


def test_2_8_1_mirrors_and_probes_the_linked_clusters_gateway_with_nothing_exported(lab):
    """stable-2.8.1: the cluster watcher mirrors each Service of the target annotated
    mirror.linkerd.io/multicluster-gateway as `<name>-<target>` in linkerd-multicluster, labelled mirrored-gateway,
    its one port the gateway's mc-probe (cluster_watcher.go handleRemoteGatewayCreated); the probe manager probes it
    one period (plus up to a tenth) later (probe_manager.go, probe_worker.go, jittered_ticker.go). `multicluster
    gateways` lists it from the link on, not alive until that first probe, with no service; the check's
    "mirror services" leave it out (pkg/healthcheck/healthcheck_multicluster.go)."""
    with lab.sibling({"name": "probed28", "profile": "seed-2.8"}) as other:
        other.run(until="link")
        source = other.cluster(other.cfg.links[0].source)
        target = other.cfg.links[0].target
        mirrors = source.kubectl("get", "svc", "-A", "-l", names.MIRRORED_LABEL, "-o", "json")
        assert mirrors.returncode == 0, mirrors.stderr
        (mirror,) = json.loads(mirrors.stdout)["items"]  # nothing exported: the gateway's mirror alone
        assert (mirror["metadata"]["namespace"], mirror["metadata"]["name"]) == (names.MC_NS, f"{names.GATEWAY}-{target}")
        assert mirror["metadata"]["labels"][names.MIRRORED_GATEWAY] == "true"
        assert [(p["name"], p["port"]) for p in mirror["spec"]["ports"]] == [("mc-probe", 4181)]
        other.wait_for(lambda: getattr(source.gateway(target), "alive", False), other.probe_period * 3 + 5,
                       f"{source.name} to probe {target}'s gateway alive")
        row = source.gateway(target)
        assert (row.namespace, row.name, row.paired_services) == (names.MC_NS, names.GATEWAY, 0), source.gateways()
        results = source.check()
        for name in (other.cfg.profile.check_gateway_alive, "all mirror services have endpoints",
                     "all gateway mirrors have endpoints"):
            result = cli_output.find_check(results, name)
            assert result is not None and result.ok, (name, result)
