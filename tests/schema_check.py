"""Objects read as a real API server reads them under `fieldValidation=Strict` (kubectl's default for
apply since 1.27, KEP 2885): a field its schema does not declare is an error, as is a duplicate field or a
value of the wrong type. Shared by the tests that check what the lab applies (test_manifests_validate.py,
test_plan_manifests.py).

Built-in kinds are read with kubernetes-validate's strict schemas. It ships schemas for Kubernetes
1.25 to 1.37 only (see `schema_version`): a profile pinned below 1.25 (seed-2.8 runs v1.18.2) is read at
1.25.0, the nearest covered release, which can miss a field that 1.25 knows and 1.18 did not.

Custom resources are read against the CRD schema upstream ships at the pinned tag, with what a structural
schema leaves out made strict: an object with declared `properties` and neither `additionalProperties` nor
`x-kubernetes-preserve-unknown-fields` takes no other field (the API server prunes such a field, or refuses
it under Strict). CEL rules (`x-kubernetes-validations`) are not run. The upstream files are in
../shared/reference/ (read only; its README names each folder's tag); LAB_REFERENCE may name more folders
(os.pathsep separated) holding further upstream files in the same layout. A test needing a file that none of
them holds skips, as the other reference tests do where ../shared is not beside the checkout.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from lab.model import gateways, profiles

SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def reference_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("LAB_REFERENCE", "").split(os.pathsep) if p]
    return [d for d in (SHARED_REFERENCE, *extra) if d.is_dir()]


def reference(relative: str) -> Path | None:
    """An upstream file by its path under a reference folder (`metallb-v0.16.1/...`), or None."""
    return next((d / relative for d in reference_dirs() if (d / relative).is_file()), None)


# -- which schemas ---------------------------------------------------------------------------------------
def _minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def covered_versions() -> list[str]:
    return sorted(kubernetes_validate.utils.all_versions(), key=_minor)


def schema_version(kubernetes_version: str) -> str:
    """The kubernetes-validate schema set for a pinned release: the newest at or below it, else (a release
    older than any it ships) the oldest it has. "v1.37.0" -> "1.37.0"; "v1.18.2" -> "1.25.0"."""
    shipped = covered_versions()
    fitting = [v for v in shipped if _minor(v) <= _minor(kubernetes_version)]
    return fitting[-1] if fitting else shipped[0]


@functools.lru_cache(maxsize=None)
def crd_schema(relative: str, kind: str, version: str) -> dict | None:
    """The openAPIV3Schema a CRD file declares for kind at version ({} where the CRD declares none, as
    apiextensions.k8s.io/v1beta1 CRDs may), or None where the file is absent or does not serve it."""
    path = reference(relative)
    if path is None:
        return None
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition" or doc["spec"]["names"]["kind"] != kind:
            continue
        for served in doc["spec"].get("versions") or [{"name": doc["spec"].get("version")}]:
            if served["name"] == version:
                found = strict((served.get("schema") or doc["spec"].get("validation") or {}).get("openAPIV3Schema", {}))
                if "properties" in found:  # every kind has these, declared in its schema or not
                    for implicit in ("apiVersion", "kind", "metadata"):
                        found["properties"].setdefault(implicit, {})
                return found
    return None


def strict(schema: dict) -> dict:
    """A structural schema as Strict field validation reads it: no undeclared field where it declares fields."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


# -- reading one object ------------------------------------------------------------------------------------
@dataclass
class Problem:
    path: tuple  # the field: keys and list indexes from the object's root
    message: str

    @property
    def field(self) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path).lstrip(".") or "(object)"


def problems_of(error: jsonschema.ValidationError) -> list[Problem]:
    """One schema error as the fields it is about: an undeclared field by its own path, as the API server's
    `strict decoding error: unknown field "spec.x"` names it."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, dict):
        declared = error.schema.get("properties", {})
        return [Problem(path + (key,), f'unknown field "{key}"') for key in error.instance if key not in declared]
    return [Problem(path, error.message)]


def builtin(obj: dict, kubernetes_version: str) -> list[Problem]:
    try:
        kubernetes_validate.validate(obj, schema_version(kubernetes_version), strict=True)
    except kubernetes_validate.ValidationError as e:
        return problems_of(e)
    except kubernetes_validate.SchemaNotFoundError as e:
        return [Problem(("apiVersion",), e.message)]
    return []


def custom(obj: dict, schema: dict, kubernetes_version: str) -> list[Problem]:
    """A custom resource against its CRD's schema, its metadata as the ObjectMeta every kind shares."""
    problems = [p for e in jsonschema.Draft7Validator(schema).iter_errors(obj) for p in problems_of(e)]
    # ObjectMeta is the same struct for every kind: read it in a ConfigMap's place.
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
    problems += [p for p in builtin(carrier, kubernetes_version) if p.path[:1] == ("metadata",)]
    return problems


# -- where a field is in the text -----------------------------------------------------------------------
def duplicate_keys(node: yaml.Node, path: tuple = ()) -> list[Problem]:
    """Keys given twice in one mapping: PyYAML keeps the last silently; strict decoding refuses them."""
    found = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if key.value in seen:
                found.append(Problem(path + (key.value,), f'duplicate field "{key.value}"'))
            seen.add(key.value)
            found += duplicate_keys(value, path + (key.value,))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += duplicate_keys(item, path + (i,))
    return found


def line_of(node: yaml.Node, path: tuple) -> int:
    """The 0-based line, within the document's text, of the field at path (its key's line; the last of
    duplicate keys, whose value is the one kept), or of the deepest field along path that exists."""
    line = node.start_mark.line
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if k.value == part]
            if not pairs:
                break
            key, node = pairs[-1]
            line = key.start_mark.line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line


