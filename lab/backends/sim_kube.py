"""The simulated clusters' API: every verb through the official client on the cluster's Kubernetes API (as
kubectl does), and the guide's read-only commands (`multicluster check`, `gateways`, a request from a pod,
proxy metrics) answered by the lab process in each version's words."""
from __future__ import annotations

import json

from ..parsers import cli_output
from ..parsers.cli_output import CheckResult, GatewayStatus
from ..names import LAST_APPLIED
from .base import ClusterAPI, HttpResult, LabError


def last_applied(obj: dict) -> dict:
    """The object with the annotation `kubectl apply` writes: the applied object itself (without that
    annotation and without status), as Go's encoding/json writes a map (sorted keys, no spaces) plus a newline."""
    meta = obj.get("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    applied = {k: v for k, v in obj.items() if k != "status"}
    applied["metadata"] = {**meta, "annotations": annotations}  # `{}` when there were none, as kubectl leaves it
    value = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
    return {**obj, "metadata": {**meta, "annotations": {**annotations, LAST_APPLIED: value}}}




def _transport_errors() -> tuple[type[BaseException], ...]:
    """What a request that got no answer raises. Looked up only when something was raised (an `except`
    clause is evaluated then): urllib3 comes with the official client, which `up` imports in the background
    while the lab process starts, not before it starts it."""
    import urllib3  # noqa: PLC0415

    return (OSError, urllib3.exceptions.HTTPError)


class SimKube(ClusterAPI):
    def _call(self, cluster: str, operation):
        """One object verb on the cluster's API; a lab process that stopped answering is named as the cause."""
        try:
            return operation(self.backend.provider.client(cluster))
        except LabError:
            raise
        except _transport_errors() as exc:
            self.backend.provider.rpc("GET", "health", timeout=3)  # raises, saying what happened to the lab process
            raise LabError(f"the Kubernetes API of cluster {cluster} did not answer ({type(exc).__name__}). "
                           f"Log: {self.backend.provider.log_file}") from None

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


    # -- observing -------------------------------------------------------------
    def gateways(self, cluster: str) -> list[GatewayStatus]:
        text = self.backend.provider.rpc("GET", f"clusters/{cluster}/gateways", query={"profile": self.cfg.profile_name})["stdout"]
        return cli_output.parse_gateways(text)

    def check(self, cluster: str) -> list[CheckResult]:
        text = self.backend.provider.rpc("GET", f"clusters/{cluster}/check", query={"profile": self.cfg.profile_name})["stdout"]
        return cli_output.parse_check(text)

    def events(self, cluster: str) -> list[dict]:
        return self.list(cluster, "Event")

    def request(self, cluster: str, namespace: str, deployment: str, url: str, timeout: float = 5.0) -> HttpResult:
        r = self.backend.provider.rpc("POST", f"clusters/{cluster}/request",
                      {"namespace": namespace, "deployment": deployment, "url": url, "timeout": timeout},
                      timeout=timeout + 5)
        return HttpResult(status=r.get("status"), body=r.get("body", ""), headers=r.get("headers", {}),
                          error=r.get("error"), pod=r.get("pod"))

    def proxy_metrics(self, cluster: str, namespace: str, deployment: str) -> str:
        pods = self.backend.provider.rpc("GET", f"clusters/{cluster}/metrics", query={"namespace": namespace, "deployment": deployment})["pods"]
        return "".join(pods.values())

