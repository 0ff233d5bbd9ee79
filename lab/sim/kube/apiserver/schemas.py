"""Objects read against their kind's schema, as the API server decodes and validates a write.

Built-in kinds are checked against the OpenAPI schemas the `kubernetes-validate` package ships (the newest
it has at or below the cluster's Kubernetes version; its "strict" variant, which marks where a field is
unknown). A real API server decodes built-in kinds into Go structs first, so what the struct refuses is a
decode error, 400 BadRequest `<Kind> in version "v1" cannot be handled as a <Kind>: ...`: a value of the
wrong JSON type, a timestamp that is not RFC 3339 (metav1.Time), a malformed quantity. What decodes but
breaks the schema's `required` is a validation error (422 `Invalid`, one cause per field).

Custom resources are checked against their CRD's `openAPIV3Schema` (apiextensions-apiserver's structural
schema validation): every breach, wrong types included, is a 422 cause, in its message format
(`spec.x in body must be of type integer: "str"`). CEL rules (`x-kubernetes-validations`) are not run.

Unknown fields, both kinds (KEP 2885): dropped with a `Warning` header by default (`fieldValidation=Warn`),
dropped silently with `Ignore`, refused with 400 `strict decoding error: unknown field "spec.x"` under
`Strict`, which kubectl sends for create, apply, replace, edit and patch since 1.27.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass, field
from importlib import resources as package_files
from pathlib import Path
from typing import Any

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
# resource.ParseQuantity's grammar (k8s.io/apimachinery/pkg/api/resource/quantity.go)
QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(([eE][+-]?\d+)|[KMGTPE]i|[munkMGTPE])?")
ROOT_FIELDS = {"apiVersion", "kind", "metadata"}


@dataclass
class Findings:
    """What reading one object against its schema found."""

    unknown: list[str] = field(default_factory=list)  # paths of fields the schema does not declare
    decode: list[str] = field(default_factory=list)  # what a Go struct refuses (400 for built-in kinds)
    causes: list[dict] = field(default_factory=list)  # 422 causes: {"reason", "message", "field"}

    def cause(self, reason: str, path: str, message: str) -> None:
        self.causes.append({"reason": reason, "message": message, "field": path})


def go_value(value: Any) -> str:
    """A value as the API server's field errors print it (Go's %#v for strings, %v otherwise)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# -- the built-in kinds' schemas ---------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _schema_root():
    """kubernetes-validate's schema folder, found without importing the package: its import brings jsonschema
    and more (~0.05 s), which the lab process never uses, and the first cluster's API would wait on it."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None:
        raise ModuleNotFoundError("kubernetes_validate")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    return package_files.files("kubernetes_validate") / "kubernetes-json-schema"  # a package not on disk (a zip)


def release(version: str) -> tuple[int, int]:
    """A Kubernetes version's (major, minor): "v1.37.2" -> (1, 37), "1.37.0-beta.0" -> (1, 37)."""
    major, minor, *_ = re.sub(r"^v", "", version).split("-")[0].split(".") + ["0"]
    return int(major), int(minor)


@functools.lru_cache(maxsize=None)
def schema_version(kubernetes_version: str) -> str | None:
    """The newest schema set kubernetes-validate ships at or below `kubernetes_version` ("v1.37.2" -> "1.37.0")."""
    try:
        shipped = [p.name[1:].removesuffix("-local") for p in _schema_root().iterdir() if p.name.endswith("-local")]
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    fitting = sorted((v for v in shipped if release(v) <= release(kubernetes_version)), key=release)
    return fitting[-1] if fitting else None


@functools.lru_cache(maxsize=None)
def _definitions(version: str) -> dict:
    with (_schema_root() / f"v{version}-local-strict" / "_definitions.json").open() as f:
        return json.load(f)["$defs"]


