#!/usr/bin/env python3
"""Extract, once, the flags each subcommand the kind plans use accepts, from the tools' sources at the pinned tags.

    scripts/extract_cli_flags.py <tool> <git-dir> <ref> [<version>] > fixtures/cli-flags/<tool>-<version>.json

<git-dir> is a clone (or the `fetch` mirror) of the tool's repository; <ref> the tag, or the commit where
the pinned version is not tagged there (then <version> names it and the commit is recorded). Each subcommand is read from the Go
functions that build it (its cobra constructor and the flag sets it adds, listed in SOURCES with the file
each is in); every flag those functions declare (pflag's <Type>Var[P] / <Type>[P] calls, and linkerd's
pkg/flag New<Type>Flag) is recorded with whether it takes a value (everything but Bool*) and its
shorthand. A command's `inherited` entries are the parents whose persistent flags it accepts too.
tests/test_plan_flags.py checks every command of every golden plan against the result.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

LINKERD_28 = {
    "": ["cli/cmd/root.go init"],
    "install": ["cli/cmd/install.go newCmdInstall", "cli/cmd/install.go recordableFlagSet", "cli/cmd/root.go flagSet",
                "cli/cmd/install.go allStageFlagSet", "cli/cmd/install.go installOnlyFlagSet",
                "cli/cmd/install.go installPersistentFlagSet"],
    "upgrade": ["cli/cmd/upgrade.go newCmdUpgrade", "cli/cmd/upgrade.go upgradeOnlyFlagSet",
                "cli/cmd/install.go recordableFlagSet", "cli/cmd/root.go flagSet", "cli/cmd/install.go allStageFlagSet"],
    "check": ["cli/cmd/check.go newCmdCheck", "cli/cmd/check.go nonConfigFlagSet", "cli/cmd/check.go checkFlagSet"],
    "inject": ["cli/cmd/inject.go newCmdInject", "cli/cmd/root.go flagSet"],
    "multicluster": ["cli/cmd/multicluster.go newCmdMulticluster"],
    "multicluster install": ["cli/cmd/multicluster.go newMulticlusterInstallCommand"],
    "multicluster link": ["cli/cmd/multicluster.go newLinkCommand"],
    "multicluster allow": ["cli/cmd/multicluster.go newAllowCommand"],
    "multicluster gateways": ["cli/cmd/multicluster.go newGatewaysCommand"],
    "multicluster export-service": ["cli/cmd/multicluster.go newExportServiceCommand"],
}
VALUES = "pkg/flags/flags.go AddValueOptionsFlags"  # --set, --set-string, --set-file, -f/--values
LINKERD_EDGE = {
    "": ["cli/cmd/root.go NewRootCmd"],
    "install": ["cli/cmd/install.go newCmdInstall", "cli/cmd/options.go makeInstallFlags",
                "cli/cmd/options.go makeInstallUpgradeFlags", "cli/cmd/options.go makeProxyFlags", VALUES],
    "upgrade": ["cli/cmd/upgrade.go newCmdUpgrade", "cli/cmd/upgrade.go makeUpgradeFlags",
                "cli/cmd/options.go makeInstallUpgradeFlags", "cli/cmd/options.go makeProxyFlags", VALUES],
    "check": ["cli/cmd/check.go newCmdCheck", "cli/cmd/check.go nonConfigFlagSet", "cli/cmd/check.go checkFlagSet"],
    "inject": ["cli/cmd/inject.go NewCmdInject", "cli/cmd/options.go makeProxyFlags", "cli/cmd/options.go makeInjectFlags"],
    "multicluster": ["multicluster/cmd/root.go NewCmdMulticluster"],
    "multicluster install": ["multicluster/cmd/install.go newMulticlusterInstallCommand", VALUES],
    "multicluster link": ["multicluster/cmd/link.go newLinkCommand", VALUES],
    "multicluster link-gen": ["multicluster/cmd/link-gen.go newGenCommand"],
    "multicluster unlink": ["multicluster/cmd/unlink.go newUnlinkCommand"],
    "multicluster check": ["multicluster/cmd/check.go NewCmdCheck"],
    "multicluster gateways": ["multicluster/cmd/gateways.go newGatewaysCommand"],
    "multicluster allow": ["multicluster/cmd/allow.go newAllowCommand"],
}
KIND = {
    "": ["pkg/cmd/kind/root.go NewCommand"],
    "create cluster": ["pkg/cmd/kind/create/cluster/createcluster.go NewCommand"],
    "delete cluster": ["pkg/cmd/kind/delete/cluster/deletecluster.go NewCommand"],
    "get clusters": ["pkg/cmd/kind/get/clusters/clusters.go NewCommand"],
}
SOURCES = {"linkerd": {"stable-2.8.1": LINKERD_28, "edge-26.8.3": LINKERD_EDGE}, "kind": {"*": KIND}}
REPOS = {"linkerd": "github.com/linkerd/linkerd2", "kind": "github.com/kubernetes-sigs/kind"}

PFLAG = re.compile(r"\.(?P<type>Bool|String|StringSlice|StringArray|StringToString|Int|Int32|Int64|IntSlice|Uint|Uint8|Uint16|"
                   r"Uint32|Uint64|UintSlice|Float32|Float64|Duration|DurationSlice|IP|IPSlice|BoolSlice|Count)"
                   r"(?:Var)?(?P<p>P)?\(\s*(?:&?[\w.\[\]()]+\s*,\s*)?\"(?P<name>[a-z0-9][a-z0-9-]*)\"(?:\s*,\s*\"(?P<short>[A-Za-z]?)\")?")
PFLAG_VAR = re.compile(r"\.Var(?P<p>P)?\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*\"(?P<name>[a-z0-9][a-z0-9-]*)\"(?:\s*,\s*\"(?P<short>[A-Za-z]?)\")?")
LINKERD_FLAG = re.compile(r"flag\.New(?P<type>\w+?)Flag\(\s*\w+\s*,\s*\"(?P<name>[a-z0-9][a-z0-9-]*)\"")


def function_body(text: str, name: str) -> str:
    start = re.search(rf"^func (?:\([^)]*\) )?{re.escape(name)}\(", text, re.M)
    if not start:
        raise SystemExit(f"function {name} not found")
    end = re.search(r"^func ", text[start.end():], re.M)
    return text[start.start(): start.end() + end.start() if end else len(text)]


def flags_in(body: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for m in PFLAG.finditer(body):
        entry = {"value": m.group("type") not in ("Bool", "Count")}
        if m.group("p") and m.group("short"):
            entry["short"] = m.group("short")
        found[m.group("name")] = entry
    for m in PFLAG_VAR.finditer(body):
        entry = {"value": True}
        if m.group("p") and m.group("short"):
            entry["short"] = m.group("short")
        found.setdefault(m.group("name"), entry)
    for m in LINKERD_FLAG.finditer(body):
        found[m.group("name")] = {"value": m.group("type") != "Bool"}
    return found


def extract(tool: str, git_dir: str, tag: str, version: str | None = None) -> dict:
    by_version = SOURCES[tool]
    spec = by_version.get(version or tag) or by_version["*"]
    commands = {}
    for path, sources in spec.items():
        flags: dict[str, dict] = {}
        for source in sources:
            file, func = source.split(" ")
            text = subprocess.run(["git", "--git-dir", git_dir, "show", f"{tag}:{file}"], check=True,
                                  capture_output=True, text=True).stdout
            flags.update(flags_in(function_body(text, func)))
        parents = [" ".join(path.split()[:i]) for i in range(len(path.split()))] if path else []
        commands[path] = {"sources": sources, "inherited": parents, "flags": dict(sorted(flags.items()))}
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", f"{tag}^{{commit}}"], check=True,
                            capture_output=True, text=True).stdout.strip()
    where = f"{REPOS[tool]} at tag {tag} ({commit})" if version in (None, tag) else f"{REPOS[tool]} at {commit} ({tag})"
    return {"tool": tool, "version": version or tag, "read_from": where,
            "extracted_by": "scripts/extract_cli_flags.py", "commands": commands}


if __name__ == "__main__":
    json.dump(extract(*sys.argv[1:5]), sys.stdout, indent=1)
    sys.stdout.write("\n")
