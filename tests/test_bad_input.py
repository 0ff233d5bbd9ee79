"""Every bad input a user can give `up` ends in one line, exit code 1, no traceback, and nothing running.

Run through the real command line (invoke's Program, in this process) with a lab.yaml of the case's making.
"""
from pathlib import Path

import pytest
import yaml
from invoke import Collection, Program

import tasks
from lab.sim.process import labprocess

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

# -- lab.yaml as text: what the YAML loader must refuse ------------------------------------------
TEXTS = {
    "unclosed flow list": "name: lab\nclusters:\n  east: {pod_subnet: [\n",
    "bad indentation": "name: lab\n clusters: {}\n",
    "tab indentation": "clusters:\n\teast: {}\n",
    "unclosed quote": "name: 'lab\n",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n",
    "anchor alone": "name: &n lab\n",
    "merge key": "base: &b {pod_subnet: 10.244.0.0/16}\nclusters:\n  east: {<<: *b}\n",
    "duplicate top key": "name: a\nname: b\n",
    "duplicate nested key": "clusters:\n  east: {lb_pool: 172.18.255.230-172.18.255.254, lb_pool: 172.18.255.1-172.18.255.9}\n  west: {}\n",
    "duplicate cluster": "clusters:\n  east: {}\n  east: {}\n",
    "deep nesting": "a: " + "[" * 20000 + "]" * 20000 + "\n",
    "deep mappings": "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)) + "  " * 40 + "v: 1\n",
    "python tag": "name: !!python/object/apply:os.system ['true']\n",
    "unknown tag": "name: !vault abc\n",
    "list key": "? [a, b]\n: 1\n",
    "mapping key": "? {a: 1}\n: 1\n",
    "not utf-8": b"name: caf\xe9\n",
    "binary": bytes(range(256)) * 4,
    "nul byte": "name: la\x00b\n",
    "utf-16": "name: lab\n".encode("utf-16"),
    "over 64 KiB": "name: lab\n" + "# padding\n" * 7000,
    "ten megabyte value": "name: " + "x" * 60000 + "\n",
    "two documents": "name: a\n---\nname: b\n",
    "top-level list": "- name: lab\n",
    "top-level scalar": "lab\n",
    "top-level number": "42\n",
}

