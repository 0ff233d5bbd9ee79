"""Every command of every golden plan (fixtures/plans/*.sh) parsed the way cobra parses it, against the flags and
subcommands its tool has at the version the plan's profile pins: tables under fixtures/cli-flags/, extracted
once from the sources at the tag by scripts/extract_cli_flags.py (each names where it was read).

kubectl, helm and step are not covered yet: kubectl's sources at v1.18.2 and v1.37.1 could not be read offline
(the kubernetes repository is too large to fetch, and the stored index holds one unnamed commit); helm and step
are not pinned (the header says "any"), so there is no one version to read.
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
CHECKED = ("linkerd", "kind")


def pinned(profile: profiles.Profile, tool: str) -> str:
    return {"linkerd": profile.linkerd, "kind": profile.kind_cli}[tool]


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
    """What cobra would refuse in argv: a word that is not a subcommand where the command reached only groups
    others, a flag (long or shorthand) that neither the command nor a parent (persistent flags) declares, or a
    line that stops at a command that only groups others."""
    cmds, tool = table["commands"], f"{table['tool']} {table['version']}"

    def known(path: str) -> bool:  # a command, or the start of one ("create" of kind's "create cluster")
        return any(c == path or c.startswith(path + " ") for c in cmds)

    def groups(path: str) -> bool:
        return any(c.startswith(path + " ") if path else c for c in cmds)

    def flag(path: str, key: str, short: bool) -> dict | None:
        words = path.split()
        for owner in (" ".join(words[:k]) for k in range(len(words), -1, -1)):
            for name, entry in cmds.get(owner, {"flags": {}})["flags"].items():
                if (entry.get("short") == key) if short else (name == key):
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
        elif entry["value"] and not eq:
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
])
def test_what_the_pinned_tool_would_refuse_is_found(argv, version, problem):
    words = shlex.split(argv)
    found = problems(words, TABLES[(words[0], version)])
    assert any(problem in f for f in found), found


def test_what_the_pinned_tool_accepts_passes():
    for argv, version in [("linkerd --context=kind-west multicluster unlink --cluster-name east --only-controller", "edge-26.8.3"),
                          ("linkerd -L linkerd --context kind-east multicluster install --set a=b -o json", "edge-26.8.3"),
                          ("kind create cluster -n east --wait 300s", "v0.33.0")]:
        words = shlex.split(argv)
        assert problems(words, TABLES[(words[0], version)]) == [], argv


def test_every_table_names_where_it_was_read():
    for (tool, version), table in TABLES.items():
        assert table["read_from"].startswith("github.com/") and table["extracted_by"] == "scripts/extract_cli_flags.py"
        for path, command in table["commands"].items():
            assert command["sources"], (tool, version, path)
            assert all(re.fullmatch(r"[\w/.-]+\.go \w+", source) for source in command["sources"]), command["sources"]
