"""The patch types the Kubernetes API accepts, applied to a stored object.

- JSON merge patch (RFC 7386, `application/merge-patch+json`): what `kubectl annotate`, `label` and
  `scale` send.
- Strategic merge patch (`application/strategic-merge-patch+json`, built-in kinds only): a merge
  patch in which the lists the API declares with a patch merge key merge element by element
  (containers by name, container ports by containerPort, ...), with the directives kubectl's apply
  sends (`$patch`, `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`).
- JSON patch (RFC 6902, `application/json-patch+json`): `kubectl patch --type=json`.
"""
from __future__ import annotations

import copy

# Patch merge keys of the lists the lab's kinds carry (the `patchMergeKey` tags in k8s.io/api at 1.32).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name", "volumes": "name",
    "volumeMounts": "mountPath", "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type",
    "ownerReferences": "uid", "finalizers": None, "topologySpreadConstraints": "topologyKey",
}
# `ports` merges by containerPort inside a container and by port inside a Service spec.
PORT_KEYS = {"container": "containerPort", "service": "port"}


class PatchError(ValueError):
    """A patch that cannot be applied (the API server's 422, or 409 for a failed JSON patch test)."""


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target, patch, context: str = ""):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [v for v in out.get(field, []) if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and _merge_key(key, context) is not None:
            out[key] = _merge_list(out.get(key) or [], value, _merge_key(key, context), key)
        elif isinstance(value, dict):
            out[key] = strategic_merge_patch(out.get(key), value, _context(key, context))
        else:
            out[key] = copy.deepcopy(value)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _context(key: str, context: str) -> str:
    return {"containers": "container", "initContainers": "container", "spec": context or "spec"}.get(key, key)


def _merge_key(field: str, context: str) -> str | None:
    if field == "ports":
        return PORT_KEYS["container"] if context == "container" else PORT_KEYS["service"]
    return MERGE_KEYS.get(field)


def _merge_list(current: list, patch: list, key: str, field: str) -> list:
    out = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"strategic merge patch: an element of {field} lacks its merge key {key!r}")
        index = next((i for i, have in enumerate(out) if isinstance(have, dict) and have.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
            continue
        context = "container" if field in ("containers", "initContainers") else field
        if index is None:
            out.append(strategic_merge_patch({}, item, context))
        else:
            out[index] = strategic_merge_patch(out[index], item, context)
    return out


# -- JSON patch (RFC 6902) -------------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON patch path {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts: list[str]):
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def json_patch(doc, operations: list):
    doc = copy.deepcopy(doc)
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    for op in operations:
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            if isinstance(exc, PatchError):
                raise
            raise PatchError(f"JSON patch operation {op!r} failed: {type(exc).__name__} {exc}") from None
    return doc


def _apply_op(doc, op: dict):
    kind, parts = op["op"], _pointer(op["path"])
    if kind in ("move", "copy"):
        source = _pointer(op["from"])
        parent = _parent(doc, source)
        value = parent[int(source[-1])] if isinstance(parent, list) else parent[source[-1]]
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op["from"]})
        return _apply_op(doc, {"op": "add", "path": op["path"], "value": copy.deepcopy(value)})
    if not parts:
        if kind in ("add", "replace"):
            return copy.deepcopy(op["value"])
        raise PatchError(f"JSON patch cannot {kind} the whole document")
    parent, last = _parent(doc, parts), parts[-1]
    if kind == "test":
        have = parent[int(last)] if isinstance(parent, list) else parent[last]
        if have != op["value"]:
            raise PatchError(f"JSON patch test failed at {op['path']}")
    elif kind == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif kind == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
        else:
            parent[last] = copy.deepcopy(op["value"])
    elif kind == "replace":
        if isinstance(parent, list):
            parent[int(last)] = copy.deepcopy(op["value"])
        else:
            if last not in parent:
                raise PatchError(f"JSON patch replace: {op['path']} does not exist")
            parent[last] = copy.deepcopy(op["value"])
    else:
        raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc
