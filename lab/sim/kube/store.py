"""A cluster's object store: Kubernetes-shaped objects keyed by kind, namespace, name.

It takes the same manifests the kind backend applies. `apply` behaves like
`kubectl apply` for the fields the lab uses: everything but `status` comes
from the manifest, `status` is owned by the controllers.
"""
from __future__ import annotations

import collections
import copy
import itertools
import time
import uuid
from typing import Any, Awaitable, Callable, Iterable

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Node"}

Key = tuple[str, str, str]
SERVER_FILLED_SPEC = {"Service": ("clusterIP", "clusterIPs")}
HISTORY = 2000  # changes kept for watches that resume from a resourceVersion (the API server keeps a window too)
# (resourceVersion, ADDED | MODIFIED | DELETED, the object as it became, the object as it was or None): a
# watch with selectors needs both to tell an object entering them (ADDED) from one leaving (DELETED).
Change = tuple[int, str, dict, dict | None]


class Gone(Exception):
    """A watch asked to resume from a resourceVersion older than the kept history (the API server's 410)."""


class ObjectError(ValueError):
    """A manifest the store cannot take (the API server's 422)."""


def key_of(obj: dict) -> Key:
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not kind or not name:
        raise ObjectError("every object needs kind and metadata.name")
    namespace = "" if kind in CLUSTER_SCOPED else (meta.get("namespace") or "default")
    return kind, namespace, name


