"""What the real-cluster providers share (kind's and existing contexts'): a runner for the real tools, the
pinned tools checked before anything runs, diagnostics from kubectl and linkerd, and addresses that answer
from this machine directly."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from ..kubeclient import KubeClient
from ..tools.run import Runner
from .. import names
from .base import LabError, Provider


def tool_bin(root: Path) -> Path:
    """Where `inv tools` links the verified binaries (shared by every lab in this directory)."""
    return root / ".lab" / "tools" / "bin"



class ToolProvider(Provider):
    def __init__(self, backend, runner: Runner):
        super().__init__(backend)
        self.runner = runner
        self._readers: dict[str, KubeClient] = {}
        self._readers_lock = threading.Lock()

    def reader(self, cluster: str) -> KubeClient | None:
        """Where a live run reads a cluster: the official client on the kubeconfig and context the printed
        kubectl lines use (one per cluster, kept). None where the runner records or scripts: nothing live can
        be read, and the read is the `kubectl get` line a person would run."""
        if not isinstance(self.runner, Runner):
            return None
        with self._readers_lock:
            if cluster not in self._readers:
                kubeconfig = (self.runner.env if self.runner.env is not None else os.environ).get("KUBECONFIG")
                self._readers[cluster] = KubeClient(kubeconfig, self.context(cluster),
                                                    self.backend.state_dir / "discovery" / f"{cluster}.json")
            return self._readers[cluster]

    def forget_readers(self) -> None:
        """After the clusters are deleted: their clients and discovery caches name APIs that are gone."""
        with self._readers_lock:
            self._readers.clear()
        for cluster in self.cfg.cluster_names:
            (self.backend.state_dir / "discovery" / f"{cluster}.json").unlink(missing_ok=True)

    def context(self, cluster: str) -> str:
        raise NotImplementedError

    def preflight(self) -> None:
        """Every tool at the profile's version, before anything is created."""
        if not isinstance(self.runner, Runner):
            return  # recording or scripting: nothing will run
        from .doctor import tool_findings

        bad = [f for f in tool_findings(self.cfg.profile, tool_bin(self.root)) if not f.ok]
        if bad:
            raise LabError(f"the {self.name} backend needs " + "; ".join(f"{f.name} ({f.detail})" for f in bad) +
                           f". Fix: {bad[0].fix}; `./labctl doctor` lists everything")

    def api_server_args(self, target: str) -> list:
        """`link`'s flags for where the source cluster reaches the target's API: none where the target's
        kubeconfig address answers from the source (real clusters on one network)."""
        return []

    def write_diagnostics(self, dest: Path) -> None:
        """`kubectl describe` and logs of the Linkerd and multicluster pods, and the check output as printed."""
        for cluster in self.cfg.cluster_names:
            folder = dest / cluster
            folder.mkdir(exist_ok=True)
            for ns in (names.LINKERD_NS, names.MC_NS, self.cfg.namespace):
                describe = self.runner.run(self.backend.kube.kubectl(cluster, "-n", ns, "describe", "pods"), check=False)
                (folder / f"describe-{ns}.txt").write_text(describe.stdout + describe.stderr)
                logs = self.runner.run(self.backend.kube.kubectl(cluster, "-n", ns, "logs", "--all-containers", "--prefix",
                                                    "--tail=500", "-l", "linkerd.io/control-plane-ns"), check=False)
                (folder / f"logs-{ns}.txt").write_text(logs.stdout + logs.stderr)
            check = self.runner.run(self.backend.kube.linkerd(cluster, *self.cfg.profile.mc_check), check=False)
            (folder / "check.txt").write_text(check.stdout + check.stderr)

    def host_address(self, address: str, port: int) -> tuple[str, int] | None:
        # kind: on Linux the docker `kind` network is routed from the host; existing clusters' LoadBalancer
        # addresses are reached as they are. Either way the address answers directly.
        return address, port
