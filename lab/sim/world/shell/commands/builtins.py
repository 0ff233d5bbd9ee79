"""The shell's builtins (busybox ash's): those that change the shell itself (cd, export, set, exit,
read...) and those ash runs without a process (echo, printf, test/[, true, false)."""
from __future__ import annotations

import asyncio
import re

from ..podview import FSError
from ..streams import IO
from .base import Ctx, ExitShell, LoopControl, ReturnFromFunction

async def colon(ctx: Ctx, argv: list[str]) -> int:
    return 0


async def false(ctx: Ctx, argv: list[str]) -> int:
    return 1


async def exit_(ctx: Ctx, argv: list[str]) -> int:
    status = ctx.sh.status
    if len(argv) > 1:
        if not re.fullmatch(r"-?\d+", argv[1]):
            await ctx.err(f"{ctx.sh.argv0}: exit: Illegal number: {argv[1]}\n")
            status = 2
        else:
            status = int(argv[1]) & 0xFF
    raise ExitShell(status)


async def return_(ctx: Ctx, argv: list[str]) -> int:
    raise ReturnFromFunction(int(argv[1]) & 0xFF if len(argv) > 1 and argv[1].lstrip("-").isdigit() else ctx.sh.status)


async def break_(ctx: Ctx, argv: list[str]) -> int:
    if not ctx.sh.loops:
        return 0
    levels = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    raise LoopControl(argv[0], max(1, min(levels, ctx.sh.loops)))


