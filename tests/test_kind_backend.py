"""The kind backend, tested by what it would run: a recording runner stands in for the tools."""
import ipaddress
import json
import threading
from pathlib import Path

import pytest
import yaml

from lab.model import config, gateways
from lab import steps
from lab.backends.base import LabError
from lab.backends import kind_backend
from lab.backends.kind import pools_for
from lab.tools.run import RecordingRunner


class FakeDocker:
    def __init__(self, subnet="172.18.0.0/16"):
        self._subnet = ipaddress.IPv4Network(subnet)

    def subnet(self):
        return self._subnet

    def node_address(self, container):
        return {"east-control-plane": "172.18.0.2", "west-control-plane": "172.18.0.3"}[container]


class FakeClusters:
    """Answers kind and kubectl the way two fresh clusters would: what was applied can be read back."""

    def __init__(self, backend_ref):
        self.backend_ref = backend_ref
        self.clusters = set()
        self.objects = {}
        self.lock = threading.Lock()
        # Both `kind create cluster` calls must be in flight at once to get past this: creating the
        # clusters one after the other fails here, whatever the machine's speed.
        self.both_creating = threading.Barrier(2, timeout=10)

    def __call__(self, command):
        argv = [str(a) if isinstance(a, str) else a.resolve() for a in command.argv]
        if argv[:3] == ["kind", "get", "clusters"]:
            return "\n".join(sorted(self.clusters))
        if argv[:3] == ["kind", "create", "cluster"]:
            self.both_creating.wait()
            name = argv[3].split("=", 1)[1]
            kubeconfig = argv[4].split("=", 1)[1]
            with self.lock:
                self.clusters.add(name)
            Path(kubeconfig).parent.mkdir(parents=True, exist_ok=True)
            Path(kubeconfig).write_text("apiVersion: v1\nkind: Config\n")
            return ""
        if argv[0] == "kubectl" and "apply" in argv and command.stdin:
            ctx = argv[1].split("=", 1)[1]
            for obj in yaml.safe_load_all(command.stdin):
                meta = obj["metadata"]
                self.objects[(ctx, obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
            return ""
        if argv[0] == "kubectl" and argv[2] == "get":
            ctx, kind, name = argv[1].split("=", 1)[1], argv[3], argv[4]
            ns = argv[argv.index("-n") + 1] if "-n" in argv else ""
            obj = self.objects.get((ctx, kind, ns, name))
            return json.dumps(obj) if obj else ""
        return ""


@pytest.fixture
def kind_lab(tmp_path):
    cfg = config.load()
    fake = FakeClusters(None)
    runner = RecordingRunner({"": fake})
    backend = kind_backend(cfg, tmp_path, runner=runner, docker=FakeDocker())
    return steps.Context(cfg, backend, tmp_path), runner, fake


def test_clusters_and_metallb_run_for_both_clusters_at_once(kind_lab):
    ctx, runner, fake = kind_lab
    results = steps.up(ctx, until="loadbalancer")
    assert [(r.step, r.outcome) for r in results] == [("clusters", "applied")] * 2 + [("loadbalancer", "applied")] * 2
    creates = [c for c in runner.calls if c.command.text().startswith("kind create cluster")]
    # Both got past the fake's barrier, which only two creates in flight at once can do.
    assert len(creates) == 2 and creates[0].thread != creates[1].thread


def test_each_cluster_gets_its_own_kind_config_and_the_pinned_image(kind_lab):
    ctx, runner, _ = kind_lab
    steps.up(ctx, until="clusters")
    for name, pods, services in (("east", "10.244.0.0/16", "10.96.0.0/16"), ("west", "10.245.0.0/16", "10.97.0.0/16")):
        written = yaml.safe_load(runner.files[str(ctx.backend.provider.kind_dir / f"{name}.kind.yaml")])
        assert written["networking"] == {"podSubnet": pods, "serviceSubnet": services}
        assert written["nodes"][0]["image"] == ctx.cfg.profile.node_image
    lines = [l for l in runner.lines if l.startswith("kind create")]
    assert all(f"--image={ctx.cfg.profile.node_image}" in l for l in lines)


def test_metallb_waits_for_its_pods_before_the_pool_is_applied(kind_lab):
    ctx, runner, _ = kind_lab
    steps.up(ctx, until="loadbalancer")
    east = [l for l in runner.lines if "--context=kind-east" in l]
    native = next(i for i, l in enumerate(east) if "metallb-native.yaml" in l)
    # The release's controller by name (a selector wait can pass or fail on whichever pods exist yet).
    controller = next(i for i, l in enumerate(east) if "-n metallb-system rollout status deploy/controller" in l)
    pool = next(i for i, c in enumerate(east) if c.endswith("apply -f -"))
    assert native < controller < pool
    assert not any("--selector" in l for l in east)


def test_second_up_changes_nothing(kind_lab):
    ctx, runner, _ = kind_lab
    steps.up(ctx, until="loadbalancer")
    count = len(runner.calls)
    again = steps.up(ctx, until="loadbalancer")
    assert {r.outcome for r in again} == {"already done"}
    assert not any("create" in c.command.text() or "apply" in c.command.text() for c in runner.calls[count:])


def test_pools_come_from_the_top_of_the_kind_network_and_are_disjoint():
    east, west = pools_for(ipaddress.IPv4Network("172.18.0.0/16"), 2)
    assert str(east) == "172.18.255.230-172.18.255.254"
    assert str(west) == "172.18.255.205-172.18.255.229"
    assert not east.overlaps(west)


def test_a_subnet_too_small_gets_a_clear_error():
    with pytest.raises(LabError, match="too few for 2 LoadBalancer pools.*docker network rm kind"):
        pools_for(ipaddress.IPv4Network("172.18.0.0/26"), 2)


def test_link_uses_the_control_plane_address_on_the_kind_network(tmp_path):
    runner = RecordingRunner()
    backend = kind_backend(config.load(), tmp_path, runner=runner, docker=FakeDocker())
    backend.installer.link("west", "east", gateways.LINKERD)
    link = runner.calls[0].command
    assert link.text(resolved=True).startswith(
        "linkerd --context=kind-east multicluster link-gen --cluster-name east --api-server-address=https://172.18.0.2:6443")
    assert link.pipe_to.text() == "kubectl --context=kind-west apply -f -"


def test_pod_routes_lost_by_a_node_restart_are_noticed_and_put_back(tmp_path):
    """What `ip route show` prints on a kind node with and without the route the flat network needs."""
    routed = {"on": False}

    def show(command):
        return "10.244.0.0/16 via 172.18.0.2 dev eth0 \n" if routed["on"] else ""

    runner = RecordingRunner({"docker exec west-control-plane ip route show": show,
                              "docker exec east-control-plane ip route show": show})
    cfg = config.load(Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "pod-to-pod.yaml")
    backend = kind_backend(cfg, tmp_path, runner=runner, docker=FakeDocker())
    assert not backend.provider.pods_routed("west", "east")
    backend.provider.route_pods("west", "east")
    assert [l for l in runner.lines if "route replace" in l] == [
        "docker exec west-control-plane ip route replace 10.244.0.0/16 via \"$(docker inspect -f '{{.NetworkSettings.Networks.kind.IPAddress}}' east-control-plane)\"",
        "docker exec east-control-plane ip route replace 10.245.0.0/16 via \"$(docker inspect -f '{{.NetworkSettings.Networks.kind.IPAddress}}' west-control-plane)\""]
    routed["on"] = True
    assert backend.provider.pods_routed("west", "east")


# -- pytest-kind, used as designed ----------------------------------------------------------------
def _kind_handle(tmp_path):
    from lab.backends import Choice
    from lab.pytest_plugin import LabHandle
    from lab.session import Lab

    cfg = config.load()
    backend = kind_backend(cfg, tmp_path, runner=RecordingRunner())
    return LabHandle(Lab(cfg, tmp_path, Choice(backend, "test"))).cluster("east")


def test_scenarios_get_pytest_kinds_cluster_with_the_labs_kubeconfig_and_pinned_tools(tmp_path, monkeypatch):
    from lab.backends.kind import tool_bin

    bin_dir = tool_bin(tmp_path)
    bin_dir.mkdir(parents=True)
    for tool in ("kind", "kubectl"):  # stand-ins for `./labctl tools`: they say how they were called
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} KUBECONFIG=$KUBECONFIG $*"\n')
        (bin_dir / tool).chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    east = _kind_handle(tmp_path).kind_cluster
    out = east.kubectl("-n", "mc-demo", "get", "svc")
    assert out.strip() == f"kubectl KUBECONFIG={tmp_path / '.lab' / 'lab' / 'kind' / 'east.kubeconfig'} -n mc-demo get svc"
    assert not (elsewhere / ".pytest-kind").exists(), "pytest-kind's directory belongs under the lab's state"
    assert (tmp_path / ".lab" / "lab" / "kind" / ".pytest-kind" / "east").is_dir()


def test_the_kind_backends_commands_load_pytest_kind_only_for_the_scenarios_that_ask_for_it(tmp_path):
    """pytest-kind brings pykube and requests-oauthlib: loaded by every `inv` on kind (a plan, an up), they
    cost each command about 0.03 CPU-s, for a class only the scenarios' `kind_cluster` uses."""
    import subprocess
    import sys

    code = ("import sys; from lab.model import config; from lab.report.script import kind_script; "
            "script = kind_script(config.load()); print('kind create cluster' in script, 'pytest_kind' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_pytest_kind_never_downloads_an_unpinned_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LabError, match=r"pytest-kind needs `kind` .* Fix: run `./labctl tools`"):
        _kind_handle(tmp_path).kind_cluster



def test_a_docker_host_naming_a_missing_socket_is_told_as_the_sdk_tells_it_without_the_sdk(tmp_path):
    """The shortcut for a DOCKER_HOST whose socket file does not exist says what the Docker SDK's own attempt
    says, without importing the SDK; a socket path that exists still goes to the SDK."""
    import os
    import subprocess
    import sys

    def probe(host: str, call: str) -> list[str]:
        code = (f"import sys; from lab.tools import docker_probe as d; p = {call}; "
                "print(p.answers, p.detail, 'docker' in sys.modules, sep='|')")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "DOCKER_HOST": host})
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().split("|")

    missing = f"unix://{tmp_path}/no/docker.sock"
    said = f"no Docker engine answers at {missing} (no socket)"
    assert probe(missing, "d.probe_docker()") == ["False", said, "False"]
    assert probe(missing, f"d.ask_sdk({missing!r})") == ["False", said, "True"]
    (tmp_path / "dir").mkdir()  # exists, and nobody listens there: the SDK is asked
    assert probe(f"unix://{tmp_path}/dir", "d.probe_docker()") == [
        "False", f"no Docker engine answers at unix://{tmp_path}/dir (connection refused)", "True"]


