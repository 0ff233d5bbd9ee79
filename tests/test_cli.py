"""The commands as a user runs them: one clear line on a mistake, nothing left behind."""
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from lab.sim.process import labprocess

REPO = Path(__file__).resolve().parent.parent


def inv(cwd, *args, env=None):
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", **(env or {})})


def assert_one_clear_error(result, *words):
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_kind_without_docker_stops_at_once_and_leaves_nothing(tmp_path):
    result = inv(tmp_path, "up", "--backend", "kind")
    assert_one_clear_error(result, "Docker", "--backend sim")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_config_gets_one_line_naming_the_field(tmp_path):
    (tmp_path / "bad.yaml").write_text("clusters:\n  east: {lb_pool: 172.18.255.200-172.18.255.230}\n  west: {}\n")
    result = inv(tmp_path, "up", "--config", "bad.yaml")
    assert_one_clear_error(result, "clusters.west.lb_pool", "overlaps", "Fix:")
    assert not (tmp_path / ".lab").exists()


def test_unknown_step_and_backend_name_the_choices(tmp_path):
    assert_one_clear_error(inv(tmp_path, "step", "dns"), "clusters, loadbalancer")
    assert_one_clear_error(inv(tmp_path, "up", "--until", "dns"), "clusters, loadbalancer")
    assert_one_clear_error(inv(tmp_path, "up", "--backend", "docker"), "auto, sim, kind")
    assert not (tmp_path / ".lab").exists()


