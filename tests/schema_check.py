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
it under Strict). CEL rules (`x-kubernetes-validations`) are not run. Config files a Go program decodes
strictly (MetalLB < 0.13's ConfigMap `config`, kind's Cluster config) are read against the Go structs they are
decoded into, as go-yaml decodes (`as_decoded`).

The schemas are facts extracted once from upstream's sources at the pinned tags by scripts/extract_schemas.py
into fixtures/schemas/<tool>-<version>/ (each file names its repository, tag and commit), so these checks run
on a clean clone, as in CI. A kind with no schema there is a failure, not a skip. Upstream files themselves
(../shared/reference/, read only, and folders LAB_REFERENCE names, os.pathsep separated, in the same layout)
are read only to compare a fixture with the file it was extracted from, and by tests that compare the lab's
objects with upstream's rendered output.
"""
from __future__ import annotations

import copy
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from lab.model import gateways, profiles

# kubernetes-validate (1.37.0, kubernetes_validate/utils.py) lists its schema folders and reads the kind's
# schema and the whole _definitions.json from disk on every validate(): most of the CPU of the tests that
# read hundreds of objects. The installed files do not change while the tests run: each is read once.
for _reader in ("schema_contents", "all_versions"):
    setattr(kubernetes_validate.utils, _reader, functools.lru_cache(maxsize=None)(getattr(kubernetes_validate.utils, _reader)))

SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"


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


class MissingSchema(Exception):
    """No schema under fixtures/schemas/ for a kind the lab applies: extract it (scripts/extract_schemas.py)."""


@functools.lru_cache(maxsize=None)
def fixture(relative: str) -> dict:
    """One file of fixtures/schemas/ (`emissary-v3.10.0/crd/getambassador.io_v3alpha1_Mapping.json`)."""
    path = SCHEMAS / relative
    if not path.is_file():
        raise MissingSchema(f"{path.relative_to(SCHEMAS.parents[1])} does not exist: add the kind to "
                            "scripts/extract_schemas.py RELEASES and run it")
    return json.loads(path.read_text())


def crd_fixture(folder: str, api_version: str, kind: str) -> str:
    return f"{folder}/crd/{api_version.replace('/', '_')}_{kind}.json"


def serves(folder: str, api_version: str, kind: str) -> bool:
    """Whether the CRD files read for folder serve kind at api_version (fixtures/schemas/<folder>/served.json)."""
    return any(f"{api_version} {kind}" in kinds for kinds in fixture(f"{folder}/served.json")["served"].values())


def crd_schema(folder: str, api_version: str, kind: str) -> dict:
    """The openAPIV3Schema the CRD serves kind at api_version with, made strict ({} where the CRD declares none,
    as apiextensions.k8s.io/v1beta1 CRDs may)."""
    found = strict(fixture(crd_fixture(folder, api_version, kind))["schema"])
    if "properties" in found:  # every kind has these, declared in its schema or not
        for implicit in ("apiVersion", "kind", "metadata"):
            found["properties"].setdefault(implicit, {})
    return found

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


def schema_folder(profile: profiles.Profile, api_version: str) -> str | None:
    """The fixtures/schemas/ folder with the CRDs of api_version's group at the profile's pinned release."""
    group = api_version.partition("/")[0]
    if group == "metallb.io":
        return f"metallb-{profile.metallb}"
    if group == "getambassador.io":
        return ambassador_folder(profile)
    if group in ("multicluster.linkerd.io", "policy.linkerd.io"):
        return f"linkerd-{profile.linkerd}"
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


def schemas_of(profile: profiles.Profile, api_version: str, kind: str) -> dict[str, dict]:
    """The schemas upstream reads a custom resource with, by who reads it: "kubernetes" (its CRD's) and, for
    Ambassador 1.x's getambassador.io/v2, "ambassador" (where it has one for the kind). Raises MissingSchema
    where a schema upstream has is not under fixtures/schemas/."""
    folder = schema_folder(profile, api_version)
    found = {"kubernetes": crd_schema(folder, api_version, kind)}
    if api_version == "getambassador.io/v2" and kind in fixture(f"{folder}/served.json").get("ambassador_schemas", []):
        found["ambassador"] = fixture(f"{folder}/ambassador/{kind}.json")["schema"]
    return found


def read(profile: profiles.Profile, obj: dict) -> list[Problem]:
    """What the profile's API server (and, for Ambassador 1.x, Ambassador) refuses in obj."""
    version, api_version, kind = profile.kubernetes_version, obj.get("apiVersion", ""), obj.get("kind", "")
    if is_builtin(api_version):
        return builtin(obj, version)
    folder = schema_folder(profile, api_version)
    if folder is None:
        return [Problem(("apiVersion",), f"no CRD known for {api_version} {kind}")]
    try:
        if not serves(folder, api_version, kind):
            read_from = ", ".join(fixture(f"{folder}/served.json")["served"])
            return [Problem(("kind",), f"{folder} ({read_from}) serves no {kind} at {api_version}")]
        schemas = schemas_of(profile, api_version, kind)
    except MissingSchema as e:
        return [Problem(("kind",), str(e))]
    found = custom(obj, schemas["kubernetes"], version)
    if "ambassador" in schemas:
        ambassador = jsonschema.Draft4Validator(schemas["ambassador"])
        found += [Problem(ambassador_1_path(p.path), f"Ambassador 1.5.5: {p.message}")
                  for e in ambassador.iter_errors(ambassador_1_view(obj)) for p in problems_of(e)]
    return found


# -- a config a Go program decodes strictly ------------------------------------------------------------------
# A Go field's kind as go-yaml's decoder takes a YAML value into it (decode.go decoder.scalar, read in go-yaml/yaml
# at v2.2.2, the yaml.v2 of metallb v0.9.3's go.mod, and at a6ecf24, the yaml.v3 of kind v0.8.1's go.mod; v3.0.1's is
# the same; kind fed26882's go.yaml.in/yaml/v3 v3.0.4 was not read): a string field takes any scalar, as its text
# (`out.SetString(n.value)`, so `image: 1.18` is the string "1.18"); an integer field any number in its range (a
# float is truncated), never a string; a null leaves any field at its zero value, no error; a bool field takes a
# bool, and in yaml.v3 also the YAML 1.1 words y/yes/on/n/no/off in the case forms it lists.
YAML_11_BOOLS = ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"]


def as_decoded(schema: dict, yaml_v3: bool) -> dict:
    """A go/<Type>.json schema (Go kinds as JSON types) as that decoder reads YAML values into the struct."""
    node = {k: v for k, v in schema.items()}
    if "properties" in node:
        node["properties"] = {k: as_decoded(v, yaml_v3) for k, v in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = as_decoded(node[key], yaml_v3)
    kind = node.get("type")
    if kind == "string":
        node["type"] = ["string", "number", "boolean", "null"]
    elif kind == "integer":
        node["type"] = ["number", "null"]
    elif kind == "boolean" and yaml_v3:
        return {"anyOf": [{"type": ["boolean", "null"]}, {"enum": YAML_11_BOOLS}]}
    elif kind is not None:
        node["type"] = [kind, "null"]
    return node


def go_config(folder: str, type_name: str, value) -> list[Problem]:
    """A config file's parsed YAML against the Go struct upstream decodes it into (fixtures/schemas/<folder>/go/)."""
    found = fixture(f"{folder}/go/{type_name}.json")
    schema = as_decoded(found["schema"], yaml_v3="yaml.v3" in found["read_by"])
    return [p for e in jsonschema.Draft7Validator(schema).iter_errors(value) for p in problems_of(e)]
