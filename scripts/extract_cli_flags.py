#!/usr/bin/env python3
"""Extract, once, the flags each subcommand the kind plans use accepts, from the tools' sources at the pinned tags.

    scripts/extract_cli_flags.py <tool> <git-dir> <ref> [<version>] [<module>=<git-dir>@<ref> ...] \
        > fixtures/cli-flags/<tool>-<version>.json

<git-dir> is a clone (or the `fetch` mirror) of the tool's repository; <ref> the tag, or the commit where
the pinned version is not tagged there (then <version> names it and the commit is recorded). A source whose
file starts with a Go module path (k8s.io/cli-runtime/...) is read from the git dir given for that module,
at its ref: kubectl's flags are declared partly in the cli-runtime staging repository.

cobra tools (linkerd, kind, kubectl, helm): each subcommand is read from the Go functions that build it (its
cobra constructor and the flag sets it adds, listed in SOURCES with the file each is in; `Type.Method` names a
method); every flag those functions declare (pflag's <Type>Var[P] / <Type>[P] calls, and linkerd's
pkg/flag New<Type>Flag) is recorded with whether it takes a value (everything but Bool*) and its shorthand;
a flag given a NoOptDefVal is marked "optional" (its value only after `=`). Flag names given as string
constants of the same file are resolved. A third word, "file:Func,...", names the constructors of a flag set
whose AddFlags declares a flag only `if o.Field != nil`: only the fields they set (struct literal, With...
calls) keep their flags.
urfave/cli tools (step): the command's `Flags: []cli.Flag{...}` literals (cli.<Type>Flag{Name: "a, b"}: the
second name an alias) and the shared flags it lists from the step flags package (flags.<Name>), read in
flags/flags.go.
A command's `inherited` entries are the parents whose persistent flags it accepts too.
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
# kubectl: the staging repository kubernetes/kubectl (pkg/cmd/...) and kubernetes/cli-runtime (genericclioptions)
CR = "k8s.io/cli-runtime/pkg/genericclioptions/"
U = "pkg/cmd/util/helpers.go "
PRINT = [CR + "print_flags.go PrintFlags.AddFlags", CR + "json_yaml_flags.go JSONYamlPrintFlags.AddFlags",
         CR + "name_flags.go NamePrintFlags.AddFlags", CR + "kube_template_flags.go KubeTemplatePrintFlags.AddFlags"]
GET_PRINT = ["pkg/cmd/get/get_flags.go PrintFlags.AddFlags", "pkg/cmd/get/humanreadable_flags.go HumanPrintFlags.AddFlags",
             "pkg/cmd/get/customcolumn_flags.go CustomColumnsPrintFlags.AddFlags"] + PRINT[1:]
RECORD = [CR + "record_flags.go RecordFlags.AddFlags"]
FILES = [CR + "filename_flags.go FileNameFlags.AddFlags"]
FILE_OPTS = [U + "AddFilenameOptionFlags", U + "AddJsonFilenameFlag", U + "AddKustomizeFlag"]


def delete(ctor: str) -> list[str]:
    """DeleteFlags and its FileNameFlags declare a flag only where `ctor` (delete_flags.go) set the field."""
    return [f"pkg/cmd/delete/delete_flags.go DeleteFlags.AddFlags pkg/cmd/delete/delete_flags.go:{ctor}",
            f"{FILES[0]} pkg/cmd/delete/delete_flags.go:{ctor}"]


def builder(ctor: str, *more: str) -> list[str]:
    """ResourceBuilderFlags declares a flag only where `ctor`'s With... chain set the field; its FileNameFlags
    come from NewResourceBuilderFlags (and the chain's `more` methods)."""
    files = ",".join([CR + "builder_flags.go:NewResourceBuilderFlags", *more])
    return [f"{CR}builder_flags.go ResourceBuilderFlags.AddFlags {ctor}", f"{FILES[0]} {files}"]


CONFIG = [CR + "config_flags.go ConfigFlags.AddFlags", "pkg/cmd/util/kubectl_match_version.go MatchVersionFlags.AddFlags"]
# At 1.18 the root command (pkg/kubectl/cmd/cmd.go: --profile, --profile-output, klog's -v, ...) was still in
# kubernetes/kubernetes, not the staging repository: its table has only the persistent flags read here.
KUBECTL_118 = {
    "": CONFIG,
    "apply": ["pkg/cmd/apply/apply.go NewCmdApply", *delete("NewDeleteFlags"), *RECORD, *PRINT, U + "AddValidateFlags",
              U + "AddDryRunFlag", U + "AddServerSideApplyFlags"],
    "create": ["pkg/cmd/create/create.go NewCmdCreate", *RECORD, *FILE_OPTS, U + "AddValidateFlags",
               U + "AddApplyAnnotationFlags", U + "AddDryRunFlag", *PRINT],
    "create namespace": ["pkg/cmd/create/create_namespace.go NewCmdCreateNamespace", *PRINT,
                         U + "AddApplyAnnotationFlags", U + "AddValidateFlags", U + "AddGeneratorFlags",
                     U + "AddDryRunFlag"],  # AddGeneratorFlags calls it at 1.18
    "create secret": ["pkg/cmd/create/create_secret.go NewCmdCreateSecret"],
    "create secret generic": ["pkg/cmd/create/create_secret.go NewCmdCreateSecretGeneric", *PRINT,
                              U + "AddApplyAnnotationFlags", U + "AddValidateFlags", U + "AddGeneratorFlags",
                          U + "AddDryRunFlag"],  # AddGeneratorFlags calls it at 1.18
    "delete": ["pkg/cmd/delete/delete.go NewCmdDelete", *delete("NewDeleteCommandFlags"), U + "AddDryRunFlag"],
    "get": ["pkg/cmd/get/get.go NewCmdGet", *GET_PRINT, "pkg/cmd/get/get.go addOpenAPIPrintColumnFlags",
            "pkg/cmd/get/get.go addServerPrintColumnFlags", *FILE_OPTS],
    "wait": ["pkg/cmd/wait/wait.go NewCmdWait", "pkg/cmd/wait/wait.go WaitFlags.AddFlags", *PRINT,
             *builder("pkg/cmd/wait/wait.go:NewWaitFlags")],
    "rollout": ["pkg/cmd/rollout/rollout.go NewCmdRollout"],
    "rollout status": ["pkg/cmd/rollout/rollout_status.go NewCmdRolloutStatus", *FILE_OPTS],
    "label": ["pkg/cmd/label/label.go NewCmdLabel", *RECORD, *PRINT, *FILE_OPTS, U + "AddDryRunFlag"],
    "annotate": ["pkg/cmd/annotate/annotate.go NewCmdAnnotate", *RECORD, *PRINT, *FILE_OPTS, U + "AddDryRunFlag"],
    "patch": ["pkg/cmd/patch/patch.go NewCmdPatch", *RECORD, *PRINT, U + "AddDryRunFlag", *FILE_OPTS],
}
MANAGER, SELECTOR, SUBRESOURCE = U + "AddFieldManagerFlagVar", U + "AddLabelSelectorFlagVar", U + "AddSubresourceFlags"
KUBECTL_137 = {
    "": ["pkg/cmd/cmd.go NewKubectlCommand", "pkg/cmd/profiling.go addProfilingFlags",
         "pkg/kuberc/kuberc.go Preferences.AddFlags", *CONFIG],
    "apply": ["pkg/cmd/apply/apply.go NewCmdApply", "pkg/cmd/apply/apply.go ApplyFlags.AddFlags", *delete("NewDeleteFlags"), *RECORD,
              *PRINT, U + "AddValidateFlags", U + "AddDryRunFlag", U + "AddServerSideApplyFlags", MANAGER, SELECTOR,
              U + "AddPruningFlags", SUBRESOURCE],
    "create": ["pkg/cmd/create/create.go NewCmdCreate", *RECORD, *FILE_OPTS, U + "AddValidateFlags",
               U + "AddApplyAnnotationFlags", U + "AddDryRunFlag", SELECTOR, MANAGER, *PRINT],
    "create namespace": ["pkg/cmd/create/create_namespace.go NewCmdCreateNamespace", *PRINT,
                         U + "AddApplyAnnotationFlags", U + "AddValidateFlags", U + "AddDryRunFlag", MANAGER],
    "create secret": ["pkg/cmd/create/create_secret.go NewCmdCreateSecret"],
    "create secret generic": ["pkg/cmd/create/create_secret.go NewCmdCreateSecretGeneric", *PRINT,
                              U + "AddApplyAnnotationFlags", U + "AddValidateFlags", U + "AddDryRunFlag", MANAGER],
    "delete": ["pkg/cmd/delete/delete.go NewCmdDelete", *delete("NewDeleteCommandFlags"), U + "AddDryRunFlag", SELECTOR],
    "get": ["pkg/cmd/get/get.go NewCmdGet", *GET_PRINT, "pkg/cmd/get/get.go addServerPrintColumnFlags", *FILE_OPTS,
            U + "AddChunkSizeFlag", SELECTOR, SUBRESOURCE],
    "wait": ["pkg/cmd/wait/wait.go NewCmdWait", "pkg/cmd/wait/wait.go WaitFlags.AddFlags", *PRINT,
             *builder("pkg/cmd/wait/wait.go:NewWaitFlags")],
    "rollout": ["pkg/cmd/rollout/rollout.go NewCmdRollout"],
    "rollout status": ["pkg/cmd/rollout/rollout_status.go NewCmdRolloutStatus", *FILE_OPTS, SELECTOR],
    "label": ["pkg/cmd/label/label.go NewCmdLabel", *RECORD, *PRINT, *FILE_OPTS, U + "AddDryRunFlag", MANAGER,
              SELECTOR],
    "annotate": ["pkg/cmd/annotate/annotate.go NewCmdAnnotate", "pkg/cmd/annotate/annotate.go AnnotateFlags.AddFlags",
                 *PRINT, *builder("pkg/cmd/annotate/annotate.go:NewAnnotateFlags", CR + "builder_flags.go:ResourceBuilderFlags.WithFile"),
                 *RECORD, U + "AddDryRunFlag", MANAGER],
    "patch": ["pkg/cmd/patch/patch.go NewCmdPatch", *RECORD, *PRINT, U + "AddDryRunFlag", *FILE_OPTS, MANAGER,
              SUBRESOURCE],
}


def helm(d: str, v4: bool) -> dict:
    """helm 3 keeps its commands in cmd/helm, helm 4 in pkg/cmd; the flag helpers are in flags.go (4: also helpers.go)."""
    shared = [f"{d}/flags.go addValueOptionsFlags", f"{d}/flags.go addChartPathOptionsFlags", f"{d}/flags.go bindOutputFlag",
              f"{d}/flags.go bindPostRenderFlag"] + ([f"{d}/flags.go AddWaitFlag", f"{d}/helpers.go addDryRunFlag"] if v4 else [])
    return {
        "": [f"{d}/root.go newRootCmdWithConfig" if v4 else f"{d}/root.go newRootCmd", "pkg/cli/environment.go EnvSettings.AddFlags"],
        "install": [f"{d}/install.go newInstallCmd", f"{d}/install.go addInstallFlags", *shared],
        "upgrade": [f"{d}/upgrade.go newUpgradeCmd", *shared],
        "uninstall": [f"{d}/uninstall.go newUninstallCmd"] + ([f"{d}/flags.go AddWaitFlag"] if v4 else []),
        "repo": [f"{d}/repo.go newRepoCmd"],
        "repo add": [f"{d}/repo_add.go newRepoAddCmd"],
    }


STEP = {"certificate": ["command/certificate/certificate.go init"],
        "certificate create": ["command/certificate/create.go createCommand"]}
SOURCES = {"linkerd": {"stable-2.8.1": LINKERD_28, "edge-26.8.3": LINKERD_EDGE}, "kind": {"*": KIND},
           "kubectl": {"v1.18.2": KUBECTL_118, "v1.37.1": KUBECTL_137},
           "helm": {"v3.2.4": helm("cmd/helm", False), "v4.2.4": helm("pkg/cmd", True)},
           "step": {"*": STEP}}
REPOS = {"linkerd": "github.com/linkerd/linkerd2", "kind": "github.com/kubernetes-sigs/kind",
         "kubectl": "github.com/kubernetes/kubectl", "helm": "github.com/helm/helm", "step": "github.com/smallstep/cli",
         "k8s.io/cli-runtime": "github.com/kubernetes/cli-runtime"}
# Parents whose flags are their own (cmd.Flags(), not PersistentFlags()): their subcommands do not inherit them
LOCAL = {("kubectl", "create")}  # pkg/cmd/create/create.go NewCmdCreate: -f, --edit, --dry-run, ... on `create` alone
URFAVE = {"step"}  # urfave/cli v1: `-flag` and `--flag` alike, no shorthand clusters
# Said in the table where the version read is not the one pinned
NOTES = {("kubectl", "v1.37.1"): "v1.37.1 is not tagged in the stored snapshots of kubernetes/kubectl and "
                                 "kubernetes/cli-runtime (newest there: kubernetes-1.37.0-beta.0 and "
                                 "kubernetes-1.37.0-alpha.2); read at those, the nearest before v1.37.1",
         ("kind", "v0.33.0"): "v0.33.0 is not tagged in the stored snapshot of kubernetes-sigs/kind (newest tag there: "
                              "v0.33.0-alpha); read at its newest commit, whose pkg/cmd/kind/version/version.go has "
                              "versionCore 0.33.0 and versionPreRelease \"alpha\"",
         ("kubectl", "v1.18.2"): "the root command (pkg/kubectl/cmd/cmd.go) was still in kubernetes/kubernetes at "
                                 "1.18: the root's table holds only the persistent flags of cli-runtime's ConfigFlags "
                                 "and kubectl's MatchVersionFlags (not --profile or klog's -v)"}

PFLAG = re.compile(r"\.(?P<type>Bool|String|StringSlice|StringArray|StringToString|Int|Int32|Int64|IntSlice|Uint|Uint8|Uint16|"
                   r"Uint32|Uint64|UintSlice|Float32|Float64|Duration|DurationSlice|IP|IPSlice|BoolSlice|Count)"
                   r"(?:Var)?(?P<p>P)?\(\s*(?:&?[\w.\[\]()]+\s*,\s*)?\"(?P<name>[a-z0-9][a-z0-9-]*)\"(?:\s*,\s*\"(?P<short>[A-Za-z]?)\")?")
PFLAG_VAR = re.compile(r"\.Var(?P<p>PF?)?\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*\"(?P<name>[a-z0-9][a-z0-9-]*)\"(?:\s*,\s*\"(?P<short>[A-Za-z]?)\")?")
NO_OPT = re.compile(r"Lookup\(\"(?P<name>[a-z0-9][a-z0-9-]*)\"\)\.NoOptDefVal\s*=")
LINKERD_FLAG = re.compile(r"flag\.New(?P<type>\w+?)Flag\(\s*\w+\s*,\s*\"(?P<name>[a-z0-9][a-z0-9-]*)\"")
URFAVE_FLAG = re.compile(r"cli\.(?P<type>\w+)Flag\{\s*Name:\s*\"(?P<name>[^\"]+)\"")
STEP_SHARED = re.compile(r"^\s*(?:flags\.)?(?P<var>[A-Z]\w*),\s*$", re.M)
CONST = re.compile(r"^\s*(?:const\s+)?(?P<id>[A-Za-z_]\w*)\s*(?:string\s*)?=\s*\"(?P<value>[a-z0-9][a-z0-9-]*)\"\s*$", re.M)


def function_body(text: str, name: str) -> str:
    """The text of func `name` (or, for `Type.Method`, of that method) up to the next top-level func."""
    recv, _, method = name.rpartition(".")
    head = rf"\(\w+ \*?{re.escape(recv)}\) " if recv else r"(?:\([^)]*\) )?"
    start = re.search(rf"^func {head}{re.escape(method)}\(", text, re.M)
    if not start:
        raise SystemExit(f"function {name} not found")
    end = re.search(r"^func ", text[start.end():], re.M)
    body = text[start.start(): start.end() + end.start() if end else len(text)]
    for const in CONST.finditer(text):  # flag names given as the file's string constants
        body = re.sub(rf"(?<![\w.\"]){const['id']}\b(?=\s*[,)])", f'"{const["value"]}"', body)
    return body


GUARD = re.compile(r"\bif \w+\.(?P<field>\w+) != nil \{")
SET_FIELD = re.compile(r"\b(?P<field>[A-Z]\w*):\s|\.\s*With(?P<with>[A-Z]\w*)\(")


def unset_spans(body: str, fields: set[str]) -> list[tuple[int, int]]:
    """The blocks `if o.Field != nil { ... }` of a field the constructor leaves nil: what they declare is not there."""
    spans = []
    for m in GUARD.finditer(body):
        if m.group("field") in fields:
            continue
        depth, i = 1, m.end()
        while depth and i < len(body):
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            i += 1
        spans.append((m.start(), i))
    return spans


def flags_in(body: str, fields: set[str] | None = None) -> dict[str, dict]:
    """`fields`: the fields the flag set's constructor sets; None where the set declares every flag it names."""
    if fields is not None:
        for start, end in reversed(unset_spans(body, fields)):
            body = body[:start] + body[end:]
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
    for m in NO_OPT.finditer(body):  # pflag: with NoOptDefVal the value must follow `=`, a bare flag takes the default
        if m.group("name") in found:
            found[m.group("name")]["optional"] = True
    return found


def urfave_flags_in(body: str, shared: str) -> dict[str, dict]:
    """A urfave/cli v1 command's flags: its cli.<Type>Flag{Name: "name, alias"} literals, and the step flags
    package's shared ones it lists (flags.KTY, ...), each read where that package declares it."""
    literals = body[body.index("Flags:"):] if "Flags:" in body else ""
    found: dict[str, dict] = {}

    def add(kind: str, names: str) -> None:
        name, *aliases = [n.strip() for n in names.split(",")]
        entry = {"value": kind not in ("Bool", "BoolT")}
        if aliases:
            entry["aliases"] = aliases
        found[name] = entry

    for m in URFAVE_FLAG.finditer(literals):
        add(m.group("type"), m.group("name"))
    for m in STEP_SHARED.finditer(literals):
        decl = re.search(rf"^\s*{m.group('var')}\s*=\s*cli\.(?P<type>\w+)Flag\{{\s*Name:\s*\"(?P<name>[^\"]+)\"", shared, re.M)
        if not decl:
            raise SystemExit(f"flags.{m.group('var')} not found in flags/flags.go")
        add(decl.group("type"), decl.group("name"))
    return found


def show(git_dir: str, ref: str, file: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{ref}:{file}"], check=True,
                          capture_output=True, text=True).stdout


def commit_of(git_dir: str, ref: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "rev-parse", f"{ref}^{{commit}}"], check=True,
                          capture_output=True, text=True).stdout.strip()