# -- lab.yaml as data: what the validator must refuse (file paths: see FILES) ----------------------------
DATA = {
    "unknown top key": {"colour": "blue"},
    "name int": {"name": 7},
    "name list": {"name": ["a"]},
    "name upper": {"name": "Lab"},
    "name underscore": {"name": "my_lab"},
    "name too long": {"name": "a" * 64},
    "name leading dash": {"name": "-lab"},
    "name empty": {"name": ""},
    "trust_domain spaces": {"trust_domain": "Cluster Local"},
    "trust_domain int": {"trust_domain": 3},
    "namespace dots": {"namespace": "mc.demo"},
    "namespace list": {"namespace": ["mc-demo"]},
    "gateway unknown": {"gateway": "nginx"},
    "gateway list": {"gateway": ["linkerd"]},
    "probe_period zero": {"probe_period": 0},
    "probe_period negative": {"probe_period": -3},
    "probe_period huge": {"probe_period": 301},
    "probe_period string": {"probe_period": "3s"},
    "probe_period float": {"probe_period": 2.5},
    "probe_period bool": {"probe_period": True},
    "apiext_wait zero": {"apiext_wait": 0},
    "apiext_wait string": {"apiext_wait": "90s"},
    "installer unknown": {"installer": "kustomize"},
    "profile unknown": {"profile": "stable-2.9"},
    "profile int": {"profile": 2},
    "clusters list": {"clusters": ["east", "west"]},
    "clusters empty": {"clusters": {}},
    "clusters string": {"clusters": "east,west"},
    "cluster name upper": {"clusters": {"East": {}, "west": {}}},
    "cluster name int": {"clusters": {1: {}, "west": {}}},
    "cluster value list": {"clusters": {"east": ["x"], "west": {}}},
    "cluster value string": {"clusters": {"east": "big", "west": {}}},
    "cluster unknown key": {"clusters": {"east": {"pod_cidr": "10.0.0.0/16"}, "west": {}}},
    "thirteenth cluster without subnets": {"clusters": {f"c{i}": {} for i in range(13)}, "links": []},
    "link mode unknown": {"links": [{"from": "west", "to": "east", "mode": "mesh"}]},
    "link mode list": {"links": [{"from": "west", "to": "east", "mode": ["gateway"]}]},
    "pod-to-pod across networks": {"links": [{"from": "west", "to": "east", "mode": "remote-discovery"}]},
    "network not a name": {"clusters": {"east": {"network": 7}, "west": {}}},
    "pod_subnet garbage": {"clusters": {"east": {"pod_subnet": "lots"}, "west": {}}},
    "pod_subnet host bits": {"clusters": {"east": {"pod_subnet": "10.244.0.1/16"}, "west": {}}},
    "pod_subnet ipv6": {"clusters": {"east": {"pod_subnet": "fd00::/64"}, "west": {}}},
    "pod_subnet int": {"clusters": {"east": {"pod_subnet": 10}, "west": {}}},
    "pod_subnet overlaps service": {"clusters": {"east": {"pod_subnet": "10.96.0.0/16"}, "west": {}}},
    "pod_subnets overlap": {"clusters": {"east": {}, "west": {"pod_subnet": "10.244.128.0/17"}}},
    "service_subnet garbage": {"clusters": {"east": {"service_subnet": "x/y"}, "west": {}}},
    "service_subnets overlap": {"clusters": {"east": {}, "west": {"service_subnet": "10.96.0.0/12"}}},
    "lb_pool reversed": {"clusters": {"east": {"lb_pool": "172.18.255.20-172.18.255.10"}, "west": {}}},
    "lb_pool garbage": {"clusters": {"east": {"lb_pool": "lots"}, "west": {}}},
    "lb_pool three parts": {"clusters": {"east": {"lb_pool": "172.18.0.1-172.18.0.2-172.18.0.3"}, "west": {}}},
    "lb_pool ipv6": {"clusters": {"east": {"lb_pool": "fd00::1-fd00::9"}, "west": {}}},
    "lb_pool int": {"clusters": {"east": {"lb_pool": 5}, "west": {}}},
    "lb_pool overlaps other": {"clusters": {"east": {}, "west": {"lb_pool": "172.18.255.210-172.18.255.250"}}},
    "lb_pool inside pod subnet": {"clusters": {"east": {"lb_pool": "10.244.9.1-10.244.9.20"}, "west": {}}},
    "lb_pool inside service subnet": {"clusters": {"east": {"lb_pool": "10.96.9.1-10.96.9.20"}, "west": {}}},
    "lb_pool too small for ambassador": {"gateway": "ambassador",
                                         "clusters": {"east": {"lb_pool": "172.18.255.200-172.18.255.200"}, "west": {}}},
    "workloads string": {"clusters": {"east": {"workloads": "foobar"}, "west": {}}},
    "workloads unknown fixture": {"clusters": {"east": {"workloads": ["foobar", "nginx"]}, "west": {}}},
    "workloads duplicate": {"clusters": {"east": {"workloads": ["foobar", "foobar"]}, "west": {}}},
    "workloads bad name": {"clusters": {"east": {"workloads": ["Foo Bar"]}, "west": {}}},
    "workloads ints": {"clusters": {"east": {"workloads": [1, 2]}, "west": {}}},
    "exports string": {"clusters": {"east": {"exports": "foobar"}, "west": {}}},
    "exports missing service": {"clusters": {"east": {"exports": ["foobar", "payments"]}, "west": {}}},
    "exports duplicate": {"clusters": {"east": {"exports": ["foobar", "foobar"]}, "west": {}}},
    "exports without workloads": {"clusters": {"east": {"workloads": [], "exports": ["foobar"]}, "west": {}}},
    "exports of a client": {"clusters": {"east": {}, "west": {"exports": ["client"]}}},
    "exports huge list": {"clusters": {"east": {"exports": ["foobar"] * 200_000}, "west": {}}},
    "exports three parts": {"clusters": {"east": {"exports": ["a/b/c"]}, "west": {}}},
    "exports bad namespace": {"clusters": {"east": {"exports": ["Pay_ments/api"]}, "west": {}}},
    "exports empty name": {"clusters": {"east": {"exports": ["payments/"]}, "west": {}}},
    "context empty": {"clusters": {"east": {"context": " "}, "west": {}}},
    "context int": {"clusters": {"east": {"context": 3}, "west": {}}},
    "links mapping": {"links": {"from": "west", "to": "east"}},
    "links string": {"links": "west->east"},
    "link not mapping": {"links": ["west->east"]},
    "link unknown key": {"links": [{"from": "west", "to": "east", "via": "gateway"}]},
    "link missing from": {"links": [{"to": "east"}]},
    "link unknown target": {"links": [{"from": "west", "to": "south"}]},
    "link to itself": {"links": [{"from": "east", "to": "east"}]},
    "link duplicate": {"links": [{"from": "west", "to": "east"}, {"from": "west", "to": "east"}]},
    "link from list": {"links": [{"from": ["west"], "to": "east"}]},
    "trust list": {"trust": ["shared"]},
    "trust unknown key": {"trust": {"anchor": "root.crt"}},
    "trust mode unknown": {"trust": {"mode": "split"}},
    "trust mode int": {"trust": {"mode": 1}},
    "anchor_cert without key": {"trust": {"anchor_cert": "root.crt"}},
    "anchor_key without cert": {"trust": {"anchor_key": "root.key"}},
    "bundle with anchor_cert": {"trust": {"mode": "bundle", "anchor_cert": "@cert", "anchor_key": "@key"}},
    "anchor_cert missing file": {"trust": {"anchor_cert": "@nowhere", "anchor_key": "@key"}},
    "anchor_cert directory": {"trust": {"anchor_cert": "@dir", "anchor_key": "@key"}},
    "anchor_cert not PEM": {"trust": {"anchor_cert": "@text", "anchor_key": "@key"}},
    "anchor_cert list": {"trust": {"anchor_cert": ["a"], "anchor_key": "@key"}},
    "anchor_cert int": {"trust": {"anchor_cert": 5, "anchor_key": "@key"}},
    "anchor_key not PEM": {"trust": {"anchor_cert": "@cert", "anchor_key": "@text"}},
    "anchor_key directory": {"trust": {"anchor_cert": "@cert", "anchor_key": "@dir"}},
    "anchor_cert device": {"trust": {"anchor_cert": "/dev/zero", "anchor_key": "@key"}},
}

