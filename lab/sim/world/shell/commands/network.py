"""curl, wget and nslookup from inside the pod: names resolved by the pod's resolver (PodView.net), the
request sent through the pod's network (for a meshed pod, its proxy's outbound side).

curl keeps the behaviour scenarios read: the body on stdout (or nowhere with `-o /dev/null`),
`-w '%{http_code}'`, `-v` headers on stderr, exit 6 when the name does not resolve, 7 when it cannot
connect, 28 on a timeout, 22 for an HTTP error with `-f`. wget and nslookup print as busybox's do.
"""
from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..podview import FSError, NetError
from .base import Ctx, Usage, last, options

CURL_VERSION = "8.10.1"
REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout", 508: "Loop Detected"}


@dataclass
class Curl:
    url: str = ""
    silent: bool = False
    show_error: bool = False
    verbose: bool = False
    fail: bool = False
    include: bool = False
    output: str | None = None
    write_out: str = ""
    timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)


def parse_curl(args: list[str]) -> Curl:
    curl = Curl()
    i = 0
    takes_value = {"-H": "header", "--header": "header", "-o": "output", "--output": "output", "-w": "write_out",
                   "--write-out": "write_out", "-m": "timeout", "--max-time": "timeout", "--connect-timeout": "connect",
                   "-X": "method", "--request": "method"}
    flags = {"s": "silent", "S": "show_error", "v": "verbose", "f": "fail", "i": "include", "L": "", "k": ""}
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
        if arg in ("--silent", "--show-error", "--verbose", "--fail", "--include", "--location", "--insecure"):
            name = arg[2:].replace("-", "_")
            if name in Curl.__dataclass_fields__:
                setattr(curl, name, True)
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and all(ch in flags for ch in arg[1:]):
            for ch in arg[1:]:
                if flags[ch]:
                    setattr(curl, flags[ch], True)
        elif arg.startswith("-"):
            raise Usage(f"curl: option {arg}: is not available in the simulation's curl")
        else:
            curl.url = arg
        i += 1
    if not curl.url:
        raise Usage("curl: no URL specified!")
    return curl


def request_headers(parts, headers: dict[str, str] | None = None) -> dict[str, str]:
    """The headers curl sends for a parsed URL, its defaults first."""
    return {"host": parts.netloc, "user-agent": f"curl/{CURL_VERSION}", "accept": "*/*", **(headers or {})}


