"""Commands run in a pod with real kubectl (`kubectl exec`), as a user looks at names and addresses from inside
one: shared by the scenarios that do (test_names_and_addresses, and those on a topology lab of their own)."""
from __future__ import annotations


def exec_in(cluster, namespace: str, target: str, *command: str, container: str = "client"):
    return cluster.kubectl("-n", namespace, "exec", target, "-c", container, "--", *command)


def sh(cluster, lab, script: str):
    return exec_in(cluster, lab.cfg.namespace, "deploy/client", "sh", "-c", script)


def ok(result) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def jsonpath(cluster, lab, *args: str) -> str:
    return ok(cluster.kubectl("-n", lab.cfg.namespace, "get", *args))


def scaled_to_zero(lab, east, west, call):
    """`call()` while east's foobar has no pod; then foobar back and, as the next test on this lab expects it,
    reached from west through its mirror again (a request west made meanwhile put its proxy's balancer for the
    mirror in fail-fast, which ends only once the mirror's endpoints are back)."""
    ns = lab.cfg.namespace
    east.scale(ns, "foobar", 0)
    try:
        lab.wait_for(lambda: not (east.get("Endpoints", ns, "foobar") or {}).get("subsets"), 30, "east's foobar to have no endpoints")
        return call()
    finally:
        east.scale(ns, "foobar", 1)
        lab.wait_for(lambda: (east.get("Deployment", ns, "foobar") or {}).get("status", {}).get("readyReplicas"), 60, "east's foobar back")
        lab.wait_for(lambda: west.request(lab.mirror_url("foobar", east.name)).ok, 30, "west to reach east's foobar through its mirror again")


def head(result) -> tuple[str, dict[str, str]]:
    lines = ok(result).split("\n\n", 1)[0].splitlines()
    return lines[0].split()[1], {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
