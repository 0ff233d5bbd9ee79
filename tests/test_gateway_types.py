"""A gateway type is one class in lab/model/gateways.py: a new one, registered there and nowhere else, is
accepted by lab.yaml, printed in the kind plan, installed by the simulation and carries the traffic."""
import subprocess
from dataclasses import dataclass
from typing import ClassVar

import pytest

from lab.model import config, gateways
from lab.parsers import metrics
from lab import steps
from lab.backends import sim_backend
from lab.errors import ConfigError
from lab.report.script import kind_script


@dataclass(frozen=True)
class EdgeEmissary(gateways.Emissary):
    """A fourth type: Emissary-ingress in a namespace and under a name of the user's choosing."""

    gateway_type: ClassVar[str] = "edge"


EDGE = EdgeEmissary(name="edge-gateway", namespace="edge", version="3.10.0", image="docker.io/emissaryingress/emissary:3.10.0")


@pytest.fixture
def edge_type(monkeypatch):
    monkeypatch.setitem(gateways.TYPES, "edge", lambda profile: EDGE)
    return EDGE


def test_lab_yaml_accepts_a_registered_type_and_still_refuses_an_unknown_one(edge_type):
    assert config.parse({"gateway": "edge"}).gateway == "edge"
    with pytest.raises(ConfigError, match="use one of: linkerd, ambassador, edge"):
        config.parse({"gateway": "nginx"})


def test_the_kind_plan_installs_the_new_type_with_the_guides_inject_and_patches(edge_type):
    script = kind_script(config.parse({"gateway": "edge"}))
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert "kubectl --context=kind-east -n edge get deploy edge-gateway -o yaml | linkerd --context=kind-east inject" in script
    assert "kubectl --context=kind-east -n edge patch svc edge-gateway" in script
    assert "edge-gateway.edge.serviceaccount.identity.linkerd.cluster.local" in script
    assert "=== inv gateway linkerd" in script and "=== inv gateway ambassador" in script  # every other type, then back


def test_the_simulation_installs_the_new_type_and_traffic_goes_through_it(edge_type, tmp_path):
    cfg = config.parse({"name": "gwtype", "probe_period": 1, "gateway": "edge"})
    backend = sim_backend(cfg, tmp_path)
    ctx = steps.Context(cfg, backend, tmp_path)
    try:
        steps.up(ctx)
        client = cfg.identity("client", cfg.namespace)
        # the gateway's requests are counted as it authorizes them, on its inbound port (v2.366.0)
        before = metrics.authorized_clients(backend.kube.proxy_metrics("east", "edge", "edge-gateway"), 4143)[client]
        result = backend.kube.request("west", cfg.namespace, "client", f"http://foobar-east.{cfg.namespace}.svc.cluster.local:9898/")
        assert result.ok, result.describe()
        assert "east" in result.body
        after = metrics.authorized_clients(backend.kube.proxy_metrics("east", "edge", "edge-gateway"), 4143)[client]
        assert after == before + 1
    finally:
        backend.provider.destroy()
