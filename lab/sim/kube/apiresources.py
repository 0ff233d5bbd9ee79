"""Which resources a simulated cluster's Kubernetes API serves: the built-in ones the lab uses, and
every CustomResourceDefinition in the cluster's store, as a real API server serves them once the
CRD is applied (so a Mapping is served only after Ambassador's CRDs are installed). The discovery
documents (legacy and aggregated) are both written from here, so they list the same resources.

Names, short names and scopes as `kubectl api-resources` prints them on Kubernetes 1.32.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")  # sorted, as installer.go sorts
# A custom resource's verbs, in the order the CRD discovery controller lists them
# (apiextensions-apiserver pkg/apiserver/customresource_discovery_controller.go)
CRD_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")

# Where discovery lists each group, and each version in its group: the GroupPriorityMinimum and VersionPriority
# of the APIService the kube-aggregator registers for it (kubernetes v1.32 cmd/kube-apiserver/app/aggregator.go
# and pkg/controlplane/apiserver/aggregator.go) for the built-in groups served here; 1000 and 100 for a CRD's
# (pkg/controlplane/controller/crdregistration). Higher first; equal groups by name, equal versions kube-aware.
PRIORITY = {("", "v1"): (18000, 1), ("apps", "v1"): (17800, 15), ("authentication.k8s.io", "v1"): (17700, 15),
            ("authorization.k8s.io", "v1"): (17600, 15), ("batch", "v1"): (17400, 15),
            ("rbac.authorization.k8s.io", "v1"): (17000, 15), ("apiextensions.k8s.io", "v1"): (16700, 15),
            ("coordination.k8s.io", "v1"): (16500, 15), ("discovery.k8s.io", "v1"): (16200, 15)}
CRD_PRIORITY = (1000, 100)


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
    categories: tuple[str, ...] = ()
    singular_name: str = ""  # a CRD's names.singular; else the kind in lower case
    custom: bool = False  # served for a CRD

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.singular_name or self.kind.lower()

    def _subresources(self) -> list[tuple[str, str, str, str, list[str]]]:
        """(name, group, version, kind, verbs) of each subresource, as its APIResource names them: a group and
        version only where they are not the resource's own (scale's autoscaling/v1). A built-in resource's
        come in path order (installer.go registers the sorted paths), a CRD's status before scale."""
        out = []
        for sub in (self.subresources if self.custom else sorted(self.subresources)):
            group, version, kind, verbs = {"status": ("", "", self.kind, ["get", "patch", "update"]),
                                           "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
                                           "exec": ("", "", "PodExecOptions", ["create", "get"]),
                                           "log": ("", "", "Pod", ["get"])}[sub]
            out.append((sub, group, version, kind, verbs))
        return out

    def discovery(self) -> list[dict]:
        """Its APIResource entries (the resource and its subresources) for an APIResourceList."""
        out = [{"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced, "kind": self.kind,
                "verbs": list(self.verbs), **({"shortNames": list(self.short_names)} if self.short_names else {}),
                **({"categories": list(self.categories)} if self.categories else {})}]
        for sub, group, version, kind, verbs in self._subresources():
            entry = {"name": f"{self.plural}/{sub}", "singularName": "", "namespaced": self.namespaced,
                     "kind": kind, "verbs": verbs}
            if group:
                entry.update({"group": group, "version": version})
            out.append(entry)
        return out

    def aggregated(self) -> dict:
        """Its APIResourceDiscovery (apidiscovery.k8s.io/v2). A built-in resource's response kinds carry the
        group and version of its APIResource, empty but for scale's (apiserver endpoints/installer.go,
        ConvertGroupVersionIntoToDiscovery); a CRD's name its own group and version (the CRD discovery
        controller)."""
        own = (self.group, self.version) if self.custom else ("", "")

        def kind(group: str, version: str, name: str) -> dict:
            group, version = (group, version) if group else own
            return {"group": group, "version": version, "kind": name}

        out = {"resource": self.plural, "responseKind": kind("", "", self.kind),
               "scope": "Namespaced" if self.namespaced else "Cluster", "singularResource": self.singular,
               "verbs": list(self.verbs)}
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        if self.categories:
            out["categories"] = list(self.categories)
        subs = [{"subresource": sub, "responseKind": kind(group, version, name), "verbs": verbs}
                for sub, group, version, name, verbs in self._subresources()]
        if subs:
            out["subresources"] = subs
        return out


# What `kubectl get all` lists: the built-in kinds in the "all" category (those of them served here)
IN_ALL = {("", "Pod"), ("", "Service"), ("", "ReplicationController"), ("apps", "Deployment"), ("apps", "ReplicaSet"),
          ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job")}

_BUILT_IN = (
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
BUILT_IN = tuple(replace(r, categories=("all",)) if (r.group, r.kind) in IN_ALL else r for r in _BUILT_IN)


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
                            subresources, tuple(version.get("additionalPrinterColumns", [])), CRD_VERBS,
                            tuple(names.get("categories", [])), names.get("singular", ""), custom=True))
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
    @staticmethod
    def _ordered(resources: list[Resource]) -> list[tuple[str, list[str]]]:
        """Each group served with its versions, in discovery's order (PRIORITY): the kube-aggregator's for
        /apis (handler_apis.go) and for aggregated discovery (discovery/aggregated/handler.go) alike."""
        by_group: dict[str, dict[str, tuple[int, int]]] = {}
        for r in resources:
            by_group.setdefault(r.group, {})[r.version] = PRIORITY.get((r.group, r.version), CRD_PRIORITY)
        ordered = sorted(by_group.items(), key=lambda g: (-max(p[0] for p in g[1].values()), g[0]))
        return [(group, sorted(versions, key=lambda v: (-versions[v][1], version_priority(v))))
                for group, versions in ordered]

    def groups(self) -> list[dict]:
        """APIGroup entries for /apis, each with its versions in order, the first preferred (as the CRD
        discovery controller orders a CRD's: a group served as v1alpha1 and v1alpha3 prefers v1alpha3)."""
        out = []
        for group, versions in self._ordered(self.all()):
            if group:
                entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
                out.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return out

    def resource_list(self, group: str, version: str) -> dict | None:
        served = self.served(group, version)
        if not served:
            return None
        entries = [entry for r in served for entry in r.discovery()]
        if not served[0].custom:  # a built-in group version lists its paths sorted (installer.go)
            entries.sort(key=lambda e: e["name"])
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
                "resources": entries}

    def aggregated(self, legacy: bool) -> list[dict]:
        """The APIGroupDiscovery items of aggregated discovery: /api's one group (the legacy group, named "")
        or /apis's, in discovery's order, each version's resources by name (as both the installer and the CRD
        discovery controller sort them). Fields as k8s.io/api apidiscovery/v2 names them; an item's metadata
        keeps the `creationTimestamp: null` Go's encoding of an empty ObjectMeta writes."""
        resources, items = sorted(self.all(), key=lambda r: r.plural), []
        for group, versions in self._ordered(resources):
            if (group == "") != legacy:
                continue
            listed = [{"version": v, "resources": [r.aggregated() for r in resources if (r.group, r.version) == (group, v)],
                       "freshness": "Current"} for v in versions]
            items.append({"metadata": {**({"name": group} if group else {}), "creationTimestamp": None},
                          "versions": listed})
        return items
