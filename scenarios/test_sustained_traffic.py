"""Thousands of requests from west to east's foobar leave the lab as they found it: proxies reuse
pooled connections to each other and every hop closes what it opened, so the lab process's open
files stay flat, and the gateway authorizes every request under the client's verified identity."""
import os
from urllib.parse import urlsplit

import pytest
from traffic import FD_MARGIN, REQUESTS, soak

from lab.parsers import metrics


def test_thousands_of_requests_leave_no_sockets_behind(lab, east, west):
    pid = lab.backend.provider.lab_process()
    if pid is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    host = urlsplit(lab.mirror_url("foobar", east.name)).netloc
    gw = lab.gateway
    client_id = lab.identity("client")
    requests_before = east.gateway_metrics().traffic(client_id)
    connections_before = metrics.inbound_connections(east.proxy_metrics(gw.name, gw.namespace))[client_id]

    statuses, files_added, mib_added = soak(lab.backend.provider, pid, west.name, lab.cfg.namespace, f"http://{host}/")

    assert statuses.count(200) == REQUESTS, f"{REQUESTS - statuses.count(200)} failed: {set(statuses)}"
    assert files_added <= FD_MARGIN, f"the lab process holds {files_added} more open files after {REQUESTS} requests"
    assert mib_added < 50, f"the lab process grew by {mib_added:.0f} MiB"
    gateway = east.proxy_metrics(gw.name, gw.namespace)
    assert east.gateway_metrics().traffic(client_id) == requests_before + REQUESTS + 1  # and the warm-up
    new_connections = metrics.inbound_connections(gateway)[client_id] - connections_before
    assert new_connections <= 2, f"{new_connections} new connections from west's client for {REQUESTS} requests"


def test_thousands_of_requests_to_a_service_without_endpoints_fail_fast_and_leave_nothing_behind(lab, east, west):
    """east's foobar scaled to zero: the proxy that has no endpoint for it (edge: west's own, as the mirror
    lists none for an empty service; 2.8.1: east's gateway's) waits its failfast timeout once, then answers
    every request at once with its fail-fast status (linkerd2-proxy stack/src/failfast.rs). The waiting
    requests must not pile up sockets or memory in the lab process."""
    pid = lab.backend.provider.lab_process()
    if pid is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    host = urlsplit(lab.mirror_url("foobar", east.name)).netloc
    east.scale(lab.cfg.namespace, "foobar", 0)
    try:
        failfast = lab.cfg.profile.failfast_status
        lab.wait_for(lambda: west.request(lab.mirror_url("foobar", east.name)).status == failfast, 15,
                     "requests to foobar to fail fast")
        # edge: west's proxy failed it and says so; 2.8.1: the gateway's did, and west's proxy drops a peer's
        # l5d-proxy-error (linkerd2-proxy outbound/src/http/handle_proxy_error_headers.rs) and logs it.
        said = "l5d-proxy-error" in west.request(lab.mirror_url("foobar", east.name)).headers
        assert said == lab.cfg.profile.link_crd
        statuses, files_added, mib_added = soak(lab.backend.provider, pid, west.name, lab.cfg.namespace, f"http://{host}/")
    finally:
        east.scale(lab.cfg.namespace, "foobar", 1)
        lab.wait_for(lambda: west.request(lab.mirror_url("foobar", east.name)).ok, 30, "foobar to answer again")
    assert statuses.count(failfast) == REQUESTS, f"not all failed fast: {sorted(set(statuses))}"
    assert files_added <= FD_MARGIN, f"the lab process holds {files_added} more open files after {REQUESTS} requests"
    assert mib_added < 50, f"the lab process grew by {mib_added:.0f} MiB"