def extract(tool: str, git_dir: str, tag: str, version: str | None = None, *modules: str) -> dict:
    """`modules`: "<module>=<git-dir>@<ref>", where sources under that Go module path are read."""
    repos = {"": (git_dir, tag)}
    for module in modules:
        name, _, where = module.partition("=")
        repos[name + "/"] = tuple(where.rsplit("@", 1))
    by_version = SOURCES[tool]
    spec = by_version.get(version or tag) or by_version["*"]
    commands = {}
    for path, sources in spec.items():
        flags: dict[str, dict] = {}
        for source in sources:
            file, func, *ctors = source.split(" ")

            def read(file: str, func: str) -> str:
                prefix = max((p for p in repos if file.startswith(p)), key=len)
                repo, ref = repos[prefix]
                return function_body(show(repo, ref, file[len(prefix):]), func)

            body = read(file, func)
            fields = None
            if ctors:  # "file:Func,...": the constructors whose struct literals and With... calls set the fields
                fields = {m.group("field") or m.group("with") for ctor in ctors[0].split(",")
                          for m in SET_FIELD.finditer(read(*ctor.split(":")))}
            if tool in URFAVE:
                flags.update(urfave_flags_in(body, show(git_dir, tag, "flags/flags.go")))
            else:
                flags.update(flags_in(body, fields))
        parents = [parent for parent in (" ".join(path.split()[:i]) for i in range(len(path.split())))
                   if (tool, parent) not in LOCAL] if path else []
        commands[path] = {"sources": sources, "inherited": parents, "flags": dict(sorted(flags.items()))}
    wheres = []
    for prefix, (repo, ref) in repos.items():
        name = REPOS[prefix.rstrip("/") or tool]
        commit = commit_of(repo, ref)
        tagged = subprocess.run(["git", "--git-dir", repo, "rev-parse", "-q", "--verify", f"refs/tags/{ref}"],
                                capture_output=True).returncode == 0
        wheres.append(f"{name} at tag {ref} ({commit})" if tagged else f"{name} at {commit} ({ref})")
    table = {"tool": tool, "version": version or tag, "read_from": " and ".join(wheres),
             "extracted_by": "scripts/extract_cli_flags.py"}
    if (tool, version or tag) in NOTES:
        table["note"] = NOTES[(tool, version or tag)]
    if tool in URFAVE:
        table["parser"] = "urfave/cli"
    table["commands"] = commands
    return table


if __name__ == "__main__":
    json.dump(extract(*sys.argv[1:]), sys.stdout, indent=1)
    sys.stdout.write("\n")
