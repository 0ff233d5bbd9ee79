"""The schemas under fixtures/schemas/ (read by tests/schema_check.py) are facts extracted from upstream at the
pinned tags by scripts/extract_schemas.py: each says where it was read, holds structure only, and, wherever the
upstream file it came from is beside this checkout (../shared/reference/ or a LAB_REFERENCE folder, in the layout
of ../shared/reference/README.md: <tool>-<version>/<file name>), is exactly what the extractor makes of that file.
CI has neither the mirrors nor those files, so there the last test skips and the others stand for it."""
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

import schema_check

REPO = Path(__file__).resolve().parent.parent
FILES = sorted(schema_check.SCHEMAS.rglob("*.json"))
SPEC = importlib.util.spec_from_file_location("extract_schemas", REPO / "scripts" / "extract_schemas.py")
extractor = importlib.util.module_from_spec(SPEC)
sys.modules.setdefault(SPEC.name, extractor)  # dataclasses look their module up there
SPEC.loader.exec_module(extractor)

READ_FROM = re.compile(r"github\.com/[\w.-]+/[\w.-]+ at (tag (?P<tag>\S+) \([0-9a-f]{40}\)|[0-9a-f]{40} \([0-9a-f]{8}\))")


def fixtures() -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in FILES]


def test_every_schema_names_where_it_was_read():
    assert {p.relative_to(schema_check.SCHEMAS).parts[0] for p in FILES} == {r.folder for r in extractor.RELEASES}
    for path, found in fixtures():
        where = READ_FROM.fullmatch(found["read_from"])
        assert where and found["extracted_by"] == "scripts/extract_schemas.py", path
        assert path.relative_to(schema_check.SCHEMAS).parts[0] == f"{found['tool']}-{found['version']}", path
        # read at another ref than the version pinned: the file says so in words
        assert where.group("tag") == found["version"] or found.get("note"), path
        if path.name != "served.json":
            assert found["source"] and found["read_by"] and found["kind"] and "schema" in found, path


def test_schemas_hold_structure_only():
    """No descriptions or other upstream prose: only the keywords the extractor keeps, each property a schema."""
    def walk(node, where):
        if isinstance(node, dict):
            assert set(node) <= extractor.KEEP, (where, set(node) - extractor.KEEP)
            for key, value in node.items():
                if key == "properties":
                    for name, sub in value.items():
                        walk(sub, f"{where}.{name}")
                elif key in extractor.SUBSCHEMA | extractor.SUBSCHEMAS:
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for path, found in fixtures():
        if path.name != "served.json":
            walk(found["schema"], str(path.relative_to(REPO)))


def extracted_from(path: Path, found: dict, text: str) -> dict:
    if path.parent.name == "crd":
        return extractor.crd_schemas(text)[(found["apiVersion"], found["kind"])]
    if path.parent.name == "ambassador":
        return extractor.ambassador_schema(text)
    return extractor.go_schema(text, found["kind"])


def test_fixtures_are_what_the_extractor_makes_of_the_upstream_files():
    compared = []
    for path, found in fixtures():
        if path.name == "served.json":
            continue
        upstream = schema_check.reference(f"{path.relative_to(schema_check.SCHEMAS).parts[0]}/{found['source'].rpartition('/')[2]}")
        if upstream is None:
            continue
        assert extracted_from(path, found, upstream.read_text()) == found["schema"], \
            f"{path.relative_to(REPO)} differs from what scripts/extract_schemas.py makes of {upstream}"
        compared.append(path)
    if not compared:
        pytest.skip(f"no upstream file in {schema_check.SHARED_REFERENCE} (nor LAB_REFERENCE) to compare with")


GO = '''
type Outer struct {
	Meta `yaml:",inline"`
	Plain    string
	Tagged   *int32 `yaml:"tagged-name,omitempty" json:"x"`
	Skipped  string `yaml:"-"`
	hidden   string
	Items    []Inner `yaml:"items"`
	Labels   map[string]Flavour
	Inner    // embedded without inline: a field named after its type
}
// Meta has comments /* and block comments */ that name no field
type Meta struct {
	Kind string `yaml:"kind"`
}
type Inner struct {
	On bool `yaml:"on"` // a trailing comment
}
type Flavour string
'''


def test_the_extractor_maps_go_fields_as_go_yaml_does():
    schema = extractor.go_schema(GO, "Outer")
    inner = {"type": "object", "properties": {"on": {"type": "boolean"}}, "additionalProperties": False}
    assert schema == {"type": "object", "additionalProperties": False, "properties": {
        "kind": {"type": "string"},
        "plain": {"type": "string"},
        "tagged-name": {"type": "integer", "minimum": -2 ** 31, "maximum": 2 ** 31 - 1},
        "items": {"type": "array", "items": inner},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "inner": inner}}
    with pytest.raises(SystemExit, match="Go type net.IP"):
        extractor.go_schema("type A struct {\n\tAddr net.IP\n}\n", "A")


def test_the_extractor_keeps_structure_and_drops_prose():
    crd = '''
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  group: example.com
  names: {kind: Thing}
  versions:
  - name: v1
    served: true
    schema:
      openAPIV3Schema:
        description: prose
        type: object
        properties:
          spec:
            type: object
            required: [size]
            x-kubernetes-validations: [{rule: "self.size > 0"}]
            properties:
              size: {type: integer, default: 1, description: more prose, minimum: 0}
  - name: v0
    served: false
'''
    assert extractor.crd_schemas(crd) == {("example.com/v1", "Thing"): {"type": "object", "properties": {"spec": {
        "type": "object", "required": ["size"], "properties": {"size": {"type": "integer", "minimum": 0}}}}}}
    with pytest.raises(SystemExit, match="unknown schema keywords"):
        extractor.structural({"type": "object", "x-new-keyword": 1})
