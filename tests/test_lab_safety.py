"""The lab on a shared machine: it signals only its own process, never races itself, serves its
API only to its user, and a broken state file is one line, never a traceback."""
import json
import os
import resource
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab import lock, steps
from lab.backends.base import LabError, wait_until
from lab.sim.process import labprocess
from lab_process import kill_lab_process

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def bystander():
    """A process of this user that is not a lab process: what a reused PID would point at."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def read_only_lab(module_sim_lab):
    """One lab up to its workloads, shared by this file's tests that only read it (its files' modes, its API's
    answers to strangers): each lab is a process, and about a second of CPU. The tests that stop, kill or
    corrupt a lab have one of their own (sim_lab)."""
    steps.up(module_sim_lab, until="workloads")
    return module_sim_lab


def _write_record(sim_lab, text: str) -> Path:
    backend = sim_lab.backend
    backend.provider.sim_dir.mkdir(parents=True, exist_ok=True)
    path = backend.provider.sim_dir / labprocess.RECORD
    path.write_text(text)
    return path


def test_down_never_signals_a_process_a_stale_record_names(sim_lab, bystander):
    _write_record(sim_lab, json.dumps({"pid": bystander.pid, "port": 1}))
    removed = sim_lab.backend.provider.destroy()
    assert not any(r.startswith("lab process") for r in removed)
    assert bystander.poll() is None, "down signalled a process that was not the lab's"


def test_looking_for_lab_processes_leaves_every_other_childs_exit_status_to_its_parent(tmp_path):
    """`down` looks through every process for the lab's. A command that also runs other programs (a test worker
    its kubectl, a CLI its tools) must still read their exit status: one reaped by that look is read as a
    success (subprocess takes a lost status for 0), whatever it exited with."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # it has exited, and is not reaped yet
    assert labprocess.find(tmp_path) == []
    assert not labprocess.is_ours(child.pid, tmp_path)
    assert not labprocess.alive(child.pid)  # an exited process is gone for the lab's purposes...
    assert child.wait(timeout=10) == 3  # ...and its exit status still its parent's to read


@pytest.mark.parametrize("pid", [-1, 0, 1])
def test_pids_below_two_are_refused_and_never_signalled(sim_lab, pid):
    path = _write_record(sim_lab, json.dumps({"pid": pid, "port": 4000}))
    with pytest.raises(LabError) as refused:
        sim_lab.backend.provider.running()
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert sim_lab.backend.provider.destroy() == [str(sim_lab.backend.provider.sim_dir)]


@pytest.mark.parametrize("text", ["", "{}", "[]", '""', '{"pid": "abc", "port": 1}', "not json", "\udcff\udcfe",
                                  '{"pid": 12.5, "port": 80}', '{"pid": true, "port": 80}', '{"pid": 99, "port": 70000}'])
def test_a_corrupt_record_is_one_line_naming_the_file_and_down_still_cleans_up(sim_lab, text):
    path = _write_record(sim_lab, "")
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(LabError) as refused:
        steps.up(sim_lab, until="clusters")
    message = str(refused.value)
    assert str(path) in message and "./labctl down" in message and "\n" not in message
    sim_lab.backend.provider.destroy()
    assert not path.exists()


def test_the_api_answers_only_with_the_token_only_this_user_can_read(read_only_lab):
    sim_lab = read_only_lab
    sim_dir = sim_lab.backend.provider.sim_dir
    record = labprocess.read_record(sim_dir)
    for name in (labprocess.TOKEN, labprocess.RECORD):
        assert stat.S_IMODE((sim_dir / name).stat().st_mode) == 0o600, name
    url = f"http://127.0.0.1:{record.port}/v1/clusters/east/objects/Secret/linkerd/linkerd-identity-issuer"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic abc"}):
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
        assert denied.value.code == 401
        assert json.loads(denied.value.read()) == {"error": "unauthorized"}
    assert sim_lab.backend.provider.running()  # the lab's own commands hold the token


