"""The simulation backend, seen from the lab's commands: start, drive and stop the lab process."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import base64
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ... import gateways, helm, manifests
from ...trust import TrustMaterial
from ..base import Backend, HttpResult, LabError, wait_until

PACKAGE_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 15.0


def _pid_alive(pid: int) -> bool:
    try:  # reap it first if it is our own child (a test that ran `up` and `down` in one process)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited process its parent has not reaped yet is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


class SimBackend(Backend):
    name = "sim"

    def __init__(self, cfg, root=None):
        super().__init__(cfg, root)
        self._start_lock = threading.Lock()

    @property
    def sim_dir(self) -> Path:
        return self.state_dir / "sim"

    @property
    def log_file(self) -> Path:
        return self.sim_dir / "lab.log"

    # -- the lab process ---------------------------------------------------
    def _daemon(self) -> dict | None:
        try:
            info = json.loads((self.sim_dir / "daemon.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return info if _pid_alive(info["pid"]) else None

    def _api(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0, query: dict | None = None):
        info = self._daemon()
        if info is None:
            raise LabError(f"the lab process for '{self.cfg.name}' is not running. Fix: run `inv up`")
        url = f"http://127.0.0.1:{info['port']}/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            payload = json.loads(exc.read() or b"{}")
            if exc.code == 404:
                return None
            raise LabError(f"the lab process refused {method} {path}: {payload.get('error', exc.reason)}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise LabError(f"the lab process did not answer ({exc}). Its log: {self.log_file}") from None

    def running(self) -> bool:
        if self._daemon() is None:
            return False
        try:
            return self._api("GET", "health", timeout=3) is not None
        except LabError:
            return False

    def _start(self) -> None:
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        (self.sim_dir / "daemon.json").unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lab.backends.sim.daemon", str(self.sim_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.root, env=env,
                start_new_session=True,  # outlives this command, as kind's containers do
            )

        def up():
            if proc.poll() is not None:
                tail = self.log_file.read_text()[-2000:]
                raise LabError(f"the lab process exited at start (code {proc.returncode}). Log {self.log_file}:\n{tail}")
            info = self._daemon()
            return info is not None and info["pid"] == proc.pid

        wait_until(up, START_TIMEOUT, f"the lab process to start (log: {self.log_file})", interval=0.05)

    def cluster_exists(self, cluster: str) -> bool:
        health = self._api("GET", "health", timeout=3) if self.running() else None
        return bool(health) and cluster in health["clusters"]

    def create_cluster(self, cluster: str) -> None:
        with self._start_lock:  # both clusters live in one lab process: start it once
            if not self.running():
                self._start()
        c = self.cfg.cluster(cluster)
        spec = {"pod_subnet": str(c.pod_subnet), "service_subnet": str(c.service_subnet), "domain": self.cfg.trust_domain}
        self._api("POST", "clusters", {"name": c.name, "spec": spec})

    def destroy(self) -> list[str]:
        removed = []
        info = self._daemon()
        if info is not None:
            try:
                self._api("POST", "shutdown", {}, timeout=5)
            except LabError:
                pass
            try:
                wait_until(lambda: not _pid_alive(info["pid"]), 10, "the lab process to stop")
            except LabError:
                os.kill(info["pid"], signal.SIGKILL)
                wait_until(lambda: not _pid_alive(info["pid"]), 5, "the lab process to be killed")
            removed.append(f"lab process {info['pid']}")
        if self.sim_dir.exists():
            shutil.rmtree(self.sim_dir)
            removed.append(str(self.sim_dir))
        return removed

    def pid(self) -> int | None:
        info = self._daemon()
        return info["pid"] if info else None

    # -- the Kubernetes API ----------------------------------------------------
    def apply(self, cluster: str, objects: list[dict]) -> list[str]:
        return self._api("POST", f"clusters/{cluster}/apply", {"objects": objects})["changed"]

    def get(self, cluster: str, kind: str, namespace: str, name: str) -> dict | None:
        return self._api("GET", f"clusters/{cluster}/objects/{kind}/{namespace or '_'}/{name}")

    def list(self, cluster: str, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]:
        query = {}
        if namespace:
            query["namespace"] = namespace
        if labels:
            query["labels"] = ",".join(f"{k}={v}" for k, v in labels.items())
        return self._api("GET", f"clusters/{cluster}/objects/{kind}", query=query)["items"]

    def delete(self, cluster: str, kind: str, namespace: str, name: str) -> bool:
        return self._api("POST", f"clusters/{cluster}/delete", {"kind": kind, "namespace": namespace, "name": name})["deleted"]

    def set_metadata(self, cluster: str, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> None:
        self._api("POST", f"clusters/{cluster}/metadata",
                  {"kind": kind, "namespace": namespace, "name": name, "field": field, "values": values})

    def scale(self, cluster: str, namespace: str, deployment: str, replicas: int) -> None:
        self._api("POST", f"clusters/{cluster}/scale", {"namespace": namespace, "name": deployment, "replicas": replicas})

    # -- installing ------------------------------------------------------------
    def install_loadbalancer(self, cluster: str) -> None:
        """MetalLB's controller is built into every simulated cluster; only its pool is applied."""

    def install_linkerd(self, cluster: str, trust: TrustMaterial) -> None:
        self.apply(cluster, manifests.linkerd_identity(self.cfg, cluster, trust))

    def install_multicluster(self, cluster: str) -> None:
        if self.cfg.installer == "helm":
            self.helm_install(cluster, helm.MAIN_RELEASE, manifests.MC_NS, manifests.multicluster(self.cfg))
        else:
            self.apply(cluster, manifests.multicluster(self.cfg))

    # -- Helm releases, modelled as the objects they own -------------------------
    def helm_install(self, cluster: str, release: str, namespace: str, objects: list[dict]) -> None:
        owned = helm.owned(objects, release, namespace)
        self.apply(cluster, owned + [helm.release_record(release, namespace, owned)])

    def helm_uninstall(self, cluster: str, release: str, namespace: str) -> bool:
        record = self.get(cluster, "Secret", namespace, f"sh.helm.release.v1.{release}.v1")
        if record is None:
            return False
        for ref in helm.owned_refs(record):
            self.delete(cluster, ref["kind"], ref["namespace"], ref["name"])
        self.delete(cluster, "Secret", namespace, record["metadata"]["name"])
        return True

    def allow_access(self, target: str, source: str) -> None:
        objects = helm.access_objects(source, manifests.MC_NS)
        if self.cfg.installer == "helm":
            self.helm_install(target, helm.access_release(source), manifests.MC_NS, objects)
        else:  # `linkerd multicluster allow --service-account-name <source>` renders the same objects
            self.apply(target, objects)

    def revoke_access(self, target: str, source: str) -> None:
        if self.cfg.installer == "helm":
            if not self.helm_uninstall(target, helm.access_release(source), manifests.MC_NS):
                raise LabError(f"no release {helm.access_release(source)} in {target}: {source} has no access to revoke")
            return
        for obj in helm.access_objects(source, manifests.MC_NS):
            self.delete(target, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def install_gateway(self, cluster: str, gateway) -> None:
        if gateway.kind != "linkerd":
            self.apply(cluster, gateways.ambassador_objects(self.cfg, gateway))

    def link(self, source: str, target: str, gateway: str | None = None, service_account: str | None = None) -> None:
        gw = gateways.resolve(self.cfg, gateway)
        account = service_account or manifests.REMOTE_ACCESS_SA

        def token():
            secret = self.get(target, "Secret", manifests.MC_NS, f"{account}-token")
            return (secret or {}).get("data", {}).get("token")

        def gateway_service():
            svc = self.get(target, "Service", gw.namespace, gw.name) or {}
            return svc if manifests.ingress_ip(svc) else None

        secret_token = base64.b64decode(wait_until(token, 10, f"the remote-access token in {target}")).decode()
        service = wait_until(gateway_service, 10, f"a LoadBalancer address for {target}'s gateway {gw.namespace}/{gw.name}")
        self.apply(source, manifests.link(self.cfg, target, f"sim://{target}", secret_token, service, account))

    # -- observing -------------------------------------------------------------
    def gateways(self, cluster: str) -> list[dict]:
        return self._api("GET", f"clusters/{cluster}/gateways")["gateways"]

    def check(self, cluster: str) -> list[dict]:
        return self._api("GET", f"clusters/{cluster}/check")["checks"]

    def events(self, cluster: str) -> list[dict]:
        return self._api("GET", f"clusters/{cluster}/events")["events"]

    def request(self, cluster: str, namespace: str, deployment: str, url: str, timeout: float = 5.0) -> HttpResult:
        r = self._api("POST", f"clusters/{cluster}/request",
                      {"namespace": namespace, "deployment": deployment, "url": url, "timeout": timeout},
                      timeout=timeout + 5)
        return HttpResult(status=r.get("status"), body=r.get("body", ""), headers=r.get("headers", {}),
                          error=r.get("error"), pod=r.get("pod"))

    def proxy_metrics(self, cluster: str, namespace: str, deployment: str) -> str:
        pods = self._api("GET", f"clusters/{cluster}/metrics", query={"namespace": namespace, "deployment": deployment})["pods"]
        return "".join(pods.values())

    def outbound_address(self, cluster: str, namespace: str, deployment: str) -> tuple[str, int] | None:
        """Where a pod's apps reach its proxy's outbound side (what iptables redirects to on a real pod)."""
        r = self._api("GET", f"clusters/{cluster}/outbound", query={"namespace": namespace, "deployment": deployment})
        return (r["host"], r["port"]) if r["host"] else None

    def host_address(self, address: str, port: int) -> tuple[str, int] | None:
        r = self._api("GET", "resolve", query={"address": address, "port": port})
        return (r["host"], r["port"]) if r["host"] else None

    def write_diagnostics(self, dest: Path) -> None:
        if self.log_file.exists():
            shutil.copy(self.log_file, dest / "lab.log")

    def settle(self) -> None:
        started = time.monotonic()
        if not self._api("POST", "settle", {}, query={"timeout": 10})["settled"]:
            raise LabError(f"the simulated controllers did not settle within {time.monotonic() - started:.0f}s; see {self.log_file}")
