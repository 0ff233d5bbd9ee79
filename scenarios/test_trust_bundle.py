"""The guide's Trust Anchor Bundle, on a lab of its own: an existing cluster with its own anchor
(key gone) and a new cluster with another, linked both ways.

Linking before the bundle fails, as on a real cluster: both versions' multicluster check reports
"clusters share trust anchors" while the anchors differ, and the guide checks right after linking.
After the existing cluster is upgraded with the bundle and the new one installed with it, requests
succeed both ways, and a meshed pod that started before the bundle and was not restarted fails TLS
verification, as the guide warns.
"""
import dataclasses

import pytest

from lab.render import manifests
from lab.backends.base import LabError

TOPOLOGY = {
    "name": "bundle", "probe_period": 1, "trust": {"mode": "bundle"},
    "clusters": {
        "existing": {"pod_subnet": "10.246.0.0/16", "service_subnet": "10.98.0.0/16", "lb_pool": "172.18.254.200-172.18.254.214",
                     "workloads": ["foobar", "client"], "exports": ["foobar"]},
        "new": {"pod_subnet": "10.247.0.0/16", "service_subnet": "10.99.0.0/16", "lb_pool": "172.18.254.215-172.18.254.229",
                "workloads": ["foobar", "client"], "exports": ["foobar"]},
    },
    "links": [{"from": "new", "to": "existing"}, {"from": "existing", "to": "new"}],
}


@pytest.fixture(scope="module")
def bundle_lab(lab):
    with lab.sibling(TOPOLOGY) as other:
        other.run(until="linkerd")  # each cluster with its own anchor: the guide's starting point
        yield other


def anchors(status_cluster):
    return set(status_cluster.trust_anchors)


def _status(bundle_lab):
    from lab.report import status

    return {c.name: c for c in status.collect(bundle_lab.cfg, bundle_lab.backend).clusters}


def test_linking_before_the_bundle_fails_on_the_anchors_check(bundle_lab):
    clusters = _status(bundle_lab)
    assert len(anchors(clusters["existing"])) == 1 and len(anchors(clusters["new"])) == 1
    assert anchors(clusters["existing"]) != anchors(clusters["new"])

    bundle_lab.run(step="multicluster")
    with pytest.raises(LabError) as failure:
        bundle_lab.run(step="link")  # the wrong order: link before bundle
    assert "clusters share trust anchors" in str(failure.value), failure.value


def test_after_the_bundle_requests_succeed_both_ways_but_not_from_a_pod_left_unrestarted(bundle_lab):
    existing, new = bundle_lab.cluster("existing"), bundle_lab.cluster("new")
    # A meshed pod of the user's own, started before the bundle and never restarted.
    legacy_cfg = dataclasses.replace(bundle_lab.cfg, namespace="legacy")
    new.apply(*manifests.workload(legacy_cfg, "new", "client"))
    bundle_lab.wait_for(lambda: (new.get("Deployment", "legacy", "client") or {}).get("status", {}).get("readyReplicas"),
                        30, "the legacy client to run")

    results = bundle_lab.run(step="bundle")
    assert [r.outcome for r in results] == ["applied"]
    bundle_lab.run()  # the rest of the guide: link, workloads, export

    clusters = _status(bundle_lab)
    assert anchors(clusters["existing"]) == anchors(clusters["new"]) and len(anchors(clusters["new"])) == 2
    for source, target in ((new, existing), (existing, new)):
        url = bundle_lab.mirror_url("foobar", target.name)
        bundle_lab.wait_for(lambda: source.request(url).ok, 15, f"{source.name} -> {target.name} with the bundle")

    stale = new.request(bundle_lab.mirror_url("foobar", existing.name), namespace="legacy")
    # Its proxy cannot complete TLS with the gateway (it trusts only the old anchor), backs off and fails fast.
    assert stale.status == bundle_lab.cfg.profile.failfast_status, stale.describe()

    again = bundle_lab.run(step="bundle")
    assert [r.outcome for r in again] == ["already done"]
