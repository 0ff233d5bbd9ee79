"""The lab process of one state directory: its record, the proof that a PID is it, its API token.

Machines are shared and PIDs are reused, so a number in a file proves nothing. A PID is the lab's
only if the process belongs to this user and its command line is the lab process started on this
very state directory (`python -m lab.sim.process.daemon <sim_dir>`). Nothing else is ever signalled,
and neither is any PID below 2.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...trust.pki import write_private
from ...errors import CorruptFile, LabError

MODULE = "lab.sim.process.daemon"
READY_FD = "LAB_READY_FD"  # the environment variable naming the pipe the lab process says "ready" on
RECORD = "daemon.json"
TOKEN = "api-token"
FIX = "Fix: `./labctl down` stops the lab process of this lab, whatever its files say, then `./labctl up`"


@dataclass(frozen=True)
class Record:
    pid: int
    port: int


def read_record(sim_dir: Path) -> Record | None:
    """daemon.json, checked: None when absent; one-line LabError naming the file when it is not a record."""
    path = sim_dir / RECORD
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror}. {FIX}") from None
    try:
        data = json.loads(raw[:4096].decode())
    except (UnicodeDecodeError, ValueError):
        raise CorruptFile(f"{path} is not a lab process record (not JSON). {FIX}") from None
    pid, port = (data.get("pid"), data.get("port")) if isinstance(data, dict) else (None, None)
    if type(pid) is not int or type(port) is not int or pid < 2 or not 0 < port < 65536:
        raise CorruptFile(f"{path} is not a lab process record (needs an integer pid above 1 and a port). {FIX}")
    return Record(pid, port)


def write_record(sim_dir: Path, pid: int, port: int, started: float) -> None:
    # Not fsynced (as the token): both name a running process, and none outlives the machine going down; the
    # next `up` writes both again. A durable write is two fsyncs before the lab process can say it is ready.
    write_private(sim_dir / RECORD, json.dumps({"pid": pid, "port": port, "started": started}), durable=False)


class ReadyPipe:
    """How the starting command learns that the lab process has written its record: a pipe whose write
    end only the child holds, so a wait on it wakes when the child says so, or exits (end of file)."""

    def __init__(self):
        self._read, self.write_fd = os.pipe()
        self._open = True

    def env(self) -> dict[str, str]:
        return {READY_FD: str(self.write_fd)}

    def started(self) -> None:
        """The child has its copy now: drop ours, so the pipe ends when the child's does."""
        os.close(self.write_fd)

    def wait(self, seconds: float) -> None:
        """Until the child writes or exits, `seconds` at most; a plain sleep once the pipe has ended."""
        if not self._open:
            time.sleep(seconds)
            return
        if _readable([self._read], seconds) and not os.read(self._read, 64):
            self.close()

    def close(self) -> None:
        if self._open:
            self._open = False
            os.close(self._read)


def say_ready() -> None:
    """In the lab process, once its record is written: tell the command that started it (when it asked)."""
    fd = os.environ.pop(READY_FD, None)
    if fd is None:
        return
    try:
        os.write(int(fd), b"ready\n")
        os.close(int(fd))
    except (OSError, ValueError):
        pass  # the starter gave up waiting: it reads the record instead


def new_token(sim_dir: Path) -> str:
    """A fresh API token, readable by this user only; the lab process answers nobody without it."""
    token = secrets.token_urlsafe(32)
    write_private(sim_dir / TOKEN, token, durable=False)  # see write_record
    return token


def read_token(sim_dir: Path) -> str | None:
    try:
        return (sim_dir / TOKEN).read_text().strip() or None
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Whether `pid` runs. It only looks: reaping a child here would take the exit status of a program this
    command runs (its kubectl, its tools) from the code waiting on it; an exited one is gone all the same."""
    if pid < 2:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited process its parent has not reaped yet is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _command_line(pid: int) -> list[str] | None:
    try:
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None


def is_ours(pid: int, sim_dir: Path) -> bool:
    """This user's lab process for `sim_dir`, proven by its command line (an exited one has none)."""
    if pid < 2:
        return False
    argv = _command_line(pid)
    if not argv or MODULE not in argv:
        return False
    rest = argv[argv.index(MODULE) + 1:]
    return bool(rest) and Path(rest[0]).resolve() == sim_dir.resolve() and alive(pid)