def test_without_docker_host_the_default_socket_is_looked_for_as_the_sdk_would_and_other_contexts_go_to_the_sdk(tmp_path):
    """No DOCKER_HOST: the SDK follows DOCKER_CONTEXT, else the Docker config's currentContext, else the
    default socket. Where that is the default socket and it does not exist, the answer comes without the SDK;
    a context named anywhere goes to the SDK, which knows where it points."""
    import json
    import os
    import subprocess
    import sys

    socket = tmp_path / "docker.sock"
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)

    def probe(**env: str) -> list[str]:
        code = (f"import sys; from lab.tools import docker_probe as d; d.DEFAULT_SOCKET = {str(socket)!r}; "
                "p = d.probe_docker(); print(p.answers, p.detail, 'docker' in sys.modules, sep='|')")
        base = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={**base, "HOME": str(home), **env})
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().split("|")

    said = f"no Docker engine answers at unix://{socket} (no socket)"
    assert probe() == ["False", said, "False"]
    assert probe(DOCKER_HOST="") == ["False", said, "False"]  # empty is unset, to the SDK too
    (home / ".docker" / "config.json").write_text(json.dumps({"currentContext": "default", "auths": {}}))
    assert probe() == ["False", said, "False"]
    assert probe(DOCKER_CONTEXT="desktop-linux")[2] == "True"
    (home / ".docker" / "config.json").write_text(json.dumps({"currentContext": "desktop-linux"}))
    assert probe()[2] == "True"
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("{}")  # DOCKER_CONFIG's file comes first: no context named
    assert probe(DOCKER_CONFIG=str(tmp_path / "cfg")) == ["False", said, "False"]


def test_a_scenarios_sibling_lab_that_would_take_the_kind_labs_cluster_names_is_skipped_before_it_deletes_them(tmp_path):
    """kind cluster names are the machine's: a sibling lab named east/west on kind would `kind delete cluster`
    the lab's own clusters before it starts (scenarios/test_probe_services.py's siblings did). It is skipped
    before anything runs. (A sibling whose clusters have names of their own, as test_helm_access.py's, goes ahead.)"""
    lab = _kind_handle(tmp_path).lab
    runner = lab.backend.provider.runner
    with pytest.raises(pytest.skip.Exception, match=r"\(east, west; cluster names are the machine's"):
        with lab.sibling({"name": "probed"}):
            pass
    assert runner.calls == []