def test_down_stops_every_lab_process_of_the_lab_even_an_orphan(sim_lab):
    steps.up(sim_lab, until="clusters")
    sim_dir = sim_lab.backend.provider.sim_dir
    # What two racing `up`s used to leave: a second lab process on the same state directory.
    orphan = subprocess.Popen([sys.executable, "-m", labprocess.MODULE, str(sim_dir.resolve())], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: orphan.pid in labprocess.find(sim_dir), 10, "the orphan to start")
    sim_lab.backend.provider.destroy()
    assert orphan.wait(timeout=15) is not None
    assert labprocess.find(sim_dir) == []


def _lab_lookalike(sim_dir: Path, ignore_term: bool) -> subprocess.Popen:
    """A process whose command line is a lab process's on `sim_dir` (what `is_ours` proves), that says when it
    is ready and then waits. On SIGTERM it says `term` and exits; one that ignores SIGTERM stands for a lab
    process stuck in its shutdown. (`stop` reaps a child of ours, so its exit status is not ours to read: what
    it said, and its stderr, are.)

    It takes SIGTERM blocked and waited for, not with a Python handler around `time.sleep`: CPython runs a
    handler at its next look for signals, and one that lands after the look following `ready` but before the
    sleep's system call leaves the sleep running its full minute, past `stop`'s grace (python/cpython#98140;
    reproduced about once in 2,000 runs on a saturated machine, and once in a whole test run). A blocked
    signal stays pending until `sigtimedwait` takes it: there is no moment it can be missed."""
    if ignore_term:
        code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    else:
        code = ("import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\nprint('ready', flush=True)\n"
                "if signal.sigtimedwait({signal.SIGTERM}, 60) is not None:\n    print('term', flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, labprocess.MODULE, str(sim_dir.resolve())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    return proc


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfd", "no-pidfd"])
@pytest.mark.parametrize("ignore_term", [False, True], ids=["exits-on-term", "ignores-term"])
def test_stop_asks_with_sigterm_kills_what_outlives_its_grace_and_leaves_no_zombie(tmp_path, bystander, monkeypatch,
                                                                                   ignore_term, pidfds):
    """SIGTERM first; SIGKILL once the grace is over. Where the kernel has no pidfd_open, a PID is all there is:
    proven ours again right before every signal. Either way the process is gone, not even a zombie of ours."""
    if not pidfds:
        monkeypatch.delattr(labprocess.os, "pidfd_open")
    proc = _lab_lookalike(tmp_path, ignore_term)
    try:  # the grace: what SIGKILL waits for; one that exits on SIGTERM ends the wait as it goes
        assert labprocess.stop([proc.pid, bystander.pid], tmp_path, grace=0.5 if ignore_term else 30) == [proc.pid]
        with pytest.raises(ProcessLookupError):
            os.kill(proc.pid, 0)  # reaped: no zombie left behind
        said, stderr = proc.stdout.read(), proc.stderr.read()
        assert said == (b"" if ignore_term else b"term\n"), (said, stderr)  # one that ignores it needed the SIGKILL
        assert bystander.poll() is None, "stop signalled a process it had not proven to be the lab's"
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_stop_works_for_a_command_holding_more_files_than_select_can_watch(tmp_path, bystander):
    """A pidfd numbered above 1,023 (the caller holds that many files: a test session, a long-lived tool)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this machine allows {hard} open files: a pidfd cannot be numbered above 1,023")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        proc = _lab_lookalike(tmp_path, ignore_term=True)
        try:
            assert labprocess.stop([proc.pid], tmp_path, grace=0.5) == [proc.pid]
            with pytest.raises(ProcessLookupError):
                os.kill(proc.pid, 0)
        finally:
            proc.kill()
            proc.stdout.close()
            proc.stderr.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_lab_process_that_died_is_named_as_the_cause(sim_lab):
    steps.up(sim_lab, until="clusters")
    backend = sim_lab.backend
    pid = kill_lab_process(backend.provider)
    (backend.provider.sim_dir / labprocess.RECORD).write_text(json.dumps({"pid": pid, "port": 9}))
    with pytest.raises(LabError, match=rf"the lab process \(pid {pid}\) has exited.*Fix: `./labctl up` restarts it"):
        backend.kube.get("east", "Namespace", "", "default")


def test_a_second_command_waits_for_the_lock_and_says_for_whom(tmp_path):
    said: list[str] = []
    order: list[str] = []
    first_in, second_waits = threading.Event(), threading.Event()

    def first():
        with lock.lab_lock(tmp_path, "inv up"):
            order.append("first in")
            first_in.set()
            second_waits.wait(10)  # hold the lock until the second command has said it waits
            order.append("first out")

    def say(line: str) -> None:
        said.append(line)
        second_waits.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with lock.lab_lock(tmp_path, "inv down", say=say):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]
    assert len(said) == 1 and "`inv up`" in said[0] and f"pid {os.getpid()}" in said[0] and str(tmp_path / "lock") in said[0]


def test_two_ups_at_once_leave_one_lab_process(tmp_path):
    (tmp_path / "lab.yaml").write_text("name: race\nprobe_period: 1\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    inv = [sys.executable, "-m", "invoke", "-r", str(REPO)]
    ups = [subprocess.Popen(inv + ["up", "--until", "clusters"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=120) for p in ups]
        assert [p.returncode for p in ups] == [0, 0], outputs
        sim_dir = tmp_path / ".lab" / "race" / "sim"
        assert len(labprocess.find(sim_dir)) == 1
    finally:
        subprocess.run(inv + ["down"], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert labprocess.find(tmp_path / ".lab" / "race" / "sim") == []


def test_up_refuses_new_trust_material_for_clusters_that_trust_an_anchor_the_lab_lost(sim_lab):
    import shutil

    from lab.trust import files as trust

    steps.up(sim_lab, until="linkerd")
    base = trust.pki_dir(sim_lab.cfg, sim_lab.root)
    shutil.rmtree(base)
    with pytest.raises(LabError) as refused:
        steps.up(sim_lab, until="linkerd")
    message = str(refused.value)
    assert "cluster east trusts anchor(s)" in message or "cluster west trusts anchor(s)" in message
    assert str(base) in message and "./labctl down --purge" in message and "\n" not in message
    assert not (base / "root.crt").exists(), "a new anchor was made anyway"


def test_check_names_clusters_that_trust_an_anchor_the_lab_lost(tmp_path):
    import shutil

    (tmp_path / "lab.yaml").write_text("name: lost\nprobe_period: 1\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    inv = [sys.executable, "-m", "invoke", "-r", str(REPO)]
    try:
        assert subprocess.run(inv + ["up"], cwd=tmp_path, env=env, capture_output=True, timeout=120).returncode == 0
        shutil.rmtree(tmp_path / ".lab" / "lost" / "pki")
        checked = subprocess.run(inv + ["check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert checked.returncode == 1
        assert "cluster east trusts anchor(s)" in checked.stdout and "does not hold them" in checked.stdout
        assert "Traceback" not in checked.stdout + checked.stderr
    finally:
        subprocess.run(inv + ["down", "--purge"], cwd=tmp_path, env=env, capture_output=True, timeout=120)


@pytest.mark.parametrize("text", ["not json", "{}", '{"clusters": []}', '{"clusters": {"east": {"spec": 1, "objects": 2}}}',
                                  '{"clusters": {"east": {"spec": {}, "objects": []}}}', "\x00" * 64])
def test_a_corrupt_saved_state_is_one_line_with_the_fix(sim_lab, text):
    sim_dir = sim_lab.backend.provider.sim_dir
    sim_dir.mkdir(parents=True)
    (sim_dir / "state.json").write_text(text)
    with pytest.raises(LabError) as refused:
        steps.up(sim_lab, until="clusters")
    message = str(refused.value)
    assert "state.json is not the lab's saved state" in message and "./labctl down" in message
    assert "\n" not in message and "Traceback" not in message
    assert labprocess.find(sim_dir) == []


def test_every_private_key_the_lab_writes_is_readable_only_by_its_user(read_only_lab):
    """The trust anchor, the issuers, the API servers' and each meshed pod's proxy key, wherever the lab keeps
    them: 0600, so another user of the machine cannot take an identity."""
    sim_lab = read_only_lab
    keys = [p for p in sim_lab.root.rglob("*") if p.is_file() and b"PRIVATE KEY-----" in p.read_bytes()]
    proxies = [p for p in keys if p.name == "key.pem"]
    assert len(proxies) >= 4 and len(keys) > len(proxies), keys  # the pods' proxies and the lab's own keys
    loose = [f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in keys if stat.S_IMODE(p.stat().st_mode) != 0o600]
    assert not loose, loose