def find(sim_dir: Path) -> list[int]:
    """Every lab process of this user running on `sim_dir` (one, unless a crash left an orphan)."""
    if not Path("/proc").is_dir():
        return []
    return sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit() and is_ours(int(entry), sim_dir))


def stop(pids: list[int], sim_dir: Path, grace: float = 10.0, ask: Callable[[], object] | None = None) -> list[int]:
    """`ask` (the lab process's API: it saves its state and exits), then SIGTERM (the same, for one that did
    not hear), then SIGKILL after `grace`. Returns the PIDs that were running. Each process is held by a pidfd
    opened before it is proven ours, so every signal reaches the very process that was proven, never one
    that took its PID since, and its exit is waited on as an event (the pidfd turns readable), not polled.
    It is held before it is asked: one that exits at once is still one this stopped."""
    held = {}
    for pid in pids:
        handle = _hold(pid, sim_dir)
        if handle is not None and is_ours(pid, sim_dir):
            held[pid] = handle
        elif handle is not None:
            handle.close()
    try:
        if ask is not None:
            ask()
        for handle in held.values():
            handle.signal(signal.SIGTERM)
        running = _wait_exit(list(held.values()), grace)
        for handle in running:
            handle.signal(signal.SIGKILL)
        _wait_exit(running, 5.0)
    finally:
        for handle in held.values():
            handle.close()
    return list(held)


class _Held:
    """A process held by a pidfd (Linux 5.3+): signals and waits reach it even after its PID is reused. Where
    the kernel has no pidfds, the PID itself, proven ours again right before each signal."""

    def __init__(self, pid: int, fd: int | None, sim_dir: Path):
        self.pid, self.fd, self.sim_dir = pid, fd, sim_dir

    def signal(self, sig: int) -> None:
        try:
            if self.fd is not None:
                signal.pidfd_send_signal(self.fd, sig)
            elif is_ours(self.pid, self.sim_dir):
                os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def exited(self) -> bool:
        if self.fd is None:
            if alive(self.pid):
                return False
        elif not _readable([self.fd], 0):  # readable once it has exited (a zombie included)
            return False
        try:  # our own child (a command that ran `up` and `down` in one process): reap exactly this proven one
            if self.fd is not None and hasattr(os, "P_PIDFD"):
                os.waitid(os.P_PIDFD, self.fd, os.WEXITED | os.WNOHANG)
            else:  # it has exited, so its PID is still its own until reaped
                os.waitpid(self.pid, os.WNOHANG)
        except (ChildProcessError, OSError):  # not our child, or already reaped
            pass
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _hold(pid: int, sim_dir: Path) -> _Held | None:
    if pid < 2:
        return None
    try:
        return _Held(pid, os.pidfd_open(pid), sim_dir)
    except ProcessLookupError:
        return None
    except (AttributeError, OSError):  # no pidfds on this kernel or platform
        return _Held(pid, None, sim_dir)


def _readable(fds: list[int], seconds: float) -> bool:
    """Whether any of `fds` is readable within `seconds` (poll, not select: a command holding over 1,023 files
    gets pidfds select cannot take)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(seconds * 1000 + 0.999))))


def _wait_exit(handles: list[_Held], seconds: float) -> list[_Held]:
    """Until every process has exited, `seconds` at most; returns those still running."""
    deadline = time.monotonic() + seconds
    running = [h for h in handles if not h.exited()]
    while running and time.monotonic() < deadline:
        fds = [h.fd for h in running if h.fd is not None]
        left = deadline - time.monotonic()
        if fds and len(fds) == len(running):
            _readable(fds, left)
        else:
            time.sleep(min(0.05, max(0.0, left)))  # no pidfd for one of them: look again
        running = [h for h in running if not h.exited()]
    return running


def open_files(pid: int) -> int:
    """How many files (sockets included) the process holds open, from /proc."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets(pid: int) -> set[str]:
    """The inodes of the sockets the process holds open, from /proc (a file it closes meanwhile is skipped):
    unlike a count of open files, it tells one connection from another."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def rss_mib(pid: int) -> float:
    """The process's resident memory in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for pid {pid}")
