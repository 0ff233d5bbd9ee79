"""Real clusters that already exist: two kubeconfig contexts instead of kind.

Every step but `clusters` and `loadbalancer` runs as on kind; those two only
check (the contexts exist; the clusters provide LoadBalancer services
themselves). `down` never deletes the user's clusters.
"""
from __future__ import annotations

import os

from ..tools.run import Runner, cmd
from .base import LabError
from .real import ToolProvider


class ContextsProvider(ToolProvider):
    name = "contexts"

    def __init__(self, backend, runner=None):
        missing = [c.name for c in backend.cfg.clusters if not c.context]
        if missing:
            raise LabError(f"the contexts backend needs a kubeconfig context for every cluster; none for "
                           f"{', '.join(missing)}. Fix: set clusters.<name>.context in lab.yaml")
        # The user's own kubeconfig (KUBECONFIG or ~/.kube/config), not the lab's kind files.
        super().__init__(backend, runner or Runner(env=dict(os.environ)))

    def context(self, cluster: str) -> str:
        return self.cfg.cluster(cluster).context

    def _contexts(self) -> list[str]:
        return self.runner.run(cmd("kubectl", "config", "get-contexts", "-o", "name"), check=False).stdout.split()

    def cluster_exists(self, cluster: str) -> bool:
        return self.context(cluster) in self._contexts()

    def create_cluster(self, cluster: str) -> None:
        raise LabError(f"context {self.context(cluster)!r} (cluster {cluster}) is not in your kubeconfig; the contexts "
                       "backend uses clusters that exist. Fix: create the context, or correct clusters."
                       f"{cluster}.context in lab.yaml")

    def running(self) -> bool:
        have = self._contexts()
        return all(self.context(c) in have for c in self.cfg.cluster_names)

    def destroy(self) -> list[str]:
        return []  # never delete clusters the lab did not create

    def lb_pool(self, cluster: str):
        return None  # the cluster's own LoadBalancer implementation serves the gateway