# -- networks no cluster can run on: refused at config, before anything starts -----------------------------
NETWORKS = {
    "pod_subnet loopback": {"clusters": {"east": {"pod_subnet": "127.0.0.0/8"}, "west": {}}},
    "pod_subnet inside loopback": {"clusters": {"east": {"pod_subnet": "127.16.0.0/16"}, "west": {}}},
    "pod_subnet link-local": {"clusters": {"east": {"pod_subnet": "169.254.0.0/16"}, "west": {}}},
    "pod_subnet multicast": {"clusters": {"east": {"pod_subnet": "224.1.0.0/16"}, "west": {}}},
    "pod_subnet reserved": {"clusters": {"east": {"pod_subnet": "240.0.0.0/16"}, "west": {}}},
    "pod_subnet everything": {"clusters": {"east": {"pod_subnet": "0.0.0.0/0"}, "west": {}}},
    "pod_subnet this network": {"clusters": {"east": {"pod_subnet": "0.0.0.0/16"}, "west": {}}},
    "pod_subnet /30": {"clusters": {"east": {"pod_subnet": "10.244.0.0/30"}, "west": {}}},
    "pod_subnet /25": {"clusters": {"east": {"pod_subnet": "10.244.0.0/25"}, "west": {}}},
    "pod_subnet single address": {"clusters": {"east": {"pod_subnet": "10.244.0.1/32"}, "west": {}}},
    "service_subnet loopback": {"clusters": {"east": {"service_subnet": "127.0.0.0/16"}, "west": {}}},
    "service_subnet link-local": {"clusters": {"east": {"service_subnet": "169.254.0.0/24"}, "west": {}}},
    "service_subnet multicast": {"clusters": {"east": {"service_subnet": "239.0.0.0/16"}, "west": {}}},
    "service_subnet too large": {"clusters": {"east": {"service_subnet": "10.0.0.0/8"}, "west": {}}},
    "service_subnet /28": {"clusters": {"east": {"service_subnet": "10.96.0.0/28"}, "west": {}}},
    "service_subnet /30": {"clusters": {"east": {"service_subnet": "10.96.0.0/30"}, "west": {}}},
    "lb_pool loopback": {"clusters": {"east": {"lb_pool": "127.0.0.10-127.0.0.20"}, "west": {}}},
    "lb_pool link-local": {"clusters": {"east": {"lb_pool": "169.254.1.1-169.254.1.9"}, "west": {}}},
    "lb_pool multicast": {"clusters": {"east": {"lb_pool": "224.0.0.1-224.0.0.9"}, "west": {}}},
    "lb_pool broadcast": {"clusters": {"east": {"lb_pool": "255.255.255.250-255.255.255.255"}, "west": {}}},
    "lb_pool one address for an exporting cluster": {"clusters": {"east": {"lb_pool": "172.18.255.200-172.18.255.200"},
                                                                  "west": {}}},
    "lb_pool inside the other cluster's pods": {"clusters": {"east": {"lb_pool": "10.245.0.10-10.245.0.20"}, "west": {}}},
    "lb_pool inside the other cluster's services": {"clusters": {"east": {}, "west": {"lb_pool": "10.96.0.10-10.96.0.20"}}},
    "pod_subnet of one is the other's services": {"clusters": {"east": {}, "west": {"pod_subnet": "10.96.0.0/16"}}},
    "namespace kube-system": {"namespace": "kube-system"},
    "namespace kube-public": {"namespace": "kube-public"},
    "namespace linkerd": {"namespace": "linkerd"},
    "namespace linkerd-multicluster": {"namespace": "linkerd-multicluster"},
    "namespace metallb-system": {"namespace": "metallb-system"},
    "namespace of a gateway": {"namespace": "emissary"},
}

