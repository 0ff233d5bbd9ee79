"""The example topologies beyond the guide's two clusters, each brought up beside the scenarios' lab:
every link carries every service its target exports to the source's client, addressed by cluster name
and role, whatever the number of clusters or the direction of the links."""
from pathlib import Path

import pytest

from lab.report import status

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"


@pytest.mark.parametrize("topology", ["three-clusters", "bidirectional"])
def test_every_link_carries_its_targets_exports(lab, topology):
    with lab.topology(TOPOLOGIES / f"{topology}.yaml", f"topo-{topology}") as other:
        assert len(other.links()) >= 2
        for link in other.links():
            source = other.cluster(link.source)
            assert link in source.links()
            for namespace, service in other.cfg.exported(link.target):
                result = source.request(other.mirror_url(service, link.target, namespace=namespace))
                assert result.ok and f"{service} in {link.target}" in result.body, f"{link}: {result.describe()}"
            link_status = source.link(link.target)
            assert link_status.exists and link_status.credentials_valid, link_status
            assert source.gateway(link.target).alive, f"{link.source} does not see {link.target}'s gateway alive"
        chart = status.mermaid(status.collect(other.cfg, other.backend))
        for link in other.links():
            assert f'c_{link.source} -->|"gateway: alive"| lb_{link.target}_linkerd_multicluster_linkerd_gateway' in chart, chart
