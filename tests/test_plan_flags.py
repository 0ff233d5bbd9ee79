"""Every command of every golden plan (fixtures/plans/*.sh) parsed the way its tool parses it (cobra for linkerd,
kind, kubectl and helm; urfave/cli for step), against the flags and subcommands that tool has at the version the
plan's profile pins: tables under fixtures/cli-flags/, extracted once from the sources at the tag by
scripts/extract_cli_flags.py (each names where it was read).

Where a table was not read at exactly the pinned version it says so in its "note": kubectl v1.37.1 is not tagged
in the stored snapshots of kubernetes/kubectl and kubernetes/cli-runtime, so its table was read at the newest
tags there (kubernetes-1.37.0-beta.0 and kubernetes-1.37.0-alpha.2); kubectl v1.18.2's root command still lived
in kubernetes/kubernetes (too large to fetch), so its global flags are cli-runtime's ConfigFlags and kubectl's
MatchVersionFlags only (no --profile, no klog -v). Where a flag set declares a flag only if its constructor set
the field (kubectl's DeleteFlags, FileNameFlags, ResourceBuilderFlags), the table follows the constructor that
command uses. Flags that exist only behind an environment switch (kubectl apply --applyset) are listed.
"""
import json
import re
import shlex
from pathlib import Path

import pytest

from lab.model import profiles

REPO = Path(__file__).resolve().parent.parent
PLANS = sorted((REPO / "fixtures" / "plans").glob("*.sh"))
TABLES = {(t["tool"], t["version"]): t for t in
          (json.loads(p.read_text()) for p in sorted((REPO / "fixtures" / "cli-flags").glob("*.json")))}
CHECKED = ("linkerd", "kind", "kubectl", "helm", "step")


def pinned(profile: profiles.Profile, tool: str) -> str:
    return {"linkerd": profile.linkerd, "kind": profile.kind_cli, "kubectl": profile.kubectl, "helm": profile.helm,
            "step": profile.step}[tool]


def commands(script: str) -> list[list[str]]:
    """Each simple command of a plan as argv: heredoc bodies and comments skipped, `until` loops opened, pipelines
    split; a `$(...)` (a value the shell computes) stands as one word."""
    lines, out, i = script.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "<<'EOF'" in line:
            while lines[i] != "EOF":
                i += 1
            i += 1
            line = line.replace(" <<'EOF'", "")
        loop = re.match(r"n=0; until (.*?); do .*done$", line)
        line = loop.group(1) if loop else line
        line = re.sub(r"\$\([^()]*\)", "COMPUTED", line)
        for stage in line.split(" | "):
            out.append(shlex.split(stage.split(" > ")[0]))
    return out


def problems(argv: list[str], table: dict) -> list[str]:
    """What the tool would refuse in argv: a word that is not a subcommand where the command reached only groups
    others, a flag that neither the command nor a parent (persistent flags) declares, or a line that stops at a
    command that only groups others. cobra (pflag): `--name` or a one-letter `-s` shorthand; a flag with a
    NoOptDefVal ("optional") takes its value only after `=`. urfave/cli (Go's flag package): `-name` and `--name`
    alike, a name or any of its aliases."""
    cmds, tool = table["commands"], f"{table['tool']} {table['version']}"
    urfave = table.get("parser") == "urfave/cli"

    def known(path: str) -> bool:  # a command, or the start of one ("create" of kind's "create cluster")
        return any(c == path or c.startswith(path + " ") for c in cmds)

    def groups(path: str) -> bool:
        return any(c.startswith(path + " ") if path else c for c in cmds)

    def flag(path: str, key: str, short: bool) -> dict | None:
        words = path.split()  # the command, then the parents whose persistent flags it inherits, nearest first
        owners = [path, *reversed(cmds[path]["inherited"])] if path in cmds else \
            [" ".join(words[:k]) for k in range(len(words), -1, -1)]
        for owner in owners:
            for name, entry in cmds.get(owner, {"flags": {}})["flags"].items():
                if urfave and key in (name, *entry.get("aliases", ())):
                    return entry
                if not urfave and ((entry.get("short") == key) if short else (name == key)):
                    return entry
        return None

    path, positional, found, i = "", False, [], 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "-" or not arg.startswith("-"):
            child = f"{path} {arg}".strip()
            if not positional and known(child):
                path = child
            elif not positional and groups(path):
                return found + [f"unknown subcommand {arg!r} of `{tool} {path}`"]
            else:
                positional = True
            continue
        name, eq, _ = arg.partition("=")
        long = name.startswith("--")
        entry = flag(path, name[2:] if long else name[1:], not long)
        if entry is None:
            found.append(f"{tool} `{path}` has no flag {name}")
        elif entry["value"] and not entry.get("optional") and not eq:
            i += 1  # its value is the next word
    if path not in cmds or groups(path):
        found.append(f"`{tool} {path}` only groups subcommands")
    return found


