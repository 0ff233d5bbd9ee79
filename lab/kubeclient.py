"""The lab's object verbs over the official `kubernetes` client: its dynamic client on one kubeconfig context.

What the steps, status and scenarios ask of a cluster (get, list, apply, delete, annotate/label,
scale) goes to the cluster's Kubernetes API the way kubectl's does, so the simulation is held to the
API's rules: a namespaced object needs its namespace, a custom kind needs its CRD, an invalid object
is refused with the server's 422.

The dynamic client caches discovery in a file; by default that file is in the shared temporary
directory, named after the server's address, where another user's lab on the same port would share
it. The lab keeps it in its own state directory.
"""
from __future__ import annotations

import contextlib
import functools
import json
import sys
import threading
from pathlib import Path

from . import startup
from .atomic_write import write_atomic
from .errors import LabError
from .names import LAST_APPLIED


def _json(response) -> dict:
    """An answer's body as plain JSON (`serialize=False`): the dynamic client's ResourceInstance wraps every
    field of every object in an object of its own and `to_dict` unwraps them again, most of a LIST's time for
    nothing. A raw answer must be read whole (`.data`), or its connection is not given back to the pool and
    the next request opens a new one, TLS handshake and all."""
    return json.loads(response.data)


def _call(method):
    """One verb is one call, as one kubectl command is (see `_discoverer`): its lookups count what discovery
    fetched since it began. Calls run at once, several steps act on one cluster at the same time; only
    the discovery cache, which is not thread-safe, is used one lookup at a time (`_find`)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self._since.value = self._begin()
        return method(self, *args, **kwargs)
    return wrapper


@functools.cache
def _discoverer():
    """The dynamic client's lazy discovery, with three changes that keep what it finds and save requests:

    - A kind it cannot find refreshes the whole discovery (a dozen requests) and searches again, unless
      everything it searched was fetched from the server since this call began: then a refresh could only
      say the same. kubectl does the same: its mapper retries after a reset only when the discovery it used
      was not fresh (client-go v0.32.0 restmapper/discovery.go, DeferredDiscoveryRESTMapper, `!d.cl.Fresh()`;
      discovery/cached/disk/cached_discovery.go, Fresh: "whether or not to retry if the cache fails to find
      something"). A client's first call counts what the client fetched when it was made.
    - Before that refresh, a miss first asks only for the list of groups (one request) and searches again:
      a kind a new CRD group brings is then found with that group's one request, where after the whole
      refresh a lookup by kind alone (get, list) fetches every group again (a dozen requests; `up` meets
      four new CRD groups). A kind asked for by its apiVersion has that version's resources fetched again
      too (a CRD may add a kind to a version the cache holds). Only a kind still missing after that costs
      the whole refresh.
    - The cache file (for the next command) is written once per lookup that changed it, not after each
      group it fetched; encoded in one piece and renamed into place (`flush`).
    - Where the server serves aggregated discovery (from Kubernetes 1.27), the list of groups is asked for as
      kubectl asks for it (client-go v0.32.0 discovery/discovery_client.go, acceptDiscoveryFormats): `/api` and
      `/apis` then carry every group version's resources, so a refresh is those two requests, never one per
      group version. A server that answers with the plain list (seed-2.8's 1.18) is read the way the official
      client reads it, from then on."""
    from kubernetes.dynamic.discovery import DISCOVERY_PREFIX, CacheEncoder, LazyDiscoverer, ResourceGroup  # noqa: PLC0415 - the official client, imported where used
    from kubernetes.dynamic.resource import Resource, ResourceList  # noqa: PLC0415

    class LabDiscoverer(LazyDiscoverer):
        def __init__(self, client, cache_file):
            self.ticks = 0  # fetches so far; each fetch is stamped with its tick
            self.since = 0  # the tick the lookup's call began at
            self._groups_tick: int | None = None
            self._fetched: dict[tuple, int] = {}
            self._dirty = False
            self._groups_first = None  # the search whose first miss refreshes only the list of groups
            self.aggregated: bool | None = None  # whether the server serves aggregated discovery (None: not asked yet)
            self._cache_path = Path(cache_file)
            super().__init__(client, cache_file)

        def _tick(self) -> int:
            self.ticks += 1
            return self.ticks

        def parse_api_groups(self, request_resources=False, update=False):
            if not self._cache.get("resources") or update:
                self._groups_tick = self._tick()
                if self.aggregated is not False and self._parse_aggregated():
                    return self._cache["resources"]
            return super().parse_api_groups(request_resources, update)

        def _parse_aggregated(self) -> bool:
            """Every group version's resources from `/api` and `/apis` as aggregated documents; False (and
            nothing changed) when the server answers with the plain lists instead."""
            found = {}
            for prefix in ("api", DISCOVERY_PREFIX):
                response = self.client.request("GET", f"/{prefix}", header_params={"Accept": ACCEPT_DISCOVERY}, serialize=False)
                self.aggregated = _is_aggregated(response.headers.get("Content-Type", ""))
                if not self.aggregated:
                    response.data  # noqa: B018 - read whole: gives the connection back to the pool
                    return False
                found[prefix] = _aggregated_groups(json.loads(response.data))
            groups = self.default_groups(request_resources=False)
            for prefix, listed in found.items():
                for group, versions in listed.items():
                    built = groups[prefix].setdefault(group, {})
                    for version, (preferred, resources) in versions.items():
                        built[version] = ResourceGroup(preferred, resources=self._resources(prefix, group, version, preferred, resources))
                        self._fetched[(prefix, group, version)] = self._groups_tick
            self._cache["resources"] = self._cache.get("resources", {})
            self._cache["resources"].update(groups)  # in place: the lazy discoverer searches this very dict
            self._write_cache()
            return True

        def _resources(self, prefix, group, version, preferred, listed: list[dict]) -> dict:
            """The resources of one group version as the official client makes them from a plain list
            (Discoverer.get_resources_for_api_version): each kind, its subresources, and its List kind."""
            resources: dict[str, list] = {}
            subresources: dict[str, dict] = {}
            for item in listed:
                if "/" in item["name"]:
                    parent, name = item["name"].split("/", 1)
                    subresources.setdefault(parent, {})[name] = item
            for item in listed:
                if "/" in item["name"]:
                    continue
                resource = Resource(prefix=prefix, group=group, api_version=version, client=self.client, preferred=preferred,
                                    subresources=subresources.get(item["name"]), **item)
                resources.setdefault(item["kind"], []).append(resource)
                kinds = ResourceList(self.client, group=group, api_version=version, base_kind=item["kind"])
                resources.setdefault(kinds.kind, []).append(kinds)
            return resources

        def get_resources_for_api_version(self, prefix, group, version, preferred):
            resources = super().get_resources_for_api_version(prefix, group, version, preferred)
            self._fetched[(prefix, group, version)] = self._tick()
            return resources

        def _fresh(self) -> bool:
            """Everything in the cache came from the server after the current call began."""
            if self._groups_tick is None or self._groups_tick <= self.since:
                return False
            for prefix, groups in (self._cache.get("resources") or {}).items():
                for group, versions in groups.items():
                    for version, found in versions.items():
                        if prefix == "apis" and not group:
                            continue  # the client's own `List` entry, made up rather than fetched
                        if found.resources and self._fetched.get((prefix, group, version), 0) <= self.since:
                            return False
            return True

        def search(self, **kwargs):
            self._groups_first = kwargs  # the first miss refreshes only the groups (invalidate_cache)
            found = super().search(**kwargs)
            if not found and self._groups_first is None:  # the groups were refreshed: now the whole of it
                found = super().search(**kwargs)
            self._groups_first = None
            return found

        def invalidate_cache(self):
            if self._fresh():
                return
            wanted, self._groups_first = self._groups_first, None
            if wanted is None:
                super().invalidate_cache()
                return
            core = (self._cache.get("resources") or {}).get("api", {}).get("", {}).get("v1")
            resources = self.parse_api_groups(request_resources=False, update=True)  # keeps what it fetched...
            if self.aggregated:
                return  # ...or, aggregated, fetched all of it just now
            if core is not None and core.resources:  # ...but core v1, which no CRD changes
                resources["api"][""]["v1"] = core
            group, _, version = (wanted.get("api_version") or "").rpartition("/")
            known = resources.get("apis", {}).get(group, {}).get(version) if group else None
            if known is not None:
                known.resources = {}  # fetched again by the search that follows


        def _write_cache(self):
            self._dirty = True

        def flush(self) -> None:
            """Write the cache file if a lookup changed it, as the official client writes it (Discoverer._write_cache:
            the same JSON, and a file that cannot be written is no error: the next command fetches discovery
            again), with two differences. It is encoded in one piece: the client's `json.dump` to the file encodes
            chunk by chunk in Python, 2.2 ms for a lab's 30 KB where `json.dumps` takes 0.3, with the client's lock
            held (`up` writes eight). And it is written as every file of the lab is (lab/atomic_write.py), so a
            command reading it meanwhile finds the old cache or the new one, never half of one (which the client
            would log as an error)."""
            if not self._dirty:
                return
            self._dirty = False
            with contextlib.suppress(OSError, TypeError, ValueError):
                write_atomic(self._cache_path, json.dumps(self._cache, cls=CacheEncoder), 0o644, durable=False)

    return LabDiscoverer


# What kubectl asks `/api` and `/apis` for (client-go v0.32.0 discovery/discovery_client.go, acceptDiscoveryFormats):
# aggregated discovery, v2 or v2beta1, or else the plain lists.
AGGREGATED_GROUP, AGGREGATED_KIND, AGGREGATED_VERSIONS = "apidiscovery.k8s.io", "APIGroupDiscoveryList", ("v2", "v2beta1")
ACCEPT_DISCOVERY = ",".join([*(f"application/json;g={AGGREGATED_GROUP};v={v};as={AGGREGATED_KIND}" for v in AGGREGATED_VERSIONS),
                             "application/json"])


def _is_aggregated(content_type: str) -> bool:
    """The answer is an APIGroupDiscoveryList (client-go ContentTypeIsGVK: the media type and its g, v, as)."""
    media, *params = [part.strip() for part in content_type.split(";")]
    named = dict(p.split("=", 1) for p in params if "=" in p)
    return media == "application/json" and (named.get("g"), named.get("as")) == (AGGREGATED_GROUP, AGGREGATED_KIND) and \
        named.get("v") in AGGREGATED_VERSIONS


def _aggregated_groups(document: dict) -> dict[str, dict[str, tuple[bool, list[dict]]]]:
    """An APIGroupDiscoveryList as the plain lists it stands for, as client-go converts it (discovery/
    aggregated_discovery.go, SplitGroupsAndResources): group -> version -> (preferred, resources), the first
    version listed the preferred one; a version marked Stale is left out, and so is a resource or subresource
    without a responseKind."""
    groups: dict[str, dict[str, tuple[bool, list[dict]]]] = {}
    for item in document.get("items") or []:
        versions = groups.setdefault((item.get("metadata") or {}).get("name", ""), {})
        for version in item.get("versions") or []:
            if version.get("freshness") == "Stale":
                continue
            listed = []
            for resource in version.get("resources") or []:
                kind = (resource.get("responseKind") or {}).get("kind")
                namespaced = resource.get("scope") == "Namespaced"
                if kind:
                    listed.append({"name": resource["resource"], "singularName": resource.get("singularResource", ""),
                                   "namespaced": namespaced, "kind": kind, "verbs": resource.get("verbs") or [],
                                   **({"shortNames": resource["shortNames"]} if resource.get("shortNames") else {}),
                                   **({"categories": resource["categories"]} if resource.get("categories") else {})})
                for sub in resource.get("subresources") or []:
                    if (sub.get("responseKind") or {}).get("kind"):
                        listed.append({"name": f"{resource['resource']}/{sub['subresource']}", "namespaced": namespaced,
                                       "kind": sub["responseKind"]["kind"], "verbs": sub.get("verbs") or []})
            versions[version["version"]] = (not versions, listed)
    return groups


def _kept_metadata(current: dict, meta: dict) -> dict:
    """Labels and annotations as `kubectl apply` leaves them (its three-way merge): what the manifest sets,
    less what the previous apply set and this one drops, keeping what others added (a controller's
    `deployment.kubernetes.io/revision`, a user's `kubectl label`)."""
    try:
        previous = json.loads((current["metadata"].get("annotations") or {}).get(LAST_APPLIED, "{}")).get("metadata") or {}
    except (ValueError, AttributeError):
        previous = {}
    out = {}
    for field in ("labels", "annotations"):
        theirs = {k: v for k, v in (current["metadata"].get(field) or {}).items() if k not in (previous.get(field) or {})}
        if theirs or meta.get(field):
            out[field] = {**theirs, **(meta.get(field) or {})}
    return out


def load_official_client() -> None:
    """Import the parts of the official client the lab uses (a few tenths of a second of CPU, pydantic and
    requests-oauthlib with it), the first time with the garbage collector out of the way (lab/startup.py):
    an eighth less CPU, and no later full collection walks those modules again."""
    if "kubernetes.dynamic.exceptions" in sys.modules:
        return
    with startup.importing(), _without_optional_validator():
        from kubernetes import config, dynamic  # noqa: F401, PLC0415 - what KubeClient imports
        from kubernetes.dynamic import discovery, exceptions, resource  # noqa: F401, PLC0415 - what its verbs import


_VALIDATOR = "kubernetes_validate"


class _NoValidatorInThisThread:
    """An import finder that tells one thread kubernetes-validate is missing; every other thread (the simulated
    API server's schema reader, a test) finds it as usual."""

    def __init__(self):
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name == _VALIDATOR and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None  # not this finder's: the next one looks


@contextlib.contextmanager
def _without_optional_validator():
    """The dynamic client imports kubernetes-validate when it is installed (kubernetes/dynamic/client.py, a
    `try: import` falling back when absent), for `DynamicClient.validate()` alone: a client-side check the lab
    never calls. The lab installs the package for its schema files only, which the simulated API server reads
    without importing it (sim/kube/apiserver/schemas.py). Its import brings jsonschema, referencing and attrs:
    about 0.03 CPU-s of the start of every command that reads a cluster, `up` included, on its critical path.
    So the thread importing the client is told it is missing; afterwards, and for other threads meanwhile, it
    imports as usual. One already imported stays, and the client uses it."""
    finder = _NoValidatorInThisThread()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def preload() -> threading.Thread:
    """Import the official client in the background, so a command that will need it soon pays that while it
    waits on something else, such as a lab process starting. The first KubeClient then finds it imported."""
    thread = threading.Thread(target=load_official_client, name="kubernetes-preload")  # not daemon: never cut short mid-import at exit
    thread.start()
    return thread


class KubeClient:
    def __init__(self, kubeconfig: str | Path | None, context: str, cache_file: Path):
        """`kubeconfig` as KUBECONFIG reads (several files joined by the path separator are merged, as
        kubectl merges them); None: the client's default, KUBECONFIG or ~/.kube/config."""
        load_official_client()
        from kubernetes import config, dynamic  # noqa: PLC0415 - loaded by load_official_client above

        api = config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None, context=context)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        self.context = context
        self._lock = threading.Lock()  # around the discovery cache
        self._used = False
        self._since = threading.local()  # the tick the calling thread's current call began at
        self.dynamic = dynamic.DynamicClient(api, cache_file=str(cache_file), discoverer=_discoverer())

    def _find(self, kind: str, api_version: str | None = None):
        """The served resource for `kind`, or None (the discoverer refreshes once before it says so). Where
        two groups serve the kind (Event in v1 and events.k8s.io), the core or preferred one."""
        from kubernetes.dynamic.resource import ResourceList

        with self._lock:
            discovery = self.dynamic.resources
            discovery.since = self._since.value
            try:
                found = [r for r in discovery.search(kind=kind, **({"api_version": api_version} if api_version else {}))
                         if not isinstance(r, ResourceList)]
            finally:
                discovery.flush()
        return next((r for r in found if r.group == "" or r.preferred), found[0]) if found else None

    def _begin(self) -> int:
        """The discovery tick a call begins at; a client's first call begins before the client was made."""
        with self._lock:
            if not self._used:
                self._used = True
                return 0
            return self.dynamic.resources.ticks

    def _resource(self, kind: str, api_version: str | None = None):
        resource = self._find(kind, api_version)
        if resource is None:
            raise LabError(f"the API of {self.context} does not serve {api_version or ''} {kind} (is its CRD installed?)")
        return resource

    def _error(self, exc, what: str) -> LabError:
        try:
            message = json.loads(exc.body).get("message", exc.reason)
        except (TypeError, ValueError, AttributeError):
            message = getattr(exc, "reason", str(exc))
        return LabError(f"{self.context}: {what}: {message}")

    @_call
    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        """The object, or None when it, or its kind (no CRD yet), does not exist."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._find(kind)
        if resource is None:
            return None
        try:
            return _json(resource.get(name=name, namespace=namespace or None, serialize=False))
        except NotFoundError:
            return None

    @_call
    def list(self, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]:
        resource = self._find(kind)
        if resource is None:
            return []
        selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or None
        found = _json(resource.get(namespace=namespace, label_selector=selector, serialize=False))
        return [{**item, "kind": kind, "apiVersion": found.get("apiVersion", "v1")} for item in found.get("items", [])]

    @_call
    def apply(self, objects: list[dict]) -> list[str]:
        """Create each object, or replace what exists with it (the server keeps its status and identity);
        returns `Kind/name` of those that changed."""
        from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError

        changed = []
        for index, obj in enumerate(objects):
            if index:  # what the objects before wrote (a CRD) is news to this one's lookup, as to a new call's
                self._since.value = self._begin()
            resource = self._resource(obj["kind"], obj.get("apiVersion"))
            meta = obj.get("metadata", {})
            namespace = meta.get("namespace") if resource.namespaced else None
            try:
                try:
                    resource.create(body=obj, namespace=namespace, serialize=False).data  # read: frees the connection
                    changed.append(f"{obj['kind']}/{meta['name']}")
                    continue
                except ConflictError:
                    pass
                current = _json(resource.get(name=meta["name"], namespace=namespace, serialize=False))
                before = current["metadata"]["resourceVersion"]
                merged = {**meta, **_kept_metadata(current, meta), "resourceVersion": before}
                after = _json(resource.replace(body={**obj, "metadata": merged}, name=meta["name"], namespace=namespace,
                                               serialize=False))["metadata"]["resourceVersion"]
            except DynamicApiError as exc:
                raise self._error(exc, f"cannot apply {obj['kind']} {meta.get('namespace', '')}/{meta.get('name')}") from None
            if after != before:
                changed.append(f"{obj['kind']}/{meta['name']}")
        return changed

    @_call
    def delete(self, kind: str, namespace: str, name: str) -> bool:
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            self._resource(kind).delete(name=name, namespace=namespace or None, serialize=False).data  # as above
            return True
        except NotFoundError:
            return False

    @_call
    def patch_merge(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        from kubernetes.dynamic.exceptions import DynamicApiError

        try:
            return _json(self._resource(kind).patch(body=patch, name=name, namespace=namespace or None,
                                                    content_type="application/merge-patch+json", serialize=False))
        except DynamicApiError as exc:
            raise self._error(exc, f"cannot patch {kind} {namespace}/{name}") from None

    @_call
    def set_metadata(self, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> None:
        """`kubectl annotate` / `kubectl label`: a merge patch of metadata; None removes a key."""
        self.patch_merge(kind, namespace, name, {"metadata": {field: values}})

    @_call
    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        """`kubectl scale`: a merge patch of the scale subresource."""
        from kubernetes.dynamic.exceptions import DynamicApiError

        resource = self._resource("Deployment")
        try:
            resource.subresources["scale"].patch(body={"spec": {"replicas": replicas}}, name=deployment, namespace=namespace,
                                                 content_type="application/merge-patch+json")
        except DynamicApiError as exc:
            raise self._error(exc, f"cannot scale deployment {namespace}/{deployment}") from None
