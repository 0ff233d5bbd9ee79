"""The simulation backend, seen from the lab's commands: start, drive and stop the lab process."""
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

import urllib3

import yaml

from .. import cli_output, gateways, helm, manifests, pki
from ..cli_output import CheckResult, GatewayStatus
from ..trust import pki_dir, roots_path
from ..lock import lab_lock
from .base import Backend, HttpResult, LabError, wait_until
from ..sim.process import labprocess
from ..kubeclient import KubeClient
from ..names import LAST_APPLIED
from ..sim.kube.apicerts import ApiCerts

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding lab/, for the lab process's PYTHONPATH
START_TIMEOUT = 15.0


def last_applied(obj: dict) -> dict:
    """The object with the annotation `kubectl apply` writes: the applied object itself (without that
    annotation and without status), as Go's encoding/json writes a map (sorted keys, no spaces) plus a newline."""
    meta = obj.get("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    applied = {k: v for k, v in obj.items() if k != "status"}
    applied["metadata"] = {**meta, "annotations": annotations}  # `{}` when there were none, as kubectl leaves it
    value = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
    return {**obj, "metadata": {**meta, "annotations": {**annotations, LAST_APPLIED: value}}}


class SimBackend(Backend):
    name = "sim"

    def __init__(self, cfg, root=None):
        super().__init__(cfg, root)
        self._start_lock = threading.Lock()
        self._clients: dict[str, KubeClient] = {}
        self._clients_lock = threading.Lock()

    @property
    def sim_dir(self) -> Path:
        return self.state_dir / "sim"

    @property
    def log_file(self) -> Path:
        return self.sim_dir / "lab.log"

    # -- the lab process ---------------------------------------------------
    def _daemon(self) -> labprocess.Record | None:
        """The lab process's record, when the process it names is ours and alive (a PID reused by
        another process after a crash is not). A corrupt record is one LabError naming the file."""
        record = labprocess.read_record(self.sim_dir)
        return record if record is not None and labprocess.is_ours(record.pid, self.sim_dir) else None

    def _api(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0, query: dict | None = None):
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
            return self._api("GET", "health", timeout=3) is not None
        except LabError:
            return False

    def _start(self) -> None:
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        self._clients.clear()  # a new lab process: new API ports, new discovery
        shutil.rmtree(self.state_dir / "discovery", ignore_errors=True)
        (self.sim_dir / labprocess.RECORD).unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", labprocess.MODULE, str(self.sim_dir.resolve())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.root, env=env,
                start_new_session=True,  # outlives this command, as kind's containers do
            )

        def up():
            if proc.poll() is not None:
                last = self._last_line()
                if "Fix:" in last:  # it said what is wrong and how to fix it: that is the message
                    raise LabError(f"the lab process cannot start: {last}")
                raise LabError(f"the lab process exited at start (code {proc.returncode}){self._last_words()}. "
                               f"Log: {self.log_file}")
            info = self._daemon()
            return info is not None and info.pid == proc.pid

        wait_until(up, START_TIMEOUT, f"the lab process to start (log: {self.log_file})", interval=0.05)

    def cluster_exists(self, cluster: str) -> bool:
        health = self._api("GET", "health", timeout=3) if self.running() else None
        return bool(health) and cluster in health["clusters"]

    def kubeconfig_path(self) -> str:
        """The lab's kubeconfig (.lab/<name>/kubeconfig, 0600: it holds the admin's key), one context per
        cluster named as kind names them (`kind-east`), pointing at the lab process's Kubernetes APIs."""
        return self._write_kubeconfig(self._api("GET", "health")["kubeapi"])  # a lab that is down says so

    def _write_kubeconfig(self, ports: dict[str, int]) -> str:
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
        config = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": clusters, "users": users,
                  "contexts": contexts, "current-context": contexts[0]["name"] if contexts else ""}
        path, text = self.state_dir / "kubeconfig", yaml.safe_dump(config, sort_keys=False)
        if not path.exists() or path.read_text() != text:  # every kubectl call asks: rewrite only what changed
            pki.write_private(path, text)
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
        self._api("POST", "clusters", {"name": c.name, "spec": spec})

    def destroy(self) -> list[str]:
        """Stop this lab's process (asked over its API, then signalled if it must be: only a PID proven
        to be this lab's) and remove its files. Works with a corrupt or missing record too."""
        removed = []
        try:
            info = self._daemon()
        except LabError:
            info = None  # a corrupt record: the process is found by its command line below
        if info is not None:
            try:
                self._api("POST", "shutdown", {}, timeout=5)
            except LabError:
                pass
        pids = sorted(set(labprocess.find(self.sim_dir)) | ({info.pid} if info else set()))
        for pid in labprocess.stop(pids, self.sim_dir):
            removed.append(f"lab process {pid}")
        if self.sim_dir.exists():
            shutil.rmtree(self.sim_dir)
            removed.append(str(self.sim_dir))
        for leftover in (self.state_dir / "kubeconfig", self.state_dir / "discovery"):  # they name the gone APIs
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
        self._clients.clear()
        return removed

    def pid(self) -> int | None:
        info = self._daemon()
        return info.pid if info else None

    # -- the Kubernetes API: the cluster's own, through the official client -------------------------
    def client(self, cluster: str) -> KubeClient:
        """The official client on the cluster's context in the lab's kubeconfig (one per cluster, kept)."""
        with self._clients_lock:
            if cluster not in self._clients:
                health = self._api("GET", "health", timeout=3)  # names a dead lab process
                if cluster not in health["clusters"]:
                    raise LabError(f"cluster {cluster} does not exist. Fix: run `./labctl up`")
                self._clients[cluster] = KubeClient(self._write_kubeconfig(health["kubeapi"]), f"kind-{cluster}",
                                                    self.state_dir / "discovery" / f"{cluster}.json")
            return self._clients[cluster]

    def _call(self, cluster: str, operation):
        """One object verb on the cluster's API; a lab process that stopped answering is named as the cause."""
        try:
            return operation(self.client(cluster))
        except LabError:
            raise
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            self._api("GET", "health", timeout=3)  # raises, saying what happened to the lab process
            raise LabError(f"the Kubernetes API of cluster {cluster} did not answer ({type(exc).__name__}). "
                           f"Log: {self.log_file}") from None

    def apply(self, cluster: str, objects: list[dict]) -> list[str]:
        """`kubectl apply`: including the last-applied-configuration annotation it leaves, so a user's
        `kubectl apply -f` of the same manifest afterwards finds nothing to change, as on kind."""
        return self._call(cluster, lambda c: c.apply([last_applied(o) for o in objects]))

    def get(self, cluster: str, kind: str, namespace: str, name: str) -> dict | None:
        return self._call(cluster, lambda c: c.get(kind, namespace, name))

    def list(self, cluster: str, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]:
        return self._call(cluster, lambda c: c.list(kind, namespace, labels))

    def delete(self, cluster: str, kind: str, namespace: str, name: str) -> bool:
        return self._call(cluster, lambda c: c.delete(kind, namespace, name))

    def set_metadata(self, cluster: str, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> None:
        self._call(cluster, lambda c: c.set_metadata(kind, namespace, name, field, values))

    def scale(self, cluster: str, namespace: str, deployment: str, replicas: int) -> None:
        self._call(cluster, lambda c: c.scale(namespace, deployment, replicas))

    # -- installing ------------------------------------------------------------
    def install_loadbalancer(self, cluster: str) -> None:
        """MetalLB as its manifests leave it (namespace, CRDs, controller); the lab process's MetalLB
        controller does the controller's work."""
        self.apply(cluster, manifests.metallb_install(self.cfg.profile))

    def install_gateway_api(self, cluster: str) -> None:
        if self.cfg.profile.gateway_api:
            self.apply(cluster, manifests.gateway_api_crds(self.cfg.profile.gateway_api))

    def _read_anchors(self, path: Path) -> str:
        """The anchors file as `linkerd install` reads it: Go's PEM rules (pki.go_pem_certificates)."""
        try:
            text = path.read_text()
            pki.go_pem_certificates(text)
        except FileNotFoundError:
            raise LabError(f"{path} does not exist. Fix: run the trust step first (`./labctl step trust`)") from None
        except pki.PKIError as exc:
            raise LabError(f"linkerd refuses the trust anchors in {path}: {exc}") from None
        return text

    def _linkerd_install(self, cluster: str, anchors_file: Path, with_issuer: bool) -> None:
        """What `linkerd install`/`upgrade` does before printing anything: refuse without the Gateway API
        CRDs where the version needs them, read and verify the anchors and the issuer, then apply."""
        if self.cfg.profile.gateway_api and not self.gateway_api_installed(cluster):
            # edge-26.8.3 pkg/healthcheck/healthcheck.go GatewayAPICRDsMissingError (and `check`'s fatal check)
            raise LabError("The Gateway API CRDs must be installed prior to installing Linkerd. Fix: apply "
                           f"{self.cfg.profile.gateway_api_manifest} with `kubectl apply --server-side` first")
        anchors = self._read_anchors(anchors_file)
        crt = key = None
        if with_issuer:
            base = pki_dir(self.cfg, self.root) / cluster
            issuer = pki.load_pair(base / "issuer.crt", base / "issuer.key")
            try:
                pki.validate_issuer(issuer.cert, pki.go_pem_certificates(anchors))
            except pki.PKIError as exc:  # cli/cmd/install.go readValues: "failed to verify issuer certs stored on disk"
                raise LabError(f"failed to verify issuer certs stored on disk: {exc}") from None
            crt, key = issuer.cert_pem, issuer.key_pem
        crds = manifests.policy_crds() if self.cfg.profile.policy else []
        self.apply(cluster, crds + manifests.linkerd_identity(self.cfg, anchors, crt, key) + manifests.control_plane(self.cfg))

    def install_linkerd(self, cluster: str) -> None:
        self._linkerd_install(cluster, roots_path(self.cfg, self.root, cluster), with_issuer=True)

    def upgrade_linkerd(self, cluster: str, with_issuer: bool) -> None:
        self._linkerd_install(cluster, pki_dir(self.cfg, self.root) / "bundle.crt", with_issuer)

    def install_multicluster(self, cluster: str) -> None:
        if self.cfg.installer == "helm":
            self.helm_install(cluster, helm.MAIN_RELEASE, manifests.MC_NS, manifests.multicluster(self.cfg, cluster))
        else:
            self.apply(cluster, manifests.multicluster(self.cfg, cluster))

    # -- Helm releases, modelled as the objects they own -------------------------
    def helm_install(self, cluster: str, release: str, namespace: str, objects: list[dict]) -> None:
        """Helm 3 refuses to install an object another release owns (pkg/action/validate.go,
        existingResourceConflict); the release record is Helm's `sh.helm.release.v1.<release>.v1`."""
        for obj in objects:
            meta = obj["metadata"]
            have = self.get(cluster, obj["kind"], meta.get("namespace", ""), meta["name"])
            owner = ((have or {}).get("metadata", {}).get("annotations") or {}).get(helm.RELEASE_LABEL)
            if have is not None and owner != release:
                raise LabError(
                    f"helm install {release}: rendered manifests contain a resource that already exists. Unable to "
                    f"continue with install: {obj['kind']} \"{meta['name']}\" in namespace \"{meta.get('namespace', '')}\" "
                    f"exists and cannot be imported into the current release: invalid ownership metadata; annotation "
                    f"validation error: key \"{helm.RELEASE_LABEL}\" must equal \"{release}\": current value is "
                    f"\"{owner or ''}\"")
        owned = helm.owned(objects, release, namespace)
        self.apply(cluster, owned + [helm.release_record(release, namespace, owned)])

    def helm_uninstall(self, cluster: str, release: str, namespace: str) -> bool:
        record = self.get(cluster, "Secret", namespace, helm.record_name(release))
        if record is None:
            return False
        for ref in helm.owned_refs(record):
            self.delete(cluster, ref["kind"], ref["namespace"], ref["name"])
        self.delete(cluster, "Secret", namespace, record["metadata"]["name"])
        return True

    def _helm_set_accounts(self, target: str, accounts: list[str]) -> None:
        """`helm upgrade --reuse-values --set remoteMirrorServiceAccountName={...}` on the main release:
        its objects become the extension's plus every listed account's; dropped accounts are deleted."""
        record = self.get(target, "Secret", manifests.MC_NS, helm.record_name(helm.MAIN_RELEASE))
        if record is None:
            raise LabError(f"no release {helm.MAIN_RELEASE} in {target}. Fix: run `./labctl step multicluster` first")
        objects = manifests.multicluster(self.cfg, target, accounts=accounts)
        keep = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}
        for ref in helm.owned_refs(record):
            if (ref["kind"], ref["namespace"], ref["name"]) not in keep:
                self.delete(target, ref["kind"], ref["namespace"], ref["name"])
        owned = helm.owned(objects, helm.MAIN_RELEASE, manifests.MC_NS)
        self.apply(target, owned + [helm.release_record(helm.MAIN_RELEASE, manifests.MC_NS, owned)])

    def _helm_accounts(self, target: str) -> list[str]:
        record = self.get(target, "Secret", manifests.MC_NS, helm.record_name(helm.MAIN_RELEASE))
        refs = helm.owned_refs(record) if record else []
        return [r["name"] for r in refs if r["kind"] == "ClusterRoleBinding"]

    def allow_access(self, target: str, source: str) -> None:
        if self.cfg.installer == "helm" and self.cfg.profile.helm_access == "values":
            accounts = self._helm_accounts(target)
            if source not in accounts:
                self._helm_set_accounts(target, accounts + [source])
        elif self.cfg.installer == "helm":
            self.helm_install(target, helm.access_release(source), manifests.MC_NS,
                              manifests.access_objects(self.cfg, source))
        else:  # `linkerd multicluster allow --service-account-name <source>` renders the same objects
            self.apply(target, manifests.access_objects(self.cfg, source))

    def revoke_access(self, target: str, source: str) -> None:
        if self.cfg.installer == "helm" and self.cfg.profile.helm_access == "values":
            accounts = self._helm_accounts(target)
            if source not in accounts:
                raise LabError(f"{source} is not among the accounts of release {helm.MAIN_RELEASE} in {target}: "
                               "nothing to revoke")
            self._helm_set_accounts(target, [a for a in accounts if a != source])
            return
        if self.cfg.installer == "helm":
            if not self.helm_uninstall(target, helm.access_release(source), manifests.MC_NS):
                raise LabError(f"no release {helm.access_release(source)} in {target}: {source} has no access to revoke")
            return
        for obj in manifests.access_objects(self.cfg, source):
            self.delete(target, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def install_gateway(self, cluster: str, gateway) -> None:
        objects = gateway.objects(self.cfg)  # none for the bundled gateway: the extension brought it
        if objects:
            self.apply(cluster, objects)

    def _account_token(self, target: str, account: str) -> str | None:
        """The account's token as `link` finds it: 2.8.1 through the account's `secrets` list
        (cli/cmd/multicluster.go), edge through token Secrets annotated with the account (link-gen.go)."""
        sa = self.get(target, "ServiceAccount", manifests.MC_NS, account)
        if sa is None:
            return None
        named = [ref["name"] for ref in sa.get("secrets", [])]
        for secret in self.list(target, "Secret", manifests.MC_NS):
            bound = secret["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name") == account
            if secret.get("type") == "kubernetes.io/service-account-token" and (
                    secret["metadata"]["name"] in named if not self.cfg.profile.link_crd else bound):
                token = secret.get("data", {}).get("token")
                return base64.b64decode(token).decode() if token else None
        return None

    def link(self, source: str, target: str, gateway: gateways.Gateway | None, service_account: str | None = None) -> None:
        gw = gateway
        account = service_account or manifests.REMOTE_ACCESS_SA
        token = wait_until(lambda: self._account_token(target, account), 10,
                           f"the token of service account {manifests.MC_NS}/{account} in {target}")
        service = None
        if self.cfg.profile.link_crd and gw is not None:
            service = wait_until(lambda: (svc := self.get(target, "Service", gw.namespace, gw.name)) and manifests.ingress_ip(svc) and svc,
                                 10, f"a LoadBalancer address for {target}'s gateway {gw.namespace}/{gw.name}")
        # As link-gen writes it: the target's API address and CA, and the account's token; usable with kubectl.
        server = f"https://127.0.0.1:{self._api('GET', 'health')['kubeapi'][target]}"
        ca = ApiCerts.of(self.sim_dir, target).ca.read_text()
        self.apply(source, manifests.link(self.cfg, target, server, token, service, account, ca_pem=ca))
        # The guide checks right after linking, as the kind backend does: a failing check stops here. Only
        # the gateway-liveness check is given time, as long as the first probe takes (one probe period, as on
        # a real cluster); anything else (credentials, anchors) fails at once.
        self.settle()
        deadline = time.monotonic() + 4 * self.cfg.probe_period + 5
        while True:
            failed = [r for r in self.check(source) if r.failed]
            waiting = failed and all(r.name == self.cfg.profile.check_gateway_alive for r in failed)
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # polling the check, as `until linkerd multicluster check` would
        if failed:
            raise LabError(f"`linkerd {' '.join(self.cfg.profile.mc_check)}` in {source} failed after linking {target}: " +
                           "; ".join(f"{r.name}: {r.error}" for r in failed))

    # -- observing -------------------------------------------------------------
    def gateways(self, cluster: str) -> list[GatewayStatus]:
        text = self._api("GET", f"clusters/{cluster}/gateways", query={"profile": self.cfg.profile_name})["stdout"]
        return cli_output.parse_gateways(text)

    def check(self, cluster: str) -> list[CheckResult]:
        text = self._api("GET", f"clusters/{cluster}/check", query={"profile": self.cfg.profile_name})["stdout"]
        return cli_output.parse_check(text)

    def events(self, cluster: str) -> list[dict]:
        return self.list(cluster, "Event")

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

    def lab_process(self) -> int | None:
        return self.pid()

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
