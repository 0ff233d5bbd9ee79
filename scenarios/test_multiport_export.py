"""An exported Service with several named ports: the mirror carries every port with its name and protocol,
each port answers from the linked cluster through the gateway (a `targetPort` by name and by number), and a
port removed at the source leaves the mirror too."""
import json

import pytest

SERVICE = "foobar-ports"


def _service(ns: str, ports: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE, "namespace": ns},
            "spec": {"selector": {"app": "foobar"}, "ports": ports}}


HTTP = {"name": "http", "port": 9898, "targetPort": "http", "protocol": "TCP"}  # the container port's name
ALT = {"name": "http-alt", "port": 8080, "targetPort": 9898, "protocol": "TCP"}  # the container port's number


@pytest.fixture
def exported_two_ports(lab, east, west):
    ns = lab.cfg.namespace
    east.apply(_service(ns, [HTTP, ALT]))
    east.export(SERVICE)
    yield ns
    east.delete("Service", ns, SERVICE)
    lab.wait_for(lambda: west.get("Service", ns, f"{SERVICE}-{east.name}") is None, 15, "the mirror to go with its service")


def _mirror_ports(west, ns, east):
    mirror = west.get("Service", ns, f"{SERVICE}-{east.name}")
    return sorted((p.get("name"), p["port"], p.get("protocol")) for p in mirror["spec"]["ports"]) if mirror else None


def test_every_port_is_mirrored_with_its_name_and_protocol_and_answers(lab, east, west, exported_two_ports):
    ns = exported_two_ports
    want = [("http", 9898, "TCP"), ("http-alt", 8080, "TCP")]
    lab.wait_for(lambda: _mirror_ports(west, ns, east) == want, 15, f"west's mirror of {SERVICE} to carry both ports")
    for port in (9898, 8080):
        result = west.request(lab.mirror_url(SERVICE, east.name, port=port), timeout=10)
        assert result.ok, f"port {port}: {result.describe()}: {result.body}"
        assert json.loads(result.body)["message"] == f"foobar in {east.name}", f"port {port} reached the wrong app"


def test_a_port_removed_at_the_source_leaves_the_mirror(lab, east, west, exported_two_ports):
    ns = exported_two_ports
    lab.wait_for(lambda: _mirror_ports(west, ns, east) == [("http", 9898, "TCP"), ("http-alt", 8080, "TCP")], 15,
                 "both ports mirrored first")
    current = east.get("Service", ns, SERVICE)
    current["spec"]["ports"] = [p for p in current["spec"]["ports"] if p["name"] == "http"]
    east.apply(current)
    lab.wait_for(lambda: _mirror_ports(west, ns, east) == [("http", 9898, "TCP")], 15,
                 "the removed port to leave west's mirror")
    assert west.request(lab.mirror_url(SERVICE, east.name, port=9898), timeout=10).ok
