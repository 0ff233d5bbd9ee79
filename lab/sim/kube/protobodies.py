"""Kubernetes objects from the protobuf bodies kubectl's typed clients send: `kubectl create namespace`,
`create configmap`, `create secret`, `create service`, `create role`/`rolebinding`, `create deployment`,
`create job` and the rest POST protobuf (application/vnd.kubernetes.protobuf), never JSON, and client-go
does not fall back to JSON after a 415 (rest/client.go, v0.32.3).

The body is the `k8s\\0` magic and a runtime.Unknown envelope (typeMeta = 1 {apiVersion = 1, kind = 2},
raw = 2); `raw` is the object in its generated.proto message. The messages' fields come from
protoschema/k8s-api-v0.32.3.json, which scripts/gen_protoschema.py extracts from k8s.io/api and
k8s.io/apimachinery v0.32.3 (kubectl 1.32's): every message of the GA API groups, so every built-in kind
the simulation serves is read. The well-known apimachinery types are written as JSON writes them (Time,
MicroTime, Duration, IntOrString, Quantity, RawExtension, FieldsV1). A field the table does not know, or
one the decoder cannot write, is refused with its message and number rather than dropped.
"""
from __future__ import annotations

import base64
import datetime
import functools
import json
import pathlib

from ..wire import protowire


class Unreadable(ValueError):
    """A protobuf body the simulation does not read; the text says which part."""


SCHEMA_FILE = pathlib.Path(__file__).with_name("protoschema") / "k8s-api-v0.32.3.json"
META = "k8s.io.apimachinery.pkg.apis.meta.v1."


@functools.cache
def messages() -> dict[str, dict]:
    return json.loads(SCHEMA_FILE.read_text())["messages"]


def package(group: str, version: str) -> str:
    """The generated.proto package of a built-in group: "" is core, "rbac.authorization.k8s.io" is rbac."""
    return f"k8s.io.api.{group.split('.')[0] or 'core'}.{version}"


def _fields(data: bytes, where: str) -> dict[int, object]:
    return dict(protowire.fields(data)) if isinstance(data, bytes) else _not(where, "a message")


def _not(where: str, what: str):
    raise Unreadable(f"{where}: expected {what}")


