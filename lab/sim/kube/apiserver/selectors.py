"""Label and field selectors, as `kubectl -l` and `--field-selector` send them, as predicates."""
from __future__ import annotations

import re
from typing import Callable

from .status import ApiError

_REQUIREMENT = re.compile(r"\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*")


def label_matcher(selector: str | None) -> Callable[[dict], bool]:
    """A label selector (equality and set-based, as `kubectl -l` sends) as a predicate on labels."""
    if not selector:
        return lambda labels: True
    tests = []
    for part in re.split(r",(?![^()]*\))", selector):
        m = _REQUIREMENT.fullmatch(part)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        negate, key, op, value, set_op, values = m.groups()
        if op in ("=", "=="):
            tests.append(lambda l, k=key, v=value: l.get(k) == v)
        elif op == "!=":
            tests.append(lambda l, k=key, v=value: l.get(k) != v)
        elif set_op:
            wanted = {v.strip() for v in values.split(",") if v.strip()}
            tests.append((lambda l, k=key, w=wanted: l.get(k) in w) if set_op == "in"
                         else (lambda l, k=key, w=wanted: l.get(k) not in w))
        else:
            tests.append((lambda l, k=key: k not in l) if negate else (lambda l, k=key: k in l))
    return lambda labels: all(t(labels or {}) for t in tests)


def field_matcher(selector: str | None) -> Callable[[dict], bool]:
    """Field selectors on the fields every kind supports (metadata.name, metadata.namespace) and the
    few the lab's kubectl commands use (status.phase, spec.nodeName, type)."""
    if not selector:
        return lambda obj: True
    tests = []
    for part in selector.split(","):
        m = re.fullmatch(r"\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not m or m.group(1) not in ("metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "type",
                                          "reason", "involvedObject.name", "involvedObject.kind",
                                          "involvedObject.namespace", "involvedObject.uid"):
            raise ApiError(400, "BadRequest", f'field label not supported: {part.split("=")[0].strip()}')
        path, op, value = m.groups()

        def read(obj, path=path):
            node = obj
            for p in path.split("."):
                node = node.get(p, {}) if isinstance(node, dict) else {}
            return node if isinstance(node, str) else ""

        tests.append((lambda o, r=read, v=value: r(o) == v) if op != "!=" else (lambda o, r=read, v=value: r(o) != v))
    return lambda obj: all(t(obj) for t in tests)