def plan_profile(script: str) -> profiles.Profile:
    return profiles.PROFILES[re.search(r"on kind, profile (\S+):", script).group(1)]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.stem)
def test_every_flag_and_subcommand_exists_at_the_pinned_version(plan):
    script = plan.read_text()
    profile = plan_profile(script)
    checked, found = 0, []
    for argv in commands(script):
        if argv[0] not in CHECKED:
            continue
        table = TABLES.get((argv[0], pinned(profile, argv[0])))
        assert table, f"no flag table for {argv[0]} {pinned(profile, argv[0])}: run scripts/extract_cli_flags.py"
        found += [f"{problem}: {shlex.join(argv)}" for problem in problems(argv, table)]
        checked += 1
    assert checked > 5 and not found, "\n".join(found)


@pytest.mark.parametrize("argv, version, problem", [
    ("linkerd --context=kind-west multicluster link-gen --cluster-name east --only-controller", "edge-26.8.3",
     "has no flag --only-controller"),
    ("linkerd --context=kind-west multicluster unlink --cluster-name east --only-controller", "stable-2.8.1",
     "unknown subcommand 'unlink'"),
    ("linkerd --context=kind-west check --multicluster", "edge-26.8.3", "has no flag --multicluster"),
    ("linkerd --context=kind-west multicluster check", "stable-2.8.1", "unknown subcommand 'check'"),
    ("linkerd --context=kind-west multicluster", "edge-26.8.3", "only groups subcommands"),
    ("kind create cluster --name=east --wait 300s --retain=true -x", "v0.33.0", "has no flag -x"),
    ("kind create cluster -n east", "v0.8.1", "has no flag -n"),
    # kubectl, helm and step: a copy of a real plan line with one thing the pinned version lacks
    ("kubectl --context=kind-east -n mc-demo rollout status deploy/foobar --timeout=300s --bogus", "v1.37.1",
     "has no flag --bogus"),
    ("kubectl --context=kind-east create namespace emissary --dry-run=client -o yaml -x", "v1.37.1", "has no flag -x"),
    ("kubectl --context=kind-west -n mc-demo rollout history deploy/foobar", "v1.37.1",
     "unknown subcommand 'history'"),
    ("kubectl --context=kind-east rollout", "v1.18.2", "only groups subcommands"),
    # apply's DeleteFlags come from NewDeleteFlags, which leaves IgnoreNotFound nil; delete's set it
    ("kubectl --context=kind-east apply -f - --ignore-not-found", "v1.37.1", "has no flag --ignore-not-found"),
    # `create`'s own flags are not persistent: `create namespace` does not take --edit
    ("kubectl --context=kind-east create namespace emissary --edit", "v1.37.1", "has no flag --edit"),
    # added after 1.18: --subresource (1.24), --field-manager on label (1.19)
    ("kubectl --context=kind-east get Deployment foobar -n mc-demo -o json --subresource=status", "v1.18.2",
     "has no flag --subresource"),
    ("kubectl --context=kind-east -n mc-demo label service foobar a=b --overwrite --field-manager=lab", "v1.18.2",
     "has no flag --field-manager"),
    ("kubectl --kuberc=off --context=kind-east get ns", "v1.18.2", "has no flag --kuberc"),
    ("helm install linkerd2-multicluster linkerd/linkerd2-multicluster --version 2.8.1 --kube-context kind-east "
     "--take-ownership", "v3.2.4", "has no flag --take-ownership"),
    ("helm upgrade linkerd2-multicluster linkerd-edge/linkerd-multicluster --version 2026.8.3 -n linkerd-multicluster "
     "--reuse-values --reset-then-reuse-values --kube-context kind-east --bogus", "v4.2.4", "has no flag --bogus"),
    ("helm uninstall linkerd2-mc-west --kube-context kind-east --ignore-not-found", "v3.2.4",
     "has no flag --ignore-not-found"),
    ("helm repo rm linkerd", "v4.2.4", "unknown subcommand 'rm'"),
    ("step certificate create identity.linkerd.cluster.local root.crt root.key --profile root-ca --no-password "
     "--insecure --san identity.linkerd.cluster.local --template t.tpl", "v0.14.4", "has no flag --template"),
    ("step certificate create identity.linkerd.cluster.local root.crt root.key -profile root-ca -no-passwd",
     "v0.30.6", "has no flag -no-passwd"),
    ("step certificate sign x.csr ca.crt ca.key", "v0.30.6", "unknown subcommand 'sign'"),
])
def test_what_the_pinned_tool_would_refuse_is_found(argv, version, problem):
    words = shlex.split(argv)
    found = problems(words, TABLES[(words[0], version)])
    assert any(problem in f for f in found), found


