"""stefanprodan/podinfo as the fixtures pin it (6.7.1): the endpoints tutorials use, answered as its router
does at that tag (pkg/api/http/server.go and the handlers beside it).

- `GET /`, `GET /api/info`: the runtime info (hostname, version, revision, color, logo, message, ...).
- `GET /version`: version and commit. `GET|POST /env`: the container's environment as `KEY=value` lines.
- `GET|POST /headers`: the request's headers, names in Go's canonical form, each a list of values.
- `/echo`, `/api/echo`: the body back with 202 (no backends are configured in the fixtures).
- `GET|POST|PUT /status/{code}`: `{"status": code}` with that code. `GET /delay/{seconds}`: waits, then
  `{"delay": seconds}`.
- `GET /healthz`, `GET /readyz`: `{"status": "OK"}`; `POST /readyz/disable` makes /readyz answer 503 (and
  `/readyz/enable` 200 again), both with 202.
- A path the router does not know: gorilla/mux's `404 page not found`; a known path with another method: 405.
JSON is indented by two spaces, as podinfo's prettyJSON writes it. What is not played: the HTML UI for
browsers, /metrics, /store, /cache, /token, /configs, websockets, chunked and /panic.
"""
from __future__ import annotations

import asyncio
import json
import os
import re

from ...wire import httpwire

VERSION = "6.7.1"
REVISION = "6b7aab8a10d6ee8b895b0a5048f4ab0966ed29ff"  # the 6.7.1 tag's commit, which its image is built from
GO_RUNTIME = "go1.23"  # Dockerfile at 6.7.1: FROM golang:1.23-alpine
DEFAULT_COLOR = "#34577c"  # cmd/podinfo/main.go --ui-color
DEFAULT_LOGO = "https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif"
MAX_DELAY = 60  # seconds a `/delay/N` may hold a connection here (podinfo has no limit; a test must not hang)


def _json(status: int, payload) -> httpwire.Response:
    return httpwire.Response(status, {"content-type": "application/json; charset=utf-8", "x-content-type-options": "nosniff"},
                             json.dumps(payload, indent=2).encode())


def _canonical(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: `x-forwarded-for` -> `X-Forwarded-For`."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class Router:
    """What one podinfo container answers (apps.Podinfo serves it on the container's port)."""

    def __init__(self, hostname: str, env: dict[str, str]):
        self.hostname, self.env = hostname, env
        self.message = env.get("PODINFO_UI_MESSAGE", f"greetings from podinfo v{VERSION}")
        self.color = env.get("PODINFO_UI_COLOR", DEFAULT_COLOR)
        self.logo = env.get("PODINFO_UI_LOGO", DEFAULT_LOGO)
        self.ready = True
        self.requests = 0

    def info(self) -> dict:
        return {"hostname": self.hostname, "version": VERSION, "revision": REVISION, "color": self.color,
                "logo": self.logo, "message": self.message, "goos": "linux", "goarch": "amd64", "runtime": GO_RUNTIME,
                "num_goroutine": "8", "num_cpu": str(os.cpu_count() or 1)}

    def environ(self) -> list[str]:
        base = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": self.hostname}
        return [f"{k}={v}" for k, v in {**base, **self.env, "HOME": "/home/app"}.items()]

    async def handle(self, request: httpwire.Request) -> httpwire.Response:
        method, path = request.method, request.path
        routes = [
            (r"/", ("GET",), lambda m: self._info()),
            (r"/api/info", ("GET",), lambda m: self._info()),
            (r"/version", ("GET",), lambda m: _json(200, {"version": VERSION, "commit": REVISION})),
            (r"/env", ("GET", "POST"), lambda m: _json(200, self.environ())),
            (r"/headers", ("GET", "POST"), lambda m: _json(200, self._headers(request))),
            (r"/echo", None, lambda m: self._echo(request)),
            (r"/api/echo", None, lambda m: self._echo(request)),
            (r"/status/([0-9]+)", ("GET", "POST", "PUT"), lambda m: _json(int(m.group(1)), {"status": int(m.group(1))})),
            (r"/healthz", ("GET",), lambda m: _json(200, {"status": "OK"})),
            (r"/readyz", ("GET",), lambda m: _json(200, {"status": "OK"}) if self.ready else httpwire.Response(503)),
            (r"/readyz/enable", ("POST",), lambda m: self._set_ready(True)),
            (r"/readyz/disable", ("POST",), lambda m: self._set_ready(False)),
        ]
        delay = re.fullmatch(r"/delay/([0-9]+)", path)
        if delay and method == "GET":
            seconds = int(delay.group(1))
            await asyncio.sleep(min(seconds, MAX_DELAY))
            return _json(200, {"delay": seconds})
        matched_path = bool(delay)
        for pattern, methods, answer in routes:
            match = re.fullmatch(pattern, path)
            if match is None:
                continue
            matched_path = True
            if methods is None or method in methods:
                return answer(match)
        if matched_path:  # gorilla/mux: the path is routed, not for this method
            return httpwire.Response(405)
        return httpwire.text_response(404, "404 page not found\n", {"content-type": "text/plain; charset=utf-8",
                                                                    "x-content-type-options": "nosniff"})

    def _info(self) -> httpwire.Response:
        self.requests += 1
        return _json(200, self.info())

    def _headers(self, request: httpwire.Request) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            if name.startswith(":") or name == "host":
                continue  # Go's server moves Host to r.Host, out of r.Header
            out.setdefault(_canonical(name), []).append(value)
        return out

    def _echo(self, request: httpwire.Request) -> httpwire.Response:
        return httpwire.Response(202, {"x-color": self.color}, request.body)

    def _set_ready(self, ready: bool) -> httpwire.Response:
        self.ready = ready
        return httpwire.Response(202)
