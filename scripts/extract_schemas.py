#!/usr/bin/env python3
"""Extract, once, the structure of every custom resource and config file the kind plans apply, from upstream's
sources at the pinned tags, into fixtures/schemas/ (tests/schema_check.py reads them; CI has no upstream files).

    scripts/extract_schemas.py [<mirrors>] [<out>]     # defaults: /work/.mirror, fixtures/schemas

<mirrors> holds the bare clones the `fetch` tool makes (<owner>+<repo>/repo); each source is read with
`git --git-dir=... show <ref>:<path>` at the ref in SOURCES. Written per kind, under <out>/<tool>-<version>/:
- crd/<group>_<version>_<Kind>.json: the openAPIV3Schema a CRD serves that version with, as the API server reads
  it ({} where the CRD declares none: apiextensions.k8s.io/v1beta1 without `validation`);
- ambassador/<Kind>.json: the JSON schema Ambassador 1.x validates that kind with (python/schemas/v2), its
  local `$ref`s inlined;
- go/<Type>.json: a Go struct a config file is decoded into, as the decoder maps keys to fields: each field under
  its `yaml:"..."` key (untagged: its name in lower case), a `,inline` struct's fields beside them, unexported
  and `yaml:"-"` fields left out, no other key (the decoders here are strict); types by Go kind (integers with
  their range);
- served.json: every apiVersion and kind each CRD file read serves, and the kinds Ambassador has a schema for.
Only facts are kept: property names, types, required, enums, formats, patterns, bounds, nesting,
additionalProperties and x-kubernetes-preserve-unknown-fields / -int-or-string; descriptions, defaults and
the rest are dropped (a key this script does not know stops it, so nothing is dropped unseen). CEL rules
(x-kubernetes-validations) are dropped: the tests do not run them. Each file names where it was read
("read_from": repository, tag and commit) and "extracted_by".
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXTRACTED_BY = "scripts/extract_schemas.py"
# JSON schema keywords kept (facts about structure and values) and dropped (prose, defaults, hints for other tools).
KEEP = {"type", "properties", "items", "required", "enum", "additionalProperties", "format", "pattern", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "minLength", "maxLength",
        "minProperties", "maxProperties", "uniqueItems", "anyOf", "oneOf", "allOf", "not", "nullable",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource"}
DROP = {"description", "default", "example", "title", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type", "x-kubernetes-validations", "$schema", "id", "definitions"}
SUBSCHEMA = {"items", "not", "additionalProperties"}  # keywords whose value is a schema (or, for some, a bool)
SUBSCHEMAS = {"anyOf", "oneOf", "allOf"}  # a list of schemas


def structural(schema, definitions: dict | None = None):
    """schema with only the KEEP keywords, `$ref: #/definitions/x` replaced by x."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = re.fullmatch(r"#/definitions/(\w+)", schema["$ref"]).group(1)
        return structural(definitions[name], definitions)
    unknown = set(schema) - KEEP - DROP
    if unknown:
        raise SystemExit(f"unknown schema keywords {sorted(unknown)}: add them to KEEP or DROP")
    out = {}
    for key in sorted(set(schema) & KEEP):
        value = schema[key]
        if key == "properties":
            value = {name: structural(sub, definitions) for name, sub in value.items()}
        elif key in SUBSCHEMA:
            value = [structural(s, definitions) for s in value] if isinstance(value, list) else structural(value, definitions)
        elif key in SUBSCHEMAS:
            value = [structural(s, definitions) for s in value]
        out[key] = value
    return out