def test_what_the_pinned_tool_accepts_passes():
    for argv, version in [("linkerd --context=kind-west multicluster unlink --cluster-name east --only-controller", "edge-26.8.3"),
                          ("linkerd -L linkerd --context kind-east multicluster install --set a=b -o json", "edge-26.8.3"),
                          ("kind create cluster -n east --wait 300s", "v0.33.0"),
                          # pflag: --dry-run has a NoOptDefVal, so `--dry-run` alone does not eat "yaml"'s place
                          ("kubectl -n x create namespace y --dry-run -o yaml", "v1.18.2"),
                          ("kubectl --context kind-east -n x wait --for condition=available deployment z", "v1.37.1"),
                          ("kubectl --context=kind-east delete -f - --ignore-not-found", "v1.37.1"),
                          ("helm --kube-context kind-east -n x install r c --wait --timeout 5m", "v4.2.4"),
                          # urfave/cli: one dash or two, and a flag's alias
                          ("step certificate create a b c -profile root-ca --no-password -insecure -f", "v0.14.4"),
                          ("step certificate create a b c --kty=EC -curve P-256 --not-after 8760h", "v0.30.6")]:
        words = shlex.split(argv)
        assert problems(words, TABLES[(words[0], version)]) == [], argv


def test_every_table_names_where_it_was_read():
    for (tool, version), table in TABLES.items():
        assert table["read_from"].startswith("github.com/") and table["extracted_by"] == "scripts/extract_cli_flags.py"
        # read at another tag or commit than the version pinned: the table says so in words
        assert version.removeprefix("v") in table["read_from"] or table.get("note"), (tool, version)
        for path, command in table["commands"].items():
            assert command["sources"], (tool, version, path)
            assert all(re.fullmatch(r"[\w/.-]+\.go (\w+\.)?\w+( [\w/.-]+\.go:(\w+\.)?\w+(,[\w/.-]+\.go:(\w+\.)?\w+)*)?",
                                    source) for source in command["sources"]), command["sources"]
