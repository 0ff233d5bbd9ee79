"""Thousands of requests from west to east's foobar leave the lab as they found it: proxies reuse
pooled connections to each other and every hop closes what it opened, so the lab process's open
files stay flat, and the gateway counts every request under the client's verified identity."""
import http.client
import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from lab import metrics
from lab.backends.sim.labprocess import open_files, rss_mib

REQUESTS = 3000
WORKERS = 8
FD_MARGIN = 50  # pooled connections (a few per peer) and the lab's own traffic; not one per request


def _get(address, host: str) -> int:
    """One request as curl sends it: a connection of its own, closed after the answer."""
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_thousands_of_requests_leave_no_sockets_behind(lab, east, west):
    pid = lab.backend.lab_process()
    outbound = lab.backend.outbound_address(west.name, lab.cfg.namespace, "client")
    if pid is None or outbound is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    host = urlsplit(lab.mirror_url("foobar", east.name)).netloc
    gw = lab.gateway
    client_id = lab.identity("client")
    _get(outbound, host)  # warm: the pools hold their connections from here on
    files_before, rss_before = open_files(pid), rss_mib(pid)
    requests_before = metrics.inbound_client_ids(east.proxy_metrics(gw.name, gw.namespace))[client_id]
    connections_before = metrics.inbound_connections(east.proxy_metrics(gw.name, gw.namespace))[client_id]

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(lambda _: _get(outbound, host), range(REQUESTS)))

    assert statuses.count(200) == REQUESTS, f"{REQUESTS - statuses.count(200)} failed: {set(statuses)}"
    files_after, rss_after = open_files(pid), rss_mib(pid)
    assert files_after - files_before <= FD_MARGIN, \
        f"the lab process went from {files_before} to {files_after} open files over {REQUESTS} requests"
    assert rss_after - rss_before < 50, f"the lab process grew from {rss_before:.0f} to {rss_after:.0f} MiB"
    gateway = east.proxy_metrics(gw.name, gw.namespace)
    assert metrics.inbound_client_ids(gateway)[client_id] == requests_before + REQUESTS
    new_connections = metrics.inbound_connections(gateway)[client_id] - connections_before
    assert new_connections <= 2, f"{new_connections} new connections from west's client for {REQUESTS} requests"
