"""busybox applets about the container and its files: env, printenv, hostname, date, uptime, sleep, ls,
id, whoami, uname, ps, which, mkdir, rm, touch, and `sh` itself (a shell started from the shell)."""
from __future__ import annotations

import asyncio
import re
import time

from ..podview import FSError
from .base import Ctx, Usage, options


async def env(ctx: Ctx, argv: list[str]) -> int:
    args, extra = argv[1:], {}
    clear = False
    while args and (args[0] in ("-i", "-") or ("=" in args[0] and not args[0].startswith("="))):
        arg = args.pop(0)
        if arg in ("-i", "-"):
            clear = True
        else:
            name, _, value = arg.partition("=")
            extra[name] = value
    environment = {**({} if clear else ctx.env), **extra}
    if args:
        return await ctx.sh.run_argv(args, ctx, environment)
    await ctx.out("".join(f"{k}={v}\n" for k, v in environment.items()))
    return 0


async def printenv(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) == 1:
        await ctx.out("".join(f"{k}={v}\n" for k, v in ctx.env.items()))
        return 0
    status = 0
    for name in argv[1:]:
        if name in ctx.env:
            await ctx.out(ctx.env[name] + "\n")
        else:
            status = 1
    return status


async def hostname(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "-i":
        await ctx.out(_pod_ip(ctx) + "\n")
        return 0
    if len(argv) > 1 and not argv[1].startswith("-"):
        return await ctx.fail("hostname", "sethostname: Operation not permitted")
    await ctx.out(ctx.pod.hostname + "\n")
    return 0


def _pod_ip(ctx: Ctx) -> str:
    for line in ctx.pod.files.get("/etc/hosts", b"").decode().splitlines():
        fields = line.split()
        if len(fields) > 1 and ctx.pod.hostname in fields[1:]:
            return fields[0]
    return "127.0.0.1"


async def date(ctx: Ctx, argv: list[str]) -> int:
    fmt, now = None, time.time()
    for arg in argv[1:]:
        if arg.startswith("+"):
            fmt = arg[1:]
        elif arg in ("-u", "-R", "-I", "--utc"):
            fmt = {"-R": "%a, %d %b %Y %H:%M:%S +0000", "-I": "%Y-%m-%d"}.get(arg, fmt)
        elif arg.startswith("-"):
            return await ctx.fail("date", f"invalid option -- '{arg[1:2]}'")
        else:
            return await ctx.fail("date", "can't set date: Operation not permitted")
    stamp = time.gmtime(now)
    if fmt is None:
        text = time.strftime("%a %b ", stamp) + f"{stamp.tm_mday:2d}" + time.strftime(" %H:%M:%S UTC %Y", stamp)
    else:
        text = time.strftime(fmt.replace("%N", f"{int(now % 1 * 1e9):09d}").replace("%s", str(int(now))), stamp)
    await ctx.out(text + "\n")
    return 0


async def uptime(ctx: Ctx, argv: list[str]) -> int:
    minutes = int(time.time() - ctx.pod.started) // 60
    up = f"{minutes // 60}:{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"
    await ctx.out(time.strftime(" %H:%M:%S", time.gmtime()) + f" up {up},  0 users,  load average: 0.00, 0.00, 0.00\n")
    return 0


async def sleep(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) < 2:
        await ctx.err("Usage: sleep [N]...\n")
        return 1
    total = 0.0
    for arg in argv[1:]:
        if arg == "infinity":
            total = float("inf")
            continue
        m = re.fullmatch(r"(\d*\.?\d+)([smhd]?)", arg)
        if not m:
            return await ctx.fail("sleep", f"invalid number '{arg}'")
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if total == float("inf"):
        await asyncio.Event().wait()
    await asyncio.sleep(total)
    return 0


MODES = {True: "drwxr-xr-x", False: "-rw-r--r--"}


async def ls(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, names = options(argv, "lahd1AFRt")
    except Usage as exc:
        return await ctx.fail("ls", str(exc), 2)
    status, entries, dirs = 0, [], []
    for name in names or ["."]:
        path = ctx.path(name)
        if not ctx.pod.exists(path):
            await ctx.err(f"ls: {name}: No such file or directory\n")
            status = 2
        elif ctx.pod.is_dir(path) and not found.get("d"):
            dirs.append((name, path))
        else:
            entries.append((name, path))
    blocks = []
    if entries:
        blocks.append(await _listing(ctx, entries, found))
    for name, path in dirs:
        listed = [(n, f"{path.rstrip('/')}/{n}") for n in ctx.pod.listdir(path)
                  if found.get("a") or found.get("A") or not n.startswith(".")]
        if found.get("a"):
            listed = [(".", path), ("..", path)] + listed
        heading = f"{name}:\n" if len(names) > 1 else ""
        blocks.append(heading + await _listing(ctx, listed, found))
    await ctx.out("\n".join(b for b in blocks if b))
    return status


async def _listing(ctx: Ctx, entries: list, found: dict) -> str:
    if not found.get("l"):
        marks = [(n + ("/" if found.get("F") and ctx.pod.is_dir(p) else "")) for n, p in entries]
        if getattr(ctx.sh, "tty", False) and not found.get("1"):
            return "  ".join(marks) + ("\n" if marks else "")
        return "".join(m + "\n" for m in marks)
    rows = []
    stamp = time.strftime("%b %e %H:%M", time.gmtime(ctx.pod.started))
    for name, path in entries:
        is_dir = ctx.pod.is_dir(path)
        owner = ctx.pod.user if ctx.pod.may_write(path) and path in ctx.pod.overlay or path == ctx.pod.home else "root"
        mode = "crw-rw-rw-" if path.startswith("/dev/") else MODES[is_dir]
        rows.append(f"{mode} {2 if is_dir else 1:>4} {owner:<8} {owner if owner != 'root' else 'root':<8} "
                    f"{ctx.pod.size(path) if not path.startswith('/dev/') else 0:>9} {stamp} {name}")
    return "".join(r + "\n" for r in rows)


async def id_(ctx: Ctx, argv: list[str]) -> int:
    pod = ctx.pod
    group = pod.group
    if "-u" in argv:
        await ctx.out(f"{pod.user if '-n' in argv else pod.uid}\n")
        return 0
    await ctx.out(f"uid={pod.uid}({pod.user}) gid={pod.gid}({group}) groups={pod.gid}({group})\n")
    return 0


async def whoami(ctx: Ctx, argv: list[str]) -> int:
    await ctx.out(ctx.pod.user + "\n")
    return 0


async def uname(ctx: Ctx, argv: list[str]) -> int:
    fields = {"s": "Linux", "n": ctx.pod.hostname, "r": "6.8.0", "v": "#1 SMP", "m": "x86_64", "o": "Linux"}
    wanted = "snrvmo" if "-a" in argv else "".join(a[1:] for a in argv[1:] if a.startswith("-")) or "s"
    await ctx.out(" ".join(fields[c] for c in "snrvmo" if c in wanted) + "\n")
    return 0


async def ps(ctx: Ctx, argv: list[str]) -> int:
    user = ctx.pod.user[:8]
    await ctx.out(f"PID   USER     TIME  COMMAND\n    1 {user:<8} 0:00 {ctx.pod.command}\n"
                  f"{ctx.sh.pid:>5} {user:<8} 0:00 sh\n{ctx.sh.pid + 1:>5} {user:<8} 0:00 ps\n")
    return 0


async def which(ctx: Ctx, argv: list[str]) -> int:
    status = 0
    for name in argv[1:]:
        if ctx.sh.lookup(name) is None:
            status = 1
            continue
        await ctx.out(("/usr/bin/curl" if name == "curl" else f"/bin/{name}") + "\n")
    return status


async def mkdir(ctx: Ctx, argv: list[str]) -> int:
    found, names = options(argv, "p")
    status = 0
    for name in names:
        path = ctx.path(name)
        if found.get("p") and ctx.pod.is_dir(path):
            continue
        try:
            ctx.pod.mkdir(path)
        except FSError as exc:
            status = await ctx.fail("mkdir", f"can't create directory '{name}': {exc.reason}")
    return status


async def rm(ctx: Ctx, argv: list[str]) -> int:
    found, names = options(argv, "rfRi")
    status = 0
    for name in names:
        try:
            ctx.pod.remove(ctx.path(name))
        except FSError as exc:
            if not (found.get("f") and exc.reason == "No such file or directory"):
                status = await ctx.fail("rm", f"can't remove '{name}': {exc.reason}")
    return status


async def touch(ctx: Ctx, argv: list[str]) -> int:
    status = 0
    for name in [a for a in argv[1:] if not a.startswith("-")]:
        try:
            ctx.pod.write(ctx.path(name), b"", True)
        except FSError as exc:
            status = await ctx.fail("touch", f"{name}: {exc.reason}")
    return status


async def clear(ctx: Ctx, argv: list[str]) -> int:
    await ctx.out(b"\x1b[H\x1b[J")
    return 0


async def xargs(ctx: Ctx, argv: list[str]) -> int:
    """xargs [-n N] [-I STR] [COMMAND [ARGS]]: the words of stdin as arguments (busybox: echo by default)."""
    try:
        found, command = options(argv[:1] + _until_command(argv[1:]), "rt", "nI")
    except Usage as exc:
        return await ctx.fail("xargs", str(exc))
    command = argv[1 + len(_until_command(argv[1:])):] or ["echo"]
    words = (await ctx.stdin.readall()).decode("utf-8", "replace")
    replace = found.get("I", [None])[-1]
    items = [line for line in words.splitlines() if line] if replace else words.split()
    if not items and found.get("r"):
        return 0
    size = 1 if replace else int(found.get("n", ["0"])[-1] or 0) or len(items) or 1
    status = 0
    for start in range(0, max(len(items), 1), size):
        chunk = items[start:start + size]
        args = [a.replace(replace, chunk[0]) for a in command] if replace and chunk else command + chunk
        if found.get("t"):
            await ctx.err(" ".join(args) + "\n")
        result = await ctx.sh.run_argv(args, ctx, ctx.env)
        status = 123 if result and result not in (126, 127) else (result or status)
    return status


def _until_command(args: list[str]) -> list[str]:
    """xargs's own options: those before the command (a value after -n and -I)."""
    taken, i = [], 0
    while i < len(args) and args[i].startswith("-"):
        taken.append(args[i])
        if args[i] in ("-n", "-I") and i + 1 < len(args):
            taken.append(args[i + 1])
            i += 1
        i += 1
    return taken


async def sh(ctx: Ctx, argv: list[str]) -> int:
    return await ctx.sh.spawn(argv, ctx)


APPLETS = {"env": env, "printenv": printenv, "hostname": hostname, "date": date, "uptime": uptime, "sleep": sleep,
           "ls": ls, "id": id_, "whoami": whoami, "uname": uname, "ps": ps, "which": which, "mkdir": mkdir, "rm": rm,
           "touch": touch, "sh": sh, "ash": sh, "clear": clear, "xargs": xargs}
