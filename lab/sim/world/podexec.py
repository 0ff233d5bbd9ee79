"""What `kubectl exec` can run inside a simulated pod: `curl` with the flags the Linkerd guides use,
alone or under `sh -c`, sent from the pod's network namespace, that is through its proxy's outbound
side, as the real curl container's requests are. Anything else is not available in the simulation:
a line on stderr and exit code 127, as a shell reports a command it cannot find.

curl's own behaviour is kept where a scenario reads it: the body on stdout (or nowhere with
`-o /dev/null`), `-w '%{http_code}'`, `-v` headers on stderr, exit 7 when it cannot connect,
28 on a timeout, 22 for an HTTP error with `-f`.
"""
from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..wire import httpwire
from .cluster import SimCluster

CURL_VERSION = "8.10.1"
HAS_CURL = ("curl", "podinfo")  # image repositories that ship curl (curlimages/curl; podinfo's alpine image)


@dataclass
class Curl:
    url: str = ""
    silent: bool = False
    show_error: bool = False
    verbose: bool = False
    fail: bool = False
    output: str | None = None
    write_out: str = ""
    timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)


class Usage(Exception):
    pass


def parse_curl(args: list[str]) -> Curl:
    curl = Curl()
    i = 0
    takes_value = {"-H": "header", "--header": "header", "-o": "output", "--output": "output", "-w": "write_out",
                   "--write-out": "write_out", "-m": "timeout", "--max-time": "timeout", "--connect-timeout": "connect",
                   "-X": "method", "--request": "method"}
    flags = {"s": "silent", "S": "show_error", "v": "verbose", "f": "fail"}
    while i < len(args):
        arg = args[i]
        if arg in takes_value:
            if i + 1 >= len(args):
                raise Usage(f"curl: option {arg}: requires parameter")
            value, i = args[i + 1], i + 2
            kind = takes_value[arg]
            if kind == "header":
                name, _, v = value.partition(":")
                curl.headers[name.strip().lower()] = v.strip()
            elif kind == "output":
                curl.output = value
            elif kind == "write_out":
                curl.write_out = value
            elif kind == "timeout":
                curl.timeout = float(value)
            elif kind == "method" and value.upper() != "GET":
                raise Usage(f"curl: -X {value}: the simulation's curl sends GET only")
            continue
        if arg in ("--silent", "--show-error", "--verbose", "--fail"):
            setattr(curl, arg[2:].replace("-", "_"), True)
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and all(ch in flags for ch in arg[1:]):
            for ch in arg[1:]:
                setattr(curl, flags[ch], True)
        elif arg.startswith("-"):
            raise Usage(f"curl: option {arg}: is not available in the simulation's curl")
        else:
            curl.url = arg
        i += 1
    if not curl.url:
        raise Usage("curl: no URL specified!")
    return curl


async def run(cluster: SimCluster, namespace: str, pod: str, container: str, argv: list[str]) -> tuple[int, bytes, bytes]:
    runtime = cluster.pods.get((namespace, pod))
    if runtime is None or runtime.error:
        return 1, b"", f"error: unable to upgrade connection: container not found ({container})\n".encode()
    spec = (cluster.store.view("Pod", namespace, pod) or {}).get("spec", {})
    image = next((c.get("image", "") for c in spec.get("containers", []) + spec.get("initContainers", [])
                  if c["name"] == container), "")
    if image.rsplit("/", 1)[-1].split(":", 1)[0] not in HAS_CURL:
        return 127, b"", (f"{argv[0] if argv else 'sh'}: not available in the simulation's container {container} "
                          f"({image}): only curl, in containers whose image ships it\n").encode()
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and argv[1] == "-c":
        code, out, err = 0, b"", b""
        for command in argv[2].split("&&"):
            code, more_out, more_err = await _one(runtime, shlex.split(command))
            out, err = out + more_out, err + more_err
            if code:
                break
        return code, out, err
    return await _one(runtime, argv)


async def _one(runtime, argv: list[str]) -> tuple[int, bytes, bytes]:
    if not argv:
        return 0, b"", b""
    if argv[0] not in ("curl", "/usr/bin/curl"):
        return 127, b"", (f"{argv[0]}: not available in the simulation (its pods run curl only: "
                          "`curl [-sSvf] [-H header] [-o /dev/null] [-w '%{http_code}'] URL`)\n").encode()
    try:
        curl = parse_curl(argv[1:])
    except (Usage, ValueError) as exc:
        return 2, b"", f"{exc}\n".encode()
    return await fetch(runtime, curl)


def curl_request(parts, headers: dict[str, str] | None = None) -> httpwire.Request:
    """The GET curl sends for a parsed URL, with its default headers."""
    return httpwire.Request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                            {"host": parts.netloc, "user-agent": f"curl/{CURL_VERSION}", "accept": "*/*", **(headers or {})})


async def send(runtime, request: httpwire.Request, timeout: float) -> httpwire.Response:
    """Send `request` from the pod's network: into its proxy's outbound side, as its own processes' traffic goes."""
    return await httpwire.fetch("127.0.0.1", runtime.proxy.outbound_port, request, timeout)


async def fetch(runtime, curl: Curl) -> tuple[int, bytes, bytes]:
    parts = urlsplit(curl.url if "://" in curl.url else f"http://{curl.url}")
    if parts.scheme != "http":
        return 1, b"", f"curl: (1) Protocol \"{parts.scheme}\" not supported in the simulation\n".encode()
    err: list[str] = []
    if runtime.proxy is None:  # an unmeshed pod has no route to other pods in the simulation
        return 7, b"", _error(curl, 7, f"Failed to connect to {parts.hostname} port {parts.port or 80}: "
                                          "the pod is not meshed, and only meshed pods reach other pods in the simulation")
    request = curl_request(parts, curl.headers)
    if curl.verbose:
        err += [f"*   Trying {parts.hostname}:{parts.port or 80}...", f"> GET {request.path} HTTP/1.1"]
        err += [f"> {k.title()}: {v}" for k, v in request.headers.items()] + [">"]
    try:
        response = await send(runtime, request, curl.timeout)
    except asyncio.TimeoutError:
        return 28, b"", _error(curl, 28, f"Operation timed out after {int(curl.timeout * 1000)} milliseconds", err)
    except (OSError, httpwire.WireError, asyncio.IncompleteReadError) as exc:
        return 7, b"", _error(curl, 7, f"Failed to connect to {parts.hostname} port {parts.port or 80}: {exc}", err)
    if curl.verbose:
        err += [f"< HTTP/1.1 {response.status} {httpwire.REASONS.get(response.status, '')}".rstrip()]
        err += [f"< {k}: {v}" for k, v in response.headers.items()] + ["<"]
    stderr = "".join(f"{line}\n" for line in err).encode()
    if curl.fail and response.status >= 400:
        return 22, b"", stderr + _error(curl, 22, f"The requested URL returned error: {response.status}")
    body = b"" if curl.output in ("/dev/null",) else response.body
    out = body + curl.write_out.replace("%{http_code}", str(response.status)).replace(
        "%{response_code}", str(response.status)).replace("\\n", "\n").encode()
    return 0, out, stderr


def _error(curl: Curl, code: int, message: str, verbose: list[str] = ()) -> bytes:
    lines = list(verbose) + ([f"curl: ({code}) {message}"] if not curl.silent or curl.show_error else [])
    return "".join(f"{line}\n" for line in lines).encode()
