"""The cluster API of real clusters (kind, or existing contexts) as the `kubectl` and `linkerd` lines a person
runs: writes are printed lines in a plan (the plans are scripts people run, and must not lie). Object reads
in a live run go through the official client on the same kubeconfig context (the one `KubeClient` every
backend reads with); in a plan or a recording they are the `kubectl get -o json` lines a person would run.
The guide's own read commands (`multicluster check`, `gateways`, curl in a pod) stay linkerd/kubectl lines.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, TypeVar

import urllib3
import yaml

from ..parsers import cli_output
from ..parsers.cli_output import CheckResult, GatewayStatus
from ..errors import CommandError, LabError
from ..tools.run import Arg, Command, cmd, pipe
from .base import ClusterAPI, HttpResult

T = TypeVar("T")
WAIT = "300s"
ROLLOUT_RESOURCE = {"Deployment": "deploy", "StatefulSet": "statefulset"}  # kubectl patch/rollout names


class Kubectl(ClusterAPI):
    @property
    def runner(self):
        return self.backend.provider.runner

    def kubectl(self, cluster: str, *args: Arg, stdin: str | None = None, stdout_to: Path | None = None) -> Command:
        return cmd("kubectl", f"--context={self.backend.provider.context(cluster)}", *args, stdin=stdin, stdout_to=stdout_to)

    def linkerd(self, cluster: str, *args: Arg) -> Command:
        return cmd("linkerd", f"--context={self.backend.provider.context(cluster)}", *args)

    def helm(self, cluster: str, *args: str) -> Command:
        return cmd("helm", *args, "--kube-context", self.backend.provider.context(cluster))

    def apply_output(self, cluster: str, producer: Command) -> None:
        """`<producer> | kubectl --context=<cluster> apply -f -`: how the guide installs and links."""
        self.runner.run(pipe(producer, self.kubectl(cluster, "apply", "-f", "-")))

    # -- the Kubernetes API ----------------------------------------------------------
    def apply(self, cluster: str, objects: list[dict]) -> list[str]:
        out = self.runner.run(self.kubectl(cluster, "apply", "-f", "-",
                                           stdin=yaml.safe_dump_all(objects, sort_keys=False))).stdout
        return [line.split(" ")[0] for line in out.splitlines() if line.endswith(("created", "configured"))]

    def _read(self, cluster: str, args: list[str]) -> str:
        """`kubectl get ...`'s output; empty when the kind itself is not served yet (its CRD is not installed:
        `--ignore-not-found` covers a missing object, not a missing resource type, so kubectl exits 1 with
        `error: the server doesn't have a resource type "IPAddressPool"`, as kubectl 1.32 was seen to do
        against the simulated API, which serves a kind only once its CRD exists)."""
        result = self.runner.run(self.kubectl(cluster, *args), check=False)
        if result.code != 0:
            if "the server doesn't have a resource type" in result.stderr:
                return ""
            raise CommandError(result)
        return result.stdout.strip()

    def _guarded(self, cluster: str, what: str, read: Callable[[], T]) -> T:
        """A read through the official client, its failures named with the context and the fix."""
        try:
            return read()
        except LabError:
            raise
        except Exception as exc:
            from kubernetes.client.exceptions import ApiException  # noqa: PLC0415 - a 0.7 s import, live runs only

            if not isinstance(exc, (OSError, urllib3.exceptions.HTTPError, ApiException)):
                raise
            context = self.backend.provider.context(cluster)
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise LabError(f"cannot read {what} from context {context} (cluster {cluster}): {reason}. "
                           f"Fix: check that the cluster answers: `kubectl --context={context} get nodes`") from None

    def _reader(self, cluster: str):
        """The official client in a live run; None in a plan or a recording (reads are kubectl lines there)."""
        return self._guarded(cluster, "the API's resources", lambda: self.backend.provider.reader(cluster))

    def get(self, cluster: str, kind: str, namespace: str, name: str) -> dict | None:
        reader = self._reader(cluster)
        if reader is not None:
            return self._guarded(cluster, f"{kind} {namespace}/{name}", lambda: reader.get(kind, namespace, name))
        out = self._read(cluster, ["get", kind, name, "-o", "json", "--ignore-not-found"] + (["-n", namespace] if namespace else []))
        return json.loads(out) if out else None

    def list(self, cluster: str, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]:
        reader = self._reader(cluster)
        if reader is not None:
            return self._guarded(cluster, f"the {kind} list", lambda: reader.list(kind, namespace, labels))
        args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else ["--all-namespaces"])
        if labels:
            args += ["-l", ",".join(f"{k}={v}" for k, v in labels.items())]
        out = self._read(cluster, args)
        return json.loads(out)["items"] if out else []

    def delete(self, cluster: str, kind: str, namespace: str, name: str) -> bool:
        out = self.runner.run(self.kubectl(cluster, "delete", kind, name, "-n", namespace, "--ignore-not-found")).stdout
        return "deleted" in out

    def set_metadata(self, cluster: str, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> None:
        verb = {"annotations": "annotate", "labels": "label"}[field]
        pairs = [f"{k}-" if v is None else f"{k}={v}" for k, v in values.items()]
        self.runner.run(self.kubectl(cluster, "-n", namespace, verb, kind.lower(), name, *pairs, "--overwrite"))

    def scale(self, cluster: str, namespace: str, deployment: str, replicas: int) -> None:
        self.runner.run(self.kubectl(cluster, "-n", namespace, "scale", f"deploy/{deployment}", f"--replicas={replicas}"))

    def wait_rollout(self, cluster: str, namespace: str, name: str, kind: str = "Deployment") -> None:
        resource = ROLLOUT_RESOURCE[kind]
        self.runner.run(self.kubectl(cluster, "-n", namespace, "rollout", "status", f"{resource}/{name}", f"--timeout={WAIT}"))


    # -- observing -------------------------------------------------------------------
    def gateways(self, cluster: str) -> list[GatewayStatus]:
        result = self.runner.run(self.linkerd(cluster, "multicluster", "gateways"), check=False)
        if result.code != 0 or not result.stdout.strip():
            return []
        return cli_output.parse_gateways(result.stdout)

    def check(self, cluster: str) -> list[CheckResult]:
        result = self.runner.run(self.linkerd(cluster, *self.cfg.profile.mc_check, "-o", "json"), check=False)
        try:
            return cli_output.parse_check(result.stdout)
        except cli_output.OutputError:
            return [CheckResult("linkerd-check", "check output", "error", (result.stderr.strip() or result.stdout.strip())[-500:])]

    def request(self, cluster: str, namespace: str, deployment: str, url: str, timeout: float = 5.0) -> HttpResult:
        marker = "\n__LAB_STATUS__:"
        # The sample workloads name their curl container after the deployment (fixtures/workloads/client.yaml).
        result = self.runner.run(self.kubectl(cluster, "-n", namespace, "exec", f"deploy/{deployment}", "-c", deployment, "--",
                                              "curl", "-sS", "--max-time", str(int(timeout)), "-D", "/dev/stderr",
                                              "-w", marker + "%{http_code}", url), check=False)
        body, _, status = result.stdout.rpartition(marker)
        if result.code != 0 or not status.strip().isdigit() or status.strip() == "000":
            return HttpResult(error=result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.code}")
        headers = {}
        for line in result.stderr.splitlines()[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return HttpResult(status=int(status), body=body, headers=headers)

    def proxy_metrics(self, cluster: str, namespace: str, deployment: str) -> str:
        return self.runner.run(self.linkerd(cluster, *self.cfg.profile.proxy_metrics, "-n", namespace,
                                            f"deploy/{deployment}"), check=False).stdout

    def events(self, cluster: str) -> list[dict]:
        reader = self._reader(cluster)
        if reader is not None:
            return self._guarded(cluster, "events", lambda: reader.list("Event"))
        out = self.runner.run(self.kubectl(cluster, "get", "events", "--all-namespaces", "-o", "json"), check=False).stdout
        return json.loads(out)["items"] if out.strip().startswith("{") else []
