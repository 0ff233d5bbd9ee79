"""The simulation's lifecycle as a user lives it: up, up again, crash, down, down again."""
import os
import subprocess
import sys

from lab import steps
from lab.backends.base import wait_until
from lab.sim.process import labprocess
from lab_process import kill_lab_process


def _versions(ctx):
    return {(c, o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for c in ctx.cfg.cluster_names
            for kind in ("Service", "Deployment", "Link", "Secret", "ConfigMap", "IPAddressPool")
            for o in ctx.backend.kube.list(c, kind)}


def test_second_up_finds_every_check_passing_and_changes_nothing(sim_lab):
    first = steps.up(sim_lab)
    # A fresh lab applies every step; only the gateway step finds its work done: the bundled gateway
    # came with the multicluster extension.
    assert {(r.step, r.outcome) for r in first if r.outcome != "applied"} == {("gateway", "already done")}
    sim_lab.backend.provider.settle()
    before = _versions(sim_lab)
    second = steps.up(sim_lab)
    assert [r.outcome for r in second] == ["already done"] * len(second)
    assert [(r.step, r.target) for r in second] == [(r.step, r.target) for r in first]
    sim_lab.backend.provider.settle()
    assert _versions(sim_lab) == before


def test_until_stops_after_the_named_step(sim_lab):
    results = steps.up(sim_lab, until="linkerd")
    assert [r.step for r in results][-1] == "linkerd"
    assert sim_lab.backend.kube.get("east", "Service", "linkerd-multicluster", "linkerd-gateway") is None


def test_state_survives_a_crash_of_the_lab_process(sim_lab):
    steps.up(sim_lab)
    backend = sim_lab.backend
    backend.provider.settle()
    address = backend.kube.get("east", "Service", "linkerd-multicluster", "linkerd-gateway")["status"]["loadBalancer"]
    pid = kill_lab_process(backend.provider)

    results = steps.up(sim_lab)
    assert backend.provider.pid() != pid
    # Everything stored survived; only the process (clusters) and the probes' fresh verdict, which the
    # export step waits for, are new.
    persisted = [r for r in results if r.step not in ("clusters", "export")]
    assert [r.outcome for r in persisted] == ["already done"] * len(persisted)
    assert backend.kube.get("east", "Service", "linkerd-multicluster", "linkerd-gateway")["status"]["loadBalancer"] == address
    url = "http://foobar-east.mc-demo.svc.cluster.local:9898/"
    wait_until(lambda: backend.kube.request("west", "mc-demo", "client", url).ok, 10, "traffic after the restart")


def test_down_leaves_no_process_and_is_safe_twice(sim_lab):
    steps.up(sim_lab, until="clusters")
    pid = sim_lab.backend.provider.pid()
    removed = sim_lab.backend.provider.destroy()
    assert f"lab process {pid}" in removed
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    assert not (sim_lab.backend.provider.sim_dir).exists()
    assert sim_lab.backend.provider.destroy() == []


def test_down_names_the_lab_process_it_asked_to_stop_even_when_it_is_gone_at_once(sim_lab, monkeypatch):
    """`down` asks the lab process over its API to save its state and exit; on a busy machine the process was
    gone before `down` looked for it, and `down` then said nothing of it (a CI run, 2026-12-07). Here it is
    gone before the answer comes back: `down` must have proven and held it before asking."""
    steps.up(sim_lab, until="clusters")
    provider = sim_lab.backend.provider
    pid = provider.pid()
    asked = provider.rpc

    def answered_once_gone(method, path, *args, **kwargs):
        answer = asked(method, path, *args, **kwargs)
        if path == "shutdown":
            wait_until(lambda: not labprocess.alive(pid), 10, "the lab process to exit when asked")
        return answer

    monkeypatch.setattr(provider, "rpc", answered_once_gone)
    assert f"lab process {pid}" in provider.destroy()
    assert not labprocess.alive(pid)


def test_down_on_a_lab_that_never_came_up(sim_lab):
    assert sim_lab.backend.provider.destroy() == []
    assert not sim_lab.backend.provider.running()


def test_a_workload_object_lost_after_its_deployment_is_restored_by_the_next_up(sim_lab):
    """What an apply cut short leaves (the Deployment ready, the Service after it in the file missing) is not
    'already done': the next up applies the workloads again."""
    steps.up(sim_lab)
    sim_lab.backend.kube.delete("east", "Service", sim_lab.cfg.namespace, "foobar")
    again = {(r.step, str(r.target)): r.outcome for r in steps.up(sim_lab)}
    assert again[("workloads", "east")] == "applied"
    assert sim_lab.backend.kube.get("east", "Service", sim_lab.cfg.namespace, "foobar") is not None


def test_the_lab_process_entry_point_refuses_an_option_for_a_state_directory(tmp_path):
    # Typed by hand, `--help` must print usage, not start a lab in a directory named "--help".
    result = subprocess.run([sys.executable, "-m", "lab.sim.process.daemon", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "labctl up" in result.stderr
    assert list(tmp_path.iterdir()) == []
