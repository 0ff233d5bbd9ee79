"""busybox's text applets as workshops type them: cat, head, tail, grep, wc, sort, uniq, cut, tr, tee,
seq, base64, gzip/gunzip/zcat, yes, basename, dirname. Messages and exit codes are busybox's."""
from __future__ import annotations

import asyncio
import base64 as b64
import gzip as gz
import re
import zlib

from ..podview import FSError
from .base import Ctx, Usage, last, options


async def cat(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, files = options(argv, "nubvteA")
    except Usage as exc:
        return await ctx.fail("cat", str(exc))
    status = 0
    for file in files or ["-"]:
        if file == "-":  # stream: `cat` in a terminal echoes each line as it comes
            while True:
                chunk = await ctx.stdin.read()
                if not chunk:
                    break
                await ctx.out(chunk)
            continue
        async for _, data in ctx.read_input("cat", [file]):
            if data is None:
                status = 1
            else:
                await ctx.out(_numbered(data) if found.get("n") else data)
    return status


def _numbered(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    return b"".join(f"{i + 1:6d}\t".encode() + line for i, line in enumerate(lines))


def _count_option(argv: list[str]) -> list[str]:
    """`head -5` is `head -n 5`."""
    return [argv[0]] + [f"-n{a[1:]}" if re.fullmatch(r"-\d+", a) else a for a in argv[1:]]


async def head(ctx: Ctx, argv: list[str]) -> int:
    return await _ends(ctx, _count_option(argv), first=True)


async def tail(ctx: Ctx, argv: list[str]) -> int:
    return await _ends(ctx, _count_option(argv), first=False)


async def _ends(ctx: Ctx, argv: list[str], first: bool) -> int:
    name = argv[0]
    try:
        found, files = options(argv, "qvfF", "nc")
        count = last(found, "n", "10")
        from_start = count.startswith("+")
        lines = int(count.lstrip("+-"))
        size = last(found, "c")
    except (Usage, ValueError) as exc:
        return await ctx.fail(name, str(exc) if isinstance(exc, Usage) else f"invalid number '{last(found, 'n')}'")
    if first and size is None and (files or ["-"]) == ["-"]:  # from a pipe: stop reading once enough came
        for _ in range(lines):
            line = await ctx.stdin.readline()
            if not line:
                break
            await ctx.out(line)
        return 0
    status = 0
    for file, data in [(f, d) async for f, d in ctx.read_input(name, files)]:
        if data is None:
            status = 1
            continue
        if len(files) > 1:
            await ctx.out(f"==> {file} <==\n")
        if size is not None:
            n = int(size)
            await ctx.out(data[:n] if first else data[-n:] if n else b"")
            continue
        rows = data.splitlines(keepends=True)
        if first:
            chosen = rows[:lines]
        else:
            chosen = rows[lines - 1:] if from_start else (rows[-lines:] if lines else [])
        await ctx.out(b"".join(chosen))
    return status


async def grep(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, rest = options(argv, "ivcnlqsowxFEHhr", "em")
    except Usage as exc:
        await ctx.err(f"grep: {exc}\nUsage: grep [-HhnlLoqvsrRiwFE] [-m N] [-A|B|C N] {{ PATTERN | -e PATTERN... | -f FILE... }} [FILE]...\n")
        return 2
    found["E"] = found.get("E") or argv[0] == "egrep"
    found["F"] = found.get("F") or argv[0] == "fgrep"
    patterns = found.get("e") or (rest[:1] if rest else None)
    if patterns is None:
        await ctx.err("Usage: grep [-HhnlLoqvsrRiwFE] [-m N] [-A|B|C N] { PATTERN | -e PATTERN... | -f FILE... } [FILE]...\n")
        return 2
    files = rest if found.get("e") else rest[1:]
    flags = re.IGNORECASE if found.get("i") else 0
    try:
        exprs = [re.compile(re.escape(p) if found.get("F") else _ere(p, bool(found.get("E"))), flags) for p in patterns]
    except re.error:
        return await ctx.fail("grep", "bad regex", 2)
    limit = int(last(found, "m", "0") or 0)
    show_name = (len(files) > 1 or found.get("H")) and not found.get("h")
    matched_any, status = False, 0

    def match(line: str):
        for expr in exprs:
            m = (expr.fullmatch(line) if found.get("x") else
                 expr.search(line) if not found.get("w") else re.search(rf"(?<!\w)(?:{expr.pattern})(?!\w)", line, flags))
            if m:
                return m
        return None

    for file in files or ["-"]:
        count = 0
        lines = _lines_of(ctx, file) if file == "-" else _file_lines(ctx, file)
        number = 0
        failed = False
        async for line in lines:
            if line is None:
                status, failed = 2, True
                break
            number += 1
            text = line.decode("utf-8", "replace").rstrip("\n")
            m = match(text)
            if bool(m) == bool(found.get("v")):
                continue
            matched_any, count = True, count + 1
            if found.get("q"):
                return 0
            if not (found.get("c") or found.get("l")):
                prefix = (f"{file}:" if show_name else "") + (f"{number}:" if found.get("n") else "")
                await ctx.out(prefix + (m.group(0) if found.get("o") and m else text) + "\n")
            if limit and count >= limit:
                break
        if failed:
            continue
        if found.get("c"):
            await ctx.out((f"{file}:" if show_name else "") + f"{count}\n")
        elif found.get("l") and count:
            await ctx.out(f"{'(standard input)' if file == '-' else file}\n")
    return status or (0 if matched_any else 1)


def _ere(pattern: str, extended: bool) -> str:
    """A POSIX regular expression as Python reads it: in a basic one, \\( \\) \\{ \\} \\| group and `+ ? ( ) { } |`
    are plain characters; bracket classes like [[:digit:]] become their Python sets."""
    classes = {"[:digit:]": r"0-9", "[:alpha:]": "a-zA-Z", "[:alnum:]": "a-zA-Z0-9", "[:space:]": r"\s",
               "[:upper:]": "A-Z", "[:lower:]": "a-z", "[:xdigit:]": "0-9a-fA-F", "[:punct:]": r"!-/:-@\[-`{-~"}
    for posix, python in classes.items():
        pattern = pattern.replace(posix, python)
    if extended:
        return pattern
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "(){}|+?":
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


async def _lines_of(ctx: Ctx, file: str):
    while True:
        line = await ctx.stdin.readline()
        if not line:
            return
        yield line


async def _file_lines(ctx: Ctx, file: str):
    try:
        data = ctx.pod.read(ctx.path(file))
    except FSError as exc:
        await ctx.err(f"grep: {file}: {exc.reason}\n")
        yield None
        return
    for line in data.splitlines(keepends=True):
        yield line


async def wc(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, files = options(argv, "lwcmL")
    except Usage as exc:
        return await ctx.fail("wc", str(exc))
    chosen = [k for k in "lwc" if found.get(k)] or ["l", "w", "c"]
    totals, status, rows = {"l": 0, "w": 0, "c": 0}, 0, []
    async for file, data in ctx.read_input("wc", files):
        if data is None:
            status = 1
            continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        for k in totals:
            totals[k] += counts[k]
        rows.append((counts, "" if file == "-" and not files else file))
    if len(files) > 1:
        rows.append((totals, "total"))
    width = 7 if len(chosen) > 1 or len(rows) > 1 else 0
    for counts, label in rows:
        numbers = " ".join(f"{counts[k]:>{width}}" if width else str(counts[k]) for k in chosen)
        await ctx.out(numbers + (f" {label}" if label else "") + "\n")
    return status


async def sort(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, files = options(argv, "rnuf")
    except Usage as exc:
        return await ctx.fail("sort", str(exc))
    rows: list[bytes] = []
    async for _, data in ctx.read_input("sort", files):
        rows += (data or b"").splitlines()

    def key(row: bytes):
        if found.get("n"):
            m = re.match(rb"\s*(-?\d+(?:\.\d+)?)", row)
            return (float(m.group(1)) if m else 0.0, row)
        return row.lower() if found.get("f") else row

    rows.sort(key=key, reverse=bool(found.get("r")))
    if found.get("u"):
        rows = list(dict.fromkeys(rows))
    await ctx.out(b"".join(r + b"\n" for r in rows))
    return 0


async def uniq(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, files = options(argv, "cdu")
    except Usage as exc:
        return await ctx.fail("uniq", str(exc))
    data = b""
    async for _, chunk in ctx.read_input("uniq", files[:1]):
        data = chunk or b""
    groups: list[list] = []
    for row in data.splitlines():
        if groups and groups[-1][0] == row:
            groups[-1][1] += 1
        else:
            groups.append([row, 1])
    for row, n in groups:
        if (found.get("d") and n < 2) or (found.get("u") and n > 1):
            continue
        await ctx.out((f"{n:7d} ".encode() if found.get("c") else b"") + row + b"\n")
    return 0


async def cut(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, files = options(argv, "s", "dfc")
        ranges = _ranges(last(found, "f") or last(found, "c") or "")
    except (Usage, ValueError) as exc:
        return await ctx.fail("cut", str(exc) if str(exc) else "invalid range")
    if not ranges:
        return await ctx.fail("cut", "expected a list of bytes, characters, or fields")
    delim = (last(found, "d") or "\t").encode()[:1]
    async for _, data in ctx.read_input("cut", files):
        for row in (data or b"").splitlines():
            if last(found, "c"):
                picked = bytes(row[i] for i in range(len(row)) if any(a <= i + 1 <= b for a, b in ranges))
            else:
                if delim not in row:
                    if not found.get("s"):
                        await ctx.out(row + b"\n")
                    continue
                parts = row.split(delim)
                picked = delim.join(p for i, p in enumerate(parts) if any(a <= i + 1 <= b for a, b in ranges))
            await ctx.out(picked + b"\n")
    return 0


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for piece in filter(None, spec.split(",")):
        a, dash, b = piece.partition("-")
        out.append((int(a or 1), int(b) if b else (10 ** 9 if dash else int(a))))
    return out


async def tr(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, sets = options(argv, "dsc")
    except Usage as exc:
        return await ctx.fail("tr", str(exc))
    if not sets:
        return await ctx.fail("tr", "missing operand")
    first = _charset(sets[0])
    data = (await ctx.stdin.readall()).decode("utf-8", "replace")
    if found.get("d"):
        out = "".join(c for c in data if c not in first)
    else:
        second = _charset(sets[1]) if len(sets) > 1 else ""
        table = {c: (second[i] if i < len(second) else second[-1:] or c) for i, c in enumerate(first)}
        out = "".join(table.get(c, c) for c in data)
        if found.get("s"):
            out = re.sub("([" + re.escape(second or first) + "])\\1+", r"\1", out)
    await ctx.out(out)
    return 0


def _charset(spec: str) -> str:
    spec = spec.replace("[:upper:]", "A-Z").replace("[:lower:]", "a-z").replace("[:digit:]", "0-9")
    spec = spec.replace("[:space:]", " \t\n\r\f\v").replace("\\n", "\n").replace("\\t", "\t")
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out += [chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1)]
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


async def tee(ctx: Ctx, argv: list[str]) -> int:
    found, files = options(argv, "a")
    data = await ctx.stdin.readall()
    status = 0
    for file in files:
        try:
            ctx.pod.write(ctx.path(file), data, bool(found.get("a")))
        except FSError as exc:
            status = await ctx.fail("tee", f"{file}: {exc.reason}")
    await ctx.out(data)
    return status


async def seq(ctx: Ctx, argv: list[str]) -> int:
    args = argv[1:]
    sep, width = "\n", False
    while args and args[0] in ("-s", "-w") :
        flag = args.pop(0)
        if flag == "-s" and args:
            sep = args.pop(0)
        width = width or flag == "-w"
    try:
        numbers = [float(a) if "." in a else int(a) for a in args]
    except ValueError:
        return await ctx.fail("seq", f"invalid number '{next(a for a in args if not re.fullmatch(r'-?[0-9.]+', a))}'")
    if not 1 <= len(numbers) <= 3:
        await ctx.err("Usage: seq [-w] [-s SEP] [FIRST [INC]] LAST\n")
        return 1
    first, step, end = (1, 1, numbers[0]) if len(numbers) == 1 else \
        (numbers[0], 1, numbers[1]) if len(numbers) == 2 else tuple(numbers)
    if step == 0:
        return 1
    count = int((end - first) // step) + 1 if (end - first) * step >= 0 else 0
    widest = max(len(str(first)), len(str(first + step * (count - 1)))) if width and count else 0
    for start in range(0, count, 4096):  # in chunks: `seq 1000000 | head` need not wait for all of it
        chunk = [str(first + step * i).zfill(widest) for i in range(start, min(count, start + 4096))]
        await ctx.out(sep.join(chunk) + (sep if start + 4096 < count else "\n"))
        await asyncio.sleep(0)
    return 0


async def base64(ctx: Ctx, argv: list[str]) -> int:
    found, files = options(argv, "dw", "w")
    data = b""
    async for _, chunk in ctx.read_input("base64", files[:1]):
        data = chunk or b""
    if found.get("d"):
        try:
            await ctx.out(b64.b64decode(b"".join(data.split())))
        except (ValueError, zlib.error):
            return await ctx.fail("base64", "invalid input")
        return 0
    text = b64.b64encode(data).decode()
    await ctx.out("".join(text[i:i + 76] + "\n" for i in range(0, len(text), 76)) or "")
    return 0


async def gzip(ctx: Ctx, argv: list[str]) -> int:
    """gzip/gunzip/zcat on stdin (-c or in a pipe); files of the read-only view cannot be replaced."""
    found, files = options(argv, "cdfk9")
    name, decompress = argv[0], argv[0] in ("gunzip", "zcat") or bool(found.get("d"))
    if files and not found.get("c") and name != "zcat":
        return await ctx.fail(name, f"{files[0]}: Read-only file system")
    status = 0
    async for file, data in ctx.read_input(name, files):
        if data is None:
            status = 1
            continue
        try:
            await ctx.out(gz.decompress(data) if decompress else gz.compress(data, mtime=0))
        except (OSError, EOFError, zlib.error):
            status = await ctx.fail(name, "invalid magic")
    return status


async def yes(ctx: Ctx, argv: list[str]) -> int:
    line = (" ".join(argv[1:]) or "y").encode() + b"\n"
    while True:  # until the reader goes (BrokenPipeError ends it), letting the lab process run meanwhile
        await ctx.out(line * 512)
        await asyncio.sleep(0)


async def basename(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) < 2:
        return await ctx.fail("basename", "missing operand")
    base = argv[1].rstrip("/").rsplit("/", 1)[-1] or "/"
    if len(argv) > 2 and base.endswith(argv[2]) and base != argv[2]:
        base = base[: -len(argv[2])]
    await ctx.out(base + "\n")
    return 0


async def dirname(ctx: Ctx, argv: list[str]) -> int:
    if len(argv) < 2:
        return await ctx.fail("dirname", "missing operand")
    path = argv[1].rstrip("/")
    await ctx.out((path.rsplit("/", 1)[0] or "/" if "/" in path else ".") + "\n")
    return 0


APPLETS = {"cat": cat, "head": head, "tail": tail, "grep": grep, "egrep": grep, "fgrep": grep, "wc": wc, "sort": sort,
           "uniq": uniq, "cut": cut, "tr": tr, "tee": tee, "seq": seq, "base64": base64, "gzip": gzip, "gunzip": gzip,
           "zcat": gzip, "yes": yes, "basename": basename, "dirname": dirname}
