"""Under load: concurrent cross-cluster requests lose nothing while the gateway rolls over, and
requests sent while it is down fail fast with a clear error."""
import uuid
from concurrent.futures import ThreadPoolExecutor

REQUESTS = 120
WORKERS = 12


def test_concurrent_requests_lose_nothing_while_the_gateway_restarts(lab, east, west):
    url = lab.mirror_url("foobar", east.name)
    gw = lab.gateway
    with ThreadPoolExecutor(WORKERS) as pool:
        first = [pool.submit(west.request, url) for _ in range(REQUESTS // 2)]
        # `kubectl rollout restart`, in the middle of the traffic: the new gateway pod serves
        # before the old one goes, and the old one finishes what it was serving.
        lab.backend.installer.restart_workloads(east.name, [("Deployment", gw.namespace, gw.name)], f"load-{uuid.uuid4().hex[:8]}")
        second = [pool.submit(west.request, url) for _ in range(REQUESTS // 2)]
        results = [f.result() for f in first + second]
    failed = [r.describe() for r in results if not r.ok]
    assert not failed, f"{len(failed)} of {REQUESTS} requests lost during the restart: {failed[:3]}"


def test_requests_while_the_gateway_is_down_fail_fast_from_the_clients_own_proxy(lab, east, west):
    url = lab.mirror_url("foobar", east.name)
    gw = lab.gateway
    east.scale(gw.namespace, gw.name, 0)
    try:
        lab.wait_for(lambda: not west.request(url).ok, 10, "requests to start failing")
        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(pool.map(lambda _: west.request(url, timeout=5), range(24)))
        # Every one answered by the client's own proxy once the service is in fail-fast (its failfast timeout
        # is 3 s), none left to time out; edge's proxy says why.
        profile = lab.cfg.profile
        assert all(r.error is None and r.status == profile.failfast_status for r in results), [r.describe() for r in results][:3]
        if profile.proxy_error_headers:
            assert all("service in fail-fast" in r.headers.get("l5d-proxy-error", "") for r in results)
    finally:
        east.scale(gw.namespace, gw.name, 1)
        lab.wait_for(lambda: west.request(url).ok, 15, "requests to succeed again")