# -- the command line itself ----------------------------------------------------------------------
ARGS = {
    "config is a directory": ["up", "--config", "@dir"],
    "config is a device": ["up", "--config", "/dev/zero"],
    "config does not exist": ["up", "--config", "@nowhere"],
    "unknown backend": ["up", "--backend", "vagrant"],
    "unknown profile flag": ["up", "--profile", "stable-1.0"],
    "unknown trust flag": ["up", "--trust", "split"],
    "unknown installer flag": ["up", "--installer", "kustomize"],
    "unknown step for until": ["up", "--until", "everything"],
    "unknown step": ["step", "everything"],
    "bundle flag with anchor_cert": ["up", "--trust", "bundle", "--config", "@anchored"],
}


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "text").write_text("just text\n")
    (tmp_path / "ca.crt").write_text(CERT)
    (tmp_path / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    (tmp_path / "anchored.yaml").write_text(yaml.safe_dump({"trust": {"anchor_cert": str(tmp_path / "ca.crt"),
                                                                      "anchor_key": str(tmp_path / "ca.key")}}))
    return {"@dir": str(tmp_path / "dir"), "@text": str(tmp_path / "text"), "@cert": str(tmp_path / "ca.crt"),
            "@key": str(tmp_path / "ca.key"), "@nowhere": str(tmp_path / "nowhere.crt"),
            "@anchored": str(tmp_path / "anchored.yaml")}


def _fill(value, files):
    if isinstance(value, dict):
        return {k: _fill(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, files) for v in value]
    return files.get(value, value) if isinstance(value, str) else value


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    program = Program(namespace=Collection.from_module(tasks), name="inv", binary="inv")
    with pytest.raises(SystemExit) as ended:
        program.run(["inv", *args])
    out = capsys.readouterr()
    return ended.value.code, out.out, out.err


def _assert_one_line_and_nothing_running(tmp_path, code, out, err):
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert len(lines[0]) < 400, f"the message echoes too much: {lines[0][:120]}..."
    for sim_dir in tmp_path.glob(".lab/*/sim"):
        assert labprocess.find(sim_dir) == []


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return tmp_path


@pytest.mark.parametrize("case", sorted(TEXTS))
def test_a_broken_file_is_one_line(in_tmp, capsys, case):
    text = TEXTS[case]
    (in_tmp / "lab.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())
    _assert_one_line_and_nothing_running(in_tmp, *_run(["up", "--backend", "sim"], capsys))


@pytest.mark.parametrize("case", sorted(DATA))
def test_a_bad_value_is_one_line(in_tmp, capsys, case):
    files = _files(in_tmp)
    (in_tmp / "lab.yaml").write_text(yaml.dump(_fill(DATA[case], files), Dumper=yaml.CSafeDumper))
    _assert_one_line_and_nothing_running(in_tmp, *_run(["up", "--backend", "sim"], capsys))


@pytest.mark.parametrize("case", sorted(ARGS))
def test_a_bad_command_line_is_one_line(in_tmp, capsys, case):
    files = _files(in_tmp)
    _assert_one_line_and_nothing_running(in_tmp, *_run([files.get(a, a) for a in ARGS[case]], capsys))


def test_the_matrix_has_at_least_a_hundred_cases():
    assert len(TEXTS) + len(DATA) + len(ARGS) >= 100


@pytest.mark.parametrize("case", sorted(NETWORKS))
def test_an_impossible_network_is_one_line_naming_the_field_with_a_valid_example(in_tmp, capsys, case):
    """Refused at config, before any cluster or process starts: the field in the message, and a fix a user
    can paste (an example range or name), never a failure mid-`up` with the cause in lab.log."""
    (in_tmp / "lab.yaml").write_text(yaml.dump(NETWORKS[case], Dumper=yaml.CSafeDumper))
    code, out, err = _run(["up", "--backend", "sim"], capsys)
    _assert_one_line_and_nothing_running(in_tmp, code, out, err)
    field = "namespace" if "namespace" in NETWORKS[case] else next(
        f"clusters.{c}.{k}" for c, keys in NETWORKS[case]["clusters"].items() for k in keys)
    line = err.strip()
    assert f"lab.yaml: {field}: " in line, line
    assert "Fix: " in line and "e.g." in line.partition("Fix: ")[2], line
    assert not list(in_tmp.glob(".lab/*/sim")), "nothing may start for a config the lab refuses"


def test_the_network_matrix_has_at_least_twenty_cases():
    assert len(NETWORKS) >= 20
