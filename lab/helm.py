"""The guide's Helm path: the multicluster chart, and one access-credentials release per source cluster.

  helm install linkerd2-multicluster linkerd/linkerd2-multicluster
  helm install linkerd2-mc-<source> linkerd/linkerd2-multicluster --set gateway=false \\
      --set serviceMirror=false --set remoteMirrorServiceAccountName=<source> --set installNamespace=false \\
      --kube-context <target>

Revoking a source's access is uninstalling its release; nothing else is touched. Where a cluster
takes manifests directly (the simulation), a release is the objects it owns plus Helm's release
record (Secret `sh.helm.release.v1.<release>.v1`, as Helm 3 stores it), and uninstalling deletes
exactly those.
"""
from __future__ import annotations

import base64
import json

from .config import LabConfig

MAIN_RELEASE = "linkerd2-multicluster"
RELEASE_LABEL = "meta.helm.sh/release-name"


def access_release(source: str) -> str:
    return f"linkerd2-mc-{source}"


def chart(cfg: LabConfig) -> tuple[str, str, str, str]:
    """(repo name, repo URL, chart, chart version) for the profile."""
    if cfg.profile.name == "seed-2.8":
        return "linkerd", "https://helm.linkerd.io/stable", "linkerd/linkerd2-multicluster", "2.8.1"
    # edge releases publish their charts to the edge repo, versioned 20YY.M.N for edge-YY.M.N
    year, month, patch = cfg.profile.linkerd.removeprefix("edge-").split(".")
    return "linkerd-edge", "https://helm.linkerd.io/edge", "linkerd-edge/linkerd-multicluster", f"20{year}.{month}.{patch}"


def access_values(cfg: LabConfig, source: str) -> list[str]:
    """The `--set` flags that make the chart render only a source's access credentials."""
    if cfg.profile.name == "seed-2.8":
        return ["gateway=false", "serviceMirror=false", f"remoteMirrorServiceAccountName={source}", "installNamespace=false"]
    return ["gateway.enabled=false", f"remoteMirrorServiceAccountName={source}", "createNamespaceMetadataJob=false"]


def access_objects(source: str, namespace: str) -> list[dict]:
    """What an access-credentials release owns: the source's service account, its token, its binding."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": source, "namespace": namespace}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": f"{source}-token", "namespace": namespace,
                      "annotations": {"kubernetes.io/service-account.name": source}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"linkerd-service-mirror-remote-access-{source}"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "linkerd-service-mirror-remote-access-default"},
         "subjects": [{"kind": "ServiceAccount", "name": source, "namespace": namespace}]},
    ]


def owned(objects: list[dict], release: str, namespace: str) -> list[dict]:
    """The objects as Helm leaves them: labelled and annotated with their release."""
    out = []
    for obj in objects:
        meta = {**obj["metadata"]}
        meta["labels"] = {**meta.get("labels", {}), "app.kubernetes.io/managed-by": "Helm"}
        meta["annotations"] = {**meta.get("annotations", {}), RELEASE_LABEL: release,
                               "meta.helm.sh/release-namespace": namespace}
        out.append({**obj, "metadata": meta})
    return out


def release_record(release: str, namespace: str, objects: list[dict]) -> dict:
    refs = [{"kind": o["kind"], "namespace": o["metadata"].get("namespace", ""), "name": o["metadata"]["name"]}
            for o in objects]
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{release}.v1", "namespace": namespace,
                         "labels": {"owner": "helm", "name": release, "status": "deployed", "version": "1"}},
            "data": {"release": base64.b64encode(json.dumps({"name": release, "objects": refs}).encode()).decode()}}


def owned_refs(record: dict) -> list[dict]:
    return json.loads(base64.b64decode(record["data"]["release"]))["objects"]
