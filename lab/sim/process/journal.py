"""The lab process's write-ahead journal: every change to a cluster's objects is appended here as it
happens, before the Kubernetes API answers the write. At start the journal is replayed over the last
snapshot (state.json); the snapshot is rewritten and the journal emptied now and then (`compacted`).

A record is one line: the CRC-32 of its JSON, a space, the JSON (which holds no raw newline). A crash
in the middle of an append leaves at most the last line torn: that record was never acknowledged, and
it is dropped. A bad line with good lines after it is not a torn append but a damaged file: refused.

What an acknowledged write survives: appends are one `write` each on an O_APPEND descriptor, made while
the store changes and so before the answer; once written, the record is the kernel's, and a killed lab
process (`kill -9` at any moment) loses none of them. fdatasync follows in the background (`sync`), one
for every write of the moment, off the event loop. Waiting for it before answering, as etcd does, made a
client's one-at-a-time writes 2-2.5 times slower on this machine (4 ms per fdatasync) and protects only
against the machine itself going down, which the simulated clusters do not outlive anyway.
"""
from __future__ import annotations

import asyncio
import json
import os
import zlib
from pathlib import Path
from typing import Callable

NAME = "journal.log"


class JournalError(Exception):
    """The journal cannot be read back: the message names the file and the fix."""


def read(path: Path) -> tuple[list[dict], int, bool]:
    """The records of the journal at `path`, the length of the part that holds them, and whether a torn
    last record was dropped. JournalError when a record before the last is damaged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0, False
    except OSError as exc:
        raise JournalError(f"cannot read {path}: {exc.strerror}") from None
    records: list[dict] = []
    good = 0
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for number, line in enumerate(complete, 1):
        record = _record(line)
        if record is None:
            if number == len(complete) and not tail:  # the last record, torn (or its checksum off): never acknowledged
                return records, good, True
            raise JournalError(f"{path} is damaged at record {number} of {len(complete)}")
        records.append(record)
        good += len(line) + 1
    return records, good, bool(tail)


def _record(line: bytes) -> dict | None:
    crc, _, payload = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(payload):
            return None
        record = json.loads(payload)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("seq"), int) else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The open journal: `append` records, `await sync()` before acknowledging, `reset` after a snapshot."""

    def __init__(self, path: Path, valid: int, seq: int, on_synced: Callable[[], None] = lambda: None):
        self.path = path
        self.on_synced = on_synced  # told when writes waiting for the disk are answered
        existed = path.exists()
        # Private from its first byte: the records hold Secrets (the issuers' keys among them).
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self.fd, 0o600)
        if os.fstat(self.fd).st_size != valid:  # drop a torn tail before appending after it
            os.ftruncate(self.fd, valid)
        os.fsync(self.fd)
        if not existed:
            _fsync_dir(path.parent)
        self.seq = seq          # the last record appended
        self.synced = seq       # the last record known to be on disk
        self.size = valid
        self._flushing: asyncio.Future | None = None

    def append(self, record: dict) -> None:
        self.seq += 1
        payload = json.dumps({"seq": self.seq, **record}, separators=(",", ":")).encode()
        line = b"%08x %s\n" % (zlib.crc32(payload), payload)
        os.write(self.fd, line)
        self.size += len(line)

    async def sync(self) -> None:
        """Every record appended so far is already written (see the module docstring): start the disk's
        fdatasync in the background if one is not under way, and return."""
        if self.synced < self.seq and self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())

    async def flushed(self) -> None:
        """Wait until every record appended so far is on disk (a clean stop, a snapshot)."""
        while self.synced < self.seq:
            if self._flushing is None:
                self._flushing = asyncio.ensure_future(self._flush())
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        try:
            upto = self.seq
            await asyncio.get_running_loop().run_in_executor(None, os.fdatasync, self.fd)
            self.synced = max(self.synced, upto)
            self.on_synced()
        finally:
            self._flushing = None

    def reset(self) -> None:
        """Empty the journal: a snapshot holding every record appended so far is on disk."""
        os.ftruncate(self.fd, 0)
        os.fsync(self.fd)
        self.size = 0
        self.synced = self.seq

    def close(self) -> None:
        os.close(self.fd)
