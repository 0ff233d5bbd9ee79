"""A pod's own processes reach its app on localhost as on a real pod: HTTP/1.1 through the pod's loopback.
A load generator in east's foobar pod keeps a connection per worker and leaves the lab process's open files
where they were; `kubectl exec ... curl localhost:9898` prints podinfo's answer to curl's own request;
an answer slower than curl's `-m` is curl's timeout (28), and the connections it gave up on are closed."""
import json
import os
import re

import pytest
from traffic import FD_MARGIN

from lab.sim.process.labprocess import open_files
from lab.sim.world.podexec import CURL_VERSION

# More workers than FD_MARGIN / 2: a connection (two sockets in the lab process) left open per worker shows.
MANY_WORKERS = 64


def _lab_pid(lab) -> int:
    pid = lab.backend.provider.lab_process()
    if pid is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    return pid


def _podinfo(east, lab, script: str):
    return east.kubectl("-n", lab.cfg.namespace, "exec", "deploy/foobar", "-c", "podinfo", "--", "sh", "-c", script)


def test_a_load_generator_in_the_pod_reaches_its_app_on_localhost_and_leaves_no_sockets_behind(lab, east):
    pid = _lab_pid(lab)
    provider = lab.backend.provider
    for workers in (8, MANY_WORKERS):
        result = provider.load(east.name, lab.cfg.namespace, "foobar", "http://localhost:9898/", 1, 1)
        assert result["statuses"] == [200], result
        before = open_files(pid)
        result = provider.load(east.name, lab.cfg.namespace, "foobar", "http://localhost:9898/", 3000, workers)
        assert result["statuses"].count(200) == 3000, (set(result["statuses"]), result["errors"])
        # the workers closed their ends before the load returned; the app's ends close as it reads the end
        lab.wait_for(lambda: open_files(pid) - before <= FD_MARGIN, 10,
                     f"the lab process to hold no more than {FD_MARGIN} open files more than before 3000 requests "
                     f"from {workers} workers")


def test_curl_to_localhost_from_kubectl_exec_prints_what_podinfo_answers_to_curls_request(lab, east):
    def curl(*args: str) -> str:
        result = _podinfo(east, lab, " ".join(["curl", "-s", *args]))
        # every curl here prints something: an empty answer shows kubectl's stderr, not a JSON error
        assert result.returncode == 0 and result.stdout, (result.returncode, result.stdout, result.stderr)
        return result.stdout

    # what curl sent, as podinfo's Go server hands it over: Host taken out, nothing added on the way
    assert json.loads(curl("localhost:9898/headers")) == {"User-Agent": [f"curl/{CURL_VERSION}"], "Accept": ["*/*"]}
    assert json.loads(curl("http://127.0.0.1:9898/version"))["version"]
    assert curl("-o /dev/null -w '%{http_code}'", "localhost:9898/status/418") == "418"


def test_an_app_slower_than_curls_max_time_is_curls_timeout_and_leaves_nothing_open(lab, east):
    pid = _lab_pid(lab)
    before = open_files(pid)
    script = ("for i in $(seq 40); do curl -sS -m 0.1 localhost:9898/delay/1 2>>/tmp/errors; echo $?; done; "
              "cat /tmp/errors; rm /tmp/errors")
    result = _podinfo(east, lab, script)
    lines = result.stdout.splitlines()
    assert lines[:40] == ["28"] * 40, result.stdout
    # curl-8_10_1 lib/multi.c: the milliseconds that passed (the 100 asked, or a few more), no body byte yet
    said = [re.fullmatch(r"curl: \(28\) Operation timed out after (\d+) milliseconds with 0 bytes received", line)
            for line in lines[40:]]
    assert len(said) == 40 and all(m and 100 <= int(m[1]) < 1000 for m in said), lines[40:]
    # podinfo answers each after its second, to a connection curl has closed; then nothing of them is open
    lab.wait_for(lambda: open_files(pid) - before <= FD_MARGIN // 5, 15,
                 "the lab process to close the connections curl gave up on")
