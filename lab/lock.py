"""One lock per lab: commands that change a lab (`up`, `down`, `step`, ...) take turns.

The lock is `flock` on `.lab/<name>/lock`, released by the kernel when its holder exits, however
it exits, so a crashed command never leaves a lab locked. The holder writes who it is into the
file; a second command reads that and says, in one line, whom it waits for.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
        since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
        return f"`{str(info['command'])[:80]}` (pid {int(info['pid'])}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another command"


@contextmanager
def lab_lock(state_dir: Path, command: str, wait: bool = True, say=lambda line: print(line, file=sys.stderr, flush=True)):
    """Hold the lab's lock for the `with` block; wait (saying for whom) while another command holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            say(f"waiting for {_holder(path)}, which holds {path}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