def matches(labels: dict[str, str] | None, selector: dict[str, str] | None) -> bool:
    """Equality-based label selection; an empty selector selects nothing, as for Services."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


class ObjectStore:
    def __init__(self, on_change: Callable[[], None] = lambda: None):
        # By kind, then (namespace, name): a controller reading one kind never walks the others.
        self._kinds: dict[str, dict[tuple[str, str], dict]] = {}
        self.kind_versions: dict[str, int] = {}  # the last resourceVersion that changed each kind
        self._versions = itertools.count(1)
        self._on_change = on_change
        # Stored objects are replaced, never changed in place, so the history and watchers can hold them.
        self._history: collections.deque[Change] = collections.deque(maxlen=HISTORY)
        self._watchers: set[Callable[[Change], None]] = set()
        self.last_version = 0
        # Awaited before the API acknowledges a write: returns once every change so far is on disk (the lab
        # process's journal sets it; a store nobody persists has nothing to wait for).
        self.commit: Callable[[], Awaitable[None]] | None = None

    # -- watching ------------------------------------------------------------
    def subscribe(self, watcher: Callable[[Change], None]) -> Callable[[], None]:
        """Call `watcher` with every change from now on; returns the unsubscribe function."""
        self._watchers.add(watcher)
        return lambda: self._watchers.discard(watcher)

    def changes_since(self, version: int) -> list[Change]:
        """The kept changes after `version`; Gone when the history no longer reaches back that far."""
        if version >= self.last_version:
            return []
        if not self._history or self._history[0][0] > version + 1:
            raise Gone(f"too old resource version: {version} ({self._history[0][0] - 1 if self._history else self.last_version})")
        return [c for c in self._history if c[0] > version]

    def _changed(self, event: str, obj: dict, old: dict | None) -> None:
        change = (int(obj["metadata"]["resourceVersion"]), event, obj, old)
        self.last_version = self.kind_versions[obj["kind"]] = change[0]
        self._history.append(change)
        for watcher in list(self._watchers):
            watcher(change)
        self._on_change()

    async def committed(self) -> None:
        if self.commit is not None:
            await self.commit()

    # -- reads -------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        obj = self.view(kind, namespace, name)
        return json_copy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> list[dict]:
        out = []
        for (ns, _), obj in sorted(self._kinds.get(kind, {}).items()):
            if namespace is not None and ns != namespace:
                continue
            if labels and not matches(obj["metadata"].get("labels"), labels):
                continue
            out.append(json_copy(obj))
        return out

    # Read-only views for the data path (every proxied connection looks up services and
    # endpoints): no copies. Callers must not modify what they get.
    def view(self, kind: str, namespace: str, name: str) -> dict | None:
        return self._kinds.get(kind, {}).get(("" if kind in CLUSTER_SCOPED else namespace, name))

    def view_all(self, kind: str) -> list[dict]:
        return list(self._kinds.get(kind, {}).values())

    def views(self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> list[dict]:
        """`list` without the copies, for controllers that read thousands of objects per pass.
        Callers must not modify what they get; `apply` a copy instead."""
        return [obj for (ns, _), obj in self._kinds.get(kind, {}).items()
                if (namespace is None or ns == namespace) and (not labels or matches(obj["metadata"].get("labels"), labels))]

    def __len__(self) -> int:
        return sum(len(objects) for objects in self._kinds.values())

    # -- writes ------------------------------------------------------------
    def apply(self, obj: dict) -> bool:
        """Create or update; True when anything changed."""
        key = key_of(obj)
        new = json_copy(obj)
        new.setdefault("metadata", {})
        if key[1]:
            new["metadata"]["namespace"] = key[1]
        old = self._kinds.get(key[0], {}).get(key[1:])
        if old is not None:
            new.pop("status", None)
            if "status" in old:
                new["status"] = old["status"]
            for field in ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp"):
                if field in old["metadata"]:  # a deletion, once begun, is not taken back by a write
                    new["metadata"][field] = old["metadata"][field]
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") and key[0] != "Namespace":
                # its last finalizer is gone: the object goes (the generic registry's Update deletes it then;
                # a Namespace waits on its own spec.finalizers, the namespace controller's)
                return self.delete(key[0], key[1], key[2])
            # Fields the server fills in survive a re-apply that leaves them out,
            # as kubectl's three-way merge keeps them.
            for field in SERVER_FILLED_SPEC.get(key[0], ()):
                if field in old.get("spec", {}) and field not in new.get("spec", {}):
                    new.setdefault("spec", {})[field] = old["spec"][field]
            if _same(old, new):
                return False
            if _content(old) != _content(new):  # the API server bumps generation on changes outside metadata
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        else:
            new["metadata"]["uid"] = str(uuid.uuid4())
            new["metadata"]["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            new["metadata"]["generation"] = 1
        new["metadata"]["resourceVersion"] = str(next(self._versions))
        self._kinds.setdefault(key[0], {})[key[1:]] = new
        self._changed("MODIFIED" if old is not None else "ADDED", new, old)
        return True

    def set_status(self, kind: str, namespace: str, name: str, status: dict) -> bool:
        key = ("" if kind in CLUSTER_SCOPED else namespace, name)
        obj = self._kinds.get(kind, {}).get(key)
        if obj is None or obj.get("status") == status:
            return False
        new = {**obj, "status": json_copy(status),
               "metadata": {**obj["metadata"], "resourceVersion": str(next(self._versions))}}
        self._kinds[kind][key] = new
        self._changed("MODIFIED", new, obj)
        return True

    def set_metadata(self, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> bool:
        """`kubectl annotate` (field "annotations") or `kubectl label` ("labels"): None removes a key."""
        if field not in ("annotations", "labels"):
            raise ObjectError(f"cannot set metadata.{field}")
        obj = self.get(kind, namespace, name)
        if obj is None:
            raise ObjectError(f"{kind.lower()} {namespace}/{name} not found")
        current = obj["metadata"].setdefault(field, {})
        for k, v in values.items():
            if v is None:
                current.pop(k, None)
            else:
                current[k] = str(v)
        return self.apply(obj)

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        removed = self._kinds.get(kind, {}).pop(("" if kind in CLUSTER_SCOPED else namespace, name), None)
        if removed is not None:
            gone = {**removed, "metadata": {**removed["metadata"], "resourceVersion": str(next(self._versions))}}
            self._changed("DELETED", gone, removed)
        return removed is not None

    def in_namespace(self, namespace: str) -> list[tuple[str, dict]]:
        """(kind, object) of everything in `namespace`; the objects are the store's own, not to be changed."""
        return [(kind, obj) for kind, objects in self._kinds.items() for (ns, _), obj in objects.items() if ns == namespace]

    def remove(self, kind: str, namespace: str, name: str) -> bool:
        """DELETE as the generic registry does it: an object without finalizers goes; one with finalizers is only
        marked (deletionTimestamp, once) and goes when a write takes its last one (`apply`). True when it is gone."""
        obj = self.view(kind, namespace, name)
        if obj is None or not obj["metadata"].get("finalizers"):
            return self.delete(kind, namespace, name)
        if not obj["metadata"].get("deletionTimestamp"):
            self.apply({**obj, "metadata": {**obj["metadata"], "deletionGracePeriodSeconds": 0,
                                            "deletionTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}})
        return False

    def delete_namespaced(self, namespace: str) -> int:
        """Delete every object in `namespace` (what the namespace controller does once its namespace is deleted);
        the number left, held by their finalizers."""
        return sum(not self.remove(kind, namespace, obj["metadata"]["name"]) for kind, obj in self.in_namespace(namespace))

    # -- persistence -------------------------------------------------------
    def dump(self) -> list[dict]:
        """Every object, for serializing at once (not copied: do not modify)."""
        return [o for kind in sorted(self._kinds) for _, o in sorted(self._kinds[kind].items())]

    def load(self, objects: Iterable[dict[str, Any]], last_version: int = 0) -> None:
        """Objects saved earlier, as they were; `last_version` is the last resourceVersion handed out (a
        deletion's is no object's), so a restarted store never hands one out twice."""
        top = last_version
        for obj in objects:
            key = key_of(obj)
            self._kinds.setdefault(key[0], {})[key[1:]] = json_copy(obj)
            top = max(top, int(obj["metadata"].get("resourceVersion", "0")))
        self._versions = itertools.count(top + 1)
        self.last_version = top


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists and immutable scalars), what every object here is: about four
    times faster than copy.deepcopy, which looks up a copier for each value's type and keeps a memo against
    cycles and shared parts that JSON cannot have. The store copies whole objects on every read and write, so
    this is a good part of the lab process's work. Any other type is left to copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def _content(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _same(old: dict, new: dict) -> bool:
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}  # noqa: E731
    return strip(old) == strip(new)