def _time(value: bytes, where: str, micro: bool):
    """meta/v1 Time (RFC 3339, seconds) and MicroTime (microseconds): seconds = 1, nanos = 2; the zero
    time is null in JSON, as Go's MarshalJSON writes it (apimachinery pkg/apis/meta/v1/time.go)."""
    parts = _fields(value, where)
    seconds, nanos = parts.get(1, 0), parts.get(2, 0)
    if not seconds and not nanos:
        return None
    at = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{nanos // 1000:06d}Z" if micro else "Z")


def go_duration(nanos: int) -> str:
    """time.Duration.String(): "1h2m3.5s", "1.5ms", "0s" (meta/v1 Duration's JSON form)."""
    if not nanos:
        return "0s"
    sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    return sign + (f"{hours}h" if hours else "") + text


def _decimal(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    digits = str(frac).rjust(len(str(size)) - 1, "0").rstrip("0") if size > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _well_known(kind: str, value, where: str):
    if kind == META + "Time" or kind == META + "MicroTime":
        return _time(value, where, kind.endswith("MicroTime"))
    if kind == META + "Duration":
        return go_duration(_fields(value, where).get(1, 0))
    if kind == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":  # type = 1 (0 int, 1 string), intVal, strVal
        parts = _fields(value, where)
        return parts.get(3, b"").decode() if parts.get(1, 0) == 1 else parts.get(2, 0)
    if kind == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return _fields(value, where).get(1, b"").decode()  # string = 1
    if kind in ("k8s.io.apimachinery.pkg.runtime.RawExtension", META + "FieldsV1"):
        raw = _fields(value, where).get(1, b"")  # raw = 1: the embedded object, as JSON
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise Unreadable(f"{where}: an embedded object that is not JSON") from None
    return NotImplemented


def _value(kind: str, value, where: str):
    if kind == "string":
        return value.decode() if isinstance(value, bytes) else _not(where, "a string")
    if kind == "bytes":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else _not(where, "bytes")
    if kind in ("int", "bool"):
        if isinstance(value, bytes):
            raise Unreadable(f"{where}: expected a number")
        return bool(value) if kind == "bool" else value
    if kind == "double":
        raise Unreadable(f"{where}: a floating point field")
    known = _well_known(kind, value, where)
    return message(kind, value) if known is NotImplemented else known


def _packed(kind: str, value, where: str) -> list:
    """A repeated number's elements: one per field, or packed in one length-delimited field."""
    if kind in ("int", "bool") and isinstance(value, bytes):
        at, out = 0, []
        while at < len(value):
            number, at = protowire.read_varint(value, at)
            out.append(_value(kind, number - (1 << 64) if number >= 1 << 63 else number, where))
        return out
    return [_value(kind, value, where)]


def message(name: str, data: bytes) -> dict | list:
    """The JSON form of `data`, a `name` message (its fully qualified generated.proto name)."""
    schema, out = messages().get(name), {}
    short = name.rsplit(".", 1)[-1]
    if schema is None:
        raise Unreadable(f"{short} messages")
    if not isinstance(data, bytes):
        raise Unreadable(f"{short}: expected a message")
    if "list" in schema:  # a named slice (meta/v1 Verbs, ExtraValue): items = 1, written as the bare list
        return [item for number, value in _strict(data, short)
                for item in (_packed(schema["list"], value, f"{short}.items") if number == 1 else
                             _unknown(short, number))]
    for number, value in _strict(data, short):
        field = schema.get(str(number))
        if field is None:
            _unknown(short, number)
        key, kind, flags = field
        where = f"{short}.{key}"
        if "r" in flags:
            out.setdefault(key, []).extend(_packed(kind, value, where))
        elif "m" in flags:
            entry = _fields(value, where)  # a map entry: key = 1, value = 2
            default = 0 if kind in ("int", "bool") else b""
            out.setdefault(key, {})[_value("string", entry.get(1, b""), where)] = _value(kind, entry.get(2, default), where)
        elif value in (b"", 0) and "p" not in flags and kind in ("string", "bytes", "int", "bool"):
            continue  # a non-pointer zero value: not set, as JSON's omitempty (an empty message is still there)
        elif "i" in flags:
            out.update(_value(kind, value, where))  # `json:",inline"`: its fields are the parent's
        else:
            out[key] = _value(kind, value, where)
    return out


def _strict(data: bytes, short: str):
    """The fields of a message, a fixed-width one (no GA message has one) refused rather than skipped."""
    try:
        yield from protowire.fields(data, skip_fixed=False)
    except protowire.ProtoError as exc:
        raise Unreadable(f"{exc} of {short}") from None


def _unknown(short: str, number: int):
    raise Unreadable(f"field {number} of {short}")


def decode(body: bytes, group: str, version: str, kind: str) -> dict:
    """The object a protobuf body holds, as JSON would have carried it."""
    if not body.startswith(b"k8s\x00"):
        raise Unreadable("a protobuf body starts with the k8s magic")
    name = f"{package(group, version)}.{kind}"
    if name not in messages():
        raise Unreadable(f"{kind} bodies")
    try:
        envelope = dict(protowire.fields(body[4:]))
        type_meta = dict(protowire.fields(envelope.get(1, b"")))
        api_version, sent_kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
        if sent_kind and sent_kind != kind:
            raise Unreadable(f"a {sent_kind} sent where a {kind} belongs")
        return {"apiVersion": api_version or (f"{group}/{version}" if group else version), "kind": kind,
                **message(name, envelope.get(2, b""))}
    except (protowire.ProtoError, UnicodeDecodeError, TypeError, AttributeError) as exc:
        raise Unreadable(f"the {kind}: {exc}") from None
