#!/usr/bin/env python3
"""The lab's benchmark: prints figures, each the median of several runs in this one process run,
and writes them to .lab/bench.json. It measures and prints each figure beside the goal the issues
set for it (met / NOT MET); it never fails on one. The README says how to read them.

  machine speed        CPU seconds of a fixed pure-Python workload, at the start and at the end of the run:
                       figures from two machines compare only beside it, and two values far apart say the
                       machine changed speed during the run
  sim up / down        whole `inv up` from nothing (fresh state: new certificates, new lab process,
                       every step) until west sees east's gateway alive; up's own work: that minus the
                       wait for the first gateway probe as the lab drew it (the period plus the ticker's
                       jitter, from the lab process's log); whole `inv down`; and `up` again with 1 s
                       gateway probes, to show what the first probe's wait costs; and the floor of up's
                       own work as the lab is built: a command's start, the official client's import and a
                       lab process's start (the last two overlap), each alone
  scenario suite       `./labctl test --args scenarios`: the scenarios only, as the README runs tests (in
                       parallel workers on the simulation), from a fresh lab root
  whole test run       `./labctl test` as the README runs it (every test), from a fresh lab root; for it and
                       the scenario suite, also the CPU seconds of every process the run started (lab
                       processes included; scripts/cpu_of.py) and that over the cores' wall time: near 1,
                       the run is CPU-bound
  mirror convergence   1,000 services exported in east (written through the API) until all are
                       mirrored in west, and unexported until all mirrors are gone, each from the
                       last write
  soak                 10,000 HTTP GETs from 8 concurrent workers of a load generator in west's client
                       pod, through its proxy, east's gateway and foobar's proxy (mTLS twice), against
                       as many from one in foobar's pod straight to its app over the pod's loopback
                       (HTTP/1.1 through a kernel socket, one keep-alive connection per worker), in
                       alternating rounds: requests/s, p50/p99 latency, and the lab process's open
                       files and RSS before and after; and, without a goal, as many calls of the app's
                       handler in process (no socket, no HTTP), which shows what the loopback costs
  api                  the simulated clusters' Kubernetes API through the official client, as the lab
                       uses it: GET of one Service, LIST of 1,000 Services, and the delay from a write
                       to its event on a watch
  kind overlap         the kind bring-up's commands on a recording runner with a fixed delay per
                       command: wall time against the sum of all commands (< 1 means clusters overlap)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab.model import config
from lab.render import manifests
from lab import steps  # noqa: E402
from lab.backends.base import wait_until  # noqa: E402
from lab.backends import kind_backend  # noqa: E402
from lab.session import Lab  # noqa: E402
from lab.sim.process.labprocess import open_files, rss_mib  # noqa: E402
from lab.tools.run import ScriptRunner  # noqa: E402

# As ./labctl runs every command: with Python's bytecode cache, whatever PYTHONDONTWRITEBYTECODE says (labctl says why).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///nonexistent/docker.sock")}


def inv(cwd: Path, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], cwd=cwd, capture_output=True,
                            text=True, env=ENV)
    if result.returncode != 0:
        sys.exit(f"bench: `inv {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


# The lab process's log line for a probe worker's start (lab/sim/mesh/gateway.py GatewayProbe._run): the delay
# until its first probe as the ticker drew it, the probe period plus its jitter (edge-26.8.3 probe_worker.go,
# NewTicker(period, period/10)).
FIRST_PROBE = re.compile(r"the gateway probe worker for \S+ starts; its first probe in ([0-9.]+) s")


def first_probe_delay(cwd: Path, name: str) -> float:
    """The drawn delay of the one probe worker a fresh default lab starts, read from its lab process's log."""
    log = cwd / ".lab" / name / "sim" / "lab.log"
    delays = [float(m.group(1)) for m in FIRST_PROBE.finditer(log.read_text())]
    if len(delays) != 1:
        sys.exit(f"bench: {log} names {len(delays)} probe workers' first probes, not one")
    return delays[0]


