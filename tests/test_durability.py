"""A write the simulated API acknowledged survives `kill -9` of the lab process at any moment, as a real
API server's does (it answers once etcd has committed); a journal cut short by the crash loses only the
write that was never acknowledged; a damaged file is refused at start in one line naming it and the fix."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lab import steps
from lab.backends.base import LabError, wait_until
from lab.sim.process import labprocess
from lab_process import kill_lab_process

REPO = Path(__file__).resolve().parent.parent


def _kubectl(sim_lab, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": sim_lab.backend.provider.kubeconfig_path()}
    return subprocess.run(["kubectl", "--context=kind-east", *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def kubectl_installed():
    import shutil

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine")


def test_writes_acknowledged_right_before_a_kill_9_are_there_after_up(sim_lab, kubectl_installed):
    steps.up(sim_lab, until="clusters")
    for round_ in range(3):
        created = _kubectl(sim_lab, "create", "configmap", f"acked-{round_}", f"--from-literal=round={round_}")
        assert created.returncode == 0, created.stderr
        if round_ == 0:  # a deletion is a write too
            assert _kubectl(sim_lab, "create", "configmap", "doomed").returncode == 0
            deleted = _kubectl(sim_lab, "delete", "configmap", "doomed")
            assert deleted.returncode == 0, deleted.stderr
        kill_lab_process(sim_lab.backend.provider)  # at once: the acknowledgement is all the test waited for
        steps.up(sim_lab, until="clusters")  # how a user restarts a lab whose process died
        for seen in range(round_ + 1):
            got = _kubectl(sim_lab, "get", "configmap", f"acked-{seen}", "-o", "jsonpath={.data.round}")
            assert (got.returncode, got.stdout) == (0, str(seen)), got.stderr
        gone = _kubectl(sim_lab, "get", "configmap", "doomed")
        assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stderr
    sim_dir = sim_lab.backend.provider.sim_dir
    for name in ("state.json", "journal.log"):  # they hold Secrets (the issuers' keys among them)
        assert stat.S_IMODE((sim_dir / name).stat().st_mode) == 0o600, name


def test_a_restarted_lab_process_whose_api_port_was_taken_serves_on_another_and_kubectl_follows(sim_lab, kubectl_installed):
    """After a crash the lab process serves each cluster's API on the port it had, unless something else took it
    meanwhile; then on a new one, and the kubeconfig every command hands kubectl names that one."""
    import socket

    steps.up(sim_lab, until="clusters")
    before = sim_lab.backend.provider.rpc("GET", "health")["kubeapi"]["east"]
    assert _kubectl(sim_lab, "get", "ns", "default", "-o", "name").returncode == 0
    kill_lab_process(sim_lab.backend.provider)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the old connections' TIME_WAIT

    def taken() -> bool:  # the killed process's listener is gone a moment after its exit
        try:
            squatter.bind(("127.0.0.1", before))
            return True
        except OSError:
            return False

    with squatter:
        wait_until(taken, 10, f"port {before} to be free to take")
        squatter.listen()
        steps.up(sim_lab, until="clusters")
        after = sim_lab.backend.provider.rpc("GET", "health")["kubeapi"]["east"]
        assert after != before
        got = _kubectl(sim_lab, "get", "ns", "default", "-o", "name")
        assert (got.returncode, got.stdout) == (0, "namespace/default\n"), got.stderr


def test_resource_versions_keep_rising_across_a_crash(sim_lab, kubectl_installed):
    """A restarted API never hands out a resourceVersion twice (a watch resuming from one must not miss a change)."""
    steps.up(sim_lab, until="clusters")
    assert _kubectl(sim_lab, "create", "configmap", "before").returncode == 0
    assert _kubectl(sim_lab, "delete", "configmap", "before").returncode == 0
    listed = json.loads(_kubectl(sim_lab, "get", "--raw", "/api/v1/namespaces/default/configmaps").stdout)
    last = int(listed["metadata"]["resourceVersion"])  # the deletion's version: no object holds it any more
    kill_lab_process(sim_lab.backend.provider)
    steps.up(sim_lab, until="clusters")
    assert _kubectl(sim_lab, "create", "configmap", "after").returncode == 0
    after = _kubectl(sim_lab, "get", "configmap", "after", "-o", "jsonpath={.metadata.resourceVersion}")
    assert int(after.stdout) > last, (last, after.stdout)


def test_a_torn_last_journal_record_is_dropped_and_every_acknowledged_write_kept(sim_lab, kubectl_installed):
    steps.up(sim_lab, until="clusters")
    assert _kubectl(sim_lab, "create", "configmap", "kept").returncode == 0
    kill_lab_process(sim_lab.backend.provider)
    journal = sim_lab.backend.provider.sim_dir / "journal.log"
    with open(journal, "ab") as f:  # what a crash in the middle of an append leaves: half a record, no newline
        f.write(b'5f3a0c11 {"seq":999,"c":"east","put":{"apiVersion":"v1","kind":"ConfigMap","metad')
    steps.up(sim_lab, until="clusters")
    assert _kubectl(sim_lab, "get", "configmap", "kept").returncode == 0
    assert "dropped a torn last record" in sim_lab.backend.provider.log_file.read_text()
    # The journal goes on from there: the next write survives the next crash too.
    assert _kubectl(sim_lab, "create", "configmap", "later").returncode == 0
    kill_lab_process(sim_lab.backend.provider)
    steps.up(sim_lab, until="clusters")
    assert _kubectl(sim_lab, "get", "configmap", "kept").returncode == 0
    assert _kubectl(sim_lab, "get", "configmap", "later").returncode == 0


def test_a_damaged_journal_is_refused_in_one_line_naming_it_and_the_fix(sim_lab, kubectl_installed):
    steps.up(sim_lab, until="clusters")
    assert _kubectl(sim_lab, "create", "configmap", "one").returncode == 0
    assert _kubectl(sim_lab, "create", "configmap", "two").returncode == 0
    kill_lab_process(sim_lab.backend.provider)
    sim_dir = sim_lab.backend.provider.sim_dir
    journal = sim_dir / "journal.log"
    lines = journal.read_bytes().split(b"\n")
    lines[-3] = lines[-3].replace(b'"one"', b'"0ne"')  # a record before the last, its checksum now wrong
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(LabError) as refused:
        steps.up(sim_lab, until="clusters")
    message = str(refused.value)
    assert str(journal) in message and "is damaged at record" in message and "Fix:" in message, message
    assert "\n" not in message and "Traceback" not in message
    assert labprocess.find(sim_dir) == []


def test_status_with_a_garbage_process_record_says_so_and_fails(tmp_path):
    """Not "not running" and exit 0: the record is unreadable, so whether the lab runs is unknown."""
    (tmp_path / "lab.yaml").write_text("name: garbled\nprobe_period: 1\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    inv = [sys.executable, "-m", "invoke", "-r", str(REPO)]
    try:
        assert subprocess.run(inv + ["up", "--until", "clusters"], cwd=tmp_path, env=env, capture_output=True,
                              timeout=120).returncode == 0
        record = tmp_path / ".lab" / "garbled" / "sim" / labprocess.RECORD
        record.write_text("garbage")
        status = subprocess.run(inv + ["status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode != 0, status.stdout
        lines = status.stderr.strip().splitlines()
        assert len(lines) == 1 and str(record) in lines[0] and "Fix: `./labctl down`" in lines[0], status.stderr
        assert "not running" not in status.stdout
    finally:
        subprocess.run(inv + ["down"], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert labprocess.find(tmp_path / ".lab" / "garbled" / "sim") == []