@functools.lru_cache(maxsize=None)
def builtin_schema(version: str, group: str, api_version: str, kind: str) -> dict | None:
    """The top-level schema of a built-in kind (file `<kind>-<group's first label>-<version>.json`)."""
    prefix = f"{group.split('.')[0]}-" if group else ""
    path = _schema_root() / f"v{version}-local-strict" / f"{kind.lower()}-{prefix}{api_version}.json"
    try:
        with path.open() as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def object_meta(version: str) -> dict:
    return _definitions(version)["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]


# -- walking an object against a schema -----------------------------------------------------------------
def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


GO_NAMES = {"string": "string", "integer": "number", "number": "number", "boolean": "bool", "array": "array",
            "object": "object"}


class BuiltIn:
    """Reads an object against a kubernetes-validate schema ("type" lists with "null", "$ref" into the
    shared definitions, `additionalProperties: false` where a Go struct ends, "oneOf" for int-or-string)."""

    def __init__(self, version: str, findings: Findings):
        self.defs, self.found = _definitions(version), findings

    def resolve(self, schema: dict) -> tuple[dict, str]:
        ref = schema.get("$ref")
        if not ref:
            return schema, ""
        name = ref.rsplit("/", 1)[-1]
        return self.defs[name], name

    def walk(self, schema: dict, value: Any, path: str, go_path: str, struct: str) -> None:
        schema, ref = self.resolve(schema)
        struct = ref.rsplit(".", 1)[-1] if ref else struct
        if value is None:
            return  # null is the field left out
        types = self._types(schema)
        have = _json_type(value)
        if types and have not in types and not (have == "integer" and "number" in types):
            go_type = schema.get("format") or {"integer": "int64", "boolean": "bool", "number": "float64",
                                               "object": "map[string]string" if "additionalProperties" in schema
                                               else struct}.get(sorted(types)[0], sorted(types)[0])
            where = f"Go struct field {struct}.{go_path}" if go_path else "Go value"
            self.found.decode.append(f"json: cannot unmarshal {GO_NAMES.get(have, have)} into {where} of type {go_type}")
            return
        if ref == "io.k8s.apimachinery.pkg.api.resource.Quantity" and isinstance(value, str) \
                and not QUANTITY.fullmatch(value):
            self.found.decode.append("quantities must match the regular expression "
                                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
            return
        if schema.get("format") == "date-time" and isinstance(value, str) and not RFC3339.fullmatch(value):
            # metav1.Time's UnmarshalJSON: time.Parse(time.RFC3339, ...) and its error
            self.found.decode.append(f'parsing time {json.dumps(value)} as "2006-01-02T15:04:05Z07:00": '
                                     f'cannot parse {json.dumps(value)} as "2006"')
            return
        if isinstance(value, dict):
            self._object(schema, value, path, go_path, struct)
        elif isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.walk(schema["items"], item, f"{path}[{i}]", go_path, struct)

    def _types(self, schema: dict) -> set[str]:
        if "oneOf" in schema:
            return {t for option in schema["oneOf"] for t in self._types(self.resolve(option)[0])}
        declared = schema.get("type")
        return set(declared if isinstance(declared, list) else [declared] if declared else []) - {"null"}

    def _object(self, schema: dict, value: dict, path: str, go_path: str, struct: str) -> None:
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties", True)
        for name in schema.get("required", []):
            if value.get(name) is None and not (name == "metadata" and not path):
                self.found.cause("FieldValueRequired", _join(path, name), "Required value")
        for key, item in value.items():
            sub, go_sub = _join(path, key), f"{go_path}.{key}" if go_path else key
            if key in props:
                self.walk(props[key], item, sub, go_sub, struct)
            elif isinstance(extra, dict):
                self.walk(extra, item, sub, go_path, struct)
            elif extra is False:
                self.found.unknown.append(sub)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Structural:
    """Reads a custom resource against its CRD's structural schema (apiextensions-apiserver's validation and
    pruning): everything it refuses is a 422 cause; fields outside `properties` are unknown unless
    `x-kubernetes-preserve-unknown-fields` or `additionalProperties` keeps them."""

    def __init__(self, findings: Findings):
        self.found = findings

    def walk(self, schema: dict, value: Any, path: str) -> None:
        if value is None:
            if not schema.get("nullable") and schema.get("type"):
                self._invalid(path, value, f"{path} in body must be of type {schema['type']}: \"null\"", "FieldValueTypeInvalid")
            return
        kind, have = schema.get("type"), _json_type(value)
        if schema.get("x-kubernetes-int-or-string"):
            kind = "integer" if have == "integer" else "string"
        if kind and have != kind and not (kind == "number" and have == "integer"):
            self._invalid(path, value, f"{path} in body must be of type {kind}: {json.dumps(have)}", "FieldValueTypeInvalid")
            return
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(go_value(v) for v in schema["enum"])
            self.found.cause("FieldValueNotSupported", path,
                             f"Unsupported value: {go_value(value)}: supported values: {supported}")
        self._bounds(schema, value, path)
        if isinstance(value, dict):
            self._object(schema, value, path)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                self.walk(schema["items"], item, f"{path}[{i}]")

    def _invalid(self, path: str, value: Any, message: str, reason: str = "FieldValueInvalid") -> None:
        self.found.cause(reason, path, f"Invalid value: {go_value(value)}: {message}")

    def _bounds(self, schema: dict, value: Any, path: str) -> None:
        """kube-openapi's validators, with their messages (`... in body should be ...`)."""
        checks = []
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "maximum" in schema and value > schema["maximum"]:
                checks.append(f"should be less than or equal to {schema['maximum']}")
            if "minimum" in schema and value < schema["minimum"]:
                checks.append(f"should be greater than or equal to {schema['minimum']}")
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                checks.append(f"should be at most {schema['maxLength']} chars long")
            if "minLength" in schema and len(value) < schema["minLength"]:
                checks.append(f"should be at least {schema['minLength']} chars long")
            if "pattern" in schema and not re.search(schema["pattern"], value):
                checks.append(f"should match '{schema['pattern']}'")
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                self.found.cause("FieldValueTooMany", path, f"Too many: {len(value)}: must have at most "
                                                           f"{schema['maxItems']} items")
            if "minItems" in schema and len(value) < schema["minItems"]:
                checks.append(f"should have at least {schema['minItems']} items")
        for check in checks:
            self._invalid(path, value, f"{path} in body {check}")

    def _object(self, schema: dict, value: dict, path: str) -> None:
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        embedded = schema.get("x-kubernetes-embedded-resource") or not path
        for name in schema.get("required", []):
            if name not in value:
                self.found.cause("FieldValueRequired", _join(path, name), "Required value")
        for key, item in value.items():
            sub = _join(path, key)
            if key in props:
                self.walk(props[key], item, sub)
            elif isinstance(extra, dict):
                self.walk(extra, item, sub)
            elif not keep and not (embedded and key in ROOT_FIELDS):
                self.found.unknown.append(sub)


def check_builtin(version: str, group: str, api_version: str, kind: str, obj: dict) -> Findings | None:
    """The findings of a built-in kind, or None when kubernetes-validate has no schema for it."""
    schema = builtin_schema(version, group, api_version, kind)
    if schema is None:
        return None
    found = Findings()
    BuiltIn(version, found).walk(schema, obj, "", "", kind)
    return found


def check_custom(version: str | None, schema: dict | None, obj: dict) -> Findings:
    """A custom resource against its version's openAPIV3Schema (None: anything goes), its metadata against
    ObjectMeta as for every kind."""
    found = Findings()
    if schema:
        Structural(found).walk({**schema, "x-kubernetes-embedded-resource": True}, obj, "")
    if version and isinstance(obj.get("metadata"), dict):
        meta = Findings()
        BuiltIn(version, meta).walk(object_meta(version), obj["metadata"], "metadata", "metadata", "ObjectMeta")
        found.unknown += meta.unknown
        found.causes += [{"reason": "FieldValueTypeInvalid", "field": "metadata", "message": m} for m in meta.decode]
        found.causes += meta.causes
    return found


def prune(obj: dict, paths: list[str]) -> None:
    """Drop the unknown fields at `paths` (as decoding into a struct, or pruning a custom resource, does)."""
    for path in sorted(paths, key=len, reverse=True):
        parts = re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)
        node: Any = obj
        for name, index in parts[:-1]:
            node = node[int(index)] if index else node.get(name) if isinstance(node, dict) else None
            if node is None:
                break
        else:
            name, index = parts[-1]
            if isinstance(node, dict):
                node.pop(name, None)
