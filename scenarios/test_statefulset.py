"""A StatefulSet across clusters (Linkerd 2.11+): east exports the headless service in front of web-0 and
web-1, and west's mirror (headless services enabled for the link) names each pod, so a client in west
reaches one particular pod of east by name, and inside east the pods have DNS names under the headless
service (nslookup in a pod, with real kubectl). Runs on a lab of fixtures/topologies/statefulset.yaml."""
from pathlib import Path

import pytest
from in_pod import exec_in, ok

from lab import names

TOPOLOGY = Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "statefulset.yaml"


@pytest.fixture(scope="module")
def sts(lab):
    with lab.topology(TOPOLOGY, "sts") as other:
        yield other


def _url(lab, host: str) -> str:
    return f"http://{host}.{lab.cfg.namespace}.svc.{lab.cfg.trust_domain}:9898/"


def test_the_headless_mirror_names_each_pod_of_the_statefulset(sts):
    west, ns = sts.cluster("west"), sts.cfg.namespace
    assert west.get("Service", ns, "web-east")["spec"]["clusterIP"] == "None"
    listed = west.get("Endpoints", ns, "web-east")["subsets"][0]["addresses"]
    assert sorted(a["hostname"] for a in listed) == ["web-0", "web-1"]
    for pod in ("web-0", "web-1"):
        mirror = west.get("Service", ns, f"{pod}-east")
        assert mirror["metadata"]["labels"][names.MIRRORED_HEADLESS_LABEL] == "web-east"
        assert mirror["metadata"]["annotations"][names.REMOTE_SVC_ANNOTATION] == f"{pod}.web.{ns}.svc.{sts.cfg.trust_domain}"


@pytest.mark.parametrize("pod", ["web-0", "web-1"])
def test_each_pod_of_east_is_reachable_by_name_from_west_through_the_gateway(sts, pod):
    east, west = sts.cluster("east"), sts.cluster("west")
    before = sum(east.gateway_metrics().clients().values())
    for host in (f"{pod}-east", f"{pod}.web-east"):
        for _ in range(5):
            result = west.request(_url(sts, host))
            assert result.ok and f'"hostname": "{pod}"' in result.body and "web in east" in result.body, result.describe()
    assert sum(east.gateway_metrics().clients().values()) == before + 10


def test_the_headless_mirror_itself_reaches_some_pod(sts):
    result = sts.cluster("west").request(_url(sts, "web-east"))
    assert result.ok and "web in east" in result.body, result.describe()


def test_a_statefulsets_pods_have_names_under_their_headless_service(sts):
    east, west, ns = sts.cluster("east"), sts.cluster("west"), sts.cfg.namespace
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in east.list("Pod", ns) if p["metadata"]["name"].startswith("web-")}
    full = f"web-0.web.{ns}.svc.cluster.local"
    out = ok(exec_in(east, ns, "web-0", "nslookup", full, container="podinfo"))
    assert f"Name:\t{full}\nAddress: {ips['web-0']}\n" in out, out
    # the Service's full name (busybox's nslookup would ask a short `web` under every search domain and exit 1
    # for those that do not exist)
    headless = ok(exec_in(east, ns, "web-0", "nslookup", f"web.{ns}.svc.cluster.local", container="podinfo"))
    assert sorted(line.split()[1] for line in headless.splitlines() if line.startswith("Address: ")) == sorted(ips.values()), headless
    # in west, the headless mirror names each pod, and the name answers from east's pod
    answer = ok(exec_in(west, ns, "deploy/client", "sh", "-c", "curl -s web-1.web-east:9898 | grep hostname"))
    assert "web-1" in answer, answer
