"""CustomResourceDefinitions by their names and versions, as a simulated cluster needs them: a CRD makes
its kind served by the cluster's Kubernetes API, as applying the real CRD does. (On kind the real
release manifests install the full CRDs with their schemas.)"""
from __future__ import annotations


def crd(group: str, kind: str, plural: str, versions: tuple[str, ...], scope: str = "Namespaced",
        short_names: tuple[str, ...] = (), annotations: dict | None = None, categories: tuple[str, ...] = (),
        deprecated: dict[str, str] | None = None) -> dict:
    """`versions` newest first, the first stored; `deprecated` maps a deprecated version to the one its warning
    says to use, as Linkerd's CRDs word it ("<group>/<v> <Kind> is deprecated; use <group>/<use> <Kind>")."""
    def warning(version: str) -> dict:
        use = (deprecated or {}).get(version)
        if use is None:
            return {}
        return {"deprecated": True, "deprecationWarning": f"{group}/{version} {kind} is deprecated; use {group}/{use} {kind}"}

    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", **({"annotations": annotations} if annotations else {})},
            "spec": {"group": group, "scope": scope,
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List",
                               **({"shortNames": list(short_names)} if short_names else {}),
                               **({"categories": list(categories)} if categories else {})},
                     # apiextensions.k8s.io/v1 requires a schema per version; these keep whatever they are given
                     "versions": [{"name": v, "served": True, "storage": i == 0, **warning(v), "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
                                  for i, v in enumerate(versions)]}}
