"""Sustained traffic from a load generator run as one of a pod's processes (inside the lab process, as a
load-generator container runs in its pod), out through the pod's proxy, watching the lab process meanwhile."""
from lab.sim.process.labprocess import open_files, rss_mib

REQUESTS = 3000
WORKERS = 8
FD_MARGIN = 50  # pooled connections (a few per peer) and the lab's own traffic; not one per request


def soak(provider, pid: int, cluster: str, namespace: str, url: str, requests: int = REQUESTS,
         deployment: str = "client") -> tuple[list[int], int, float]:
    """`requests` GETs of `url` from WORKERS concurrent workers in `deployment`'s pod, after one to warm the
    pools: (statuses, open files added, MiB added)."""
    provider.load(cluster, namespace, deployment, url, 1, 1)
    files_before, rss_before = open_files(pid), rss_mib(pid)
    result = provider.load(cluster, namespace, deployment, url, requests, WORKERS)
    assert len(result["statuses"]) == requests, result
    return result["statuses"], open_files(pid) - files_before, rss_mib(pid) - rss_before
