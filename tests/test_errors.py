"""One error root: whatever fails below (a config, a certificate, a tool, a command, a step), the
command line prints one line with the fix, and a tool's whole output is kept, not lost."""
from pathlib import Path

import pytest
from invoke import Exit

import tasks
from lab.model import config
from lab import errors, steps
from lab.trust import pki
from lab.tools import run
from lab.backends.base import LabError
from lab.backends import kind_backend
from lab.tools.run import RecordingRunner, Result, cmd


def test_every_user_facing_error_is_a_lab_error_wherever_it_is_imported_from():
    for cls in (errors.ConfigError, errors.PKIError, errors.CommandError, errors.ToolMissing, errors.StepError):
        assert issubclass(cls, LabError)
    assert config.ConfigError is errors.ConfigError and pki.PKIError is errors.PKIError
    assert run.CommandError is errors.CommandError and run.ToolMissing is errors.ToolMissing
    assert steps.StepError is errors.StepError and LabError is errors.LabError


class FailingRunner(RecordingRunner):
    """kind refuses to create the cluster, as it does when the node image cannot be pulled."""

    def run(self, command, check=True):
        result = super().run(command, check)
        if command.text().startswith("kind create cluster"):
            failed = Result(command, "", "Creating cluster \"east\" ...\n ✗ Ensuring node image\nERROR: failed to pull image", 1)
            if check:
                raise errors.CommandError(failed)
            return failed
        return result


def _one_line(fn, monkeypatch, tmp_path) -> str:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exit) as ended:
        tasks.friendly(fn)()
    assert ended.value.code == 1
    message = ended.value.message
    assert message.startswith("error: ") and "\n" not in message
    return message


def test_a_failing_command_in_a_step_is_one_line_and_its_output_is_kept(tmp_path, monkeypatch):
    cfg = config.load()
    ctx = steps.Context(cfg, kind_backend(cfg, tmp_path, runner=FailingRunner()), tmp_path)

    def up_clusters():
        steps.run_step(ctx, steps.by_name("clusters"))

    message = _one_line(up_clusters, monkeypatch, tmp_path)
    assert "step clusters failed for east" in message and "ERROR: failed to pull image" in message
    assert "(full output: .lab/last-error.log)" in message
    kept = (tmp_path / ".lab" / "last-error.log").read_text()
    assert "Ensuring node image" in kept and "failed to pull image" in kept
    assert (tmp_path / ".lab" / "last-error.log").stat().st_mode & 0o077 == 0


def test_a_missing_tool_is_one_line(tmp_path, monkeypatch):
    def missing():
        run.Runner().run(cmd("lab-no-such-tool-xyz", "--version"))

    message = _one_line(missing, monkeypatch, tmp_path)
    assert "`lab-no-such-tool-xyz` is not installed" in message and "./labctl doctor" in message


@pytest.mark.parametrize("error", [errors.PKIError("the issuer expired. Fix: renew it"),
                                   errors.ConfigError("name", "is bad", "use another"),
                                   LabError("two\nlines. Fix: one")])
def test_any_lab_error_is_one_line(tmp_path, monkeypatch, error):
    def fail():
        raise error

    assert _one_line(fail, monkeypatch, tmp_path)
    assert not Path(tmp_path / ".lab" / "last-error.log").exists()


def test_a_command_that_hangs_is_one_line_naming_the_timeout(tmp_path, monkeypatch):
    def hangs():
        run.Runner().run(cmd("sleep", "5", timeout=0.2))

    message = _one_line(hangs, monkeypatch, tmp_path)
    assert "`sleep 5` failed (exit -1): timed out after 0.2s" in message
