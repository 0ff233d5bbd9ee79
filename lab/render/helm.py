"""The guide's Helm path: the multicluster chart, and one access-credentials release per source cluster.

  helm install linkerd2-multicluster linkerd/linkerd2-multicluster
  helm install linkerd2-mc-<source> linkerd/linkerd2-multicluster --set gateway=false \\
      --set serviceMirror=false --set remoteMirrorServiceAccountName=<source> --set installNamespace=false \\
      --kube-context <target>

Revoking a source's access is uninstalling its release; nothing else is touched. That is 2.8's chart;
edge's (multicluster/charts/linkerd-multicluster, edge-26.8.3) renders the Link CRD and the local service
mirror in every release, so a second release collides with the first: there the main release lists every
account in `remoteMirrorServiceAccountName`, and granting or revoking is a `helm upgrade --reuse-values`. Where a cluster
takes manifests directly (the simulation), a release is the objects it owns plus Helm's release
record (Secret `sh.helm.release.v1.<release>.v1`, as Helm 3 stores it), and uninstalling deletes
exactly those.
"""
from __future__ import annotations

import json

from ..model.config import LabConfig
from .encoding import b64, b64decode

MAIN_RELEASE = "linkerd2-multicluster"
RELEASE_LABEL = "meta.helm.sh/release-name"


def access_release(source: str) -> str:
    return f"linkerd2-mc-{source}"


def chart(cfg: LabConfig) -> tuple[str, str, str, str]:
    """(repo name, repo URL, chart, chart version) for the profile."""
    return cfg.profile.helm_chart


def access_values(cfg: LabConfig, source: str) -> list[str]:
    """The guide's `--set` flags that make the 2.8 chart render only a source's access credentials (its
    templates gate the gateway and the service mirror behind these values). Edge's chart renders the Link
    CRD and the local mirror in every release, so there the accounts are listed in the main release."""
    return ["gateway=false", "serviceMirror=false", f"remoteMirrorServiceAccountName={source}", "installNamespace=false"]


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


def record_name(release: str) -> str:
    """The Secret Helm 3 keeps a release's first revision in."""
    return f"sh.helm.release.v1.{release}.v1"


def release_record(release: str, namespace: str, objects: list[dict]) -> dict:
    refs = [{"kind": o["kind"], "namespace": o["metadata"].get("namespace", ""), "name": o["metadata"]["name"]}
            for o in objects]
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": record_name(release), "namespace": namespace,
                         "labels": {"owner": "helm", "name": release, "status": "deployed", "version": "1"}},
            "data": {"release": b64(json.dumps({"name": release, "objects": refs}))}}


def owned_refs(record: dict) -> list[dict]:
    return json.loads(b64decode(record["data"]["release"]))["objects"]
