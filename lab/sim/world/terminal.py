"""The pseudo-terminal `kubectl exec -t` gives the command: a line discipline in canonical mode between
what kubectl sends (the keys typed, raw: kubectl puts the local terminal in raw mode) and the shell.

It echoes what is typed, edits the line (Backspace, Ctrl-U), hands the shell a line at Enter, turns
Ctrl-C into an interrupt of the command in the foreground (or of the line being typed), and Ctrl-D on
an empty line into end of input; output gets `\\n` turned into `\\r\\n` (onlcr). Up and Down recall the
lines typed before, as ash's line editor does; other escape sequences (Left, Right...) are dropped.
"""
from __future__ import annotations

import asyncio
import collections
import re
from typing import Awaitable, Callable

from .shell.program import Interrupted
from .shell.streams import Buffered, Sink

ERASE, WERASE, KILL, INTR, EOF, ESC = 0x7F, 0x17, 0x15, 0x03, 0x04, 0x1B


class TerminalOutput(Sink):
    """What the command writes, as the terminal shows it."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]):
        self._write = write

    async def write(self, data: bytes) -> None:
        await self._write(re.sub(rb"(?<!\r)\n", b"\r\n", data))


class Terminal(Buffered):
    is_tty = True

    def __init__(self, read: Callable[[], Awaitable[bytes]], echo: Sink):
        self._read, self.echo = read, echo
        self.lines: collections.deque[bytes] = collections.deque()
        self.line = bytearray()
        self.closed = False
        self.interrupted = False
        self.changed = asyncio.Event()
        self.foreground: asyncio.Task | None = None
        self._escape: bytearray | None = None
        self.history: list[bytes] = []
        self._recalled = 0  # how far back Up went

    async def feed(self) -> None:
        """Read what kubectl sends until it ends, a key at a time."""
        while True:
            data = await self._read()
            if not data:
                self.closed = True
                self.changed.set()
                return
            for key in data:
                await self._key(key)

    async def _key(self, key: int) -> None:
        if self._escape is not None:  # ESC [ ... final byte
            self._escape.append(key)
            if len(self._escape) > 1 and 0x40 <= key <= 0x7E:
                sequence, self._escape = bytes(self._escape), None
                if sequence in (b"[A", b"OA", b"[B", b"OB"):
                    await self._recall(1 if sequence[1:] == b"A" else -1)
            return
        if key == ESC:
            self._escape = bytearray()
        elif key in (0x0D, 0x0A):
            await self.echo.write(b"\r\n")
            if self.line.strip():
                self.history.append(bytes(self.line))
            self._recalled = 0
            self._deliver(bytes(self.line) + b"\n")
        elif key in (ERASE, 0x08):
            if self.line:
                while self.line and (self.line.pop() & 0xC0) == 0x80:  # a whole UTF-8 character
                    pass
                await self.echo.write(b"\b \b")
        elif key == KILL:
            await self.echo.write(b"\b \b" * len(self.line.decode("utf-8", "replace")))
            self.line.clear()
        elif key == INTR:
            await self.echo.write(b"^C\r\n")
            self.line.clear()
            if self.foreground is not None and not self.foreground.done():
                self.foreground.cancel()
            else:
                self.interrupted = True
                self.changed.set()
        elif key == EOF:
            self._deliver(bytes(self.line))  # on an empty line: a read of nothing, the end of input
        elif key >= 0x20 or key == 0x09:
            self.line.append(key)
            await self.echo.write(bytes([key]))

    async def _recall(self, step: int) -> None:
        """Up (1) or Down (-1): the line typed that many lines back replaces the one being typed."""
        wanted = min(max(self._recalled + step, 0), len(self.history))
        if wanted == self._recalled:
            return
        self._recalled = wanted
        shown = len(self.line.decode("utf-8", "replace"))
        self.line = bytearray(self.history[-wanted] if wanted else b"")
        await self.echo.write(b"\b \b" * shown + bytes(self.line))

    def _deliver(self, data: bytes) -> None:
        self.line.clear()
        self.lines.append(data)
        self.changed.set()

    async def read_raw(self) -> bytes:
        while not self.lines and not self.closed and not self.interrupted:
            self.changed.clear()
            await self.changed.wait()
        if self.interrupted:
            self.interrupted = False
            raise Interrupted()
        return self.lines.popleft() if self.lines else b""
