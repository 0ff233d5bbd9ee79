"""Just enough HTTP/1.1 on asyncio streams for the sim's apps, proxies and API.

One request per connection (`Connection: close`), which is all the lab's
traffic needs and keeps every byte on the wire easy to reason about.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           422: "Unprocessable Entity", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class WireError(Exception):
    """The peer sent something that is not HTTP/1.1, or closed early."""


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.target.split("?", 1)[1])) if "?" in self.target else {}

    def json(self):
        return json.loads(self.body or b"null")

    def encode(self) -> bytes:
        headers = {**self.headers, "content-length": str(len(self.body)), "connection": "close"}
        head = f"{self.method} {self.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode("latin-1") + b"\r\n" + self.body


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def encode(self) -> bytes:
        headers = {**self.headers, "content-length": str(len(self.body)), "connection": "close"}
        head = f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode("latin-1") + b"\r\n" + self.body


def json_response(status: int, payload) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(payload).encode())


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"content-type": "text/plain", **(headers or {})}, text.encode())


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise WireError("connection closed before a complete HTTP head") from exc
    except asyncio.LimitOverrunError as exc:
        raise WireError("HTTP head too large") from exc
    lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    length = int(headers.get("content-length", "0") or 0)
    if length:
        return await reader.readexactly(length)
    if "content-length" not in headers and headers.get("connection", "").lower() == "close":
        return await reader.read()
    return b""


async def read_request(reader: asyncio.StreamReader) -> Request:
    line, headers = await read_head(reader)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise WireError(f"not an HTTP/1.1 request line: {line[:60]!r}")
    body = await read_body(reader, {**headers, "connection": ""})
    return Request(parts[0], parts[1], headers, body)


async def read_response(reader: asyncio.StreamReader) -> Response:
    line, headers = await read_head(reader)
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise WireError(f"not an HTTP/1.1 status line: {line[:60]!r}")
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return Response(int(parts[1]), headers, body)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until EOF, then half-close the other side."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass


async def close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await writer.wait_closed()
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass
    except Exception:  # ssl shutdown errors from a peer that vanished
        pass


async def serve_http(handler, host: str = "127.0.0.1", port: int = 0, **kwargs) -> asyncio.base_events.Server:
    """Start a one-request-per-connection HTTP server calling `await handler(request) -> Response`."""

    async def on_connection(reader, writer):
        try:
            request = await read_request(reader)
            try:
                response = await handler(request)
            except Exception as exc:  # a handler bug must not kill the listener
                response = text_response(500, f"{type(exc).__name__}: {exc}")
            writer.write(response.encode())
            await writer.drain()
        except (WireError, ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            await close(writer)

    return await asyncio.start_server(on_connection, host, port, **kwargs)
