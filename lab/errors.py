"""Every error a user can cause, under one root: `LabError`.

The command line and the step runner catch `LabError` and print its message: one line that names the
problem and the fix. Anything longer a failure has to say (a tool's whole output) rides along in
`detail`, so nothing is lost; the command line writes it to a file and names the file in that line.
"""
from __future__ import annotations

from typing import Any


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message shows it: repr, cut to a readable length (a 10 MB value is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LabError(RuntimeError):
    """An error a user can cause or fix: its message is one line with the fix."""

    detail: str = ""  # longer evidence, kept out of the one line


class CorruptFile(LabError):
    """A file the lab wrote that cannot be read back (its process record, its saved state): the lab's state
    is unknown, so it is reported, never taken for "not running"."""


def one_of(what: str, value: str, choices) -> None:
    """Refuse a value given on the command line that is not among `choices`, naming them."""
    if value not in choices:
        raise LabError(f"unknown {what} {value!r}. Fix: use one of {', '.join(choices)}")


class ConfigError(LabError, ValueError):
    """A bad lab.yaml: which field, what is wrong, and the fix."""

    def __init__(self, field_path: str, problem: str, fix: str, source: str = "lab.yaml"):
        self.field_path = field_path
        self.problem = problem
        self.fix = fix
        super().__init__(f"{source}: {field_path}: {problem}. Fix: {fix}")


class PKIError(LabError, ValueError):
    """A certificate or key the lab cannot use, and why."""


class ToolMissing(LabError):
    """A command the lab runs is not installed."""


class CommandError(LabError):
    """A command the lab ran failed: the one line says which and how it ended; `detail` holds its output."""

    def __init__(self, result, what: str = ""):
        self.result = result
        output = result.stderr or result.stdout or ""
        if isinstance(output, bytes):  # a timed-out run hands back bytes even in text mode
            output = output.decode(errors="replace")
        output = output.strip()
        self.detail = output[-20000:]
        last = output.splitlines()[-1].strip()[:300] if output else ""
        super().__init__(f"`{result.command.text()}` failed (exit {result.code})" + (f": {what}" if what else "") +
                         (f": {last}" if last else ""))


class StepError(LabError):
    """A step failed for one target."""

    def __init__(self, step: str, target: str, message: str):
        self.step, self.target = step, target
        super().__init__(f"step {step} failed for {target}: {message}")