# -- what each object is read against, by the profile's pins -------------------------------------------------------------------
def is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def ambassador_folder(profile: profiles.Profile) -> str:
    return f"emissary-v{gateways.for_profile(profile, 'ambassador').version}"


def crd_file(profile: profiles.Profile, api_version: str, kind: str) -> str | None:
    """The upstream file (under a reference folder) with the CRD of kind at the profile's pinned tag."""
    group = api_version.partition("/")[0]
    if group == "metallb.io":
        return f"metallb-{profile.metallb}/metallb.io_{kind.lower()}s.yaml"
    if group == "getambassador.io":
        emissary = ambassador_folder(profile)
        return f"{emissary}/ambassador-crds.yaml" if emissary == "emissary-v1.5.5" else f"{emissary}/emissary-crds.yaml.in"
    if group == "multicluster.linkerd.io":
        return f"linkerd-{profile.linkerd}/install_default.golden"
    return None


def ambassador_1_view(obj: dict) -> dict:
    """A getambassador.io/v2 resource as Ambassador 1.5.5 validates it: its spec's fields beside its name,
    namespace, generation and labels (emissary v1.5.5 python/ambassador/config/resourceprocessor.py
    NormalizedResource.from_data), read with python/schemas/v2/<Kind>.schema where there is one, and taken
    as it is where there is none, as for Host ("no schema for Host so calling it good",
    python/ambassador/config/config.py)."""
    meta = obj.get("metadata", {})
    return {**obj.get("spec", {}), "apiVersion": obj.get("apiVersion"), "name": meta.get("name"),
            "namespace": meta.get("namespace", "default"), "kind": obj.get("kind"), "generation": 1,
            "metadata_labels": meta.get("labels") or {}}


def ambassador_1_path(path: tuple) -> tuple:
    """A field of ambassador_1_view where it is in the object itself."""
    if path[:1] in (("name",), ("namespace",), ("metadata_labels",)):
        return ("metadata", *path)
    return path if path[:1] in (("apiVersion",), ("kind",), ("generation",)) else ("spec", *path)


class MissingReference(Exception):
    """The upstream file a custom resource is read against is in no reference folder."""


def read(profile: profiles.Profile, obj: dict) -> list[Problem]:
    """What the profile's API server (and, for Ambassador 1.x, Ambassador) refuses in obj."""
    version, api_version, kind = profile.kubernetes_version, obj.get("apiVersion", ""), obj.get("kind", "")
    if is_builtin(api_version):
        return builtin(obj, version)
    relative = crd_file(profile, api_version, kind)
    if relative is None:
        return [Problem(("apiVersion",), f"no CRD known for {api_version} {kind}")]
    if reference(relative) is None:
        raise MissingReference(relative)
    schema = crd_schema(relative, kind, api_version.rpartition("/")[2])
    if schema is None:
        return [Problem(("kind",), f"{relative} serves no {kind} at {api_version}")]
    found = custom(obj, schema, version)
    own = f"{ambassador_folder(profile)}/{kind}.schema"
    if api_version == "getambassador.io/v2" and reference(own):
        ambassador = jsonschema.Draft4Validator(json.loads(reference(own).read_text()))
        found += [Problem(ambassador_1_path(p.path), f"Ambassador 1.5.5: {p.message}")
                  for e in ambassador.iter_errors(ambassador_1_view(obj)) for p in problems_of(e)]
    return found


# -- a config a Go program decodes strictly (yaml.UnmarshalStrict) ---------------------------------------------
GO_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
# a field: its name, its type (none where a struct is embedded) and its tags
GO_FIELD = re.compile(r"^\s*(\w+)(?:[ \t]+([^\s`]+))?[ \t]*(?:`([^`]*)`)?[ \t]*(?://.*)?$", re.M)
GO_NAMED = re.compile(r"^type (\w+) (string|bool|u?int\d*)$", re.M)
GO_BASIC = {"string": "string", "bool": "boolean"}


def go_schema(source: str, type_name: str) -> dict:
    """The JSON schema of a Go struct as a strict YAML decoder reads it (gopkg.in/yaml.v2 UnmarshalStrict,
    yaml.v3 with KnownFields): each field under its `yaml:"..."` key or, untagged, its name in lower case;
    an embedded `yaml:",inline"` struct's fields beside them; any other key an error; types by Go kind."""
    structs = {m.group(1): m.group(2) for m in GO_STRUCT.finditer(source)}
    named = dict(GO_NAMED.findall(source))

    def fields(struct: str) -> dict:
        found = {}
        for name, go_type, tags in GO_FIELD.findall(structs[struct]):
            tag = re.search(r'yaml:"([^"]*)"', tags)
            key = tag.group(1).split(",")[0] if tag else ""
            if not go_type:  # embedded: inline
                found.update(fields(name))
            elif key != "-":
                found[key or name.lower()] = schema(go_type)
        return found

    def schema(go_type: str) -> dict:
        go_type = named.get(go_type.lstrip("*"), go_type.lstrip("*"))
        if go_type.startswith("[]"):
            return {"type": "array", "items": schema(go_type[2:])}
        if go_type.startswith("map["):
            return {"type": "object"}
        if go_type in structs:
            return {"type": "object", "properties": fields(go_type), "additionalProperties": False}
        if go_type in GO_BASIC:
            return {"type": GO_BASIC[go_type]}
        return {"type": "integer"} if re.fullmatch(r"u?int\d*", go_type) else {}

    return schema(type_name)
