#!/usr/bin/env python3
"""Writes lab/sim/kube/protoschema/k8s-api-v0.32.3.json, the table lab.sim.kube.protobodies decodes
kubectl's protobuf request bodies with (application/vnd.kubernetes.protobuf), from the upstream sources at
the tag kubectl 1.32 is built with:

  github.com/kubernetes/api           v0.32.3   <group>/v1/generated.proto + *.go (and autoscaling/v2)
  github.com/kubernetes/apimachinery  v0.32.3   pkg/apis/meta/v1, pkg/runtime, pkg/util/intstr,
                                                pkg/api/resource: generated.proto + *.go

Each generated.proto gives a message's fields: number, name (go-to-protobuf names them by their JSON
name), type, repeated or map. The Go structs beside it (the `protobuf:"..."` tag of each field) give what
the .proto cannot: whether the Go field is a pointer (set even at zero; a non-pointer zero value means
unset, as JSON's omitempty) and whether it is inlined in JSON (`json:",inline"`, e.g. Volume's
VolumeSource). A message with only `repeated items = 1` that Go declares as a named slice (meta/v1 Verbs,
authentication ExtraValue) is marked as a list: JSON carries it as the bare list.

Usage (after `git clone --bare` or the lab's `fetch` of both repositories):
  python scripts/gen_protoschema.py --api /work/.mirror/kubernetes+api/repo \\
      --apimachinery /work/.mirror/kubernetes+apimachinery/repo
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys

TAG = "v0.32.3"
OUT = pathlib.Path(__file__).resolve().parent.parent / "lab/sim/kube/protoschema" / f"k8s-api-{TAG}.json"
APIMACHINERY = ("pkg/apis/meta/v1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource")
SCALARS = {"string": "string", "bytes": "bytes", "int32": "int", "int64": "int", "bool": "bool",
           "double": "double", "float": "double"}
FIELD = re.compile(r"^\s*(optional|repeated)\s+(\S+)\s+(\w+)\s*=\s*(\d+)")
MAP = re.compile(r"^\s*map<\s*(\w+)\s*,\s*(\S+)\s*>\s+(\w+)\s*=\s*(\d+)")


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True).stdout


def read_proto(text: str) -> dict[str, dict[int, list]]:
    """{fully qualified message: {number: [name, type, flags]}}; flags "r" repeated, "m" map (type = value)."""
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    messages: dict[str, dict[int, list]] = {}
    current = None

    def resolve(kind: str) -> str:
        if kind in SCALARS:
            return SCALARS[kind]
        return kind.lstrip(".") if kind.startswith(".") else f"{package}.{kind}"

    for line in text.splitlines():
        if line.lstrip().startswith("//"):
            continue
        if start := re.match(r"^message (\w+) \{", line):
            current = messages.setdefault(f"{package}.{start.group(1)}", {})
        elif line.startswith("}"):
            current = None
        elif current is not None and (m := MAP.match(line)):
            if m.group(1) != "string":
                sys.exit(f"a map with {m.group(1)} keys in {package}: not handled")
            current[int(m.group(4))] = [m.group(3), resolve(m.group(2)), "m"]
        elif current is not None and (f := FIELD.match(line)):
            current[int(f.group(4))] = [f.group(3), resolve(f.group(2)), "r" if f.group(1) == "repeated" else ""]
    return messages


def read_go(texts: list[str]) -> tuple[dict[tuple[str, int], tuple[bool, bool]], set[str]]:
    """{(struct, protobuf number): (pointer, inline)} from the fields' tags, and the named slice types."""
    fields, slices, struct = {}, set(), None
    for text in texts:
        for line in text.splitlines():
            if start := re.match(r"^type (\w+) struct \{", line):
                struct = start.group(1)
            elif named := re.match(r"^type (\w+) \[\]\w+\s*$", line):
                slices.add(named.group(1))
            elif line.startswith("}"):
                struct = None
            elif struct and not line.lstrip().startswith("//") and (tag := re.search(r'protobuf:"([^"]*)"', line)):
                parts = tag.group(1).split(",")
                if len(parts) < 2 or not parts[1].isdigit():
                    continue
                decl = line.split("`")[0].split()
                json_name = re.search(r'json:"([^",]*)', line)
                fields[(struct, int(parts[1]))] = (decl[-1].startswith("*"),
                                                   json_name is not None and json_name.group(1) == "")
    return fields, slices


def package_sources(repo: str, folder: str) -> tuple[str, list[str]]:
    names = git(repo, "ls-tree", "--name-only", f"{TAG}:{folder}").split()
    go = [git(repo, "show", f"{TAG}:{folder}/{n}") for n in names
          if n.endswith(".go") and not n.endswith("_test.go") and not n.startswith("zz_generated")
          and n != "generated.pb.go"]
    return git(repo, "show", f"{TAG}:{folder}/generated.proto"), go


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="/work/.mirror/kubernetes+api/repo")
    parser.add_argument("--apimachinery", default="/work/.mirror/kubernetes+apimachinery/repo")
    args = parser.parse_args()
    tree = git(args.api, "ls-tree", "-r", "--name-only", TAG).split()
    api = sorted(p.rsplit("/", 1)[0] for p in tree if p.endswith("/generated.proto")
                 and (p.split("/")[-2] == "v1" or p == "autoscaling/v2/generated.proto"))
    sources = [(args.api, folder) for folder in api] + [(args.apimachinery, folder) for folder in APIMACHINERY]
    messages: dict[str, dict] = {}
    for repo, folder in sources:
        proto, go = package_sources(repo, folder)
        parsed = read_proto(proto)
        go_fields, slices = read_go(go)
        for name, table in parsed.items():
            short = name.rsplit(".", 1)[1]
            if short in slices and list(table) == [1] and table[1][0] == "items" and table[1][2] == "r":
                messages[name] = {"list": table[1][1]}
                continue
            out = {}
            for number, (field, kind, flags) in sorted(table.items()):
                pointer, inline = go_fields.get((short, number), (False, False))
                out[str(number)] = [field, kind, flags + ("p" if pointer else "") + ("i" if inline else "")]
            messages[name] = out
    OUT.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"  {json.dumps(name)}: {json.dumps(table, separators=(',', ':'))}" for name, table in sorted(messages.items())]
    header = {"tag": TAG, "repositories": ["github.com/kubernetes/api", "github.com/kubernetes/apimachinery"],
              "folders": [f for _, f in sources], "generator": "scripts/gen_protoschema.py"}
    OUT.write_text('{\n  "source": ' + json.dumps(header) + ',\n  "messages": {\n'
                   + ",\n".join("  " + line for line in lines) + "\n  }\n}\n")
    print(f"{OUT}: {len(messages)} messages from {len(sources)} packages")


if __name__ == "__main__":
    main()
