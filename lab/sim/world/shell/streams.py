"""Byte streams between the shell's commands: pipes, captured output, files' contents, /dev/null.

Nothing here touches a real file descriptor: a pipeline's commands run as coroutines of the lab
process, each reading a Source and writing Sinks. A write to a pipe whose reader has finished raises
BrokenPipeError, which ends the writer as SIGPIPE would.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass


class Source:
    """Something a command reads: `read()` returns the next bytes, b"" at the end."""

    async def read(self) -> bytes:
        return b""

    async def readline(self) -> bytes:
        """One line with its newline (without one at the end of the input); b"" at the end."""
        buffered = getattr(self, "_rest", b"")
        while b"\n" not in buffered:
            more = await self.read_raw()
            if not more:
                self._rest = b""
                return buffered
            buffered += more
        line, _, self._rest = buffered.partition(b"\n")
        return line + b"\n"

    async def read_raw(self) -> bytes:
        return await self.read()

    async def readall(self) -> bytes:
        chunks = []
        while True:
            chunk = await self.read()
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def close(self) -> None:
        """The reader is done: a writer on the other side of a pipe gets EPIPE from now on."""


class Buffered(Source):
    """A Source that keeps what `readline` read ahead, so `read` after `readline` loses nothing."""

    async def read(self) -> bytes:
        rest = getattr(self, "_rest", b"")
        if rest:
            self._rest = b""
            return rest
        return await self.read_raw()

    async def read_raw(self) -> bytes:
        return b""


class BytesSource(Buffered):
    def __init__(self, data: bytes):
        self.data = data

    async def read_raw(self) -> bytes:
        data, self.data = self.data, b""
        return data


class Sink:
    async def write(self, data: bytes) -> None:
        return None


class Capture(Sink):
    """Output kept in memory ($(...)): at most LIMIT bytes, after which the writer gets EPIPE."""

    LIMIT = 16 << 20

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.LIMIT:
            raise BrokenPipeError("output too large to capture")
        self.chunks.append(data)

    @property
    def value(self) -> bytes:
        return b"".join(self.chunks)


class FileSink(Sink):
    """Output redirected into a file of the pod's filesystem view, stored when the command ends."""

    def __init__(self, store, path: str, append: bool):
        self.store, self.path = store, path
        if not append:
            store(path, b"", False)

    async def write(self, data: bytes) -> None:
        try:
            self.store(self.path, data, True)
        except Exception as exc:  # the view's FSError: a write error, as write(2) reports it
            raise OSError(getattr(exc, "reason", str(exc))) from None


class Pipe(Buffered, Sink):
    """One pipe: the writer's bytes in order to the reader; EOF when the writer closes."""

    LIMIT = 1 << 20  # a writer waits while this much is unread, as a full pipe blocks

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.reader_gone = False
        self.changed = asyncio.Event()

    async def write(self, data: bytes) -> None:
        while len(self.buffer) > self.LIMIT and not self.reader_gone:
            self.changed.clear()
            await self.changed.wait()
        if self.reader_gone:
            raise BrokenPipeError("write on a pipe with no reader")
        self.buffer += data
        self.changed.set()

    def close_writer(self) -> None:
        self.closed = True
        self.changed.set()

    def close(self) -> None:
        self.reader_gone = True
        self.changed.set()

    async def read_raw(self) -> bytes:
        while not self.buffer and not self.closed:
            self.changed.clear()
            await self.changed.wait()
        data = bytes(self.buffer)
        self.buffer.clear()
        self.changed.set()
        return data


@dataclass
class IO:
    """A command's standard input, output and error."""

    stdin: Source
    stdout: Sink
    stderr: Sink
