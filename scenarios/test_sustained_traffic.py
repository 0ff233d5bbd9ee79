"""Thousands of requests from west to east's foobar leave the lab as they found it: proxies reuse
pooled connections to each other and every hop closes what it opened, so the lab process's open
files stay flat, and the gateway counts every request under the client's verified identity."""
import os
from urllib.parse import urlsplit

import pytest
from traffic import FD_MARGIN, REQUESTS, soak

from lab import metrics


def test_thousands_of_requests_leave_no_sockets_behind(lab, east, west):
    pid = lab.backend.lab_process()
    outbound = lab.backend.outbound_address(west.name, lab.cfg.namespace, "client")
    if pid is None or outbound is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    host = urlsplit(lab.mirror_url("foobar", east.name)).netloc
    gw = lab.gateway
    client_id = lab.identity("client")
    requests_before = metrics.inbound_client_ids(east.proxy_metrics(gw.name, gw.namespace))[client_id]
    connections_before = metrics.inbound_connections(east.proxy_metrics(gw.name, gw.namespace))[client_id]

    statuses, files_added, mib_added = soak(pid, outbound, host)

    assert statuses.count(200) == REQUESTS, f"{REQUESTS - statuses.count(200)} failed: {set(statuses)}"
    assert files_added <= FD_MARGIN, f"the lab process holds {files_added} more open files after {REQUESTS} requests"
    assert mib_added < 50, f"the lab process grew by {mib_added:.0f} MiB"
    gateway = east.proxy_metrics(gw.name, gw.namespace)
    assert metrics.inbound_client_ids(gateway)[client_id] == requests_before + REQUESTS + 1  # and the warm-up
    new_connections = metrics.inbound_connections(gateway)[client_id] - connections_before
    assert new_connections <= 2, f"{new_connections} new connections from west's client for {REQUESTS} requests"