def crd_schemas(text: str) -> dict[tuple[str, str], dict]:
    """Every (apiVersion, kind) the CRDs in a YAML stream serve, with its structural schema."""
    found = {}
    for doc in yaml.safe_load_all(text):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec.get("versions") or [{"name": spec["version"], "served": True}]:
            if not version.get("served", True):
                continue
            schema = ((version.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")) or {}
            found[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = structural(schema)
    return found


def ambassador_schema(text: str) -> dict:
    """An Ambassador 1.x python/schemas/v2/<Kind>.schema (JSON schema draft 4), its definitions inlined."""
    schema = json.loads(text)
    return structural(schema, schema.get("definitions", {}))


# -- Go structs --------------------------------------------------------------------------------------------------
GO_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
# a field: its name, its type (none where a struct is embedded) and its tags
GO_FIELD = re.compile(r"^[ \t]*(\w+)(?:[ \t]+([^\s`]+))?[ \t]*(?:`([^`]*)`)?[ \t]*$", re.M)
GO_NAMED = re.compile(r"^type (\w+) (\w+)$", re.M)
GO_INTS = {f"{sign}int{bits}": bits for sign in ("", "u") for bits in ("8", "16", "32", "64")} | {"int": "64", "uint": "64"}


def go_schema(source: str, type_name: str) -> dict:
    """The schema of a Go struct as gopkg.in/yaml.v2 and v3 map a YAML mapping onto it (yaml.go getStructInfo)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"//[^\n]*", "", source)
    structs = {m.group(1): m.group(2) for m in GO_STRUCT.finditer(source)}
    named = dict(GO_NAMED.findall(source))

    def fields(struct: str) -> dict:
        found = {}
        for name, go_type, tags in GO_FIELD.findall(structs[struct]):
            tag = re.search(r'yaml:"([^"]*)"', tags)
            key, *flags = (tag.group(1) if tag else "").split(",")
            if key == "-" or (go_type and not name[0].isupper()):
                continue  # yaml skips unexported fields and `yaml:"-"`
            if "inline" in flags:
                found.update(schema(go_type or name)["properties"])
            else:  # an embedded struct without `,inline` is a field named after its type
                found[key or name.lower()] = schema(go_type or name)
        return found

    def schema(go_type: str) -> dict:
        go_type = go_type.lstrip("*")
        if go_type.startswith("[]"):
            return {"type": "array", "items": schema(go_type[2:])}
        if go_type.startswith("map[string]"):
            return {"type": "object", "additionalProperties": schema(go_type[len("map[string]"):])}
        if go_type in structs:
            return {"type": "object", "properties": fields(go_type), "additionalProperties": False}
        if go_type in named:
            return schema(named[go_type])
        if go_type in ("string", "bool"):
            return {"type": {"string": "string", "bool": "boolean"}[go_type]}
        if go_type in GO_INTS:
            bits = int(GO_INTS[go_type])
            low, high = (0, 2 ** bits - 1) if go_type.startswith("u") else (-2 ** (bits - 1), 2 ** (bits - 1) - 1)
            return {"type": "integer", "minimum": low, "maximum": high}
        raise SystemExit(f"Go type {go_type} is not read by {EXTRACTED_BY}: teach it")

    return schema(type_name)


# -- what is read, where -----------------------------------------------------------------------------------------
@dataclass
class Source:
    path: str  # in the repository
    form: str  # "crd", "ambassador" or "go"
    kinds: list[tuple[str, str]] = field(default_factory=list)  # (apiVersion, kind) to write; go: (apiVersion, Type)
    decoder: str = ""  # go: the decoder and how it is called, for the record


@dataclass
class Release:
    folder: str  # <tool>-<version>, as schema_check looks it up by the profile's pins
    repo: str  # owner/name on GitHub
    ref: str  # tag, or the commit where the version is not tagged in the snapshot
    sources: list[Source]
    note: str = ""


AMBASSADOR_1 = [("getambassador.io/v2", k) for k in ("Host", "Mapping", "Module")]
EMISSARY_3 = [("getambassador.io/v3alpha1", k) for k in ("Host", "Listener", "Mapping", "Module")]
KIND_DECODER = ("pkg/internal/apis/config/encoding/load.go yamlUnmarshalStrict: yaml.v3 Decoder with "
                "KnownFields(true), after the apiVersion/kind switch (kind.x-k8s.io/v1alpha4 Cluster only)")
KIND_033 = ("v0.33.0 is not tagged in the stored snapshot of kubernetes-sigs/kind (newest tag there: v0.33.0-alpha);"
            " read at its newest commit, the one fixtures/cli-flags/kind-v0.33.0.json was read from")
RELEASES = [
    Release("emissary-v1.5.5", "emissary-ingress/emissary", "v1.5.5", [
        Source("docs/yaml/ambassador/ambassador-crds.yaml", "crd", AMBASSADOR_1),
        Source("python/schemas/v2/Mapping.schema", "ambassador", [("getambassador.io/v2", "Mapping")]),
        Source("python/schemas/v2/Module.schema", "ambassador", [("getambassador.io/v2", "Module")])]),
    Release("emissary-v3.10.0", "emissary-ingress/emissary", "v3.10.0", [
        Source("manifests/emissary/emissary-crds.yaml.in", "crd", EMISSARY_3)]),
    Release("metallb-v0.9.3", "metallb/metallb", "v0.9.3", [
        Source("internal/config/config.go", "go", [("", "configFile")],
               "internal/config/config.go Parse: gopkg.in/yaml.v2 UnmarshalStrict of the ConfigMap's `config`")]),
    Release("metallb-v0.16.1", "metallb/metallb", "v0.16.1", [
        Source("config/crd/bases/metallb.io_ipaddresspools.yaml", "crd", [("metallb.io/v1beta1", "IPAddressPool")]),
        Source("config/crd/bases/metallb.io_l2advertisements.yaml", "crd", [("metallb.io/v1beta1", "L2Advertisement")])]),
    Release("linkerd-edge-26.8.3", "linkerd/linkerd2", "edge-26.8.3", [
        Source("multicluster/cmd/testdata/install_default.golden", "crd", [("multicluster.linkerd.io/v1alpha3", "Link")]),
        # what `linkerd install --crds` renders: the policy kinds the multicluster gateway's policy objects use
        Source("cli/cmd/testdata/install_crds.golden", "crd", [
            ("policy.linkerd.io/v1beta3", "Server"), ("policy.linkerd.io/v1alpha1", "AuthorizationPolicy"),
            ("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication"),
            ("policy.linkerd.io/v1alpha1", "NetworkAuthentication")])]),
    Release("kind-v0.8.1", "kubernetes-sigs/kind", "v0.8.1", [
        Source("pkg/apis/config/v1alpha4/types.go", "go", [("kind.x-k8s.io/v1alpha4", "Cluster")], "yaml.v3 " + KIND_DECODER)]),
    Release("kind-v0.33.0", "kubernetes-sigs/kind", "fed268827e21ca48a74c38215c316dd343364ef5", [
        Source("pkg/apis/config/v1alpha4/types.go", "go", [("kind.x-k8s.io/v1alpha4", "Cluster")], "yaml.v3 " + KIND_DECODER)],
        KIND_033),
]


def fixture_name(form: str, api_version: str, kind: str) -> str:
    if form == "crd":
        return f"crd/{api_version.replace('/', '_')}_{kind}.json"
    return f"{form}/{kind}.json"


def extract(release: Release, show, where: str) -> dict[str, dict]:
    """The files of one release, by their path under its folder. show(path) is the file's text at the ref."""
    tool, _, version = release.folder.partition("-")
    files, served = {}, {}
    for source in release.sources:
        text = show(source.path)
        if source.form == "crd":
            schemas = crd_schemas(text)
            served[source.path] = sorted(f"{a} {k}" for a, k in schemas)
        for api_version, kind in source.kinds:
            head = {"tool": tool, "version": version, "read_from": where, "source": source.path,
                    "extracted_by": EXTRACTED_BY}
            if release.note:
                head["note"] = release.note
            if source.form == "crd":
                body = {"read_by": "kubernetes", "apiVersion": api_version, "kind": kind, "schema": schemas[(api_version, kind)]}
            elif source.form == "ambassador":
                body = {"read_by": "ambassador", "apiVersion": api_version, "kind": kind, "schema": ambassador_schema(text)}
            else:
                body = {"read_by": source.decoder, "apiVersion": api_version or None, "kind": kind,
                        "schema": go_schema(text, kind)}
            files[fixture_name(source.form, api_version, kind)] = head | body
    if served:
        index = {"tool": tool, "version": version, "read_from": where, "extracted_by": EXTRACTED_BY, "served": served}
        ambassador = [s.path.rpartition("/")[2].removesuffix(".schema") for s in release.sources if s.form == "ambassador"]
        if ambassador:  # every kind Ambassador has a schema for at the tag, so that one not extracted is noticed
            index["ambassador_schemas"] = sorted(ambassador_kinds(show))
        files["served.json"] = index
    return files


def ambassador_kinds(show) -> list[str]:
    return [name.removesuffix(".schema") for name in show("python/schemas/v2/").splitlines()
            if name.endswith(".schema")]


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True, text=True).stdout


def main(mirrors: str = "/work/.mirror", out: str = "fixtures/schemas") -> None:
    for release in RELEASES:
        git_dir = Path(mirrors) / release.repo.replace("/", "+") / "repo"
        commit = git(git_dir, "rev-parse", f"{release.ref}^{{commit}}").strip()
        tagged = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "-q", "--verify",
                                 f"refs/tags/{release.ref}"], capture_output=True).returncode == 0
        where = (f"github.com/{release.repo} at tag {release.ref} ({commit})" if tagged
                 else f"github.com/{release.repo} at {commit} ({commit[:8]})")
        for relative, content in extract(release, lambda p: git(git_dir, "show", f"{commit}:{p}"), where).items():
            path = Path(out) / release.folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=1, sort_keys=False) + "\n")
            print(path, file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
