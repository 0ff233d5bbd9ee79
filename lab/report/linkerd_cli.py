"""`./labctl linkerd ...`: the guide's read-only `linkerd` commands, as the guide types them.

On the simulation there is no `linkerd` binary: the lab process already answers what the profile's CLI
prints for `multicluster gateways` and the multicluster check (as `-o json`); this module prints that
as the CLI prints it to a terminal, with the CLI's exit code. On kind (or wherever a real `linkerd` is
installed) the real CLI runs with the lab's kubeconfig instead. Anything else is refused in one line.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import LabError
from ..parsers import cli_output

CHECK_HINTS = "https://linkerd.io/2/checks/#"


def split_context(argv: list[str]) -> tuple[str | None, list[str]]:
    """(`--context` value, the other words): the flag may sit anywhere, as `--context=x` or `--context x`."""
    context, rest, words = None, [], iter(argv)
    for word in words:
        if word.startswith("--context="):
            context = word.split("=", 1)[1]
        elif word == "--context":
            context = next(words, None)
            if context is None:
                raise LabError("flag needs an argument: --context")
        else:
            rest.append(word)
    return context, rest


def cluster_of(context: str | None, clusters: list[str]) -> str:
    """The lab cluster a context names: `west` and `kind-west` are the same; none means the current one."""
    if context is None:
        return clusters[0]  # the kubeconfig's current-context
    name = context.removeprefix("kind-")
    if name not in clusters:
        names = ", ".join([*clusters, *(f"kind-{c}" for c in clusters)])
        raise LabError(f'context "{context}" does not exist in the lab\'s kubeconfig; its contexts are {names}')
    return name


def render_check_text(results: list[cli_output.CheckResult]) -> str:
    """The check as the CLI prints it on a terminal: a heading per category, √/‼/× per check."""
    lines: list[str] = []
    section = None
    for r in results:
        if r.category != section:
            if section is not None:
                lines.append("")
            section = r.category
            lines += [section, "-" * len(section)]
        lines.append(f"{ {'success': '√', 'warning': '‼'}.get(r.result, '×')} {r.name}")
        if r.result != "success":
            lines += [f"    {r.error}"] if r.error else []
            lines += [f"    see {r.hint} for hints"] if r.hint else []
    failed = any(r.failed for r in results)
    lines += ["", f"Status check results are {'×' if failed else '√'}"]
    return "\n".join(lines) + "\n"


def run(lab, argv: list[str]) -> tuple[str, int]:
    """What `linkerd <argv>` prints on this lab, and its exit code."""
    backend = lab.backend
    real = shutil.which("linkerd") if backend.name != "sim" else None
    if real:
        env = {**os.environ, "KUBECONFIG": backend.provider.kubeconfig_path()}
        done = subprocess.run([real, *argv], env=env, capture_output=True, text=True)
        return done.stdout + done.stderr, done.returncode
    context, words = split_context(argv)
    mc_check = list(lab.cfg.profile.mc_check)
    known = {"multicluster gateways": "gateways", " ".join(mc_check): "check"}
    what = known.get(" ".join(words))
    if what is None:
        offered = " | ".join(f"linkerd [--context=CTX] {k}" for k in known)
        raise LabError(f"the simulation answers only the guide's read-only commands ({offered}) for profile "
                       f"{lab.cfg.profile_name}, not `linkerd {' '.join(argv)}`; use --backend kind for the real CLI")
    cluster = cluster_of(context, lab.cfg.cluster_names)
    if what == "gateways":
        text = backend.provider.rpc("GET", f"clusters/{cluster}/gateways", query={"profile": lab.cfg.profile_name})["stdout"]
        return text, 0
    results = backend.kube.check(cluster)
    return render_check_text(results), 1 if any(r.failed for r in results) else 0
