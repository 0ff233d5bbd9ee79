"""What `kubectl exec` runs inside a simulated pod: a POSIX shell and the image's commands, interpreted in
the lab process (lab.sim.world.shell; its docstring says why an interpreter and not a real /bin/sh),
seeing the pod's view (podenv: environment, files, network through the pod's proxy).

`kubectl exec POD -- sh -c '...'`, `-- sh` with a script on stdin (`-i`), `-it -- sh` at a terminal
(terminal.py), and a command of the image run directly (`-- curl -s URL`, `-- env`). An image without a
shell (the proxy, pause, the controllers) or a command the image does not have fails as the container
runtime fails it: `executable file not found in $PATH`. RBAC (`create` on `pods/exec`) is checked by the
API server before any of this runs.
"""
from __future__ import annotations

import asyncio
import collections
import secrets
import time
from urllib.parse import urlsplit

from ..kube.execstream import STDERR, STDOUT, ExecFailed, ExecStreams
from ..wire import httpwire, loopback
from . import podenv
from .cluster import SimCluster
from .shell.commands.network import CURL_VERSION, request_headers
from .shell.interp import Shell
from .shell.program import sh_main
from .shell.streams import IO, Buffered, Sink
from .terminal import Terminal, TerminalOutput

SHELLS = ("sh", "ash")
ALSO_BINARIES = {"echo", "printf", "test", "[", "true", "false", "pwd"}  # builtins busybox also has as applets
BIN_DIRS = ("/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin")
__all__ = ["run", "send", "curl_request", "CURL_VERSION"]


class _Channel(Sink):
    def __init__(self, streams: ExecStreams, channel: int):
        self.streams, self.channel = streams, channel

    async def write(self, data: bytes) -> None:
        await self.streams.write(self.channel, data)


class _Stdin(Buffered):
    def __init__(self, streams: ExecStreams):
        self.streams = streams

    async def read_raw(self) -> bytes:
        return await self.streams.read()


def _not_found(argv0: str) -> ExecFailed:
    """containerd's words when the executable is not in the image (runc: exec: "x": executable file not found),
    naming the exec process by its id; kubectl prints them after `error: Internal error occurred:`, exit 1."""
    return ExecFailed(f'error executing command in container: failed to exec in container: failed to start exec '
                      f'"{secrets.token_hex(32)}": OCI runtime exec failed: exec failed: unable to start container '
                      f'process: exec: "{argv0}": executable file not found in $PATH: unknown')


def _program(argv0: str, tools: frozenset) -> str | None:
    """The image's program `argv0` names (by name on PATH or by path in a bin directory), else None."""
    name = argv0.rsplit("/", 1)[-1]
    if "/" in argv0 and argv0.rsplit("/", 1)[0] not in BIN_DIRS:
        return None
    return name if name in tools or name in SHELLS or name in ALSO_BINARIES else None


async def run(cluster: SimCluster, namespace: str, pod: str, container: str, argv: list[str],
              streams: ExecStreams) -> int:
    runtime = cluster.pods.get((namespace, pod))
    if runtime is None or runtime.error:
        await streams.write(STDERR, f"error: unable to upgrade connection: container not found ({container})\n".encode())
        return 1
    obj = cluster.store.view("Pod", namespace, pod) or {"metadata": {"name": pod, "namespace": namespace}}
    spec = obj.get("spec", {})
    found = next((c for c in spec.get("containers", []) + spec.get("initContainers", []) if c["name"] == container), {})
    image = podenv.image_of(found.get("image", ""))
    if not argv:
        raise ExecFailed("you must specify at least one command for the container")
    program = _program(argv[0], image.tools) if image is not None else None
    if program is None:
        raise _not_found(argv[0])
    view = podenv.pod_view(cluster, runtime, obj, found, image, streams.tty)
    feeder = None
    if streams.tty:
        out = TerminalOutput(lambda data: streams.write(STDOUT, data))
        terminal = Terminal(streams.read, out)
        feeder = asyncio.ensure_future(terminal.feed())
        io = IO(terminal, out, out)
    else:
        io = IO(_Stdin(streams), _Channel(streams, STDOUT), _Channel(streams, STDERR))
    try:
        if program in SHELLS:
            return await sh_main(view, [program, *argv[1:]], io)
        shell = Shell(view, program)
        shell.spawner = sh_main
        return await shell.command([program, *argv[1:]], io)
    finally:
        if feeder is not None:
            feeder.cancel()


def curl_request(parts, headers: dict[str, str] | None = None) -> httpwire.Request:
    """The GET curl sends for a parsed URL, with its default headers."""
    return httpwire.Request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                            request_headers(parts, headers))


async def send(runtime, request: httpwire.Request, timeout: float) -> httpwire.Response:
    """Send `request` from the pod's network: into its proxy's outbound side, as its own processes' traffic goes."""
    return await runtime.outbound(request, timeout)



async def load(runtime, url: str, requests: int, concurrency: int, timeout: float = 10.0,
               in_process: bool = False) -> dict:
    """A load generator run as one of the pod's processes (as one runs a load-generator pod in a cluster):
    `requests` GETs of `url` from `concurrency` workers, each as curl sends it, to the pod's own ports when
    the host is local, else into its proxy's outbound side. To an app's port on the pod's loopback each
    worker keeps one connection and sends its requests on it one after another (keep-alive, as hey and wrk
    do), dialling again after a failure; `in_process` calls the app's handler instead (no socket, no
    HTTP: what the loopback costs is the difference). Statuses (0: failed before HTTP, with why in
    `errors`) and latencies in seconds, in the order they were sent."""
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", runtime.ip)
    if not local and runtime.proxy is None:
        raise ValueError(f"pod {runtime.name} is not meshed: the load generator sends to other hosts only through "
                         f"the pod's proxy (curl in `kubectl exec` reaches them from any pod)")
    port = parts.port or 80
    if in_process and not (local and port in runtime.handlers):
        raise ValueError(f"nothing in pod {runtime.name} answers on {url} to call in process")
    statuses, latencies, errors = [0] * requests, [0.0] * requests, collections.Counter()
    queue = iter(range(requests))

    async def worker() -> None:
        line = None if in_process or not (local and port in runtime.loopback) else loopback.KeepAlive(runtime.loopback, port)
        try:
            for i in queue:
                request, started = curl_request(parts), time.perf_counter()
                try:
                    if in_process:
                        async with asyncio.timeout(timeout):
                            response = await runtime.handlers[port](request)
                    elif line is not None:
                        response = await line.send(request, timeout)
                    else:
                        response = await (runtime.local(port, request, timeout) if local
                                          else runtime.outbound(request, timeout))
                    if response is None:
                        errors["connection refused"] += 1
                    else:
                        statuses[i] = response.status
                except asyncio.TimeoutError:
                    errors["timed out"] += 1
                except (OSError, httpwire.WireError, asyncio.IncompleteReadError) as exc:
                    errors[type(exc).__name__] += 1
                latencies[i] = time.perf_counter() - started
        finally:
            if line is not None:
                await line.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return {"statuses": statuses, "latencies": latencies, "seconds": time.perf_counter() - started,
            "errors": dict(errors), "pod": runtime.name}
