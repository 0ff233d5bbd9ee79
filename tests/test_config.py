"""lab.yaml: the defaults, and one clear ConfigError per mistake a user can make."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.model import config, fixtures_dir, topology
from lab.model.config import ConfigError


def test_default_is_the_guides_topology():
    cfg = config.load()
    assert cfg.cluster_names == ["east", "west"]
    assert [(l.source, l.target) for l in cfg.links] == [("west", "east")]
    assert cfg.cluster("east").exports == ("foobar",)
    assert cfg.trust_domain == "cluster.local"
    assert not cfg.cluster("east").lb_pool.overlaps(cfg.cluster("west").lb_pool)


def test_a_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("name: second\nprobe_period: 1\nclusters:\n  east:\n    lb_pool: 172.18.254.10-172.18.254.20\n  west: {}\n")
    cfg = config.load(path)
    assert cfg.name == "second" and cfg.probe_period == 1
    assert str(cfg.cluster("east").lb_pool) == "172.18.254.10-172.18.254.20"
    assert str(cfg.cluster("west").pod_subnet) == "10.245.0.0/16"


@pytest.mark.parametrize("data, field, words", [
    ({"colour": "blue"}, "colour", "unknown key"),
    ({"clusters": {"east": {"pod_cidr": "10.0.0.0/16"}, "west": {}}}, "clusters.east.pod_cidr", "unknown key"),
    ({"clusters": {"East_1": {}}}, "clusters.East_1", "not a DNS label"),
    ({"clusters": {"east": {"pod_subnet": "10.96.0.0/16"}, "west": {}}}, "clusters.east.service_subnet", "overlaps"),
    ({"clusters": {"east": {}, "west": {"lb_pool": "172.18.255.210-172.18.255.250"}}}, "clusters.west.lb_pool", "overlaps"),
    ({"clusters": {"east": {"lb_pool": "172.18.255.20-172.18.255.10"}, "west": {}}}, "clusters.east.lb_pool", "ends before"),
    ({"clusters": {"east": {"lb_pool": "lots"}, "west": {}}}, "clusters.east.lb_pool", "not an address range"),
    ({"clusters": {"east": {"pod_subnet": "10.244.0.1/16"}, "west": {}}}, "clusters.east.pod_subnet", "not an IPv4 subnet"),
    ({"clusters": {f"c{i}": {} for i in range(13)}, "links": []}, "clusters.c12.pod_subnet", "is required"),
    ({"links": [{"from": "west", "to": "east", "mode": "mesh"}]}, "links[0].mode", "not a link mode"),
    ({"links": [{"from": "west", "to": "east", "mode": "remote-discovery"}]}, "links[0].mode", "not on one flat network"),
    ({"clusters": {"east": {"network": "flat"}, "west": {"network": "lan"}},
      "links": [{"from": "west", "to": "east", "mode": "remote-discovery"}]}, "links[0].mode", "not on one flat network"),
    ({"clusters": {"east": {"network": "flat"}, "west": {"network": "flat"}, "north": {"network": "flat"}},
      "links": [{"from": "west", "to": "east", "mode": "remote-discovery"}, {"from": "north", "to": "east"}]},
     "links[1].mode", "one mirror.linkerd.io/exported value"),
    ({"clusters": {"east": {"network": "Flat Net"}, "west": {}}}, "clusters.east.network", "not a network name"),
    ({"profile": "seed-2.8", "clusters": {"east": {"network": "flat"}, "west": {"network": "flat"}},
      "links": [{"from": "west", "to": "east", "mode": "remote-discovery"}]}, "links[0].mode", "came with Linkerd 2.14"),
    ({"profile": "seed-2.8", "clusters": {"east": {"federated": ["foobar"]}, "west": {}}}, "clusters.east.federated",
     "came with Linkerd 2.17"),
    ({"clusters": {"east": {"federated": ["foobar"]}, "west": {}}}, "clusters.east.federated", "not on its flat network"),
    ({"link_with": "unlink"}, "link_with", "not a link command"),
    ({"profile": "seed-2.8", "link_with": "link-gen"}, "link_with", "link-gen came with Linkerd 2.18"),
    ({"link_with": "link", "installer": "helm"}, "link_with", "outside the Helm release"),
    ({"profile": "seed-2.8", "clusters": {"east": {"workloads": ["web"], "exports": ["web"]}, "west": {}}},
     "clusters.east.exports", "headless came with Linkerd 2.11"),
    ({"clusters": {"east": {"federated": ["nginx"]}, "west": {}}}, "clusters.east.federated", "not a Service of this cluster"),
    ({"links": [{"from": "west", "to": "south"}]}, "links[0].to", "not a cluster"),
    ({"links": [{"from": "east", "to": "east"}]}, "links[0]", "itself"),
    ({"links": [{"from": "west", "to": "east"}, {"from": "west", "to": "east"}]}, "links[1]", "repeats"),
    ({"probe_period": 0}, "probe_period", "whole number"),
    ({"probe_period": "3s"}, "probe_period", "whole number"),
    ({"apiext_wait": 5}, "apiext_wait", "whole number of seconds from 10"),
    ({"apiext_wait": "90s"}, "apiext_wait", "whole number"),
    ({"gateway": "nginx"}, "gateway", "not a known gateway"),
    ({"trust_domain": "Cluster Local"}, "trust_domain", "not a DNS name"),
    ({"trust": {"anchor_cert": "root.crt"}}, "trust", "go together"),
    ({"clusters": {"east": {"exports": "foobar"}, "west": {}}}, "clusters.east.exports", "list of names"),
    ({"gateway": "ambassador", "clusters": {"east": {"lb_pool": "172.18.255.200-172.18.255.200"}, "west": {}}},
     "clusters.east.lb_pool", "asks for 2 LoadBalancer(s)"),
    ({"installer": "kustomize"}, "installer", "not an installer"),
    ({"trust": {"mode": "split"}}, "trust.mode", "not a trust mode"),
])
def test_each_mistake_names_its_field_and_a_fix(data, field, words):
    with pytest.raises(ConfigError) as err:
        config.parse(data)
    assert err.value.field_path == field
    assert words in err.value.problem
    assert err.value.fix and "Fix:" in str(err.value)


def test_clusters_without_ranges_get_disjoint_ones_by_position_whatever_their_names():
    three = config.parse({"clusters": {"east": {}, "west": {}, "north": {}}})
    renamed = config.parse({"clusters": {"alpha": {}, "beta": {}, "gamma": {}}, "links": []})
    for a, b in zip(three.clusters, renamed.clusters):
        assert (a.pod_subnet, a.service_subnet, a.lb_pool) == (b.pod_subnet, b.service_subnet, b.lb_pool)
    many = config.parse({"clusters": {f"c{i}": {} for i in range(topology.MAX_DERIVED)}, "links": []})
    ranges = [r for c in many.clusters for r in (c.pod_subnet, c.service_subnet)]
    assert not any(x.overlaps(y) for i, x in enumerate(ranges) for y in ranges[i + 1:])
    assert not any(x.lb_pool.overlaps(y.lb_pool) for i, x in enumerate(many.clusters) for y in many.clusters[i + 1:])


def test_the_message_for_an_old_profile_names_the_version_that_introduced_the_mode():
    with pytest.raises(ConfigError) as err:
        config.parse({"profile": "seed-2.8", "clusters": {"east": {"network": "flat"}, "west": {"network": "flat"}},
                      "links": [{"from": "west", "to": "east", "mode": "remote-discovery"}]})
    assert str(err.value).count("\n") == 0
    assert "remote-discovery came with Linkerd 2.14" in str(err.value) and "stable-2.8.1" in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("name: lab\nclusters:\n  east: {pod_subnet: [\n")
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert err.value.field_path.startswith("line ")
    assert str(path) in str(err.value)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.yaml")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(sorted(config.TOP_KEYS) + ["other"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, yaml_values, max_size=5) | yaml_values)
def test_any_document_gives_a_config_or_one_config_error(data):
    try:
        cfg = config.parse(data)
    except ConfigError:
        return
    assert cfg.cluster_names


def test_a_huge_list_of_duplicates_is_refused():
    """200,000 names: a quadratic check would take minutes here (it hung `up` before)."""
    with pytest.raises(ConfigError, match="more than once"):
        config.parse({"clusters": {"east": {"exports": ["foobar"] * 200_000}, "west": {}}})


def test_exports_name_services_in_other_namespaces_as_namespace_slash_name():
    cfg = config.parse({"clusters": {"east": {"exports": ["foobar", "payments/api"]}, "west": {}}})
    assert cfg.exported("east") == [("mc-demo", "foobar"), ("payments", "api")]
    assert cfg.exported("west") == []


TOPOLOGIES = sorted((fixtures_dir.FIXTURES / "topologies").glob("*.yaml"))


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_example_topology_loads(path):
    cfg = config.load(path)
    assert len(cfg.clusters) >= 2 and cfg.links
    for link in cfg.links:
        target = cfg.cluster(link.target)
        assert target.exports or target.federated, f"{path.name}: {link.target} offers nothing over its link"
        assert "client" in cfg.cluster(link.source).workloads, f"{path.name}: {link.source} has no client to send from"


def test_the_example_topologies_cover_every_link_mode_and_more_than_two_clusters():
    loaded = [config.load(p) for p in TOPOLOGIES]
    assert {link.mode for cfg in loaded for link in cfg.links} == set(config.LINK_MODES)
    assert any(c.federated for cfg in loaded for c in cfg.clusters)
    federated = config.load(fixtures_dir.FIXTURES / "topologies" / "federated.yaml")
    assert not any(c.exports for c in federated.clusters), "federation alone, no exports"
    assert any(len(cfg.clusters) > 2 for cfg in loaded)
    assert any({(l.source, l.target) for l in cfg.links} & {(l.target, l.source) for l in cfg.links} for cfg in loaded)
    assert config.load(fixtures_dir.FIXTURES / "topologies" / "guide.yaml") == config.load()
