"""The one way the lab runs external commands: argument lists, a timeout, output captured.

A `Command` is data: its argv (some parts of which may be `Dynamic`, known
only when it runs), optional stdin, and an optional command it pipes into.
Three runners take it:
  Runner          runs it for real (subprocess), logs it at debug level, and on
                  failure raises CommandError with the output;
  RecordingRunner records it and answers from a table (tests);
  ScriptRunner    records it as a line of a shell script a person could run.
A secret in argv is a Dynamic: logs and scripts show its shell expression,
never its value.
"""
from __future__ import annotations

import logging
import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import CommandError, LabError, ToolMissing

log = logging.getLogger("lab.tools.run")


@dataclass(frozen=True)
class Dynamic:
    """A value known only at run time: how the lab computes it, and how a script would."""

    shell: str  # e.g. $(docker inspect -f '{{...}}' east-control-plane)
    resolve: Callable[[], str] = field(compare=False, repr=False)


Arg = str | Dynamic


def resolved(arg: Arg) -> str:
    """The value a command part has now (a Dynamic computes it; a script would print its shell form)."""
    return arg.resolve() if isinstance(arg, Dynamic) else arg


@dataclass(frozen=True)
class Command:
    argv: tuple[Arg, ...]
    stdin: str | None = None
    pipe_to: "Command | None" = None
    timeout: float = 600.0
    stdout_to: Path | None = None  # `> file`: the last stage's output goes to this file

    def __post_init__(self):
        object.__setattr__(self, "argv", tuple(self.argv))

    def text(self, resolved: bool = False) -> str:
        """The shell line: Dynamic parts as their shell expression (or resolved value)."""
        def part(a: Arg) -> str:
            if isinstance(a, Dynamic):
                return shlex.quote(a.resolve()) if resolved else f'"{a.shell}"'
            return shlex.quote(a)

        line = " ".join(part(a) for a in self.argv)
        if self.pipe_to is not None:
            line += " | " + self.pipe_to.text(resolved)
        if self.stdout_to is not None:
            line += " > " + shlex.quote(str(self.stdout_to))
        return line


def cmd(*argv: Arg, stdin: str | None = None, timeout: float = 600.0, stdout_to: Path | None = None) -> Command:
    return Command(tuple(argv), stdin=stdin, timeout=timeout, stdout_to=stdout_to)


def pipe(first: Command, second: Command) -> Command:
    return Command(first.argv, stdin=first.stdin, pipe_to=second, timeout=max(first.timeout, second.timeout))


def last_stage(command: Command) -> Command:
    while command.pipe_to is not None:
        command = command.pipe_to
    return command


@dataclass(frozen=True)
class Result:
    command: Command
    stdout: str
    stderr: str = ""
    code: int = 0


