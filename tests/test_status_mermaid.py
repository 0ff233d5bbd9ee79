"""`./labctl status --format mermaid`: the topology as a flowchart, from the same records as the tables."""
from lab.report import status
from lab.parsers.cli_output import GatewayStatus


def _lab(alive: bool) -> status.LabStatus:
    gw = status.LoadBalancer("linkerd-multicluster", "linkerd-gateway", "172.18.255.200")
    return status.LabStatus(
        "lab", "sim", True,
        clusters=(status.ClusterStatus("east", True, "pool", (gw,)), status.ClusterStatus("west", True, "pool"),
                  status.ClusterStatus("north", True, "pool")),
        links=(status.LinkStatus("west", "east", True, "172.18.255.200", True, None, "gateway"),
               status.LinkStatus("west", "north", True, None, True, None, "remote-discovery")),
        gateways=(status.ObservedGateway("west", GatewayStatus("east", alive, 1, 1.0)),),
        mirrored_services=(status.MirroredService("west", "mc-demo", "foobar-east", "east", "foobar.mc-demo.svc.cluster.local", ()),
                           status.MirroredService("west", "mc-demo", "foobar-federated", None, None, (),
                                                  ("foobar@east", "foobar@north"))))


def test_links_point_at_the_gateway_they_name_with_their_mode_and_liveness():
    chart = status.mermaid(_lab(alive=True)).splitlines()
    assert chart[0] == "flowchart LR"
    assert '  c_west -->|"gateway: alive"| lb_east_linkerd_multicluster_linkerd_gateway' in chart
    assert '  c_west -.->|"remote-discovery"| c_north' in chart
    assert '  c_west -->|"gateway: not alive"| lb_east_linkerd_multicluster_linkerd_gateway' in status.mermaid(_lab(False)).splitlines()


def test_clusters_hold_their_gateways_and_their_mirrored_and_federated_services():
    chart = status.mermaid(_lab(alive=True))
    west = chart[chart.index('subgraph c_west'):]
    west = west[:west.index("  end")]
    assert "mc-demo/foobar-east<br/>mirror of east" in west
    assert "mc-demo/foobar-federated<br/>federated: foobar@east, foobar@north" in west
    assert 'lb_east_linkerd_multicluster_linkerd_gateway{{"linkerd-multicluster/linkerd-gateway<br/>172.18.255.200"}}' in chart
    assert chart.count("subgraph ") == chart.count("  end") == 3


def test_a_lab_that_is_down_says_so():
    assert "not running" in status.mermaid(status.LabStatus("lab", "sim", False))


def test_a_2_8_link_points_at_the_gateway_its_listing_names():
    """2.8.1's Link is a Secret with no gateway address; its `multicluster gateways` rows name the gateway."""
    lab = _lab(alive=True)
    old = status.LabStatus(
        "lab", "sim", True, clusters=lab.clusters,
        links=(status.LinkStatus("west", "east", True, None, True, None, "gateway"),),
        gateways=(status.ObservedGateway("west", GatewayStatus("east", True, 1, 1.0, "linkerd-multicluster", "linkerd-gateway")),))
    assert '  c_west -->|"gateway: alive"| lb_east_linkerd_multicluster_linkerd_gateway' in status.mermaid(old).splitlines()


def test_a_2_8_link_points_at_every_gateway_it_probes():
    """2.8.1 probes every gateway of its target, exported through or not (cluster_watcher.go handleRemoteGatewayCreated,
    probe_manager.go at stable-2.8.1): after a switch to Ambassador both are listed, each arrow with its own liveness."""
    lab = _lab(alive=True)
    old = status.LabStatus(
        "lab", "sim", True, clusters=lab.clusters,
        links=(status.LinkStatus("west", "east", True, None, True, None, "gateway"),),
        gateways=(status.ObservedGateway("west", GatewayStatus("east", True, 1, 1.0, "ambassador", "ambassador")),
                  status.ObservedGateway("west", GatewayStatus("east", False, 0, None, "linkerd-multicluster", "linkerd-gateway"))))
    arrows = [line for line in status.mermaid(old).splitlines() if line.startswith("  c_west -->")]
    assert arrows == ['  c_west -->|"gateway: alive"| lb_east_ambassador_ambassador',
                      '  c_west -->|"gateway: not alive"| lb_east_linkerd_multicluster_linkerd_gateway']
