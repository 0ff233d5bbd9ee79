"""The interpreter: runs a parsed script against the pod's view, each command a coroutine.

A pipeline's commands run concurrently, joined by in-memory pipes; each runs in a copy of the shell
state (a subshell), as busybox ash forks them; `( )` and `$( )` do the same. Builtins change the shell
itself (cd, export, exit...); every other command is an applet that reads its stdin, writes its
stdout and stderr, and returns its exit status.
"""
from __future__ import annotations

import asyncio
import copy
import fnmatch
import random

from . import expand
from .commands import APPLETS, BUILTINS
from .commands.base import Ctx, ExitShell, LoopControl, ReturnFromFunction
from .parser import parse
from .podview import FSError, PodView
from .streams import IO, BytesSource, Capture, FileSink, Pipe, Sink
from .syntax import AndOr, Case, CmdSub, For, FuncDef, Group, If, Pipeline, Seq, ShellSyntaxError, Simple, While

SPECIAL_BUILTINS = {"break", "continue", "exit", "export", "readonly", "return", "set", "shift", "unset", ":",
                    ".", "eval", "exec", "trap", "local"}


class Shell:
    def __init__(self, pod: PodView, argv0: str = "sh", positional: list[str] | None = None,
                 env: dict[str, str] | None = None):
        self.pod = pod
        env = pod.env if env is None else env
        self.vars: dict[str, str] = dict(env)
        self.exported: set[str] = set(env)
        self.vars.setdefault("IFS", " \t\n")
        self.vars.setdefault("PS1", "\\w \\$ ")
        self.vars.setdefault("PS2", "> ")
        self.vars.setdefault("PWD", pod.cwd)
        self.exported.add("PWD")
        self.tty = False  # stdin is a terminal (`kubectl exec -t`)
        self.interactive = False
        self.spawner = None  # (pod, argv, io, env) -> status: how `sh` starts a shell (program.sh_main)
        self.locals: list[dict] = []  # per function call: the outer values of its `local` variables
        self.traps: dict[str, str] = {}  # `trap` actions by condition (EXIT runs when the shell ends)
        self.argv0 = argv0
        self.positional = list(positional or [])
        self.status = 0
        self.pid = random.randint(20, 400)
        self.last_bg = 0
        self.options: set[str] = set()
        self.funcs: dict = {}
        self.loops = 0
        self.in_condition = 0
        self.background: list[asyncio.Task] = []

    # -- state ------------------------------------------------------------------------------------------
    @property
    def noglob(self) -> bool:
        return "f" in self.options

    @property
    def cwd(self) -> str:
        return self.vars.get("PWD", "/")

    def get_var(self, name: str) -> str | None:
        return self.vars.get(name)

    def set_var(self, name: str, value: str) -> None:
        self.vars[name] = value

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in self.vars.items() if k in self.exported}
        return {**env, **(extra or {})}

    def subshell(self) -> "Shell":
        child = copy.copy(self)
        child.vars, child.exported, child.options = dict(self.vars), set(self.exported), set(self.options)
        child.funcs, child.positional, child.background = dict(self.funcs), list(self.positional), []
        child.locals, child.traps = [dict(frame) for frame in self.locals], {}
        return child

    # -- running ------------------------------------------------------------------------------------------
    async def run_text(self, text: str, io: IO) -> int:
        """Parse and run `text` (sh -c, eval, a line read interactively); a syntax error is status 2."""
        try:
            tree = parse(text)
        except ShellSyntaxError as exc:
            await io.stderr.write(f"{self.argv0}: {exc}\n".encode())
            self.status = 2
            return 2
        return await self.run(tree, io)

    async def run(self, node, io: IO) -> int:
        try:
            self.status = await self.execute(node, io)
        except ExitShell:
            raise
        except (LoopControl, ReturnFromFunction):
            pass
        return self.status

    async def capture(self, node) -> bytes:
        """$( ): the body's stdout, run in a subshell; its status becomes $? of the command around it."""
        out = Capture()
        child = self.subshell()
        try:
            self.status = await child.execute(node, IO(BytesSource(b""), out, self.stderr))
        except ExitShell as exc:
            self.status = exc.status
        return out.value

    stderr: Sink = Sink()  # where a command substitution's errors go: the current command's stderr

    async def execute(self, node, io: IO) -> int:
        method = getattr(self, f"_{type(node).__name__.lower()}")
        return await method(node, io)

    async def _seq(self, node: Seq, io: IO) -> int:
        status = self.status
        for item, background in node.items:
            if background:
                child = self.subshell()
                task = asyncio.ensure_future(child.execute(item, IO(BytesSource(b""), io.stdout, io.stderr)))
                self.background.append(task)
                self.last_bg = self.pid + len(self.background)
                status = 0
            else:
                status = await self.execute(item, io)
            self.status = status
        return status

    async def _andor(self, node: AndOr, io: IO) -> int:
        conditional = bool(node.rest)
        self.in_condition += conditional
        try:
            status = await self.execute(node.first, io)
            for i, (op, pipeline) in enumerate(node.rest):
                self.status = status
                if (op == "&&") == (status == 0):
                    if i == len(node.rest) - 1:
                        self.in_condition -= conditional
                        conditional = False
                    status = await self.execute(pipeline, io)
        finally:
            self.in_condition -= conditional
        if status and "e" in self.options and not self.in_condition and not node.rest:
            raise ExitShell(status)
        return status

    async def _pipeline(self, node: Pipeline, io: IO) -> int:
        self.in_condition += node.negate
        try:
            if len(node.commands) == 1:
                status = await self.execute(node.commands[0], io)
            else:
                status = await self._run_pipe(node.commands, io)
        finally:
            self.in_condition -= node.negate
        return int(not status) if node.negate else status

    async def _run_pipe(self, commands: list, io: IO) -> int:
        pipes = [Pipe() for _ in commands[1:]]

        async def stage(i: int, command) -> int:
            stdin = pipes[i - 1] if i else io.stdin
            stdout = pipes[i] if i < len(pipes) else io.stdout
            try:
                return await self.subshell().execute(command, IO(stdin, stdout, io.stderr))
            except ExitShell as exc:
                return exc.status
            except BrokenPipeError:
                return 141
            finally:
                if i < len(pipes):
                    pipes[i].close_writer()
                if i:
                    pipes[i - 1].close()

        statuses = await asyncio.gather(*(stage(i, c) for i, c in enumerate(commands)))
        return statuses[-1]

    async def _if(self, node: If, io: IO) -> int:
        io = await self.redirected(node.redirs, io)
        if io is None:
            return 1
        for cond, body in node.branches:
            if await self.condition(cond, io) == 0:
                return await self.execute(body, io)
        return await self.execute(node.orelse, io) if node.orelse else 0

    async def condition(self, cond: Seq, io: IO) -> int:
        self.in_condition += 1
        try:
            return await self.execute(cond, io)
        finally:
            self.in_condition -= 1

    async def _for(self, node: For, io: IO) -> int:
        io = await self.redirected(node.redirs, io)
        if io is None:
            return 1
        items = list(self.positional) if node.words is None else await expand.words(self, node.words)
        status = 0
        for item in items:
            self.vars[node.var] = item
            control = await self._loop_body(node.body, io)
            status = self.status
            if control == "break":
                break
        return status

    async def _loop_body(self, body: Seq, io: IO) -> str | None:
        self.loops += 1
        try:
            await self.execute(body, io)
        except LoopControl as exc:
            if exc.levels > 1:
                exc.levels -= 1
                raise
            return exc.kind
        finally:
            self.loops -= 1
        await asyncio.sleep(0)  # a `while true` loop yields to the rest of the lab process
        return None

    async def _while(self, node: While, io: IO) -> int:
        io = await self.redirected(node.redirs, io)
        if io is None:
            return 1
        status = 0
        while True:
            ran = await self.condition(node.cond, io)
            if (ran == 0) == node.until:
                return status
            control = await self._loop_body(node.body, io)
            status = self.status
            if control == "break":
                return status

    async def _case(self, node: Case, io: IO) -> int:
        io = await self.redirected(node.redirs, io)
        if io is None:
            return 1
        value = await expand.single(self, node.word)
        for patterns, body in node.items:
            for pat in patterns:
                if fnmatch.fnmatchcase(value, await expand.pattern(self, pat)):
                    return await self.execute(body, io)
        return 0

    async def _group(self, node: Group, io: IO) -> int:
        io = await self.redirected(node.redirs, io)
        if io is None:
            return 1
        if not node.subshell:
            return await self.execute(node.body, io)
        try:
            return await self.subshell().execute(node.body, io)
        except ExitShell as exc:
            return exc.status

    async def _funcdef(self, node: FuncDef, io: IO) -> int:
        self.funcs[node.name] = node.body
        return 0

    # -- simple commands -------------------------------------------------------------------------------
    async def _simple(self, node: Simple, io: IO) -> int:
        self.stderr = io.stderr
        try:
            argv = await expand.words(self, node.words)
            assigns = [(name, await expand.single(self, value)) for name, value in node.assigns]
        except expand.ExpansionError as exc:
            await io.stderr.write(f"{self.argv0}: {exc}\n".encode())
            if not self.interactive:
                raise ExitShell(exc.status)
            return exc.status
        redirected = await self.redirected(node.redirs, io)
        if redirected is None:
            return 1
        if not argv:
            for name, value in assigns:
                self.vars[name] = value
            return self.status if _has_cmdsub(node) else 0
        return await self.command(argv, redirected, assigns)

    async def command(self, argv: list[str], redirected: IO, assigns: list = ()) -> int:
        """Run one expanded command: a function, a builtin, or an applet of the image; else `not found`."""
        name = argv[0]
        if "x" in self.options:  # set -x: each command as it runs, on stderr
            await redirected.stderr.write(("+ " + " ".join(argv) + "\n").encode())
        if name in self.funcs:
            return await self._call(name, argv, redirected)
        builtin = BUILTINS.get(name)
        if builtin is not None and name in SPECIAL_BUILTINS:
            for n, value in assigns:
                self.vars[n] = value
            return await builtin(self._ctx(redirected, {}), argv)
        env = {n: v for n, v in assigns}
        if builtin is not None:
            return await builtin(self._ctx(redirected, env), argv)
        applet = self.lookup(name)
        if applet is None:
            await redirected.stderr.write(f"{self.argv0}: {name}: not found\n".encode())
            return 127
        try:
            return await applet(self._ctx(redirected, env), [name.rsplit("/", 1)[-1], *argv[1:]])
        except BrokenPipeError:
            return 141
        except OSError as exc:
            await redirected.stderr.write(f"{name}: write error: {exc}\n".encode())
            return 1

    async def run_argv(self, argv: list[str], ctx: Ctx, env: dict[str, str]) -> int:
        """`env [NAME=value] command...`: the command with exactly that environment."""
        child = self.subshell()
        child.vars, child.exported = dict(env), set(env)
        return await child.command(argv, IO(ctx.stdin, ctx.stdout, ctx.stderr))

    async def spawn(self, argv: list[str], ctx: Ctx) -> int:
        """`sh ...` run from this shell: a new shell with the command's environment."""
        if self.spawner is None:
            await ctx.err(f"{self.argv0}: {argv[0]}: not found\n")
            return 127
        return await self.spawner(self.pod, argv, IO(ctx.stdin, ctx.stdout, ctx.stderr), ctx.env)

    def lookup(self, name: str):
        """The applet a command name runs: by name on PATH, or by a path to one of the image's binaries."""
        if "/" in name:
            base = name.rsplit("/", 1)[-1]
            path = self.pod.abspath(name, self.cwd)
            if base in self.pod.tools and path.rsplit("/", 1)[0] in ("/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin"):
                return APPLETS.get(base)
            return None
        return APPLETS.get(name) if name in self.pod.tools else None

    def _ctx(self, io: IO, env: dict[str, str]) -> Ctx:
        return Ctx(self, io.stdin, io.stdout, io.stderr, self.environ(env), self.pod)

    async def _call(self, name: str, argv: list[str], io: IO) -> int:
        saved = self.positional
        self.positional = argv[1:]
        self.locals.append({})
        try:
            return await self.execute(self.funcs[name], io)
        except ReturnFromFunction as exc:
            return exc.status
        finally:
            self.positional = saved
            for var, value in self.locals.pop().items():  # `local` variables get their outer values back
                if value is None:
                    self.vars.pop(var, None)
                else:
                    self.vars[var] = value

    async def redirected(self, redirs: list, io: IO) -> IO | None:
        """The IO after a command's redirections; None (after the shell's message) when one fails."""
        for redir in redirs:
            fds = {0: io.stdin, 1: io.stdout, 2: io.stderr}
            try:
                target = await expand.single(self, redir.heredoc if redir.heredoc is not None else redir.target)
            except expand.ExpansionError as exc:
                await io.stderr.write(f"{self.argv0}: {exc}\n".encode())
                return None
            op = redir.op
            if op in ("<<", "<<-"):
                fds[redir.fd] = BytesSource(target.encode())
            elif op in (">&", "<&"):
                if target == "-":
                    fds[redir.fd] = Sink() if redir.fd else BytesSource(b"")
                elif target.isdigit() and int(target) in fds:
                    fds[redir.fd] = fds[int(target)]
                else:
                    await io.stderr.write(f"{self.argv0}: {target}: bad file descriptor\n".encode())
                    return None
            else:
                path = self.pod.abspath(target, self.cwd)
                try:
                    fds[redir.fd] = self._open(path, op, fds)
                except FSError as exc:
                    verb = "open" if op == "<" else "create"
                    await io.stderr.write(f"{self.argv0}: can't {verb} {target}: {exc.reason}\n".encode())
                    return None
            if redir.fd not in (0, 1, 2):
                continue  # other descriptors are not kept: nothing here reads them
            io = IO(fds[0], fds[1], fds[2])
        return io

    def _open(self, path: str, op: str, fds: dict):
        if path == "/dev/stdout":
            return fds[1]
        if path == "/dev/stderr":
            return fds[2]
        if path == "/dev/stdin":
            return fds[0]
        if op == "<":
            return BytesSource(self.pod.read(path))
        self.pod.write(path, b"", True)  # may it be written: the error now, as open(2) fails
        return FileSink(lambda p, data, append: self.pod.write(p, data, append), path, op == ">>")


def _has_cmdsub(node: Simple) -> bool:
    """`x=$(false)` takes the status of its command substitution; a plain assignment is 0."""
    return any(isinstance(p, CmdSub) for _, w in node.assigns for p in w.parts)
