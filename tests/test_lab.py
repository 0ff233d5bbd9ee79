"""The Lab object is the one lifecycle: `with Lab ...` brings a lab up and takes down only what it
started; every task that fails says so in one line."""
import inspect
import threading

import pytest
from invoke import Collection, Program

import tasks
from lab.model import config
from lab import lock, record
from lab.backends.base import wait_until
from lab.sim.process import labprocess
from lab.session import Lab


def _lab(tmp_path, name="unit") -> Lab:
    return Lab.from_config(config.parse({"name": name, "probe_period": 1}), "sim", tmp_path)


def test_with_lab_brings_it_up_and_takes_down_what_it_started(tmp_path):
    with _lab(tmp_path) as lab:
        assert lab.running() and lab.started_here
        sim_dir = lab.backend.provider.sim_dir
        assert labprocess.find(sim_dir)
    assert not lab.running()
    assert labprocess.find(sim_dir) == []
    assert not (lab.state_dir / record.RECORD_FILE).exists(), "down forgets the backend it recorded"


def test_with_lab_reuses_a_lab_that_was_up_and_leaves_it_up(tmp_path):
    first = _lab(tmp_path)
    first.up(until="clusters")
    try:
        with _lab(tmp_path) as second:
            assert not second.started_here
        assert first.running(), "a lab that was already up must survive the `with` block"
    finally:
        first.down()


def test_keep_leaves_a_lab_it_started(tmp_path):
    lab = _lab(tmp_path)
    lab.keep = True
    try:
        with lab:
            pass
        assert lab.running()
    finally:
        lab.down()


def test_the_lock_is_taken_once_per_lab_and_still_excludes_other_commands(tmp_path):
    lab = _lab(tmp_path)
    said = []
    with lab.locked("pytest scenarios"):
        with lab.locked("./labctl down"):  # the holder itself: no deadlock
            pass
        blocked = threading.Event()

        def other_command():
            with lock.lab_lock(lab.state_dir, "./labctl up", say=said.append):
                blocked.set()

        thread = threading.Thread(target=other_command)
        thread.start()
        wait_until(lambda: said, 10, "the other command to find the lab locked")  # said only when it must wait
        assert "`pytest scenarios`" in said[0] and not blocked.is_set()
    thread.join(10)
    assert blocked.is_set()


def test_a_gateway_switch_outlives_the_lab_object(tmp_path):
    (tmp_path / "lab.yaml").write_text("name: unit\nprobe_period: 1\n")
    lab = Lab.open(None, "sim", tmp_path)
    try:
        lab.up()
        lab.switch_gateway("ambassador")
        again = Lab.open(None, "auto", tmp_path)
        assert again.cfg.gateway == "ambassador" and again.backend.name == "sim"
        assert again.gateway.name == lab.gateway.name == "emissary-ingress"
    finally:
        lab.down()
    assert Lab.open(None, "auto", tmp_path).cfg.gateway == "linkerd", "down forgets the switch"


# -- every task: a failure is one line -----------------------------------------------------------
BROKEN = "name: lab\ngateway: nginx\n"
NO_CONFIG = {"test", "bench", "mutate", "tour"}  # pytest, the benchmark, the mutation runs and the workshop tour report for themselves


def _tasks_with_config() -> list[str]:
    names = []
    for name, obj in vars(tasks).items():
        body = getattr(obj, "body", None)
        if body is not None and hasattr(obj, "help"):
            params = inspect.signature(inspect.unwrap(body)).parameters
            assert "config" in params or name in NO_CONFIG, f"task {name} takes no --config: add it to NO_CONFIG or this test"
            if "config" in params:
                names.append(name)
    return names


TASK_ARGS = {"step": ["clusters"], "gateway": ["ambassador"], "revoke": ["west"], "relink": ["link-gen"],
             "address": ["172.18.255.200:4143"]}


@pytest.mark.parametrize("name", _tasks_with_config())
def test_every_task_ends_a_bad_config_in_one_line(name, tmp_path, monkeypatch, capsys):
    (tmp_path / "lab.yaml").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    program = Program(namespace=Collection.from_module(tasks), name="inv", binary="inv")
    with pytest.raises(SystemExit) as ended:
        program.run(["inv", name, *TASK_ARGS.get(name, [])])
    out = capsys.readouterr()
    assert ended.value.code == 1 and "Traceback" not in out.out + out.err
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "gateway: 'nginx' is not a known gateway" in lines[0], out.err
    assert not any(tmp_path.glob(".lab/*/sim")) and not any(tmp_path.glob(f".lab/*/{record.RECORD_FILE}")), "a refused command left state"


def test_with_lab_takes_down_a_lab_whose_up_failed(tmp_path, monkeypatch):
    from lab import steps
    from lab.errors import StepError

    lab = _lab(tmp_path)
    real_up = steps.up

    def up_then_fail(ctx, until=None, report=lambda r: None):
        real_up(ctx, until="clusters", report=report)  # the lab process is running by now
        raise StepError("link", "west->east", "something broke")

    monkeypatch.setattr(steps, "up", up_then_fail)
    with pytest.raises(StepError):
        with lab:
            pass
    assert labprocess.find(lab.backend.provider.sim_dir) == [] and not lab.running()
