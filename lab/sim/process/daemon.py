"""The lab process: holds the simulated clusters and outlives the command that started it.

`python -m lab.sim.process.daemon STATE_DIR` serves each cluster's Kubernetes
API (lab.sim.kube.apiserver) and, on another loopback port (written to STATE_DIR/daemon.json),
a small private JSON API for what Kubernetes has no verb for: its health and
shutdown, settling, address resolution, the linkerd CLI's output, requests
from a pod and proxy metrics. It reconciles every cluster whenever anything
changes; time-based work (a container's sleep, back-offs) schedules its own
wake, and a resync every 30 s is the backstop. Every change to the object
stores goes to a journal that is on disk before the API acknowledges a write
(journal.py), replayed at start over the last snapshot, STATE_DIR/state.json
(state.py): a restarted process, even after `kill -9`, picks up where the
last one stopped.
"""
from __future__ import annotations

if __name__ == "__main__":  # started as the lab process: the imports below with the collector paused (lab/startup.py)
    from ... import startup
    startup.pause()

import asyncio
import hmac
import logging
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from ...parsers import cli_output
from ...model.profiles import DEFAULT_PROFILE, PROFILES
from ..kube.apicerts import ADMIN_GROUP, ADMIN_GROUP_BEFORE_1_29, ApiCerts
from ..kube.apiserver.schemas import release
from ..kube.apiserver.server import KubeAPI
from ..kube.store import Change, ObjectError, key_of
from ..mesh.checks import cluster_checks
from ..mesh.mirror import ServiceMirror
from ..mesh.remote import ClusterStore
from ..wire import httpwire
from ..wire.background import spawn
from ..world import controllers, jobs, workloads
from ..world.kubelet import Kubelet
from ..world.cluster import SimCluster
from ..world.network import Network
from . import journal, labprocess
from .state import CorruptState, restore, write_snapshot

log = logging.getLogger("lab.sim")
# A pass with nothing new to do, as an informer's resync: what comes due with time (a container's sleep, the
# kubelet's and the Job controller's back-offs, the gateway probes) wakes a pass itself. A pass that raised
# comes again soon: its controllers may not have scheduled what they owed.
RESYNC_SECONDS, RETRY_SECONDS = 30.0, 1.0
# The journal is folded into a new snapshot when it has grown this much, or this long after the last one.
COMPACT_BYTES, COMPACT_SECONDS = 8 * 1024 * 1024, 60.0
BURST_GAP, BURST_MAX = 0.005, 0.05  # seconds: how long writes may keep a reconcile pass waiting



async def _exec(*args, **kwargs):
    """`kubectl exec`: the pods' shell and their HTTP clients (podexec, podenv) are imported at the first
    exec or request from a pod, not while the lab process starts: `up` uses neither, and their ~10 ms of
    imports were on its critical path (the clusters wait for this process to serve)."""
    from ..world import podexec  # noqa: PLC0415

    return await podexec.run(*args, **kwargs)


def node_objects(cluster: str, kubelet_version: str, index: int) -> list[dict]:
    """A kind cluster's one node, `<cluster>-control-plane`, as `kubectl get nodes -o wide` shows it: Ready,
    the control-plane role, the kubelet's version, and an address on the docker `kind` network, where kind
    gives nodes addresses from the bottom in the order the clusters were made; and the node's Lease in
    kube-node-lease (`kubectl describe node` reads it; a kubelet renews it, the simulation does not)."""
    node = f"{cluster}-control-plane"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": node, "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now.replace("Z", ".000000Z")}}
    return [lease, {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "", "providerID": f"kind://docker/{cluster}/{node}"},
            "status": {"addresses": [{"type": "InternalIP", "address": f"172.18.0.{2 + index}"},
                                     {"type": "Hostname", "address": node}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                                       "lastTransitionTime": now}],
                       "nodeInfo": {"kubeletVersion": kubelet_version, "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "(simulated)", "containerRuntimeVersion": "containerd://(simulated)",
                                    "architecture": "amd64", "operatingSystem": "linux"}}}]