def bench_up_down(runs: int) -> dict:
    """`up` as the guide sets it (3 s gateway probes), then with 1 s probes: most of the difference is the
    wait for the first probe after linking, which upstream makes one probe period (plus its ticker's jitter)
    after the link. `up`'s own work is the first minus that wait as the lab drew it (its log says)."""
    figures: dict[str, list] = {"sim_up_s": [], "sim_down_s": [], "sim_up_probe_period_1_s": [],
                                "sim_up_first_probe_s": [], "sim_up_own_work_s": []}
    for _ in range(runs):
        for config_text, key in (("name: bench\n", "sim_up_s"), ("name: bench\nprobe_period: 1\n", "sim_up_probe_period_1_s")):
            with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
                cwd = Path(tmp)
                (cwd / "lab.yaml").write_text(config_text)
                up = inv(cwd, "up", "--backend", "sim")
                figures[key].append(up)
                if key == "sim_up_s":
                    first_probe = first_probe_delay(cwd, "bench")
                    figures["sim_up_first_probe_s"].append(first_probe)
                    figures["sim_up_own_work_s"].append(up - first_probe)
                down = inv(cwd, "down")
                if key == "sim_up_s":
                    figures["sim_down_s"].append(down)
    return figures


def bench_up_floor(runs: int) -> dict:
    """What `up`'s own work cannot go below as the lab is built, each alone on a quiet machine: a command's start
    (Python, invoke, the lab's modules; `inv --list`), the official client's import, which the command does in
    the background while it waits, and a lab process's start (Python and its modules) from spawn until it says it
    is ready, before which no cluster exists. The two starts overlap (both processes' imports are on the path to
    the first cluster request), so `up`'s own work is at least the command's start plus the longer of the other
    two, then the guide's steps (some 200 requests to the two clusters, their pods started, the link)."""
    from lab.backends.sim import NO_SYSTEM_ROOTS
    from lab.sim.process import labprocess

    figures: dict[str, list] = {"cli_start_s": [], "client_import_s": [], "lab_process_ready_s": []}
    client = "import time; t = time.perf_counter(); from lab import kubeclient; kubeclient.load_official_client(); print(time.perf_counter() - t)"
    for _ in range(runs):
        figures["cli_start_s"].append(inv(REPO, "--list"))
        imported = subprocess.run([sys.executable, "-c", client], cwd=REPO, env=ENV, capture_output=True, text=True, check=True)
        figures["client_import_s"].append(float(imported.stdout))
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            sim_dir = Path(tmp) / "sim"
            ready = labprocess.ReadyPipe()
            env = {**ENV, "PYTHONPATH": str(REPO), **NO_SYSTEM_ROOTS, **ready.env()}  # as the lab starts it (SimProvider._start)
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", labprocess.MODULE, str(sim_dir)], cwd=tmp, env=env,
                                    pass_fds=(ready.write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ready.started()
            try:
                ready.wait(30)
                figures["lab_process_ready_s"].append(time.perf_counter() - started)
                if proc.poll() is not None or labprocess.read_record(sim_dir) is None:
                    sys.exit(f"bench: a lab process did not start on {sim_dir} (it exited, or said nothing in 30 s)")
            finally:
                ready.close()
                labprocess.stop([proc.pid], sim_dir)  # proven ours (its command line names sim_dir) before any signal
                proc.wait()
    return figures


def _test_runs(runs: int, name: str, what: str, *args: str) -> dict:
    """`./labctl test ARGS` as the README runs it (parallel workers on the simulation), each run on a lab root
    of its own (nothing reused): its wall time, and through scripts/cpu_of.py the CPU time of every process
    it started (its lab processes included) and that over the cores' wall time."""
    figures: dict[str, list[float]] = {f"{name}_s": [], f"{name}_cpu_s": [], f"{name}_cpu_share": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            counted = Path(tmp) / "cpu.json"
            result = subprocess.run([sys.executable, str(REPO / "scripts" / "cpu_of.py"), "--json", str(counted), "--",
                                     str(REPO / "labctl"), "test", *args], cwd=REPO,
                                    env={**ENV, "LAB_ROOT": tmp, "LAB_BACKEND": "sim"}, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"bench: {what} failed:\n{result.stdout[-3000:]}{result.stderr[-1000:]}")
            run = json.loads(counted.read_text())
            figures[f"{name}_s"].append(run["wall_s"])
            figures[f"{name}_cpu_s"].append(run["cpu_s"])
            figures[f"{name}_cpu_share"].append(run["cpu_s"] / (run["wall_s"] * (os.cpu_count() or 1)))
    return figures


def bench_test_run(runs: int) -> dict:
    return _test_runs(runs, "test_run", "the test run")


def bench_suite(runs: int) -> dict:
    return _test_runs(runs, "scenario_suite", "the scenario suite", "--args", "scenarios")


class BenchLab:
    """A simulated lab in a temporary directory, up for the in-process measurements."""

    def __init__(self, root: Path):
        self.lab = Lab.from_config(config.parse({"name": "bench", "probe_period": 1}), "sim", root)
        self.lab.up()
        self.cfg, self.backend = self.lab.cfg, self.lab.backend

    def close(self) -> None:
        self.lab.down()


def bench_mirror(lab: BenchLab, runs: int, count: int) -> dict:
    ns = lab.cfg.namespace
    field, marks = manifests.export_marks(lab.cfg, "east")
    mirrored = {"mirror.linkerd.io/mirrored-service": "true"}

    def services(exported: bool) -> list[dict]:
        meta_marks = {field: dict(marks)} if exported else {}
        return [{"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": f"svc-{i:04d}", "namespace": ns, **meta_marks},
                 "spec": {"ports": [{"name": "http", "port": 80}]}} for i in range(count)]

    def mirrors() -> int:
        return sum(1 for s in lab.backend.kube.list("west", "Service", ns, mirrored) if s["metadata"]["name"].startswith("svc-"))

    exports, unexports, writes = [], [], []
    for _ in range(runs):
        # The writes go through the API one object at a time, as `kubectl apply -f` sends them; the figure
        # with the goal is the mirror's own: from the last write until every mirror exists (or is gone).
        started = time.perf_counter()
        lab.backend.kube.apply("east", services(True))
        written = time.perf_counter()
        writes.append(written - started)
        wait_until(lambda: mirrors() == count, 120, f"{count} mirrors", interval=0.05)
        exports.append(time.perf_counter() - written)
        lab.backend.kube.apply("east", services(False))
        written = time.perf_counter()
        wait_until(lambda: mirrors() == 0, 120, "the mirrors to go", interval=0.05)
        unexports.append(time.perf_counter() - written)
    for i in range(count):
        lab.backend.kube.delete("east", "Service", ns, f"svc-{i:04d}")
    return {"mirror_export_1000_s": exports, "mirror_unexport_1000_s": unexports, "api_write_1000_services_s": writes}


def bench_api(lab: BenchLab, runs: int, count: int) -> dict:
    client = lab.backend.provider.client("east")
    gets = []
    for _ in range(200):
        started = time.perf_counter()
        client.get("Service", lab.cfg.namespace, "foobar")
        gets.append((time.perf_counter() - started) * 1000)
    services = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"list-{i:04d}", "namespace": "default"},
                 "spec": {"ports": [{"name": "http", "port": 80}]}} for i in range(count)]
    client.apply(services)
    lists = []
    for _ in range(runs):
        started = time.perf_counter()
        listed = client.list("Service", "default")
        lists.append(time.perf_counter() - started)
        assert len(listed) >= count
    for svc in services:
        client.delete("Service", "default", svc["metadata"]["name"])
    delays = []
    resource = client.dynamic.resources.get(kind="ConfigMap")
    for i in range(runs):
        version = resource.get(namespace="default").metadata.resourceVersion
        seen: dict[str, float] = {}
        opened = threading.Event()

        def watch(version=version, seen=seen, opened=opened):
            for event in resource.watch(namespace="default", resource_version=version, timeout=10):
                if event["type"] == "ADDED":
                    seen[event["object"].metadata.name] = time.perf_counter()
                    opened.set()
                    if len(seen) == 2:
                        return

        watcher = threading.Thread(target=watch)
        watcher.start()
        # A first write whose event proves the watch is open; the second is the one timed.
        client.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"opened-{i}", "namespace": "default"}}])
        opened.wait(15)
        written = time.perf_counter()
        client.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"watched-{i}", "namespace": "default"}}])
        watcher.join(15)
        delays.append((seen.get(f"watched-{i}", float("inf")) - written) * 1000)
        for name in (f"opened-{i}", f"watched-{i}"):
            client.delete("ConfigMap", "default", name)
    return {"api_get_p50_ms": [statistics.median(gets)], "api_get_p99_ms": [_percentile(sorted(gets), 0.99)],
            "api_list_1000_services_s": lists, "api_watch_event_delay_ms": delays}


