"""The workshop (docs/workshop.md) as something to run: its blocks, and a lab folder to run them in.

The page is a prysk (cram) file: indented `$ ` lines are commands, the indented lines under them their expected
output, everything else prose. The test runs it whole with prysk; `./labctl tour` walks it block by block.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKSHOP = REPO / "docs" / "workshop.md"


@dataclass
class Block:
    line: int                       # 1-based line of its first command in the page
    prose: str                      # the paragraph before it: what to notice
    commands: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)   # all its expected lines
    outputs: list[list[str]] = field(default_factory=list)  # the expected lines of each command, in order


def blocks(text: str) -> list[Block]:
    """The page's command blocks in order, each with the prose just before it."""
    found, prose = [], []
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("  $ "):
            if current is None:
                current = Block(number, " ".join(p for p in prose if not p.startswith("```")).strip())
                found.append(current)
                prose = []
            current.commands.append(line[4:])
            current.outputs.append([])
        elif line.startswith("  > ") and current is not None:
            current.commands[-1] += "\n" + line[4:]
        elif line.startswith("  ") and current is not None:
            current.expected.append(line[2:])
            current.outputs[-1].append(line[2:])
        else:
            current = None
            if line.startswith("#"):  # a heading starts a section: the paragraph before it is not its prose
                prose = [line]
            elif line.strip() and not line.startswith("```"):
                prose.append(line)
            elif not line.strip():
                prose = [] if prose and prose[-1] == "" else prose + [""]
    return found


def lab_folder(where: Path) -> Path:
    """A folder that looks like the repository to `./labctl` (its own .lab/, so the page's lab is its own)."""
    where.mkdir(parents=True, exist_ok=True)
    for name in ("labctl", "tasks.py", "lab"):
        link = where / name
        if not link.exists():
            link.symlink_to(REPO / name)
    return where


def environment() -> dict[str, str]:
    """`./labctl` runs this interpreter's `inv` (no venv to create) with this checkout's `lab`."""
    inv = Path(sys.executable).parent / "inv"
    return {**os.environ, "LAB_INV": str(inv), "PYTHONPATH": str(REPO)}


def tour(auto: bool, say=print, ask=input, start: int = 1, stop: int | None = None, root: Path = REPO) -> int:
    """Walk the page: the prose (what to notice), the command, run it (on Enter unless `auto`), its output.
    Runs in the repository with one shell per command; what the page exports (`export NAME=...`) is kept for
    the commands after it, as in the one shell prysk runs the page in. Returns how many commands printed
    something else than the page expects (counted, not fatal: a tour)."""
    import re
    import subprocess

    env = {**environment()}
    differing = 0
    for block in blocks(WORKSHOP.read_text()):
        if block.line < start or (stop is not None and block.line > stop):
            continue
        if block.prose:
            say(f"\n# {block.prose}")
        for command, expected in zip(block.commands, block.outputs):
            say(f"\n$ {command}")
            if not auto:
                ask("  [Enter to run] ")
            exported = re.fullmatch(r"export ([A-Za-z_][A-Za-z0-9_]*)=.*", command, re.S)
            if exported:  # run it, then read the variable back out of that shell
                name = exported.group(1)
                done = subprocess.run(["bash", "-c", f'{command} && printf %s "${name}"'], cwd=root, env=env,
                                      capture_output=True, text=True)
                if done.returncode == 0:
                    env[name] = done.stdout
                out = done.stderr.rstrip("\n").splitlines() + ([f"[{done.returncode}]"] if done.returncode else [])
            else:
                done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True)
                out = (done.stdout + done.stderr).rstrip("\n").splitlines() + ([f"[{done.returncode}]"] if done.returncode else [])
            if out:
                say("\n".join(out))
            if not _matches(expected, out):
                differing += 1
                wanted = [re.sub(r" \((re|glob)\)$", "", line) for line in expected]
                say(f"(the page expects, line {block.line}:)\n" + ("\n".join(wanted) or "(nothing)"))
    return differing


def _matches(expected: list[str], got: list[str]) -> bool:
    import fnmatch
    import re

    if len(expected) != len(got):
        return False
    for want, line in zip(expected, got):
        if want.endswith(" (re)"):
            if not re.fullmatch(want[:-5], line):
                return False
        elif want.endswith(" (glob)"):
            if not fnmatch.fnmatchcase(line, want[:-7]):
                return False
        elif want != line:
            return False
    return True
