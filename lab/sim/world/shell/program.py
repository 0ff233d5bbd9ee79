"""The `sh` program: its options (`-c`, `-s`, `-e`, `-x`, `-i`), a script from `-c`, a file or standard
input, and the interactive loop a terminal gets (prompt, continuation lines, Ctrl-C).

Standard input is read a line at a time and each complete command runs as soon as it is read, as a
shell reading a pipe or a terminal does; a command that reads stdin (`cat`) gets what follows.
"""
from __future__ import annotations

import asyncio

from .commands.base import ExitShell
from .interp import Shell
from .parser import parse
from .podview import FSError, PodView
from .streams import IO
from .syntax import Incomplete, ShellSyntaxError


class Interrupted(Exception):
    """Ctrl-C typed at the terminal while the shell was reading a line."""


USAGE = "sh: invalid option"


async def sh_main(pod: PodView, argv: list[str], io: IO, env: dict[str, str] | None = None) -> int:
    """Run `sh ARGS` in the pod and return its exit status."""
    args, options, command, interactive = list(argv[1:]), set(), None, None
    while args and args[0].startswith(("-", "+")) and args[0] not in ("-", "--"):
        flag = args.pop(0)
        for letter in flag[1:]:
            if letter == "c":
                command = ""
            elif letter == "i":
                interactive = True
            elif letter in "esxuflvn":
                options.add(letter)
            elif letter == "o" and args:
                args.pop(0)
            else:
                await io.stderr.write(f"sh: -{letter}: invalid option\n".encode())
                return 2
    if args and args[0] == "--":
        args.pop(0)
    shell = Shell(pod, "sh", env=env)
    shell.spawner = sh_main
    shell.options |= options - {"s", "i"}
    shell.tty = bool(getattr(io.stdin, "is_tty", False))
    try:
        try:
            status = await _run(shell, args, command, interactive, "s" in options, io)
        except ExitShell as exc:
            status = exc.status
        return await _finish(shell, status, io)
    except BaseException:  # cancelled (kubectl went away): so is what it started
        for task in shell.background:
            task.cancel()
        raise


async def _finish(shell: Shell, status: int, io: IO) -> int:
    """The EXIT trap, then what was started in the background: the exec's output stays open while a
    background command holds it, so the shell's end waits for them, as `kubectl exec` does."""
    action = shell.traps.pop("EXIT", None)
    if action:
        shell.status = status
        try:
            await shell.run_text(action, io)
        except ExitShell as exc:
            status = exc.status
    await asyncio.gather(*shell.background, return_exceptions=True)
    return status


async def _run(shell: Shell, args: list[str], command: str | None, interactive: bool | None, from_stdin: bool,
               io: IO) -> int:
    """`sh -c TEXT [NAME [ARGS]]`, `sh FILE [ARGS]`, or commands from stdin (`sh`, `sh -s [ARGS]`)."""
    if command is not None:
        if not args:
            await io.stderr.write(b"sh: -c requires an argument\n")
            return 2
        text = args.pop(0)
        if args:
            shell.argv0 = args.pop(0)
        shell.positional = args
        return await shell.run_text(text, io)
    if args and not from_stdin:
        shell.argv0, shell.positional = args[0], args[1:]
        try:
            script = shell.pod.read(shell.pod.abspath(args[0])).decode("utf-8", "replace")
        except FSError as exc:
            await io.stderr.write(f"sh: can't open '{args[0]}': {exc.reason}\n".encode())
            return 127 if exc.reason == "No such file or directory" else 126
        return await shell.run_text(script, io)
    shell.positional = args
    shell.interactive = interactive if interactive is not None else shell.tty
    return await read_loop(shell, io)


def prompt(shell: Shell, name: str) -> bytes:
    """PS1 / PS2 as ash expands them: \\w the directory (~ for home), \\$ `#` for root, \\u, \\h."""
    text = shell.get_var(name) or ""
    cwd, home = shell.cwd, shell.get_var("HOME") or ""
    short = "~" + cwd[len(home):] if home and home != "/" and (cwd == home or cwd.startswith(home + "/")) else cwd
    for key, value in (("\\w", short), ("\\W", short.rsplit("/", 1)[-1] or "/"), ("\\$", "#" if shell.pod.uid == 0 else "$"),
                       ("\\u", shell.pod.user), ("\\h", shell.pod.hostname.split(".")[0])):
        text = text.replace(key, value)
    return text.encode()


async def read_loop(shell: Shell, io: IO) -> int:
    """Commands from standard input until its end (or `exit`)."""
    buffered = ""
    while True:
        if shell.interactive:
            await io.stderr.write(prompt(shell, "PS2" if buffered else "PS1"))
        try:
            line = (await io.stdin.readline()).decode("utf-8", "replace")
        except Interrupted:
            buffered = ""
            shell.status = 130
            continue
        if not line:
            if buffered.strip():
                try:
                    parse(buffered)
                except ShellSyntaxError as exc:
                    await io.stderr.write(f"sh: {exc}\n".encode())
                    return 2
            if shell.interactive and shell.tty:
                await io.stdout.write(b"\n")
            return shell.status
        buffered += line
        text = line.rstrip("\n")
        if line.endswith("\n") and (len(text) - len(text.rstrip("\\"))) % 2:
            continue  # a line ending in a backslash goes on on the next
        try:
            tree = parse(buffered)
        except Incomplete:
            continue
        except ShellSyntaxError as exc:
            buffered = ""
            await io.stderr.write(f"sh: {exc}\n".encode())
            shell.status = 2
            if not shell.interactive:
                return 2
            continue
        buffered = ""
        await run_foreground(shell, tree, io)


async def run_foreground(shell: Shell, tree, io: IO) -> None:
    """One command line; on a terminal, Ctrl-C cancels it (status 130) and the shell goes on."""
    terminal = io.stdin if getattr(io.stdin, "is_tty", False) else None
    task = asyncio.ensure_future(shell.run(tree, io))
    if terminal is not None:
        terminal.foreground = task
        if terminal.interrupted:  # Ctrl-C came between Enter and the command's start: it is the command's
            terminal.interrupted = False
            task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if terminal is None or (current is not None and current.cancelling()):
            raise
        shell.status = 130
    except Interrupted:
        shell.status = 130
    finally:
        if terminal is not None:
            terminal.foreground = None