def admin_group(kubernetes_version: str) -> str:
    """The admin certificate's group at the cluster's version (apicerts.py says why it changed at 1.29)."""
    return ADMIN_GROUP if release(kubernetes_version) >= (1, 29) else ADMIN_GROUP_BEFORE_1_29


def admin_rbac(kubernetes_version: str) -> list[dict]:
    """What lets the admin's group do everything from Kubernetes 1.29: the API server's bootstrap ClusterRole
    cluster-admin (every verb on every resource and path: plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go)
    and kubeadm's ClusterRoleBinding kubeadm:cluster-admins of group kubeadm:cluster-admins to it
    (cmd/kubeadm/app/phases/kubeconfig, EnsureAdminClusterRoleBinding). Before 1.29 the admin is in
    system:masters, which RBAC never refuses."""
    if admin_group(kubernetes_version) != ADMIN_GROUP:
        return []
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": ADMIN_GROUP},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": ADMIN_GROUP}]}
    return [role, binding]


class LabProcess:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.network = Network()
        self.clusters = self.network.clusters
        self._wake = asyncio.Event()
        self._saved = time.monotonic()
        self.journal: journal.Journal | None = None
        self._idle = asyncio.Event()
        self.passes = 0  # reconcile passes finished; `_passed` is set when the next one finishes
        self._passed = asyncio.Event()
        self._stopping = asyncio.Event()
        self.started = time.time()
        self.token: str | None = None
        self.apis: dict[str, KubeAPI] = {}

    # -- clusters ----------------------------------------------------------
    def _mark(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def add_cluster(self, name: str, spec: dict, objects: list[dict] | None = None, version: int = 0) -> SimCluster:
        cluster = SimCluster(name, spec, self.network, self.state_dir / "certs", self._mark)
        cluster.store.subscribe(lambda change: self._journal_change(name, change))
        cluster.store.commit = self.journal.sync if self.journal else None
        if objects:
            cluster.store.load(objects, version)
        else:  # what every new cluster has before anything is applied: its system namespaces and its node
            for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
                cluster.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            for obj in node_objects(name, spec.get("kubernetes_version", "v1.32.0"), len(self.clusters)):
                cluster.store.apply(obj)
            for obj in admin_rbac(spec.get("kubernetes_version", "v1.32.0")):
                cluster.store.apply(obj)
            cluster.store.apply(controllers.kube_dns_service(cluster.spec["service_subnet"]))
            node_ip = next(a["address"] for o in cluster.store.views("Node") for a in o["status"]["addresses"]
                           if a["type"] == "InternalIP")
            for obj in controllers.kubernetes_service(cluster.spec["service_subnet"], node_ip):
                cluster.store.apply(obj)
        cluster.cluster_store = ClusterStore(cluster)
        kubelet = Kubelet(cluster)
        cluster.controllers = [
            controllers.CustomResourceDefinitions(cluster), controllers.Namespaces(cluster),
            controllers.ServiceIPs(cluster), controllers.ServiceAccountTokens(cluster), controllers.MetalLB(cluster),
            workloads.Deployments(cluster, kubelet), jobs.Jobs(cluster, kubelet), jobs.ReplicationControllers(cluster, kubelet),
            kubelet, controllers.Endpoints(cluster), ServiceMirror(cluster),
            controllers.EndpointSlices(cluster), cluster.cluster_store,
        ]
        self.clusters[name] = cluster
        await self._serve_api(cluster)
        if self.journal:
            self.journal.append({"c": name, "spec": cluster.spec})  # with the API port it serves on
        self._mark()
        return cluster

    def _journal_change(self, cluster: str, change: Change) -> None:
        if self.journal is None:
            return
        version, event, obj, _ = change
        if event == "DELETED":
            self.journal.append({"c": cluster, "del": list(key_of(obj)), "rv": version})
        else:
            self.journal.append({"c": cluster, "put": obj})

    async def _serve_api(self, cluster: SimCluster) -> None:
        """The cluster's Kubernetes API, on the port it had before a restart when that port is still free
        (so a kubeconfig written earlier keeps working)."""
        version = cluster.spec.get("kubernetes_version", "v1.32.0")
        certs = ApiCerts.of(self.state_dir, cluster.name).ensure(admin_group(version))
        api = KubeAPI(cluster, certs, version, _exec)
        try:
            port = await api.start(int(cluster.spec.get("api_port", 0)))
        except OSError:
            port = await api.start(0)
        cluster.spec["api_port"] = port
        self.apis[cluster.name] = api
        log.info("cluster %s: Kubernetes API on https://127.0.0.1:%d", cluster.name, port)

    # -- persistence ---------------------------------------------------------
    async def load(self) -> None:
        """The clusters as the last acknowledged write left them (CorruptState when the files say otherwise),
        then a fresh snapshot and an empty journal, which the process appends to from here on."""
        restored = restore(self.state_dir)
        if restored.torn:
            log.warning("dropped a torn last record of %s (a write cut short by a crash, never acknowledged)",
                        self.state_dir / journal.NAME)
        # A background fdatasync that finishes (journal.sync) wakes the loop as a write does, so `_quiet` takes it
        # for part of a burst still landing. Answers do not wait for it; without this wake an `up` makes as many
        # passes (10-12, measured), so it only keeps a pass from starting between a burst's writes and their sync.
        self.journal = journal.Journal(self.state_dir / journal.NAME, restored.journal_valid, restored.seq,
                                       on_synced=self._wake.set)
        for name, saved in restored.clusters.items():
            await self.add_cluster(name, saved.spec, list(saved.objects.values()), saved.version)
        if restored.clusters:
            log.info("restored %d cluster(s) from %s and %s", len(restored.clusters), self.state_dir / "state.json",
                     self.state_dir / journal.NAME)
        self.save()

    def save(self) -> None:
        """A snapshot of every cluster, then the journal it makes redundant emptied."""
        write_snapshot(self.state_dir, {n: (c.spec, c.store.dump(), c.store.last_version) for n, c in self.clusters.items()},
                       self.journal.seq if self.journal else 0)
        if self.journal:
            self.journal.reset()
        self._saved = time.monotonic()

    # -- the loop ------------------------------------------------------------
    async def reconcile_forever(self) -> None:
        failed = False
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), self._until_next_pass(failed))
            except asyncio.TimeoutError:
                pass
            await self._quiet()
            failed = False
            for cluster in list(self.clusters.values()):
                try:
                    await cluster.reconcile()
                except Exception:  # one broken object must not stop the other controllers
                    failed = True
                    log.exception("reconcile of cluster %s failed", cluster.name)
            # The journal holds every change already; a snapshot, when quiet, only keeps it short.
            if self.journal and self.journal.size and not self._wake.is_set() and (
                    self.journal.size >= COMPACT_BYTES or time.monotonic() - self._saved >= COMPACT_SECONDS):
                self.save()
            if not self._wake.is_set():
                self._idle.set()
            self.passes += 1
            self._passed, passed = asyncio.Event(), self._passed
            passed.set()

    def _until_next_pass(self, failed: bool) -> float:
        """Seconds the loop waits for a wake: the resync, a failed pass's retry, or the journal's compaction
        when it falls due."""
        wait = RETRY_SECONDS if failed else RESYNC_SECONDS
        if self.journal and self.journal.size:
            wait = min(wait, max(0.0, self._saved + COMPACT_SECONDS - time.monotonic()))
        return wait

    async def _quiet(self) -> None:
        """Let a burst of writes (`kubectl apply -f` of many objects, one request each) land before a pass:
        until BURST_GAP passes without a change, BURST_MAX at most. A pass reads whole clusters, so one per
        write would make a burst cost its length squared."""
        first = time.monotonic()
        while True:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), BURST_GAP)
            except asyncio.TimeoutError:
                break
            if time.monotonic() - first >= BURST_MAX:
                break
        self._wake.clear()

    async def settle(self, timeout: float = 10.0) -> bool:
        """Wait until a reconcile pass changes nothing (controllers have converged) and the destination
        controllers have heard back from the clusters they were adding or starting to watch."""
        deadline = time.monotonic() + timeout
        while True:
            self._mark()
            try:
                await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
                waiting = [w for c in self.clusters.values() if c.cluster_store for w in c.cluster_store.in_flight()]
                if not waiting:
                    return True
                await asyncio.wait_for(asyncio.gather(*waiting), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return False

    async def shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()

    # -- the API -------------------------------------------------------------
    async def handle(self, req: httpwire.Request) -> httpwire.Response:
        # The API serves the issuers' private keys and can stop the lab: only to holders of the token,
        # which only this user can read (labprocess.new_token).
        offered = req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not self.token or not hmac.compare_digest(offered.encode(), self.token.encode()):
            return httpwire.json_response(401, {"error": "unauthorized"})
        parts = [p for p in req.path.split("/") if p][1:]  # drop "v1"
        try:
            return await self._route(req, parts)
        except ObjectError as exc:
            return httpwire.json_response(422, {"error": str(exc)})
        except KeyError as exc:
            return httpwire.json_response(404, {"error": f"not found: {exc}"})

    async def _route(self, req: httpwire.Request, parts: list[str]) -> httpwire.Response:
        ok = lambda payload: httpwire.json_response(200, payload)  # noqa: E731
        if parts == ["health"]:
            return ok({"pid": os.getpid(), "clusters": sorted(self.clusters), "uptime": time.time() - self.started,
                       "kubeapi": {name: api.port for name, api in self.apis.items()}})
        if parts == ["shutdown"] and req.method == "POST":
            asyncio.get_running_loop().call_soon(lambda: spawn(self.shutdown()))
            return ok({"stopping": True})
        if parts == ["settle"]:
            return ok({"settled": await self.settle(float(req.query.get("timeout", "10")))})
        if parts == ["passes"]:  # a poller's pause: answers once a pass after `after` has finished, or at `timeout`
            if self.passes <= int(req.query.get("after", "0")):
                try:
                    await asyncio.wait_for(self._passed.wait(), min(float(req.query.get("timeout", "1")), 10.0))
                except asyncio.TimeoutError:
                    pass
            return ok({"passes": self.passes})
        if parts == ["resolve"]:
            real = self.network.resolve(req.query["address"], int(req.query["port"]))
            return ok({"host": real[0], "port": real[1]} if real else {"host": None, "port": None})
        if parts == ["clusters"] and req.method == "POST":
            body = req.json()
            if body["name"] not in self.clusters:
                await self.add_cluster(body["name"], body["spec"])
                await self.journal.sync()
            return ok({"name": body["name"]})
        if not parts or parts[0] != "clusters" or len(parts) < 3:
            return httpwire.json_response(404, {"error": f"no route {req.method} {req.path}"})
        cluster = self.clusters[parts[1]]
        action = parts[2]
        body = req.json() if req.method == "POST" else None
        if action == "request":
            return ok(await self.request(cluster, body))
        if action == "gateways":  # what `linkerd multicluster gateways` of the profile's version prints
            mirror = next(c for c in cluster.controllers if isinstance(c, ServiceMirror))
            profile = PROFILES[req.query.get("profile", DEFAULT_PROFILE)]
            return ok({"stdout": cli_output.render_gateways(mirror.gateway_statuses(profile), profile.gateways_columns)})
        if action == "check":  # what the profile's multicluster check prints with `-o json`
            profile = PROFILES[req.query.get("profile", DEFAULT_PROFILE)]
            return ok({"stdout": cli_output.render_check(cluster_checks(cluster, profile))})
        if action == "load" and req.method == "POST":  # a load generator run in one of the deployment's pods
            pod = self._running_pod(cluster, body["namespace"], body["deployment"])
            if pod is None:
                return httpwire.json_response(404, {"error": f"no running pod of deployment {body['namespace']}/"
                                                             f"{body['deployment']} in cluster {cluster.name}"})
            from ..world import podexec  # noqa: PLC0415 - see _exec

            try:
                return ok(await podexec.load(pod, body["url"], int(body["requests"]), int(body.get("concurrency", 1)),
                                             float(body.get("timeout", 10)), bool(body.get("in_process"))))
            except ValueError as exc:
                return httpwire.json_response(422, {"error": str(exc)})
        if action == "metrics":
            return ok({"pods": {p.name: p.proxy.metrics() for (ns, _), p in sorted(cluster.pods.items())
                                if p.proxy and ns == req.query["namespace"]
                                and p.name.startswith(req.query["deployment"] + "-")}})
        return httpwire.json_response(404, {"error": f"no route {req.method} {req.path}"})

    async def request(self, cluster: SimCluster, body: dict) -> dict:
        """`kubectl exec deploy/<d> -- curl <url>`: an HTTP GET from that pod, through its proxy."""
        ns, deployment, url = body["namespace"], body["deployment"], body["url"]
        timeout = float(body.get("timeout", 5))
        from ..world import podenv, podexec  # noqa: PLC0415 - see _exec

        pod = self._running_pod(cluster, ns, deployment)
        if pod is None:
            return {"error": f"no running pod of deployment {ns}/{deployment} in cluster {cluster.name}"}
        try:
            if pod.proxy is None:  # outside the mesh: where kube-proxy routes it, in plain HTTP
                net = podenv.PodNetwork(pod, podenv.StoreResolver(cluster, ns, pod.name, pod.ip))
                response = await net.get(url, podexec.request_headers(urlsplit(url)), timeout)
            else:
                response = await podexec.send(pod, podexec.curl_request(urlsplit(url)), timeout)
        except asyncio.TimeoutError:
            return {"error": f"operation timed out after {timeout:.0f}s"}
        except podenv.NetError as exc:
            return {"error": f"curl: ({exc.code}) {exc}"}
        except (OSError, httpwire.WireError, asyncio.IncompleteReadError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"status": response.status, "headers": response.headers,
                "body": response.body.decode("utf-8", "replace"), "pod": pod.name}

    @staticmethod
    def _running_pod(cluster: SimCluster, namespace: str, deployment: str):
        return next((p for (pns, _), p in sorted(cluster.pods.items())
                     if pns == namespace and p.name.startswith(deployment + "-") and not p.error), None)

    async def stop_all(self) -> None:
        for cluster in self.clusters.values():  # first: the controllers' watches on other clusters' APIs
            await cluster.stop()
        for api in self.apis.values():
            await api.stop()


async def main(state_dir: Path) -> None:
    lab = LabProcess(state_dir)
    try:
        await lab.load()
    except CorruptState as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: spawn(lab.shutdown()))
    loop.set_exception_handler(_quiet_tls_noise)
    lab.token = labprocess.new_token(state_dir)
    server = await httpwire.serve_http(lab.handle)
    port = server.port
    info = state_dir / labprocess.RECORD
    labprocess.write_record(state_dir, os.getpid(), port, lab.started)
    labprocess.say_ready()
    log.info("lab process %d serving its API on 127.0.0.1:%d", os.getpid(), port)
    try:
        await lab.reconcile_forever()
    finally:
        await server.close()
        await lab.stop_all()
        lab.save()
        lab.journal.close()
        try:
            if (labprocess.read_record(state_dir) or labprocess.Record(0, 0)).pid == os.getpid():
                info.unlink()
        except Exception:  # noqa: BLE001 - a record someone else rewrote is theirs to clean up
            pass
        log.info("lab process %d stopped", os.getpid())


def _quiet_tls_noise(loop, context) -> None:
    """Refused handshakes are expected traffic here, not crashes: log them at debug."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, OSError)) or "SSL" in str(context.get("message", "")):
        log.debug("%s", context.get("message"))
        return
    loop.default_exception_handler(context)


if __name__ == "__main__":
    startup.resume()
    logging.basicConfig(level=os.environ.get("LAB_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # The lab starts this itself (lab/backends/sim.py); a person typing it gets usage, and an option
    # such as --help is never taken for a state directory and filled with a running lab.
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(f"usage: {sys.executable} -m lab.sim.process.daemon STATE_DIR\n"
              "  (the lab starts this itself: run `./labctl up` instead)", file=sys.stderr)
        raise SystemExit(2)
    directory = Path(sys.argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    # For profiling only (LAB_PROFILE names the lab's Linkerd profile): cProfile the whole run, written on exit
    profile_to = os.environ.get("LAB_CPROFILE")
    with asyncio.Runner() as runner:
        if profile_to:
            import cProfile
            profiler = cProfile.Profile()
            try:
                profiler.runcall(runner.run, main(directory))
            finally:
                profiler.dump_stats(profile_to)
        else:
            runner.run(main(directory))
