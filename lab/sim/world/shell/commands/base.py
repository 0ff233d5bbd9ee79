"""What every command gets: its arguments' context (Ctx: stdin, stdout, stderr, environment, the shell,
the pod's view) and the helpers busybox applets share: option parsing, reading files or stdin."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from ..podview import FSError, PodView
from ..streams import Sink, Source


@dataclass
class Ctx:
    sh: Any  # interp.Shell (typed loosely: the interpreter imports the commands, not the other way)
    stdin: Source
    stdout: Sink
    stderr: Sink
    env: dict
    pod: PodView

    async def out(self, data) -> None:
        await self.stdout.write(data.encode() if isinstance(data, str) else data)

    async def err(self, data) -> None:
        await self.stderr.write(data.encode() if isinstance(data, str) else data)

    async def fail(self, name: str, message: str, status: int = 1) -> int:
        await self.err(f"{name}: {message}\n")
        return status

    def path(self, name: str) -> str:
        return self.pod.abspath(name, self.sh.cwd)

    async def read_input(self, name: str, files: list[str]):
        """(label, content) of each file named (stdin for none or `-`); a file that cannot be read is
        reported as busybox does and yields None."""
        for file in files or ["-"]:
            if file == "-":
                yield file, await self.stdin.readall()
                continue
            try:
                yield file, self.pod.read(self.path(file))
            except FSError as exc:
                what = "read error" if exc.reason == "Is a directory" else f"can't open '{file}'"
                await self.err(f"{name}: {what}: {exc.reason}\n")
                yield file, None


Command = Callable[[Ctx, list], Awaitable[int]]


class ExitShell(Exception):
    """`exit N` (and a fatal error in a non-interactive shell): the shell ends with `status`."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class LoopControl(Exception):
    """`break N` / `continue N`."""

    def __init__(self, kind: str, levels: int):
        super().__init__(kind)
        self.kind, self.levels = kind, levels


class ReturnFromFunction(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class Usage(Exception):
    """Bad options: busybox prints the message (and its usage line) and exits 1."""


def options(argv: list[str], flags: str, valued: str = "", long: dict | None = None) -> tuple[dict, list[str]]:
    """getopt as busybox applets use it: clustered single-letter flags (`-sS`), values after letters of
    `valued` (`-n 3`, `-n3`), `--` ending options; `long` maps long options to letters."""
    found: dict = {}
    rest: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i + 1:]
            break
        if arg.startswith("--") and long is not None:
            key, eq, value = arg[2:].partition("=")
            letter = long.get(key)
            if letter is None:
                raise Usage(f"unrecognized option '{arg}'")
            if letter in valued:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise Usage(f"option '{arg}' requires an argument")
                    value = argv[i]
                found.setdefault(letter, []).append(value)
            else:
                found[letter] = True
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter in valued:
                    value = arg[j + 1:]
                    if not value:
                        i += 1
                        if i >= len(argv):
                            raise Usage(f"option requires an argument -- '{letter}'")
                        value = argv[i]
                    found.setdefault(letter, []).append(value)
                    break
                if letter not in flags:
                    raise Usage(f"invalid option -- '{letter}'")
                found[letter] = True
                j += 1
        else:
            rest.append(arg)
        i += 1
    return found, rest


def last(found: dict, letter: str, default=None):
    values = found.get(letter)
    return values[-1] if isinstance(values, list) and values else default