async def cd(ctx: Ctx, argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else ctx.env.get("HOME", "/")
    if target == "-":
        target = ctx.sh.get_var("OLDPWD") or ctx.sh.cwd
    path = ctx.path(target)
    if not ctx.pod.is_dir(path):
        reason = "Not a directory" if ctx.pod.exists(path) else "No such file or directory"
        await ctx.err(f"{ctx.sh.argv0}: cd: can't cd to {target}: {reason}\n")
        return 2
    ctx.sh.vars["OLDPWD"], ctx.sh.vars["PWD"] = ctx.sh.cwd, path
    return 0


async def pwd(ctx: Ctx, argv: list[str]) -> int:
    await ctx.out(ctx.sh.cwd + "\n")
    return 0


async def export(ctx: Ctx, argv: list[str]) -> int:
    args = [a for a in argv[1:] if a != "-p"]
    if not args:
        for name in sorted(ctx.sh.exported):
            if name in ctx.sh.vars:
                await ctx.out(f"export {name}={_quote(ctx.sh.vars[name])}\n")
        return 0
    for arg in args:
        name, eq, value = arg.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            await ctx.err(f"{ctx.sh.argv0}: export: bad variable name\n")
            return 2
        if eq:
            ctx.sh.vars[name] = value
        ctx.sh.exported.add(name)
    return 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


async def unset(ctx: Ctx, argv: list[str]) -> int:
    for name in argv[1:]:
        if name in ("-v", "-f"):
            continue
        ctx.sh.vars.pop(name, None)
        ctx.sh.funcs.pop(name, None)
        ctx.sh.exported.discard(name)
    return 0


async def set_(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) == 1:
        for name in sorted(ctx.sh.vars):
            await ctx.out(f"{name}={_quote(ctx.sh.vars[name])}\n")
        return 0
    args = argv[1:]
    while args and args[0][:1] in ("-", "+") and args[0] not in ("-", "--"):
        flag = args.pop(0)
        if flag in ("-o", "+o"):
            option = args.pop(0) if args else ""
            letters = {"errexit": "e", "nounset": "u", "noglob": "f", "xtrace": "x", "pipefail": "p"}.get(option)
            if letters is None:
                await ctx.err(f"{ctx.sh.argv0}: set: illegal option -o {option}\n")
                return 2
        else:
            letters = flag[1:]
        for letter in letters:
            (ctx.sh.options.add if flag[0] == "-" else ctx.sh.options.discard)(letter)
    if args and args[0] in ("-", "--"):
        args.pop(0)
        ctx.sh.positional = list(args)
    elif args:
        ctx.sh.positional = list(args)
    return 0


async def shift(ctx: Ctx, argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    if n > len(ctx.sh.positional):
        await ctx.err(f"{ctx.sh.argv0}: shift: can't shift that many\n")
        return 2
    ctx.sh.positional = ctx.sh.positional[n:]
    return 0


async def eval_(ctx: Ctx, argv: list[str]) -> int:
    io = IO(ctx.stdin, ctx.stdout, ctx.stderr)
    return await ctx.sh.run_text(" ".join(argv[1:]), io)


async def source(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) < 2:
        return 0
    try:
        text = ctx.pod.read(ctx.path(argv[1])).decode("utf-8", "replace")
    except FSError as exc:
        await ctx.err(f"{ctx.sh.argv0}: .: can't open '{argv[1]}': {exc.reason}\n")
        return 2
    return await ctx.sh.run_text(text, IO(ctx.stdin, ctx.stdout, ctx.stderr))


async def exec_(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) == 1:
        return 0
    io = IO(ctx.stdin, ctx.stdout, ctx.stderr)
    status = await ctx.sh.run_text(" ".join(_quote(a) for a in argv[1:]), io)
    raise ExitShell(status)


async def read(ctx: Ctx, argv: list[str]) -> int:
    args, raw = argv[1:], False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flag = args.pop(0)
        if flag == "-r":
            raw = True
        elif flag == "-p" and args:
            await ctx.err(args.pop(0))
    line = await ctx.stdin.readline()
    if not line:
        return 1
    text = line.decode("utf-8", "replace").rstrip("\n")
    if not raw:
        text = re.sub(r"\\(.)", r"\1", text)
    names = args or ["REPLY"]
    ifs = ctx.sh.get_var("IFS") or " \t\n"
    pieces = text.strip(ifs).split(None, len(names) - 1) if ifs.strip() == "" else text.split(ifs[0], len(names) - 1)
    for i, name in enumerate(names):
        ctx.sh.vars[name] = pieces[i] if i < len(pieces) else ""
    return 0


async def wait(ctx: Ctx, argv: list[str]) -> int:
    tasks, ctx.sh.background = ctx.sh.background, []
    results = await asyncio.gather(*tasks, return_exceptions=True) if tasks else []
    last = results[-1] if results else 0
    return last if isinstance(last, int) else 0


async def type_(ctx: Ctx, argv: list[str]) -> int:
    status = 0
    verbose = argv[0] == "type"
    names = [a for a in argv[1:] if not a.startswith("-")]
    for name in names:
        if name in ctx.sh.funcs:
            line = f"{name} is a function" if verbose else name
        elif name in BUILTINS:
            line = f"{name} is a shell builtin" if verbose else name
        elif ctx.sh.lookup(name) is not None:
            path = "/usr/bin/curl" if name == "curl" else f"/bin/{name}"
            line = f"{name} is {path}" if verbose else path
        else:
            if verbose:
                await ctx.out(f"{name}: not found\n")
            status = 127 if verbose else 1
            continue
        await ctx.out(line + "\n")
    return status


async def command(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] in ("-v", "-V"):
        return await type_(ctx, ["command" if argv[1] == "-v" else "type", *argv[2:]])
    io = IO(ctx.stdin, ctx.stdout, ctx.stderr)
    return await ctx.sh.run_text(" ".join(_quote(a) for a in argv[1:]), io) if len(argv) > 1 else 0


# -- echo, printf, test ------------------------------------------------------------------------------------
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v", "e": "\x1b"}


def unescape(text: str, stop_at_c: bool = True) -> tuple[str, bool]:
    """Backslash escapes as echo -e and printf's %b read them; True when `\\c` asked to stop output."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "c" and stop_at_c:
                return "".join(out), True
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
                i += 2
                continue
            m = re.match(r"0?([0-7]{1,3})", text[i + 1:])
            if nxt in "01234567" and m:
                out.append(chr(int(m.group(1), 8)))
                i += 1 + len(m.group(0))
                continue
            if nxt == "x":
                m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
                if m:
                    out.append(chr(int(m.group(0), 16)))
                    i += 2 + len(m.group(0))
                    continue
        out.append(c)
        i += 1
    return "".join(out), False


async def echo(ctx: Ctx, argv: list[str]) -> int:
    args, newline, escapes = argv[1:], True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = ("e" in flags) if "e" in flags or "E" in flags else escapes
    text = " ".join(args)
    if escapes:
        text, stop = unescape(text)
        newline = newline and not stop
    await ctx.out(text + ("\n" if newline else ""))
    return 0


async def printf(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) < 2:
        await ctx.err("printf: usage: printf FORMAT [ARGUMENT...]\n")
        return 1
    fmt, args, status = argv[1], argv[2:], 0
    spec = re.compile(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+))?([sdicxXobfeEgGu%])")
    out: list[str] = []
    while True:
        used = 0

        def conv(m) -> str:
            nonlocal used, status
            flags, width, precision, kind = m.groups()
            if kind == "%":
                return "%"
            arg = args[used] if used < len(args) else ""
            used += 1
            if kind == "b":
                return unescape(arg)[0]
            if kind in "dicxXou":
                try:
                    value: object = int(arg, 0) if arg else 0
                except ValueError:
                    value = ord(arg[1]) if arg[:1] in "'\"" and len(arg) > 1 else 0
                    if not arg[:1] in "'\"":
                        status = 1
                        return ""
                kind = {"i": "d", "u": "d", "c": "s"}.get(kind, kind)
            elif kind in "feEgG":
                try:
                    value = float(arg or 0)
                except ValueError:
                    status, value = 1, 0.0
            else:
                value = arg[:1] if kind == "c" else arg
                kind = "s"
            return ("%" + flags + (width or "") + (f".{precision}" if precision else "") + kind) % value

        text = spec.sub(conv, fmt)
        out.append(unescape(text, False)[0])
        if used == 0 or used >= len(args):
            break
        args = args[used:]
    await ctx.out("".join(out))
    return status


async def test(ctx: Ctx, argv: list[str]) -> int:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            await ctx.err("[: missing ]\n")
            return 2
        args = args[:-1]
    try:
        return 0 if _test(ctx, args) else 1
    except ValueError as exc:
        await ctx.err(f"{argv[0]}: {exc}\n")
        return 2


def _test(ctx: Ctx, args: list[str]) -> bool:
    if not args:
        return False
    for i, arg in enumerate(args):  # -o binds loosest, then -a
        if arg == "-o" and 0 < i < len(args) - 1:
            return _test(ctx, args[:i]) or _test(ctx, args[i + 1:])
    for i, arg in enumerate(args):
        if arg == "-a" and 0 < i < len(args) - 1:
            return _test(ctx, args[:i]) and _test(ctx, args[i + 1:])
    if args[0] == "!" and len(args) > 1:
        return not _test(ctx, args[1:])
    if args[0] == "(" and args[-1] == ")" and len(args) > 2:
        return _test(ctx, args[1:-1])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, value = args
        if op == "-z":
            return value == ""
        if op == "-n":
            return value != ""
        path = ctx.path(value) if value else ""
        files = {"-e": lambda: ctx.pod.exists(path), "-f": lambda: ctx.pod.exists(path) and not ctx.pod.is_dir(path),
                 "-d": lambda: ctx.pod.is_dir(path), "-s": lambda: ctx.pod.exists(path) and ctx.pod.size(path) > 0,
                 "-r": lambda: ctx.pod.exists(path), "-w": lambda: ctx.pod.may_write(path) and ctx.pod.exists(path),
                 "-x": lambda: ctx.pod.is_dir(path) or path.rsplit("/", 1)[-1] in ctx.pod.tools,
                 "-L": lambda: False, "-h": lambda: False, "-p": lambda: False, "-t": lambda: False}
        if op in files:
            return files[op]()
        raise ValueError(f"{op}: unknown operand")
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
            a, b = _number(left), _number(right)
            return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[op]
        if op in ("<", ">"):
            return left < right if op == "<" else left > right
    raise ValueError("syntax error")


def _number(text: str) -> int:
    if not re.fullmatch(r"\s*-?\d+\s*", text):
        raise ValueError(f"{text}: bad number" if text else "bad number")
    return int(text)


async def local(ctx: Ctx, argv: list[str]) -> int:
    if not ctx.sh.locals:
        await ctx.err(f"{ctx.sh.argv0}: local: not in a function\n")
        return 2
    frame = ctx.sh.locals[-1]
    for arg in argv[1:]:
        name, eq, value = arg.partition("=")
        frame.setdefault(name, ctx.sh.vars.get(name))
        ctx.sh.vars[name] = value if eq else ctx.sh.vars.get(name, "")
    return 0


async def trap(ctx: Ctx, argv: list[str]) -> int:
    """trap ACTION CONDITION...: kept; the EXIT action runs when the shell ends (no signals reach a
    simulated shell but the terminal's Ctrl-C, which interrupts the command instead)."""
    if len(argv) == 1:
        for condition, action in sorted(ctx.sh.traps.items()):
            await ctx.out(f"trap -- {_quote(action)} {condition}\n")
        return 0
    action, conditions = argv[1], argv[2:]
    for condition in conditions:
        name = "EXIT" if condition in ("0", "EXIT") else condition.upper().removeprefix("SIG")
        if action == "-":
            ctx.sh.traps.pop(name, None)
        else:
            ctx.sh.traps[name] = action
    return 0


async def true(ctx: Ctx, argv: list[str]) -> int:
    return 0


BUILTINS = {":": colon, "true": true, "false": false, "exit": exit_, "return": return_, "break": break_,
            "continue": break_, "cd": cd, "pwd": pwd, "export": export, "readonly": export, "unset": unset,
            "set": set_, "shift": shift, "eval": eval_, ".": source, "source": source, "exec": exec_, "read": read,
            "wait": wait, "type": type_, "command": command, "local": local, "trap": trap, "echo": echo, "printf": printf, "test": test, "[": test}
