"""Kubernetes objects from the protobuf bodies kubectl's typed clients send: `kubectl create namespace`,
`create configmap`, `create secret generic`, `create serviceaccount` and `create deployment` POST protobuf
(application/vnd.kubernetes.protobuf), never JSON, and so does `create job`, and client-go does not fall back to JSON after a 415.

The body is the `k8s\\0` magic and a runtime.Unknown envelope (typeMeta = 1 {apiVersion = 1, kind = 2},
raw = 2); `raw` is the object in its generated.proto message. The field numbers below are those of
k8s.io/api v0.32.3 (core/v1, apps/v1 and batch/v1 generated.proto) and k8s.io/apimachinery v0.32.3
(pkg/apis/meta/v1, pkg/runtime), kubectl 1.32's. Only the fields those commands can set are read: any
other field is refused with its message and number rather than dropped, so nothing is lost unseen.
"""
from __future__ import annotations

import base64
import datetime

from ..wire import protowire


class Unreadable(ValueError):
    """A protobuf body the simulation does not read; the text says which part."""


# A field: (JSON name, type). Types: "string", "bytes", "int", "bool", "time", "quantity", a message name,
# ("repeated", type) or ("map", value type).
STRING_MAP = ("map", "string")
SCHEMAS: dict[str, dict[int, tuple[str, object]]] = {
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
                   8: ("creationTimestamp", "time"), 11: ("labels", STRING_MAP), 12: ("annotations", STRING_MAP),
                   13: ("ownerReferences", ("repeated", "OwnerReference")), 14: ("finalizers", ("repeated", "string"))},
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
                       6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")},
    "LabelSelector": {1: ("matchLabels", STRING_MAP)},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", ("repeated", "string"))},
    "NamespaceStatus": {1: ("phase", "string")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", STRING_MAP), 3: ("binaryData", ("map", "bytes")),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
               4: ("stringData", STRING_MAP), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", ("repeated", "ObjectReference")),
                       3: ("imagePullSecrets", ("repeated", "LocalObjectReference")),
                       4: ("automountServiceAccountToken", "bool")},
    "ObjectReference": {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                        5: ("apiVersion", "string")},
    "LocalObjectReference": {1: ("name", "string")},
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec"), 3: ("status", "DeploymentStatus")},
    "DeploymentSpec": {1: ("replicas", "int"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       4: ("strategy", "DeploymentStrategy"), 5: ("minReadySeconds", "int"),
                       6: ("revisionHistoryLimit", "int"), 7: ("paused", "bool"), 9: ("progressDeadlineSeconds", "int")},
    "DeploymentStrategy": {1: ("type", "string")},
    "DeploymentStatus": {},
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec"), 3: ("status", "JobStatus")},
    "JobSpec": {1: ("parallelism", "int"), 2: ("completions", "int"), 3: ("activeDeadlineSeconds", "int"),
                4: ("selector", "LabelSelector"), 5: ("manualSelector", "bool"), 6: ("template", "PodTemplateSpec"),
                7: ("backoffLimit", "int"), 8: ("ttlSecondsAfterFinished", "int"), 9: ("completionMode", "string"),
                10: ("suspend", "bool")},
    "JobStatus": {},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {2: ("containers", ("repeated", "Container")), 3: ("restartPolicy", "string"),
                8: ("serviceAccountName", "string"), 16: ("hostname", "string"), 17: ("subdomain", "string")},
    "Container": {1: ("name", "string"), 2: ("image", "string"), 3: ("command", ("repeated", "string")),
                  4: ("args", ("repeated", "string")), 5: ("workingDir", "string"),
                  6: ("ports", ("repeated", "ContainerPort")), 7: ("env", ("repeated", "EnvVar")),
                  8: ("resources", "ResourceRequirements"), 14: ("imagePullPolicy", "string")},
    "ContainerPort": {1: ("name", "string"), 3: ("containerPort", "int"), 4: ("protocol", "string")},
    "EnvVar": {1: ("name", "string"), 2: ("value", "string")},
    "ResourceRequirements": {1: ("limits", ("map", "quantity")), 2: ("requests", ("map", "quantity"))},
}
# Fields that are pointers in Go: set when present, even to zero or false. Every other field is written by
# the generated marshaller whatever its value, so its zero value means "not set", as JSON's omitempty.
POINTERS = {("DeploymentSpec", "replicas"), ("DeploymentSpec", "revisionHistoryLimit"),
            ("DeploymentSpec", "progressDeadlineSeconds"), ("ConfigMap", "immutable"), ("Secret", "immutable"),
            ("ServiceAccount", "automountServiceAccountToken"), ("OwnerReference", "controller"),
            ("OwnerReference", "blockOwnerDeletion"),
            *(("JobSpec", f) for f in ("parallelism", "completions", "activeDeadlineSeconds", "manualSelector",
                                       "backoffLimit", "ttlSecondsAfterFinished", "suspend"))}
