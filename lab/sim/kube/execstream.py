"""`pods/exec` over a websocket, as the kubelet streams it to kubectl (channel protocol v4/v5).

Every binary frame starts with its channel: 0 stdin (from kubectl), 1 stdout, 2 stderr, 3 the final
`Status` (success, or the exit code), 4 terminal resize (JSON {"Width", "Height"}, with `-t`). v5 adds
the half-close kubectl sends when its stdin ends: the two bytes [255, 0]. The command's output goes out
as it is written, and what kubectl types reaches the command as it is sent; when kubectl goes away,
the command is cancelled. (client-go tools/remotecommand/websocket.go, v0.32: the client's side.)
"""
from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import WSMsgType, web

log = logging.getLogger("lab.sim.kubeapi")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class ExecFailed(Exception):
    """The container runtime could not start the command (no such executable): an InternalError Status
    on the error channel, which kubectl prints as the error it is, exit 1."""


class ExecStreams:
    """One exec's streams: what the command reads (`read`) and writes (`write`), and the terminal's size."""

    def __init__(self, ws: web.WebSocketResponse, stdin: bool, tty: bool):
        self.ws, self.stdin, self.tty = ws, stdin, tty
        self.size: tuple[int, int] | None = None  # (columns, rows) with -t
        self._stdin: asyncio.Queue[bytes] = asyncio.Queue()
        self.gone = asyncio.Event()  # kubectl closed the connection
        if not stdin:
            self._stdin.put_nowait(b"")

    async def read(self) -> bytes:
        """The next bytes kubectl sent on stdin; b"" when stdin has ended (or was not asked for)."""
        data = await self._stdin.get()
        if not data:
            self._stdin.put_nowait(b"")  # every later read sees the end too
        return data

    async def write(self, channel: int, data: bytes) -> None:
        if data and not self.ws.closed:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def pump(self) -> None:
        """Read kubectl's frames until it closes: stdin, its half-close, resizes."""
        try:
            async for message in self.ws:
                # the official Python client sends text frames for str data (stream/ws_client.py)
                raw = message.data.encode() if message.type == WSMsgType.TEXT else message.data
                if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT) or not raw:
                    continue
                channel, data = raw[0], raw[1:]
                if channel == STDIN and data:
                    self._stdin.put_nowait(data)
                elif channel == CLOSE and data[:1] == bytes([STDIN]):
                    self._stdin.put_nowait(b"")
                elif channel == RESIZE:
                    try:
                        size = json.loads(data)
                        self.size = (int(size.get("Width", 0)), int(size.get("Height", 0)))
                    except (ValueError, TypeError, AttributeError):
                        log.info("exec: a resize frame that is not JSON: %r", data[:80])
        finally:
            self._stdin.put_nowait(b"")
            self.gone.set()


def exit_status(code: int, argv: list[str]) -> dict:
    """The Status on the error channel for an exit code (kubelet's remotecommand/httpstream.go words)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(argv)}], exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failed_status(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


async def serve(ws: web.WebSocketResponse, streams: ExecStreams, run, argv: list[str]) -> None:
    """Run `run(streams)` -> exit code while pumping kubectl's frames; then the Status, and close."""
    pump = asyncio.ensure_future(streams.pump())
    runner = asyncio.ensure_future(run(streams))
    gone = asyncio.ensure_future(streams.gone.wait())
    try:
        await asyncio.wait({runner, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():  # kubectl went away (Ctrl-C on the client, a dropped connection)
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            return
        try:
            status = exit_status(runner.result(), argv)
        except ExecFailed as exc:
            status = failed_status(str(exc))
        except Exception as exc:  # a fault of the simulation: say so to kubectl, keep the API serving
            log.exception("exec %s failed", argv)
            status = failed_status(f"the simulated container failed to run the command: {type(exc).__name__}: {exc}")
        await streams.write(ERROR, json.dumps(status).encode())
    finally:
        gone.cancel()
        if not runner.done():
            runner.cancel()
        pump.cancel()
        await asyncio.gather(pump, gone, return_exceptions=True)
        await ws.close()
