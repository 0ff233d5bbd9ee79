"""Sustained traffic from the host into a pod's outbound side, watching the lab process while it runs."""
import http.client
from concurrent.futures import ThreadPoolExecutor

from lab.sim.process.labprocess import open_files, rss_mib

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


def soak(pid: int, address, host: str, requests: int = REQUESTS) -> tuple[list[int], int, float]:
    """`requests` GETs on WORKERS threads after one to warm the pools: (statuses, open files added, MiB added)."""
    _get(address, host)
    files_before, rss_before = open_files(pid), rss_mib(pid)
    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(lambda _: _get(address, host), range(requests)))
    return statuses, open_files(pid) - files_before, rss_mib(pid) - rss_before
