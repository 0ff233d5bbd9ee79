"""The guide's Helm path, on a lab of its own: the multicluster chart in both clusters and one
access-credentials release per source; revoking a source is uninstalling its release."""
import pytest

from lab.render import helm, manifests
from lab import names

TOPOLOGY = {
    "name": "helm", "probe_period": 1, "installer": "helm",
    "clusters": {
        "helm-east": {"pod_subnet": "10.248.0.0/16", "service_subnet": "10.100.0.0/16", "lb_pool": "172.18.253.200-172.18.253.214",
                      "workloads": ["foobar", "client"], "exports": ["foobar"]},
        "helm-west": {"pod_subnet": "10.249.0.0/16", "service_subnet": "10.101.0.0/16", "lb_pool": "172.18.253.215-172.18.253.229",
                      "workloads": ["foobar", "client"], "exports": ["foobar"]},
    },
    "links": [{"from": "helm-west", "to": "helm-east"}, {"from": "helm-east", "to": "helm-west"}],
}


@pytest.fixture(scope="module")
def helm_lab(lab):
    with lab.sibling(TOPOLOGY) as other:
        other.run()
        yield other


def release(cluster, name):
    return cluster.get("Secret", names.MC_NS, helm.record_name(name))


def _service(name, namespace):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": "foobar"}, "ports": [{"name": "http", "port": 9898, "targetPort": "http"}]}}


def test_installed_through_helm_traffic_crosses_both_ways(helm_lab):
    east, west = helm_lab.cluster("helm-east"), helm_lab.cluster("helm-west")
    for cluster, source in ((east, "helm-west"), (west, "helm-east")):
        assert release(cluster, helm.MAIN_RELEASE) is not None
        owner = release(cluster, helm.access_release(source)) if helm_lab.cfg.profile.helm_access == "release" else \
            release(cluster, helm.MAIN_RELEASE)  # edge: the main release lists the account
        assert owner is not None and {"kind": "ServiceAccount", "namespace": names.MC_NS, "name": source} in helm.owned_refs(owner)
    for source, target in ((west, east), (east, west)):
        result = source.request(helm_lab.mirror_url("foobar", target.name))
        assert result.ok, result.describe()
        assert target.gateway_metrics().traffic(helm_lab.identity("client")) >= 1


def test_revoking_a_sources_release_stops_its_mirror_and_nothing_else(helm_lab):
    east, west = helm_lab.cluster("helm-east"), helm_lab.cluster("helm-west")
    ns = helm_lab.cfg.namespace
    # 2.8: helm uninstall linkerd2-mc-helm-west; edge: helm upgrade dropping the account from the list
    helm_lab.backend.installer.revoke_access("helm-east", "helm-west")

    assert release(east, helm.access_release("helm-west")) is None
    assert east.get("ServiceAccount", names.MC_NS, "helm-west") is None
    assert release(east, helm.MAIN_RELEASE) is not None, "revoking one source touched the main release"
    helm_lab.wait_for(lambda: not west.link("helm-east").credentials_valid, 10,
                      "west's check to report the revoked credentials")
    # The profile's own check, in its own words: 2.8.1 "Insufficient Service permissions", edge "Unauthorized".
    error = west.link("helm-east").credentials_error
    assert "[helm-east]" in error and ("Unauthorized" in error or "Insufficient Service permissions" in error), error

    try:
        for cluster in (east, west):
            cluster.apply(_service("late", ns))
            cluster.export("late")
        # The other direction's link still works: east mirrors west's new service.
        helm_lab.wait_for(lambda: east.get("Service", ns, "late-helm-west"), 10, "east to mirror west's new export")
        assert east.link("helm-west").credentials_valid
        # West's controller still watches east on the connection it opened before: the API server checks
        # credentials once per request, and the controller's watch is one request of 5 to 10 minutes
        # (client-go tools/cache/reflector.go). So it still receives east's new export ...
        helm_lab.wait_for(lambda: west.get("Service", ns, "late-helm-east"), 10, "west's open watch to carry east's new export")
        # ... until it starts again: its first LIST is refused, its caches never sync, it mirrors nothing new,
        # and it removes nothing. Each retry (client-go backs off from 0.8 s) is refused again.
        refusals = {}
        for controller in manifests.mirror_controllers(helm_lab.cfg, west.name):
            assert west.kubectl("-n", names.MC_NS, "rollout", "restart", f"deploy/{controller}").returncode == 0
            refusals[controller] = lambda c=controller: west.kubectl("-n", names.MC_NS, "logs", f"deploy/{c}").stdout.count("Unauthorized")
            helm_lab.wait_for(lambda c=controller: refusals[c](), 15, f"west's restarted {controller} to log east's refusal")
        seen = {c: count() for c, count in refusals.items()}
        east.apply(_service("later", ns))
        east.export("later")
        for controller, count in refusals.items():
            helm_lab.wait_for(lambda c=controller, n=count: n() > seen[c], 40, f"{controller} to retry after east's new export")
        assert west.get("Service", ns, "later-helm-east") is None
        assert west.get("Service", ns, "late-helm-east") is not None, "the controller removed a mirror it could not check"
        # East's gateway keeps serving what was already mirrored.
        assert west.request(helm_lab.mirror_url("foobar", "helm-east")).ok
    finally:
        for cluster in (east, west):
            cluster.delete("Service", ns, "late")
        east.delete("Service", ns, "later")
