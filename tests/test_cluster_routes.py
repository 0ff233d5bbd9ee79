"""The destination lookup a proxy's balancer reads (lab/sim/world/cluster.py `routes`): every endpoint of a
service, and one endpoint that leads nowhere does not take the others with it; an error only when none is left.
A headless mirror (a StatefulSet's, in a linked cluster) lists its endpoint mirrors' cluster IPs, each a service
of its own to follow."""
import pytest

from lab.sim.mesh.routes import DialError, NoEndpoints, Route
from lab.sim.world.cluster import SimCluster
from lab.sim.world.network import Network

SPEC = {"domain": "cluster.local", "pod_subnet": "10.244.0.0/16", "service_subnet": "10.96.0.0/12"}


def _service(name: str, cluster_ip: str, port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "apps"},
            "spec": {"clusterIP": cluster_ip, "ports": [{"port": port}]}}


def _endpoints(name: str, ips: list[str], port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": "apps"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"port": port}]}]}


def _cluster(tmp_path, *objects) -> SimCluster:
    cluster = SimCluster("east", dict(SPEC), Network(), tmp_path, lambda: None)
    for obj in objects:
        cluster.store.apply(obj)
    return cluster


def _plain(ip: str, port: int) -> Route:
    return Route(ip, port, None, f"{ip}:{port}")


def test_the_lookup_lists_every_ready_endpoint(tmp_path):
    cluster = _cluster(tmp_path, _service("web", "10.96.0.20"), _endpoints("web", ["10.244.0.5", "10.244.0.6"], 8080))
    assert cluster.routes("web.apps.svc.cluster.local:80") == [_plain("10.244.0.5", 8080), _plain("10.244.0.6", 8080)]


def test_an_endpoint_mirror_without_endpoints_leaves_the_others_and_alone_is_no_endpoints(tmp_path):
    cluster = _cluster(tmp_path, _service("web", "None"), _endpoints("web", ["10.96.0.10", "10.96.0.11"], 80),
                       _service("web-0", "10.96.0.10"), _endpoints("web-0", ["10.244.0.5"], 8080),
                       _service("web-1", "10.96.0.11"))  # web-1's pod is gone: no Endpoints
    assert cluster.routes("web.apps.svc.cluster.local:80") == [_plain("10.244.0.5", 8080)]
    cluster.store.apply(_endpoints("web", ["10.96.0.11"], 80))
    with pytest.raises(NoEndpoints):
        cluster.routes("web.apps.svc.cluster.local:80")


def test_an_endpoint_mirror_that_cannot_be_dialled_leaves_the_others_and_alone_is_its_error(tmp_path):
    cluster = _cluster(tmp_path, _service("web", "None"), _endpoints("web", ["10.96.0.10", "10.96.0.12"], 80),
                       _service("web-0", "10.96.0.10"), _endpoints("web-0", ["10.244.0.5"], 8080),
                       _service("web-2", "10.96.0.12", port=81))  # serves no port 80
    assert cluster.routes("web.apps.svc.cluster.local:80") == [_plain("10.244.0.5", 8080)]
    cluster.store.apply(_endpoints("web", ["10.96.0.12"], 80))
    with pytest.raises(DialError, match="service apps/web-2 has no port 80") as refused:
        cluster.routes("web.apps.svc.cluster.local:80")
    assert not isinstance(refused.value, NoEndpoints)


@pytest.mark.parametrize("order", [["10.96.0.11", "10.96.0.12"], ["10.96.0.12", "10.96.0.11"]])
def test_with_nothing_to_dial_one_that_may_get_endpoints_makes_it_no_endpoints_in_either_order(tmp_path, order):
    """The balancer waits for endpoints (and the service goes into fail-fast after its timeout) rather than
    failing at once on a neighbour that cannot be dialled, whichever the Endpoints list first."""
    cluster = _cluster(tmp_path, _service("web", "None"), _endpoints("web", order, 80),
                       _service("web-1", "10.96.0.11"), _service("web-2", "10.96.0.12", port=81))
    with pytest.raises(NoEndpoints, match="service apps/web has no ready endpoints"):
        cluster.routes("web.apps.svc.cluster.local:80")
