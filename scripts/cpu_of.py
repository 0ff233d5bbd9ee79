#!/usr/bin/env python3
"""Run a command and count the CPU seconds of every process it started, those that outlive it included (a lab
process outlives the `up` that started it, so no one would count it otherwise): this process becomes their
subreaper (Linux PR_SET_CHILD_SUBREAPER), they come back to it when they end, and once reaped their time
counts in its RUSAGE_CHILDREN.

  python scripts/cpu_of.py [--json FILE] [--wait SECONDS] -- COMMAND [ARG...]

The command's output passes through. At the end one line on stderr (and, with --json, the same figures in
FILE): its wall seconds, the CPU seconds of all it started, and how many of those were still running
--wait seconds (5) after it ended: their time is not counted. Exits with the command's exit code.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def adopt_orphans() -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap(seconds: float) -> int:
    """Reap every child as it ends, for `seconds` at most: how many are still running then."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid:
            continue
        if time.monotonic() >= deadline:
            return sum(1 for stat in Path("/proc").glob("[0-9]*/stat") if _parent(stat) == os.getpid())
        time.sleep(0.05)


def _parent(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="seconds the processes the command left may take to end (a lab process stopping)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given: cpu_of.py -- COMMAND [ARG...]")
    if not adopt_orphans():
        sys.exit("cpu_of: this system cannot make a process the subreaper of its descendants (Linux only)")
    started = time.perf_counter()
    try:
        code = subprocess.call(command)
    except OSError as exc:
        sys.exit(f"cpu_of: cannot run {command[0]}: {exc.strerror}")
    wall = time.perf_counter() - started
    still_running = reap(args.wait)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
               "still_running": still_running}
    print(f"cpu_of: {figures['wall_s']} s wall, {figures['cpu_s']} CPU-s in every process it started"
          + (f"; {still_running} still running, not counted" if still_running else ""), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