def _address(ctx: Ctx, host: str) -> str | None:
    """The first address `host` resolves to from the pod (an IP literal is itself), None when it does not."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    found = ctx.pod.net.resolve(host)
    return found[1][0] if found and found[1] else None


async def curl(ctx: Ctx, argv: list[str]) -> int:
    try:
        request = parse_curl(argv[1:])
    except (Usage, ValueError) as exc:
        await ctx.err(f"{exc}\n")
        return 2
    parts = urlsplit(request.url if "://" in request.url else f"http://{request.url}")
    if parts.scheme != "http":
        await ctx.err(f"curl: (1) Protocol \"{parts.scheme}\" not supported in the simulation\n")
        return 1
    host, port = parts.hostname or "", parts.port or 80
    address = _address(ctx, host)
    if address is None:
        return await _curl_error(ctx, request, 6, f"Could not resolve host: {host}")
    headers = request_headers(parts, request.headers)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    verbose: list[str] = []
    if request.verbose:
        verbose += [f"*   Trying {address}:{port}...", f"> GET {path} HTTP/1.1"]
        verbose += [f"> {k.title()}: {v}" for k, v in headers.items()] + [">"]
    started = time.monotonic()
    try:
        response = await ctx.pod.net.get(parts.geturl(), headers, request.timeout)
    except asyncio.TimeoutError:
        # curl-8_10_1 lib/multi.c (multi_handle_timeout): the time that passed, and what came of a body whose
        # length no header has said yet
        waited = int((time.monotonic() - started) * 1000)
        return await _curl_error(ctx, request, 28, f"Operation timed out after {waited} milliseconds with 0 bytes received", verbose)
    except NetError as exc:
        return await _curl_error(ctx, request, exc.code, _net_message(exc.code, host, port, started), verbose)
    status_line = f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}".rstrip()
    if request.verbose:
        verbose += [f"< {status_line}"] + [f"< {k}: {v}" for k, v in response.headers.items()] + ["<"]
    await ctx.err("".join(f"{line}\n" for line in verbose))
    if request.fail and response.status >= 400:
        return await _curl_error(ctx, request, 22, f"The requested URL returned error: {response.status}")
    head = (status_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in response.headers.items()) + "\r\n").encode() \
        if request.include else b""
    body = head + response.body
    if request.output not in (None, "-", "/dev/stdout"):
        try:
            ctx.pod.write(ctx.path(request.output), body, False)
        except FSError as exc:
            return await _curl_error(ctx, request, 23, f"Failure writing output to destination ({exc.reason})")
    else:
        await ctx.out(body)
    code = str(response.status)
    await ctx.out(request.write_out.replace("%{http_code}", code).replace("%{response_code}", code).replace("\\n", "\n"))
    return 0


def _net_message(code: int, host: str, port: int, started: float) -> str:
    """curl's words for a failure below HTTP (lib/connect.c, lib/transfer.c and lib/strerror.c at curl-8_10_1)."""
    if code == 7:
        elapsed = int((time.monotonic() - started) * 1000)
        return f"Failed to connect to {host} port {port} after {elapsed} ms: Couldn't connect to server"
    return {52: "Empty reply from server", 56: "Recv failure: Connection reset by peer"}.get(code, f"error {code}")


async def _curl_error(ctx: Ctx, request: Curl, code: int, message: str, verbose: list[str] = ()) -> int:
    lines = list(verbose) + ([f"curl: ({code}) {message}"] if not request.silent or request.show_error else [])
    await ctx.err("".join(f"{line}\n" for line in lines))
    return code


async def wget(ctx: Ctx, argv: list[str]) -> int:
    try:
        found, urls = options(argv, "qScs", "OTUY", {"quiet": "q", "output-document": "O", "timeout": "T",
                                                       "spider": "s", "server-response": "S", "user-agent": "U"})
    except Usage as exc:
        return await ctx.fail("wget", str(exc))
    if not urls:
        await ctx.err("Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n\t[--post-data STR | "
                      "--post-file FILE] [-Y on/off]\n\t[-P DIR] [-U AGENT] [-T SEC] URL...\n")
        return 1
    quiet, target = bool(found.get("q")), last(found, "O")
    timeout = float(last(found, "T", "10"))
    for url in urls:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http":
            return await ctx.fail("wget", f"not an http or ftp url: {url}")
        host, port = parts.hostname or "", parts.port or 80
        address = _address(ctx, host)
        if address is None:
            return await ctx.fail("wget", f"bad address '{host}'")
        if not quiet:
            await ctx.err(f"Connecting to {parts.netloc} ({address}:{port})\n")
        headers = {"host": parts.netloc, "user-agent": last(found, "U", "Wget"), "connection": "close"}
        try:
            response = await ctx.pod.net.get(parts.geturl(), headers, timeout)
        except asyncio.TimeoutError:
            return await ctx.fail("wget", "download timed out")
        except NetError:
            return await ctx.fail("wget", f"can't connect to remote host ({address}): Connection refused")
        if found.get("S"):
            await ctx.err(f"  HTTP/1.1 {response.status} {REASONS.get(response.status, '')}\n"
                          + "".join(f"  {k}: {v}\n" for k, v in response.headers.items()))
        if response.status >= 400:
            return await ctx.fail("wget", f"server returned error: HTTP/1.1 {response.status} {REASONS.get(response.status, '')}".rstrip())
        if found.get("s"):
            if not quiet:
                await ctx.err("remote file exists\n")
            continue
        name = target or (parts.path.rstrip("/").rsplit("/", 1)[-1] or "index.html")
        if name == "-":
            if not quiet:
                await ctx.err("writing to stdout\n")
            await ctx.out(response.body)
            if not quiet:
                await ctx.err("written to stdout\n")
            continue
        try:
            ctx.pod.write(ctx.path(name), response.body, False)
        except FSError as exc:
            return await ctx.fail("wget", f"can't open '{name}': {exc.reason}")
        if not quiet:
            await ctx.err(f"saving to '{name}'\n'{name}' saved\n")
    return 0


