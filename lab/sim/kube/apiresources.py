"""Which resources a simulated cluster's Kubernetes API serves: the built-in ones the lab uses, and
every CustomResourceDefinition in the cluster's store, as a real API server serves them once the
CRD is applied (so a Mapping is served only after Ambassador's CRDs are installed).

Names, short names and scopes as `kubectl api-resources` prints them on Kubernetes 1.32.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    printer_columns: tuple[dict, ...] = ()  # a CRD's additionalPrinterColumns
    verbs: tuple[str, ...] = VERBS

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def discovery(self) -> list[dict]:
        """Its APIResource entries (the resource and its subresources) for an APIResourceList."""
        out = [{"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced, "kind": self.kind,
                "verbs": list(self.verbs), **({"shortNames": list(self.short_names)} if self.short_names else {}),
                **({"categories": ["all"]} if (self.group, self.kind) in IN_ALL else {})}]
        for sub in self.subresources:
            kind, verbs = {"status": (self.kind, ["get", "patch", "update"]),
                           "scale": ("Scale", ["get", "patch", "update"]),
                           "exec": ("PodExecOptions", ["create", "get"]),
                           "log": ("Pod", ["get"])}[sub]
            entry = {"name": f"{self.plural}/{sub}", "singularName": "", "namespaced": self.namespaced,
                     "kind": kind, "verbs": verbs}
            if sub == "scale":
                entry.update({"group": "autoscaling", "version": "v1"})
            out.append(entry)
        return out


# What `kubectl get all` lists: the built-in kinds in the "all" category (those of them served here)
IN_ALL = {("", "Pod"), ("", "Service"), ("", "ReplicationController"), ("apps", "Deployment"), ("apps", "ReplicaSet"),
          ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job")}

BUILT_IN = (
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    Resource("", "v1", "Node", "nodes", False, ("no",), ("status",)),
    Resource("", "v1", "Service", "services", True, ("svc",), ("status",)),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    Resource("", "v1", "Pod", "pods", True, ("po",), ("status", "exec", "log")),
    Resource("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",), ("status", "scale")),
    Resource("", "v1", "Secret", "secrets", True),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale")),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale")),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",)),
    Resource("batch", "v1", "Job", "jobs", True, (), ("status",)),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
             ("crd", "crds"), ("status",)),
    # Reviews are only created: the answer comes back at once and nothing is stored.
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, verbs=("create",)),
    Resource("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=("create",)),
)


def from_crd(crd: dict) -> list[Resource]:
    """The served versions of one CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    if not spec.get("group") or not names.get("plural") or not names.get("kind"):
        return []
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = tuple(sub for sub in ("status", "scale") if sub in (version.get("subresources") or {}))
        out.append(Resource(spec["group"], version["name"], names["kind"], names["plural"],
                            spec.get("scope", "Namespaced") == "Namespaced", tuple(names.get("shortNames", [])),
                            subresources, tuple(version.get("additionalPrinterColumns", []))))
    return out


def version_priority(version: str) -> tuple:
    """The kube-aware order of versions (apimachinery's version.CompareKubeAwareVersionStrings): GA before
    beta before alpha, the higher number first; a name of another shape after them all, alphabetically."""
    found = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not found:
        return (1, 0, 0, 0, version)
    major, stage, minor = found.groups()
    return (0, {None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0), version)


class Catalog:
    """The resources one cluster serves right now: built-ins plus its CRDs."""

    def __init__(self, store):
        self.store = store
        # Each CRD's resources, by its name, with the resourceVersion they were read at: every request asks the
        # catalog, and a stored object is replaced (with a new resourceVersion) whenever it changes.
        self._custom: dict[str, tuple[str | None, list[Resource]]] = {}

    def all(self) -> list[Resource]:
        custom = []
        for crd in self.store.views("CustomResourceDefinition"):
            meta = crd.get("metadata", {})
            version = meta.get("resourceVersion")
            cached = self._custom.get(meta.get("name", ""))
            if cached is None or version is None or cached[0] != version:
                cached = self._custom[meta.get("name", "")] = (version, from_crd(crd))
            custom.extend(cached[1])
        return list(BUILT_IN) + custom

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        return next((r for r in self.all() if (r.group, r.version, r.plural) == (group, version, plural)), None)

    def served(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.all() if (r.group, r.version) == (group, version)]

    # -- discovery documents -------------------------------------------------------------------
    def groups(self) -> list[dict]:
        """APIGroup entries for /apis, each with its versions in kube-aware order, the first preferred (as the
        CRD discovery controller orders them: a group served as v1alpha1 and v1alpha3 prefers v1alpha3)."""
        by_group: dict[str, list[str]] = {}
        for r in self.all():
            if r.group and r.version not in by_group.setdefault(r.group, []):
                by_group[r.group].append(r.version)
        out = []
        for group, versions in by_group.items():
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in sorted(versions, key=version_priority)]
            out.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return out

    def resource_list(self, group: str, version: str) -> dict | None:
        served = self.served(group, version)
        if not served:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
                "resources": [entry for r in served for entry in r.discovery()]}
