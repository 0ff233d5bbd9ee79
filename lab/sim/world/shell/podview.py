"""What a shell inside a simulated pod sees of its container: the environment, the user it runs as,
a small filesystem, and the pod's network (through the `PodNet` protocol the caller supplies).

The filesystem is the image's few files a workshop reads (/etc/resolv.conf, /etc/hosts, the
service-account token...), all read-only, plus directories the container's user may write (/tmp, its
home), held in memory per pod: a file written in one `kubectl exec` is there in the next, as in a
running container, and gone with the pod. Nothing of the host's filesystem is reachable.
"""
from __future__ import annotations

import fnmatch
import posixpath
import time
from dataclasses import dataclass, field
from typing import Awaitable, Protocol


class NetError(Exception):
    """A connection that failed: `code` is curl's exit code (6 could not resolve, 7 could not connect)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class PodNet(Protocol):
    """The pod's network as its processes use it: name lookup and HTTP. A cluster DNS can replace
    `resolve` without the shell knowing."""

    def resolve(self, name: str) -> tuple[str, list[str]] | None:
        """The name `name` resolves as from this pod (its search domains applied) and its addresses, or the
        name of an address; None when it does not resolve (NXDOMAIN)."""

    def lookup(self, fqdn: str) -> list[str] | None:
        """The cluster DNS's answer for exactly `fqdn` (no search domain added): its A records, [] when the
        name exists without one (NODATA), None when it does not exist (NXDOMAIN)."""

    def get(self, url: str, headers: dict[str, str], timeout: float) -> Awaitable:
        """An HTTP GET from the pod: an httpwire.Response; NetError or asyncio.TimeoutError when it fails."""


class FSError(Exception):
    """errno-style: `reason` is strerror's text ("No such file or directory")."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


NOENT, ISDIR, NOTDIR, ACCES = "No such file or directory", "Is a directory", "Not a directory", "Permission denied"


@dataclass
class PodView:
    hostname: str
    namespace: str
    env: dict[str, str]
    files: dict[str, bytes]  # read-only, by absolute path
    net: PodNet
    user: str = "root"
    uid: int = 0
    gid: int = 0
    group: str = "root"
    command: str = "sleep infinity"  # the container's process 1, as `ps` shows it
    home: str = "/root"
    cwd: str = "/"
    tools: frozenset = frozenset()  # the commands on PATH
    writable: tuple = ("/tmp",)
    overlay: dict = field(default_factory=dict)  # written files, shared by the pod's exec sessions
    made_dirs: set = field(default_factory=set)  # and the directories made there
    started: float = field(default_factory=time.time)
    image: str = ""

    # -- the filesystem ----------------------------------------------------------------------------------
    def _all(self) -> dict[str, bytes]:
        return {**self.files, **self.overlay}

    def dirs(self) -> set[str]:
        found = {"/", *self.writable, self.home, self.cwd}
        for path in [*self._all(), *self.writable, self.home]:
            while path not in ("/", ""):
                path = posixpath.dirname(path)
                found.add(path)
        return found | self.made_dirs

    def abspath(self, path: str, cwd: str | None = None) -> str:
        joined = posixpath.join(cwd or self.cwd, path) if path else (cwd or self.cwd)
        return posixpath.normpath(joined).replace("//", "/")

    def is_dir(self, path: str) -> bool:
        return path in self.dirs()

    def exists(self, path: str) -> bool:
        return path in self._all() or self.is_dir(path) or path in DEVICES

    def read(self, path: str) -> bytes:
        if path in DEVICES:
            return b""
        data = self._all().get(path)
        if data is not None:
            return bytes(data)
        if self.is_dir(path):
            raise FSError(path, ISDIR)
        parent = posixpath.dirname(path)
        if path in self.files or (parent in self._all()):
            raise FSError(path, NOTDIR)
        raise FSError(path, NOENT)

    def listdir(self, path: str) -> list[str]:
        if not self.is_dir(path):
            if self.exists(path):
                raise FSError(path, NOTDIR)
            raise FSError(path, NOENT)
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in [*self._all(), *self.dirs(), *DEVICES]
                 if p.startswith(prefix) and p != prefix}
        return sorted(names)

    def may_write(self, path: str) -> bool:
        return any(path == w or path.startswith(w.rstrip("/") + "/") for w in self.writable)

    def write(self, path: str, data: bytes, append: bool) -> None:
        if path in DEVICES:
            return
        if self.is_dir(path):
            raise FSError(path, ISDIR)
        if not self.is_dir(posixpath.dirname(path)):
            raise FSError(path, NOENT)
        if not self.may_write(path) or path in self.files:
            raise FSError(path, ACCES)
        if sum(map(len, self.overlay.values())) + len(data) > SPACE:
            raise FSError(path, "No space left on device")
        if append and path in self.overlay:
            self.overlay[path] += data  # a bytearray: appending costs the new bytes only
        else:
            self.overlay[path] = bytearray(data)

    def mkdir(self, path: str) -> None:
        if self.exists(path):
            raise FSError(path, "File exists")
        if not self.is_dir(posixpath.dirname(path)):
            raise FSError(path, NOENT)
        if not self.may_write(path):
            raise FSError(path, ACCES)
        self.made_dirs.add(path)

    def remove(self, path: str) -> None:
        if path not in self._all():
            raise FSError(path, ISDIR if self.is_dir(path) else NOENT)
        if path not in self.overlay:
            raise FSError(path, ACCES)
        del self.overlay[path]

    def glob(self, pattern: str) -> list[str]:
        """The paths a shell pattern matches (`/etc/*`, `*.conf` in the working directory), sorted."""
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        found = ["/" if absolute else ""]
        for part in parts:
            nxt = []
            for base in found:
                where = self.abspath(base or ".")
                if not any(c in part for c in "*?["):
                    candidate = posixpath.join(base, part) if base else part
                    if self.exists(self.abspath(candidate)):
                        nxt.append(candidate)
                    continue
                if not self.is_dir(where):
                    continue
                for name in self.listdir(where):
                    if (not name.startswith(".") or part.startswith(".")) and fnmatch.fnmatchcase(name, part):
                        nxt.append(posixpath.join(base, name) if base else name)
            found = nxt
        return sorted(found)

    def size(self, path: str) -> int:
        return len(self.read(path)) if not self.is_dir(path) else 4096


SPACE = 64 << 20  # what a pod may write, in all: its memory is the lab process's

DEVICES = {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "/dev/zero", "/dev/random",
           "/dev/urandom"}