class Runner:
    """Runs commands for real."""

    scripting = False  # True: the commands become a script for later; nothing live can be read now

    def __init__(self, env: dict[str, str] | None = None):
        self.env = env

    def run(self, command: Command, check: bool = True) -> Result:
        log.debug("run: %s", command.text())
        stdin = command.stdin
        stages = [command]
        while stages[-1].pipe_to is not None:
            stages.append(stages[-1].pipe_to)
        result = None
        for stage in stages:
            argv = [resolved(a) for a in stage.argv]
            try:
                proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=stage.timeout, env=self.env)
            except FileNotFoundError:
                raise ToolMissing(f"`{argv[0]}` is not installed or not on PATH. Fix: run `./labctl doctor` to see what is missing") from None
            except subprocess.TimeoutExpired as exc:
                raise CommandError(Result(command, exc.stdout or "", exc.stderr or "", -1), f"timed out after {stage.timeout:g}s") from None
            result = Result(command, proc.stdout, proc.stderr, proc.returncode)
            if proc.returncode != 0:
                break
            stdin = proc.stdout
        if check and result.code != 0:
            raise CommandError(result)
        target = command.stdout_to or last_stage(command).stdout_to
        if target is not None and result.code == 0:
            self.write_file(Path(target), result.stdout)
        return result

    def write_file(self, path: Path, content: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    def retry(self, command: Command, attempts: int, interval: float, failure: str | None = None) -> Result:
        """Run until it succeeds, at most `attempts` times, `interval` seconds apart; the last failure raises
        (a LabError saying `failure`, the command's output in its detail, where one is given)."""
        for attempt in range(1, attempts + 1):
            try:
                result = self.run(command, check=attempt == attempts)
            except CommandError as exc:
                if failure is None:
                    raise
                error = LabError(failure)
                error.detail = f"{exc}\n{exc.detail}".strip()
                raise error from None
            if result.code == 0:
                return result
            time.sleep(interval)
        raise AssertionError("unreachable")


@dataclass
class Recorded:
    command: Command
    started: float
    ended: float
    thread: str


class RecordingRunner:
    """Records every command; answers from `responses` (first matching prefix of the shell line wins)."""

    scripting = False

    def __init__(self, responses: dict[str, str | Callable[[Command], str]] | None = None, delay: float = 0.0):
        self.responses = responses or {}
        self.delay = delay
        self.calls: list[Recorded] = []
        self.files: dict[str, str] = {}
        self._lock = threading.Lock()

    def run(self, command: Command, check: bool = True) -> Result:
        started = time.monotonic()
        if self.delay:
            time.sleep(self.delay)  # a stand-in for the tool's own run time, to measure overlap
        line = command.text()
        out = ""
        for prefix, answer in self.responses.items():
            if line.startswith(prefix):
                out = answer(command) if callable(answer) else answer
                break
        with self._lock:
            self.calls.append(Recorded(command, started, time.monotonic(), threading.current_thread().name))
        return Result(command, out)

    def write_file(self, path: Path, content: str) -> None:
        self.files[str(path)] = content
        self.run(cmd("tee", str(path), stdin=content))

    def retry(self, command: Command, attempts: int, interval: float, failure: str | None = None) -> Result:
        return self.run(command)  # the recorded answer does not change between attempts

    @property
    def lines(self) -> list[str]:
        return [c.command.text() for c in self.calls]


class ScriptRunner(RecordingRunner):
    """Records commands as a shell script; comments mark the steps."""

    scripting = True

    def __init__(self, delay: float = 0.0):
        super().__init__(delay=delay)
        self.blocks: list[str] = []
        self.tools: set[str] = set()  # every external command the script calls, for its header

    def _note(self, command: Command) -> None:
        stage: Command | None = command
        while stage is not None:
            self.tools.add(str(stage.argv[0]))
            for arg in stage.argv:
                if isinstance(arg, Dynamic):  # $(docker inspect ...), $(sha256sum ... | cut ...)
                    self.tools.update(re.findall(r"(?:\$\(|\|\s*)([A-Za-z0-9_.-]+)", arg.shell))
            stage = stage.pipe_to

    def comment(self, text: str) -> None:
        self.blocks.append("\n" + "\n".join(f"# {line}".rstrip() for line in text.splitlines()))

    def run(self, command: Command, check: bool = True) -> Result:
        result = super().run(command, check)
        self._note(command)
        self.blocks.append(render(command))
        return result

    def retry(self, command: Command, attempts: int, interval: float, failure: str | None = None) -> Result:
        result = RecordingRunner.run(self, command)
        self._note(command)
        self.tools.add("sleep")
        stop = "exit 1" if failure is None else f"{{ echo {shlex.quote(failure)} >&2; exit 1; }}"
        self.blocks.append(f"n=0; until {render(command)}; do n=$((n + 1)); [ \"$n\" -lt {attempts} ] || {stop}; "
                           f"sleep {interval:g}; done")
        return result

    def write_file(self, path: Path, content: str) -> None:
        body = content if content.endswith("\n") else content + "\n"
        self.tools.update(("mkdir", "cat"))
        self.blocks.append(f"mkdir -p {shlex.quote(str(path.parent))}\ncat > {shlex.quote(str(path))} <<'EOF'\n{body}EOF")

    def script(self, header: str, prelude: list[str] = ()) -> str:
        return ("#!/usr/bin/env bash\n" + "\n".join(f"# {l}".rstrip() for l in header.splitlines()) +
                "\nset -euo pipefail\n" + "".join(f"{line}\n" for line in prelude) + "\n" + "\n".join(self.blocks) + "\n")


def render(command: Command) -> str:
    """One command as shell: stdin becomes a quoted heredoc."""
    line = command.text()
    if command.stdin is None:
        return line
    body = command.stdin if command.stdin.endswith("\n") else command.stdin + "\n"
    first, _, rest = line.partition(" | ")
    return f"{first} <<'EOF'" + (f" | {rest}" if rest else "") + f"\n{body}EOF"