async def nslookup(ctx: Ctx, argv: list[str]) -> int:
    """busybox 1.36.1's nslookup (networking/nslookup.c; the alpine 3.20 of the podinfo and curl images),
    which asks the DNS server itself rather than through the C library's resolver, as curl and wget do:

    - a name with a dot is asked as it is: no search domain (add_query_with_search), so `foobar.mc-demo`,
      which curl finds through the search path, is NXDOMAIN here;
    - a name without one is asked under every domain of resolv.conf's `search` line (never bare), an A and
      an AAAA query each, and every answer is printed: the names found and `** server can't find NAME:
      NXDOMAIN` for the others;
    - any NXDOMAIN makes the exit status 1 (G.exitcode in send_queries), even when another name was found.

    The server answers in no particular order; here the A queries come first, in the search path's order.
    An address is asked for its name (PTR), never through the search path."""
    args = [a for a in argv[1:] if not a.startswith("-")]
    if not args:
        await ctx.err("Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n")
        return 1
    nameserver, search = _resolv_conf(ctx)
    server = args[1] if len(args) > 1 else nameserver
    name = args[0]
    await ctx.out(f"Server:\t\t{server}\nAddress:\t{server}:53\n\n")
    try:
        ipaddress.ip_address(name)
        found = ctx.pod.net.resolve(name)
        if not found:
            await ctx.out(f"** server can't find {'.'.join(reversed(name.split('.')))}.in-addr.arpa: NXDOMAIN\n\n")
            return 1
        await ctx.out(f"{'.'.join(reversed(name.split('.')))}.in-addr.arpa\tname = {found[0]}\n\n")
        return 0
    except ValueError:
        pass
    asked = [name] if "." in name or not search else [f"{name}.{domain}" for domain in search]
    status, replies = 0, []
    for ipv6 in (False, True):
        for qname in asked:
            addresses = ctx.pod.net.lookup(qname)
            if addresses is None:
                replies.append(f"** server can't find {qname}: NXDOMAIN\n\n")
                status = 1
            else:  # the cluster's addresses are IPv4: an AAAA query of a name that exists has no answer
                owner = qname.rstrip(".")
                replies.append("".join(f"Name:\t{owner}\nAddress: {ip}\n" for ip in ([] if ipv6 else addresses)) + "\n")
    await ctx.out("".join(replies))
    return status


def _resolv_conf(ctx: Ctx) -> tuple[str, list[str]]:
    """(the server asked, the search domains) as busybox's parse_resolvconf reads resolv.conf: the first
    `nameserver`, else 127.0.0.1 (nslookup_main); the last `search` line, else the last `domain` line, `.`
    alone meaning none."""
    nameserver = search = domain = None
    for line in ctx.pod.files.get("/etc/resolv.conf", b"").decode().splitlines():
        words = line.split()
        if len(words) < 2:
            continue
        if words[0] == "nameserver" and nameserver is None:
            nameserver = words[1]
        elif words[0] == "search":
            search = words[1:]
        elif words[0] == "domain":
            domain = words[1:2]
    chosen = search if search is not None else domain
    return nameserver or "127.0.0.1", [] if not chosen or chosen == ["."] else chosen


APPLETS = {"curl": curl, "wget": wget, "nslookup": nslookup}