def test_status_and_check_on_a_lab_that_is_not_up(tmp_path):
    result = inv(tmp_path, "status", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["running"] is False
    assert_one_clear_error(inv(tmp_path, "check"), "not running", "./labctl up")
    assert_one_clear_error(inv(tmp_path, "address", "172.18.255.200:4143"), "not running", "./labctl up")


def test_plan_lists_every_step_without_doing_anything(tmp_path):
    result = inv(tmp_path, "plan", "--backend", "sim")
    assert result.returncode == 0, result.stderr
    for step in ("clusters", "loadbalancer", "trust", "linkerd", "multicluster", "link", "workloads", "export", "gateway"):
        assert f"## {step}:" in result.stdout
    assert "[west->east] link west to east" in result.stdout
    assert "IPAddressPool metallb-system/lab-pool, L2Advertisement metallb-system/lab-l2 (172.18.255.200-172.18.255.214)" in result.stdout
    assert not (tmp_path / ".lab").exists()


def test_2_8_1_lists_probes_and_checks_the_linked_gateway_with_nothing_exported(tmp_path):
    """stable-2.8.1 mirrors every Service of the target annotated mirror.linkerd.io/multicluster-gateway and probes
    it, exported through or not (controller/cmd/service-mirror/cluster_watcher.go handleRemoteGatewayCreated,
    probe_manager.go): after `up --until link` the guide's `multicluster gateways` lists east's gateway by namespace
    and name with no service, alive once probed; `check --multicluster` then passes, gateway mirror included;
    `status` shows the gateway and, nothing being exported, no mirror service."""
    (tmp_path / "lab.yaml").write_text("name: gw28\nprobe_period: 1\nprofile: seed-2.8\n")
    try:
        up = inv(tmp_path, "up", "--until", "link")
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 30
        while True:  # the first probe: one period (plus up to a tenth) after the gateway mirror appeared
            table = inv(tmp_path, "linkerd", "--", "--context=west", "multicluster", "gateways")
            lines = table.stdout.splitlines()
            if table.returncode or time.monotonic() > deadline or any(" True " in line for line in lines[1:]):
                break
            time.sleep(0.2)
        assert table.returncode == 0, table.stderr
        assert lines[0].split() == ["CLUSTER", "NAMESPACE", "NAME", "ALIVE", "NUM_SVC", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"]
        assert [line.split()[:5] for line in lines[1:]] == [["east", "linkerd-multicluster", "linkerd-gateway", "True", "0"]]
        check = inv(tmp_path, "linkerd", "--", "--context=west", "check", "--multicluster")
        assert check.returncode == 0, check.stdout + check.stderr
        for name in ("all target cluster gateways are alive", "all mirror services have endpoints",
                     "all gateway mirrors have endpoints"):
            assert f"√ {name}" in check.stdout, check.stdout
        data = json.loads(inv(tmp_path, "status", "--json").stdout)
        assert [(g["observer"], g["cluster"], g["namespace"], g["name"], g["paired_services"]) for g in data["gateways"]] == \
            [("west", "east", "linkerd-multicluster", "linkerd-gateway", 0)]
        assert data["mirrored_services"] == []
    finally:
        inv(tmp_path, "down")


def test_up_status_down_round_trip_shows_no_secrets(tmp_path):
    (tmp_path / "lab.yaml").write_text("name: cli\nprobe_period: 1\nprofile: seed-2.8\n")
    try:
        up = inv(tmp_path, "up")
        assert up.returncode == 0, up.stderr
        assert "backend: sim (no Docker engine answers" in up.stdout
        status = inv(tmp_path, "status", "--json")
        data = json.loads(status.stdout)
        alive = [g for g in data["gateways"] if g["observer"] == "west" and g["cluster"] == "east"]
        assert alive and alive[0]["alive"] is True, data["gateways"]
        assert {m["name"] for m in data["mirrored_services"]} == {"foobar-east"}
        assert data["clusters"][0]["trust_anchors"] == data["clusters"][1]["trust_anchors"]
        check = inv(tmp_path, "check")
        assert check.returncode == 0, check.stdout + check.stderr
        east = next(c for c in data["clusters"] if c["name"] == "east")
        gateway = next(lb["address"] for lb in east["load_balancers"] if lb["name"] == "linkerd-gateway")
        reached = inv(tmp_path, "address", f"{gateway}:4143")
        host, _, port = reached.stdout.strip().rpartition(":")
        # The gateway itself answers there: its certificate chains to this lab's anchor (a TCP connect alone
        # proves nothing where a proxy accepts every address). Its proxy answers a ClientHello naming its identity.
        identity = "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local"
        tls = ssl.create_default_context(cafile=str(tmp_path / ".lab" / "cli" / "pki" / "root.crt"))
        tls.check_hostname = False
        with socket.create_connection((host, int(port)), timeout=5) as raw, \
                tls.wrap_socket(raw, server_hostname=identity) as conn:
            names = [v for k, v in conn.getpeercert().get("subjectAltName", ()) if k == "DNS"]
        assert names == [identity], names
        nothing = inv(tmp_path, "address", "172.18.255.200:9")
        assert nothing.returncode == 1 and "nothing on the lab's network answers at 172.18.255.200:9" in nothing.stderr
        assert inv(tmp_path, "address", "172.18.255.200").returncode == 2
        switched = inv(tmp_path, "gateway", "ambassador")
        assert switched.returncode == 0 and "gateway: linkerd -> ambassador" in switched.stdout, switched.stderr
        again = inv(tmp_path, "gateway", "ambassador")
        assert "already in use: nothing changed" in again.stdout
        moved = json.loads(inv(tmp_path, "status", "--json").stdout)
        ambassador = [g for g in moved["gateways"] if g["observer"] == "west" and g["name"] == "ambassador"]
        assert ambassador and ambassador[0]["alive"], moved["gateways"]
        assert inv(tmp_path, "gateway", "linkerd").returncode == 0
        table = inv(tmp_path, "status")
        for out in (up.stdout, status.stdout, check.stdout, table.stdout):
            assert "PRIVATE KEY" not in out
    finally:
        down = inv(tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert "lab process" in down.stdout
    assert inv(tmp_path, "down").stdout.strip() == "down: nothing to remove"


def test_down_also_stops_the_labs_a_killed_test_run_left_for_its_workers(tmp_path):
    """`inv test` on the simulation gives each xdist worker but the first a lab under .lab/workers/<id>;
    Ctrl-C takes them down, a SIGKILL cannot. `./labctl down` in the checkout then stops them too."""
    worker = tmp_path / ".lab" / "workers" / "gw3"
    worker.mkdir(parents=True)
    started = inv(worker, "up", "--backend", "sim", "--until", "clusters")
    try:
        assert started.returncode == 0, started.stderr
        result = inv(tmp_path, "down")
        assert result.returncode == 0, result.stderr
        said = [part for part in result.stdout.split(", ") if "lab process" in part]
        assert len(said) == 1, result.stdout
        pid = int(said[0].split("lab process ")[1].split()[0])
        assert not labprocess.alive(pid), f"the worker's lab process {pid} still runs"  # (a zombie, if any, is gone)
        assert inv(tmp_path, "down").stdout.strip() == "down: nothing to remove"
        assert json.loads(inv(worker, "status", "--json").stdout)["running"] is False
    finally:
        inv(worker, "down")  # whatever the outcome, nothing of this test keeps running


def test_labctl_asks_python_its_version_only_to_create_the_venv_and_refuses_an_old_one(tmp_path):
    """`./labctl` on a checkout whose venv is installed goes straight to its `inv` (no Python started to
    check a version: a tenth of a second on every command); without a venv, a Python older than 3.11 is
    refused with the fix, and no venv is made."""
    import shutil
    import stat

    shutil.copy(REPO / "labctl", tmp_path / "labctl")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    asked = tmp_path / "python-was-asked"
    old_python = tmp_path / "old-python"
    old_python.write_text(f"#!/bin/sh\necho \"$@\" >> {asked}\nexit 1\n")  # what a Python 3.10 answers the check
    old_python.chmod(old_python.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PYTHON": str(old_python)}
    env.pop("LAB_INV", None)

    refused = subprocess.run(["./labctl", "--list"], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 1
    assert "needs Python 3.11 or newer" in refused.stderr and "PYTHON=" in refused.stderr
    assert not (tmp_path / ".venv").exists() and asked.read_text().count("version_info") == 1

    asked.unlink()
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("python", "exit 1"), ("inv", 'echo "inv $*"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    stamp = subprocess.run("cat pyproject.toml | cksum", shell=True, cwd=tmp_path, capture_output=True, text=True).stdout
    (tmp_path / ".venv" / ".installed-from").write_text(stamp)
    ran = subprocess.run(["./labctl", "--list"], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "inv --list\n", "")
    assert not asked.exists()