READABLE = {("", "v1", "Namespace"), ("", "v1", "ConfigMap"), ("", "v1", "Secret"), ("", "v1", "ServiceAccount"),
            ("apps", "v1", "Deployment"), ("batch", "v1", "Job")}


def _scalar(kind: str, value, where: str):
    if kind == "string":
        return value.decode()
    if kind == "bytes":
        return base64.b64encode(value).decode()  # JSON carries bytes as base64
    if kind in ("int", "bool"):
        if isinstance(value, bytes):
            raise Unreadable(f"{where}: expected a number")
        return bool(value) if kind == "bool" else value
    if kind == "quantity":
        return dict(protowire.fields(value)).get(1, b"").decode()  # resource.Quantity: string = 1
    if kind == "time":  # meta/v1 Time: seconds = 1, nanos = 2; the zero time is null in JSON, as Go prints it
        seconds = dict(protowire.fields(value)).get(1, 0)
        return (datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if seconds else None)
    if not isinstance(value, bytes):
        raise Unreadable(f"{where}: expected a message")
    return message(kind, value)


def message(name: str, data: bytes) -> dict:
    """The JSON form of `data`, a `name` message."""
    schema, out = SCHEMAS[name], {}
    for number, value in protowire.fields(data):
        if number not in schema:
            if value in (b"", 0):
                continue  # a field the commands never set, written with its zero value
            raise Unreadable(f"field {number} of {name}")
        key, kind = schema[number]
        if value in (b"", 0) and (name, key) not in POINTERS and kind in ("string", "bytes", "int", "bool"):
            continue  # zero: not set (an empty message is still there: `strategy: {}`, a null time)
        where = f"{name}.{key}"
        if isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(key, []).append(_scalar(kind[1], value, where))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = dict(protowire.fields(value))  # a map entry: key = 1, value = 2
            out.setdefault(key, {})[entry.get(1, b"").decode()] = _scalar(kind[1], entry.get(2, b""), where)
        else:
            out[key] = _scalar(kind, value, where)
    return out


def decode(body: bytes, group: str, version: str, kind: str) -> dict:
    """The object a protobuf body holds, as JSON would have carried it."""
    if not body.startswith(b"k8s\x00"):
        raise Unreadable("a protobuf body starts with the k8s magic")
    if (group, version, kind) not in READABLE:
        raise Unreadable(f"{kind} bodies")
    try:
        envelope = dict(protowire.fields(body[4:]))
        type_meta = dict(protowire.fields(envelope.get(1, b"")))
        api_version, sent_kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
        if sent_kind and sent_kind != kind:
            raise Unreadable(f"a {sent_kind} sent where a {kind} belongs")
        return {"apiVersion": api_version or (f"{group}/{version}" if group else version), "kind": kind,
                **message(kind, envelope.get(2, b""))}
    except (protowire.ProtoError, UnicodeDecodeError, TypeError) as exc:
        raise Unreadable(f"the {kind}: {exc}") from None