def _load(lab: BenchLab, cluster: str, deployment: str, url: str, requests: int, workers: int,
          in_process: bool = False) -> tuple[float, list[float]]:
    """(requests/s, latencies) for `requests` GETs from `workers` concurrent clients, run by a load generator
    in one of the deployment's pods (inside the lab process, as a load-generator container runs in its pod)."""
    result = lab.backend.provider.load(cluster, lab.cfg.namespace, deployment, url, requests, workers, in_process)
    failed = [status for status in result["statuses"] if status != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {requests} failed: {sorted(set(failed))} {result['errors']}")
    return requests / result["seconds"], result["latencies"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_soak(lab: BenchLab, rounds: int, requests: int, workers: int) -> dict:
    """Sustained traffic: each round a load generator in west's client pod sends `requests` GETs through its
    proxy, east's gateway and foobar's proxy (mTLS twice), then one in east's foobar pod as many straight to
    its app over the pod's loopback (which on a real pod bypasses the proxy), then as many calls of the app's
    handler in process; the lab process's open files and RSS are read before the first round and after the
    last."""
    ns = lab.cfg.namespace
    pid = lab.backend.provider.lab_process()
    mesh_url = f"http://foobar-east.{ns}.svc.{lab.cfg.trust_domain}:9898/"
    direct_url = "http://localhost:9898/"
    _load(lab, "west", "client", mesh_url, 1, 1)  # warm the pools, so "before" counts the connections they keep
    files_before, rss_before = open_files(pid), rss_mib(pid)
    figures: dict = {k: [] for k in ("rps_through_mesh", "rps_direct", "rps_ratio_mesh_to_direct", "p50_mesh_ms",
                                     "p99_mesh_ms", "p50_direct_ms", "p99_direct_ms", "rps_in_process")}
    for _ in range(rounds):  # alternate, so both see the same machine state
        mesh_rps, mesh_lat = _load(lab, "west", "client", mesh_url, requests, workers)
        direct_rps, direct_lat = _load(lab, "east", "foobar", direct_url, requests, workers)
        figures["rps_in_process"].append(_load(lab, "east", "foobar", direct_url, requests, workers, in_process=True)[0])
        figures["rps_through_mesh"].append(mesh_rps)
        figures["rps_direct"].append(direct_rps)
        figures["rps_ratio_mesh_to_direct"].append(mesh_rps / direct_rps)
        for name, lat in (("mesh", mesh_lat), ("direct", direct_lat)):
            figures[f"p50_{name}_ms"].append(_percentile(lat, 0.50) * 1000)
            figures[f"p99_{name}_ms"].append(_percentile(lat, 0.99) * 1000)
    figures.update({"lab_open_files_before": [files_before], "lab_open_files_after": [open_files(pid)],
                    "lab_rss_mib_before": [rss_before], "lab_rss_mib_after": [rss_mib(pid)]})
    return figures


def bench_kind_overlap(runs: int, delay: float) -> dict:
    ratios, walls = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            cfg = config.load()
            runner = ScriptRunner(delay=delay)
            backend = kind_backend(cfg, Path(tmp), runner=runner)
            ctx = steps.Context(cfg, backend, Path(tmp))
            started = time.perf_counter()
            steps.schedule(ctx, steps.STEPS, lambda step, target: step.script(ctx, target))  # as `up` runs them
            wall = time.perf_counter() - started
            total = sum(c.ended - c.started for c in runner.calls)
            walls.append(wall)
            ratios.append(wall / total)
    return {"kind_bringup_wall_s": walls, "kind_wall_to_sum_ratio": ratios}


def machine_speed(runs: int = 5) -> dict:
    """Seconds of one fixed pure-Python workload, of the kind the lab's processes do (a Kubernetes object
    deep-copied, serialized with sorted keys, parsed and hashed, 2,000 times), on one core. Not a goal: figures
    from two machines compare only beside it (the test run is CPU-bound; on a machine where this figure is 1.5
    times larger, so is the test run)."""
    import copy
    import hashlib

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "foobar-5d9c", "namespace": "default",
           "labels": {f"l{i}": f"v{i}" for i in range(8)}, "annotations": {f"a{i}": "x" * 40 for i in range(8)}},
           "spec": {"containers": [{"name": f"c{i}", "image": "ghcr.io/x:1", "ports": [{"containerPort": 80 + i}],
                                    "env": [{"name": f"E{j}", "value": str(j)} for j in range(10)]} for i in range(3)]},
           "status": {"conditions": [{"type": t, "status": "True"} for t in ("Ready", "Initialized", "PodScheduled")]}}
    times = []
    for _ in range(runs):
        started = time.process_time()
        for _ in range(2000):
            text = json.dumps(copy.deepcopy(pod), sort_keys=True)
            hashlib.sha256(text.encode()).hexdigest()
            json.loads(text)
        times.append(time.process_time() - started)
    return {"machine_speed_s": times}


