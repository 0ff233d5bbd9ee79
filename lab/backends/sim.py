"""The simulation's provider, seen from the lab's commands: start, reach and stop the lab process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import base64
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from ..trust import pki
from ..kubeclient import KubeClient, preload
from ..lock import lab_lock
from ..sim.kube.apicerts import ApiCerts
from ..sim.process import labprocess
from .base import LabError, Provider, wait_until

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding lab/, for the lab process's PYTHONPATH
START_TIMEOUT = 15.0
# The lab process trusts no certificate authority of this machine: every TLS peer it meets is one of its own
# (a cluster's API, a proxy, a gateway), verified against the CA the lab gave it, as a pod trusts its
# service account's ca.crt and not its node's store, and kube-apiserver takes client certificates only from
# its --client-ca-file. OpenSSL reads these two variables for the default store; empty, it holds nothing,
# and the two default contexts aiohttp builds at import (aiohttp/connector.py) cost nothing instead of
# parsing this machine's ~150 roots twice (0.05-0.2 s of the lab process's start).
NO_SYSTEM_ROOTS = {"SSL_CERT_FILE": os.devnull, "SSL_CERT_DIR": os.devnull}


def _stamp(path: Path) -> tuple | None:
    """Which version of a file this is (replaced, rewritten or gone: another stamp), without reading it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class SimProvider(Provider):
    """The lab process: it holds both clusters, serves their Kubernetes APIs, and outlives the command."""

    name = "sim"
    pause_ends_on_pass = True  # `pause` below: the lab process answers when its next reconcile pass ends

    def __init__(self, backend):
        super().__init__(backend)
        self._start_lock = threading.Lock()
        self._clients: dict[str, KubeClient] = {}
        self._clients_lock = threading.Lock()
        self._seen = threading.local()  # per polling thread: the lab process's passes it has looked after
        self._kubeconfig_made: tuple | None = None  # what the kubeconfig was last made from, and the file it left
        self._kubeconfig_lock = threading.Lock()  # one writer at a time: the stamp taken is of the file it wrote

    @property
    def sim_dir(self) -> Path:
        return self.backend.state_dir / "sim"

    @property
    def log_file(self) -> Path:
        return self.sim_dir / "lab.log"

    # -- the lab process ---------------------------------------------------
    def _daemon(self) -> labprocess.Record | None:
        """The lab process's record, when the process it names is ours and alive (a PID reused by
        another process after a crash is not). A corrupt record is one LabError naming the file."""
        record = labprocess.read_record(self.sim_dir)
        return record if record is not None and labprocess.is_ours(record.pid, self.sim_dir) else None

    def rpc(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0, query: dict | None = None):
        info = self._daemon()
        if info is None:
            record = labprocess.read_record(self.sim_dir)
            if record is not None and not labprocess.alive(record.pid):  # it ran, and died: say so
                raise self._exited(record.pid)
            raise LabError(f"the lab process for '{self.cfg.name}' is not running. Fix: run `./labctl up`")
        url = f"http://127.0.0.1:{info.port}/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json", "authorization": f"Bearer {labprocess.read_token(self.sim_dir)}"}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            payload = json.loads(exc.read() or b"{}")
            if exc.code == 404:
                return None
            raise LabError(f"the lab process refused {method} {path}: {payload.get('error', exc.reason)}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            if not labprocess.alive(info.pid):
                raise self._exited(info.pid) from None
            raise LabError(f"the lab process did not answer ({exc}). Its log: {self.log_file}") from None

    def _exited(self, pid: int) -> LabError:
        return LabError(f"the lab process (pid {pid}) has exited{self._last_words()}. Fix: `./labctl up` "
                        f"restarts it with the saved state (log: {self.log_file})")

    def _last_line(self) -> str:
        """The lab process's last log message, without the timestamp and logger prefix."""
        try:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        last = lines[-1] if lines else ""
        return (last.split(" lab.sim: ", 1)[-1])[:400]

    def _last_words(self) -> str:
        last = self._last_line()
        return f"; its log ends: {last}" if last else ""

    def running(self) -> bool:
        if self._daemon() is None:
            return False
        try:
            return self.rpc("GET", "health", timeout=3) is not None
        except LabError:
            return False

    def _start(self) -> None:
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        self._clients.clear()  # a new lab process: new API ports, new discovery
        shutil.rmtree(self.backend.state_dir / "discovery", ignore_errors=True)
        (self.sim_dir / labprocess.RECORD).unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
               **NO_SYSTEM_ROOTS}
        ready = labprocess.ReadyPipe()
        with open(self.log_file, "ab") as log:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", labprocess.MODULE, str(self.sim_dir.resolve())],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.root, env={**env, **ready.env()},
                    pass_fds=(ready.write_fd,), start_new_session=True,  # outlives this command, as kind's containers do
                )
            except BaseException:
                ready.close()
                raise
            finally:
                ready.started()
        preload()  # the steps after this one talk to the clusters through the official client: import it meanwhile

        def up():
            if proc.poll() is not None:
                last = self._last_line()
                if "Fix:" in last:  # it said what is wrong and how to fix it: that is the message
                    raise LabError(f"the lab process cannot start: {last}")
                raise LabError(f"the lab process exited at start (code {proc.returncode}){self._last_words()}. "
                               f"Log: {self.log_file}")
            info = self._daemon()
            return info is not None and info.pid == proc.pid

        try:
            wait_until(up, START_TIMEOUT, f"the lab process to start (log: {self.log_file})", interval=0.05, pause=ready.wait)
        finally:
            ready.close()

    def pause(self, seconds: float) -> None:
        """Until the lab process finishes a reconcile pass this thread has not looked after yet (what it
        polls for is made by one), `seconds` at most: a poller wakes on the change instead of a clock."""
        started = time.monotonic()
        try:
            seen = self.rpc("GET", "passes", query={"after": getattr(self._seen, "passes", 0), "timeout": seconds},
                            timeout=seconds + 5)
        except LabError:  # the poller's next look says what happened to the lab process
            seen = None
        if seen is None:  # no answer, or a lab process from before this route: the plain sleep
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
            return
        self._seen.passes = seen["passes"]

    def cluster_exists(self, cluster: str) -> bool:
        health = self.rpc("GET", "health", timeout=3) if self.running() else None
        return bool(health) and cluster in health["clusters"]

    def kubeconfig_path(self) -> str:
        """The lab's kubeconfig (.lab/<name>/kubeconfig, 0600: it holds the admin's key), one context per
        cluster named as kind names them (`kind-east`) and as the guide does (`east`), pointing at the lab process's Kubernetes APIs."""
        return self._write_kubeconfig(self.rpc("GET", "health")["kubeapi"])  # a lab that is down says so

    def _write_kubeconfig(self, ports: dict[str, int]) -> str:
        with self._kubeconfig_lock:
            return self._make_kubeconfig(ports)

    def _make_kubeconfig(self, ports: dict[str, int]) -> str:
        # Every kubectl run of a scenario asks (hundreds in a test run), and dumping YAML costs a few milliseconds:
        # made again only when a port, a certificate file or the kubeconfig itself is not what it was.
        path = self.backend.state_dir / "kubeconfig"
        certs = [ApiCerts.of(self.sim_dir, name) for name in self.cfg.cluster_names if name in ports]
        sources = sorted(ports.items()), [_stamp(p) for c in certs for p in (c.ca, *c.admin)]
        made = self._kubeconfig_made
        if made is not None and made[0] == sources and made[1] == _stamp(path):
            return str(path)
        clusters, users, contexts = [], [], []
        for name in self.cfg.cluster_names:
            if name not in ports:
                continue
            certs = ApiCerts.of(self.sim_dir, name)
            context = f"kind-{name}"
            clusters.append({"name": context, "cluster": {
                "server": f"https://127.0.0.1:{ports[name]}",
                "certificate-authority-data": base64.b64encode(certs.ca.read_bytes()).decode()}})
            users.append({"name": context, "user": {
                "client-certificate-data": base64.b64encode(certs.admin[0].read_bytes()).decode(),
                "client-key-data": base64.b64encode(certs.admin[1].read_bytes()).decode()}})
            contexts.append({"name": context, "context": {"cluster": context, "user": context}})
        # The guide addresses its clusters as `east`/`west` (`kubectl --context=west get svc`): the same
        # cluster and credentials under the guide's name too, so its lines paste verbatim.
        contexts += [{"name": name, "context": {"cluster": f"kind-{name}", "user": f"kind-{name}"}}
                     for name in self.cfg.cluster_names if name in ports]
        config = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": clusters, "users": users,
                  "contexts": contexts, "current-context": contexts[0]["name"] if contexts else ""}
        text = yaml.safe_dump(config, sort_keys=False)
        if not path.exists() or path.read_text() != text:  # rewrite only what changed
            pki.write_private(path, text, durable=False)  # made again from the lab process whenever it differs
        self._kubeconfig_made = (sources, _stamp(path))
        return str(path)

    def create_cluster(self, cluster: str) -> None:
        # Both clusters live in one lab process: start it once, whatever other thread or command tries too.
        with self._start_lock, lab_lock(self.sim_dir, "start the lab process", say=lambda line: None):
            if not self.running():
                self._start()
        c = self.cfg.cluster(cluster)
        spec = {"pod_subnet": str(c.pod_subnet), "service_subnet": str(c.service_subnet), "domain": self.cfg.trust_domain,
                "kubernetes_version": self.cfg.profile.kubernetes_version, "profile": self.cfg.profile_name,
                "network": c.network}  # clusters on one flat network route each other's pod IPs
        self.rpc("POST", "clusters", {"name": c.name, "spec": spec})

    def destroy(self) -> list[str]:
        """Stop this lab's process (asked over its API, then signalled if it must be: only a PID proven
        to be this lab's) and remove its files. Works with a corrupt or missing record too."""
        removed = []
        try:
            info = self._daemon()
        except LabError:
            info = None  # a corrupt record: the process is found by its command line below

        def ask() -> None:
            try:
                self.rpc("POST", "shutdown", {}, timeout=5)
            except LabError:
                pass
        pids = sorted(set(labprocess.find(self.sim_dir)) | ({info.pid} if info else set()))
        for pid in labprocess.stop(pids, self.sim_dir, ask=ask if info is not None else None):
            removed.append(f"lab process {pid}")
        if self.sim_dir.exists():
            shutil.rmtree(self.sim_dir)
            removed.append(str(self.sim_dir))
        for leftover in (self.backend.state_dir / "kubeconfig", self.backend.state_dir / "discovery"):  # they name the gone APIs
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
        self._clients.clear()
        return removed

    def pid(self) -> int | None:
        info = self._daemon()
        return info.pid if info else None


    def client(self, cluster: str) -> KubeClient:
        """The official client on the cluster's context in the lab's kubeconfig (one per cluster, kept)."""
        with self._clients_lock:
            if cluster not in self._clients:
                health = self.rpc("GET", "health", timeout=3)  # names a dead lab process
                if cluster not in health["clusters"]:
                    raise LabError(f"cluster {cluster} does not exist. Fix: run `./labctl up`")
                self._clients[cluster] = KubeClient(self._write_kubeconfig(health["kubeapi"]), f"kind-{cluster}",
                                                    self.backend.state_dir / "discovery" / f"{cluster}.json")
            return self._clients[cluster]


    def load(self, cluster: str, namespace: str, deployment: str, url: str, requests: int,
             concurrency: int, in_process: bool = False) -> dict | None:
        """Run a load generator in one of the deployment's pods (its traffic leaves through the pod's proxy,
        as a load-generator container's would): {"statuses", "latencies", "seconds", "errors", "pod"}."""
        return self.rpc("POST", f"clusters/{cluster}/load", {"namespace": namespace, "deployment": deployment,
                                                              "url": url, "requests": requests, "concurrency": concurrency,
                                                              "in_process": in_process},
                        timeout=max(60.0, requests / 20))

    def lab_process(self) -> int | None:
        return self.pid()

    def host_address(self, address: str, port: int) -> tuple[str, int] | None:
        r = self.rpc("GET", "resolve", query={"address": address, "port": port})
        return (r["host"], r["port"]) if r["host"] else None

    def write_diagnostics(self, dest: Path) -> None:
        if self.log_file.exists():
            shutil.copy(self.log_file, dest / "lab.log")

    def settle(self) -> None:
        started = time.monotonic()
        if not self.rpc("POST", "settle", {}, query={"timeout": 10})["settled"]:
            raise LabError(f"the simulated controllers did not settle within {time.monotonic() - started:.0f}s; see {self.log_file}")
