"""Writing a file so that whoever reads it finds the old one or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int, durable: bool = True) -> None:
    """Write to a temporary file then rename it into place: a command killed midway (or a machine that
    loses power) leaves the old file or the new one, never half of one: the data is fsynced before the
    rename, and the folder after it (unless not `durable`). The file has `mode` from its first byte on. A
    write that fails leaves no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # per process and thread: two writers never share one (a command's threads write one discovery cache)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    if not durable:
        return
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