def main() -> None:
    parser = argparse.ArgumentParser(description="multicluster lab benchmark")
    parser.add_argument("--runs", type=int, default=5, help="runs for up/down, mirror convergence and kind overlap")
    parser.add_argument("--suite-runs", type=int, default=3, help="runs of the whole scenario suite")
    parser.add_argument("--test-runs", type=int, default=1, help="runs of the whole test run (`inv test`)")
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--soak-requests", type=int, default=10_000, help="requests per soak round, each way")
    parser.add_argument("--soak-rounds", type=int, default=3)
    parts = ("updown", "suite", "tests", "mirror", "soak", "api", "kind")
    parser.add_argument("--only", action="append", choices=parts, help="measure only this part (repeatable)")
    args = parser.parse_args()
    only = set(args.only or parts)
    figures: dict = machine_speed()
    if "updown" in only:
        figures.update(bench_up_down(args.runs))
        figures.update(bench_up_floor(args.runs))
    if "suite" in only:
        figures.update(bench_suite(args.suite_runs))
    if "tests" in only:
        figures.update(bench_test_run(args.test_runs))
    if only & {"mirror", "soak", "api"}:
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            lab = BenchLab(Path(tmp))
            try:
                if "mirror" in only:
                    figures.update(bench_mirror(lab, args.runs, args.services))
                if "soak" in only:
                    figures.update(bench_soak(lab, args.soak_rounds, requests=args.soak_requests, workers=8))
                if "api" in only:
                    figures.update(bench_api(lab, args.runs, args.services))
            finally:
                lab.close()
    if "kind" in only:
        figures.update(bench_kind_overlap(args.runs, delay=0.05))
    figures["machine_speed_end_s"] = machine_speed()["machine_speed_s"]  # a machine that changed speed meanwhile shows here

    if "lab_open_files_before" in figures:
        figures["lab_open_files_growth"] = [figures["lab_open_files_after"][0] - figures["lab_open_files_before"][0]]
        figures["lab_rss_growth_mib"] = [figures["lab_rss_mib_after"][0] - figures["lab_rss_mib_before"][0]]
    medians = {k: round(statistics.median(v), 3) for k, v in figures.items()}
    soak = f"{args.soak_rounds} x {args.soak_requests:,} requests each way, 8 clients"
    # (figure, what it is, goal from the issues as (comparison, value) or None)
    labels = [
        ("machine_speed_s", "machine speed: a fixed Python workload on one core (CPU s)", None),
        ("machine_speed_end_s", "  the same at the end of this run", None),
        ("sim_up_s", "sim up, nothing -> gateway alive (s)", None),
        ("sim_up_first_probe_s", "  of which the first probe's wait, as the lab drew it (lab.log) (s)", None),
        ("sim_up_own_work_s", "  up's own work: each run minus its drawn first-probe wait (s)", ("<=", 0.6)),
        ("cli_start_s", "  its floor: a command's start, `inv --list` (s)", None),
        ("client_import_s", "  its floor: the official client's import, meanwhile (s)", None),
        ("lab_process_ready_s", "  its floor: a lab process's start, spawn to ready, meanwhile (s)", None),
        ("sim_up_probe_period_1_s", "  the same with 1 s gateway probes instead of the guide's 3 s", None),
        ("sim_down_s", "sim down (s)", None),
        ("scenario_suite_s", "scenario suite, `./labctl test --args scenarios` (s)", ("<=", 40)),
        ("scenario_suite_cpu_s", "  its CPU time, every process it started (s)", None),
        ("scenario_suite_cpu_share", "  that over the cores' wall time (1: CPU-bound)", None),
        ("test_run_s", "whole test run, `./labctl test` (s)", ("<=", 90)),
        ("test_run_cpu_s", "  its CPU time, every process it started (s)", None),
        ("test_run_cpu_share", "  that over the cores' wall time (1: CPU-bound)", None),
        ("api_write_1000_services_s", f"API: create {args.services} exported Services, one request each (s)", None),
        ("mirror_export_1000_s", f"then until all {args.services} are mirrored (s)", ("<", 0.5)),
        ("mirror_unexport_1000_s", f"after unexporting them, until all mirrors are gone (s)", ("<", 0.5)),
        ("rps_through_mesh", "requests/s through client proxy -> gateway -> server proxy", None),
        ("rps_direct", "requests/s straight to foobar's app over its pod's loopback (HTTP/1.1)", None),
        ("rps_ratio_mesh_to_direct", "ratio mesh / direct", (">=", 0.3)),
        ("p50_mesh_ms", "p50 latency through the mesh (ms)", None),
        ("p99_mesh_ms", "p99 latency through the mesh (ms)", ("<", 20)),
        ("p50_direct_ms", "p50 latency direct (ms)", None), ("p99_direct_ms", "p99 latency direct (ms)", None),
        ("rps_in_process", "calls/s of foobar's app handler in process (no socket, no HTTP)", None),
        ("lab_open_files_before", "lab process open files before the soak", None),
        ("lab_open_files_after", "lab process open files after the soak", None),
        ("lab_open_files_growth", "  growth", ("<=", 50)),
        ("lab_rss_mib_before", "lab process RSS before the soak (MiB)", None),
        ("lab_rss_mib_after", "lab process RSS after the soak (MiB)", None),
        ("lab_rss_growth_mib", "  growth (MiB)", ("<", 50)),
        ("api_get_p50_ms", "API: GET one Service through the official client, p50 (ms)", None),
        ("api_get_p99_ms", "API: GET one Service, p99 (ms)", None),
        ("api_list_1000_services_s", f"API: LIST {args.services} Services (s)", None),
        ("api_watch_event_delay_ms", "API: from a write's request to its event on an open watch (ms)", None),
        ("kind_bringup_wall_s", "kind bring-up on the recording runner, wall (s)", None),
        ("kind_wall_to_sum_ratio", "kind wall time / sum of its commands", ("<=", 0.55)),
    ]
    if "soak" in only:
        print(f"soak: {soak}")
    checks = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}
    for key, label, goal in labels:
        if key not in medians:
            continue
        line = f"{label:<72} median {medians[key]:>9}  (of {len(figures[key])})"
        if goal:
            op, value = goal
            line += f"  goal {op} {value}: {'met' if checks[op](medians[key], value) else 'NOT MET'}"
        print(line)
    out = REPO / ".lab" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "system": platform.platform()},
                               "medians": medians, "runs": figures}, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
