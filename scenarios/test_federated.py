"""Federated services (Linkerd 2.17+): east and north each offer foobar as a member, and west, linked to
both on one flat network, sends to foobar-federated, whose endpoints are the members' pods together.
Runs on a lab of fixtures/topologies/federated.yaml beside the scenarios' lab."""
import os
from collections import Counter
from pathlib import Path

import pytest
from traffic import FD_MARGIN, REQUESTS, soak

from lab import names

TOPOLOGY = Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "federated.yaml"
URL_SERVICE = "foobar-federated"


@pytest.fixture(scope="module")
def fed(lab):
    with lab.topology(TOPOLOGY, "fed") as other:
        yield other


def _answers(fed, count: int = 30) -> Counter:
    """Which cluster's foobar answered each of `count` requests from west's client."""
    west = fed.cluster("west")
    url = f"http://{URL_SERVICE}.{fed.cfg.namespace}.svc.{fed.cfg.trust_domain}:9898/"
    seen = Counter()
    for _ in range(count):
        result = west.request(url)
        assert result.ok, result.describe()
        seen[next(c for c in ("east", "north") if f"foobar in {c}" in result.body)] += 1
    return seen


def test_the_federated_service_lists_every_member_and_spreads_requests_over_them(fed):
    svc = fed.cluster("west").get("Service", fed.cfg.namespace, URL_SERVICE)
    # in the order the members joined, which is not fixed (handleFederatedServiceJoin appends)
    assert set(svc["metadata"]["annotations"][names.REMOTE_DISCOVERY_ANNOTATION].split(",")) == {"foobar@east", "foobar@north"}
    assert fed.cluster("west").get("Endpoints", fed.cfg.namespace, URL_SERVICE) is None
    seen = _answers(fed)
    assert seen["east"] and seen["north"], seen


def test_a_member_scaled_to_zero_drops_out_and_traffic_continues(fed):
    east, ns = fed.cluster("east"), fed.cfg.namespace
    east.scale(ns, "foobar", 0)
    try:
        fed.wait_for(lambda: not (east.get("Endpoints", ns, "foobar") or {}).get("subsets"), 15, "east's foobar to have no endpoints")
        assert set(_answers(fed)) == {"north"}
    finally:
        east.scale(ns, "foobar", 1)
        fed.wait_for(lambda: (east.get("Deployment", ns, "foobar") or {}).get("status", {}).get("readyReplicas"), 30, "east's foobar back")
        fed.wait_for(lambda: set(_answers(fed, 10)) == {"east", "north"}, 15, "east to rejoin")


def test_removing_the_member_label_removes_the_member(fed):
    north, west, ns = fed.cluster("north"), fed.cluster("west"), fed.cfg.namespace
    key = next(iter(names.FEDERATED_SELECTOR))
    members = lambda: set((west.get("Service", ns, URL_SERVICE) or {"metadata": {}})["metadata"].get("annotations", {}).get(
        names.REMOTE_DISCOVERY_ANNOTATION, "").split(","))
    north.set_metadata("Service", ns, "foobar", "labels", {key: None})
    try:
        fed.wait_for(lambda: members() == {"foobar@east"}, 10, "north to leave foobar-federated")
        assert set(_answers(fed)) == {"east"}
    finally:
        north.set_metadata("Service", ns, "foobar", "labels", dict(names.FEDERATED_SELECTOR))
        fed.wait_for(lambda: members() == {"foobar@east", "foobar@north"}, 10, "north to rejoin foobar-federated")


def test_thousands_of_federated_requests_leave_no_sockets_behind(fed):
    """Each request picks among both members' pods; connections to them are pooled, so the lab process's open
    files and memory stay flat."""
    pid = fed.backend.provider.lab_process()
    if pid is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    host = f"{URL_SERVICE}.{fed.cfg.namespace}.svc.{fed.cfg.trust_domain}:9898"
    statuses, files_added, mib_added = soak(fed.backend.provider, pid, "west", fed.cfg.namespace, f"http://{host}/")
    assert statuses.count(200) == REQUESTS, f"{REQUESTS - statuses.count(200)} failed: {set(statuses)}"
    assert files_added <= FD_MARGIN, f"the lab process holds {files_added} more open files after {REQUESTS} requests"
    assert mib_added < 50, f"the lab process grew by {mib_added:.0f} MiB"
