"""Invoke tasks: the lab's command line. Thin: parse flags, call lab.*, print.

`inv --list` shows them; `inv --help TASK` shows each task's flags.
"""
from __future__ import annotations

import atexit
import functools
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from invoke import Exit, task

from lab.model import config as config_mod
from lab.trust import pki
from lab import session, steps
from lab.errors import LabError
from lab.session import Lab

# The command ends right after its task: a last garbage collection over everything it loaded (the kubernetes
# client's thousands of classes) would only delay the exit, by ~0.07 s. Objects are still freed as usual.
atexit.register(gc.freeze)

HELP_CONFIG = "lab.yaml to use (default: ./lab.yaml if present, else the built-in east/west lab)"
HELP_BACKEND = "sim, kind, or auto (kind where a Docker engine answers, else the simulation)"
HELP_PROFILE = "pinned versions to use: current or seed-2.8 (default: the config's `profile`, else current)"
HELP_INSTALLER = "cli (linkerd multicluster install) or helm (the chart, one access release per source); default: the config's"
HELP_TRUST = "shared (one anchor) or bundle (the guide's trust anchor bundle); default: the config's trust.mode"


def friendly(fn):
    """One clear line for errors a user can cause (every LabError), never a traceback; exit code 1.
    Longer evidence (a tool's whole output) goes to .lab/last-error.log, named in that line."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LabError as exc:
            message = " ".join(str(exc).split("\n"))
            if exc.detail:
                message += f" (full output: {_keep(exc.detail)})"
            raise Exit(f"error: {message}", code=1) from None

    return wrapper


def _keep(detail: str) -> Path:
    path = Path(".lab") / "last-error.log"
    pki.write_private(Path.cwd() / path, detail + "\n")  # tool output may hold anything: this user's only
    return path


def _report(result: steps.StepResult) -> None:
    print(f"  {result.step:<13} {result.target:<11} {result.outcome:<13} {result.seconds:6.2f}s", flush=True)


def _print_removed(removed: list[str]) -> None:
    print("down: removed " + ", ".join(removed) if removed else "down: nothing to remove")


def _switched(what: str, before: str, after: str, results: list[steps.StepResult], unchanged: str) -> str:
    """`what: before -> after`, saying so when no step had anything to apply."""
    changed = any(r.outcome == "applied" for r in results)
    return f"{what}: {before} -> {after}" + ("" if changed else f" ({unchanged}: nothing changed)")


def _running(lab: Lab, fix: str = "run `./labctl up` first") -> Lab:
    if not lab.running():
        raise LabError(f"the lab '{lab.cfg.name}' is not running. Fix: {fix}")
    return lab


@task(help={"backend": HELP_BACKEND, "config": HELP_CONFIG, "until": f"stop after this step ({', '.join(steps.STEP_NAMES)})",
            "profile": HELP_PROFILE, "trust": HELP_TRUST, "installer": HELP_INSTALLER})
@friendly
def up(c, backend="auto", config=None, until=None, profile=None, trust=None, installer=None):
    """Bring the lab up: every step in order, skipping those already done."""
    if until is not None:
        steps.by_name(until)
    lab = Lab.open(config, backend, profile=profile, trust=trust, installer=installer)
    print(f"backend: {lab.backend.name} ({lab.choice.reason})")
    print(f"lab '{lab.cfg.name}': clusters {', '.join(lab.cfg.cluster_names)}; state in {lab.state_dir}")
    started = time.monotonic()
    try:
        results = lab.up(until=until, report=_report)
    except KeyboardInterrupt:
        # Every step is checked before it is skipped, so an interrupted one is simply redone.
        raise Exit("\nup: interrupted; the lab is as far as it got. Run `./labctl up` to finish it or `./labctl down` to remove it",
                   code=130) from None
    changed = sum(r.outcome == "applied" for r in results)
    print(f"up: {changed} change(s), {len(results) - changed} already done, {time.monotonic() - started:.2f}s")


@task(help={"config": HELP_CONFIG, "purge": "also delete the lab's certificates and keys (.lab/<name>/pki)"})
@friendly
def down(c, config=None, purge=False):
    """Tear the lab down; safe to run twice, or on a lab that never came up. Labs a killed `inv test` left
    for its parallel workers go too (each after its run, if one still holds it)."""
    lab = Lab.open(config, "auto")
    removed = lab.down(purge=purge)
    for worker in Lab.test_workers(config, lab.root):
        removed += worker.down(purge=purge)
    _print_removed(removed)


@task(help={"config": HELP_CONFIG, "json": "print JSON for machines instead of the table (same as --format json)",
            "format": "text (tables), json, or mermaid (the topology as a flowchart, for READMEs and CI summaries)"})
@friendly
def status(c, config=None, json_=False, format="text"):
    """Clusters, LoadBalancer addresses, trust anchors, links, gateways and mirrored services."""
    if format not in ("text", "json", "mermaid"):
        raise LabError(f"unknown format {format!r}. Fix: use text, json or mermaid")
    from lab.report import status as status_mod  # only here and in e2e: not on `up`'s way to the lab process

    lab = Lab.open(config, "auto")
    data = status_mod.collect(lab.cfg, lab.backend)
    if json_ or format == "json":
        print(json.dumps(data.to_dict(), indent=2))
    else:
        print(status_mod.mermaid(data) if format == "mermaid" else status_mod.render(data))


@task(help={"backend": HELP_BACKEND, "config": HELP_CONFIG, "until": "stop after this step",
            "format": "text (what each step does) or sh (with --backend kind: a standalone script of the real commands)",
            "profile": HELP_PROFILE, "trust": HELP_TRUST, "installer": HELP_INSTALLER})
@friendly
def plan(c, backend="auto", config=None, until=None, format="text", profile=None, trust=None, installer=None):
    """Print what `up` would do, step by step, without doing it."""
    if format not in ("text", "sh"):
        raise LabError(f"unknown format {format!r}. Fix: use text or sh")
    if format == "sh":
        if backend != "kind":
            raise LabError("--format sh prints the kind backend's commands. Fix: add --backend kind")
        from lab.report.script import kind_script

        print(kind_script(config_mod.with_flags(session.load_config(config, Path.cwd()), profile, trust, installer)), end="")
        return
    lab = Lab.open(config, backend, profile=profile, trust=trust, installer=installer)
    print(f"# plan for lab '{lab.cfg.name}' on {lab.backend.name} ({lab.choice.reason}), profile {lab.cfg.profile_name}")
    current = None
    for step, target, lines in steps.plan(lab.context(), until=until):
        if step.name != current:
            current = step.name
            print(f"\n## {step.name}: {step.summary}")
        for line in lines:
            print(f"[{target}] {line}")


@task(help={"name": f"the step: {', '.join(steps.STEP_NAMES)}", "backend": HELP_BACKEND, "config": HELP_CONFIG})
@friendly
def step(c, name, backend="auto", config=None):
    """Run one step alone (its check first: it does nothing if already done)."""
    steps.by_name(name)
    Lab.open(config, backend).step(name, report=_report)


@task(help={"name": "the gateway type: linkerd (the bundled gateway) or ambassador", "config": HELP_CONFIG})
@friendly
def gateway(c, name, config=None):
    """Switch east's exported services to another gateway (the guide's "Leverage Ambassador"), or back."""
    lab = _running(Lab.open(config, "auto"))
    before = lab.cfg.gateway
    print(_switched("gateway", before, name, lab.switch_gateway(name, report=_report), "already in use"))


@task(help={"how": "link-gen (2.18+: the extension runs each link's controller)", "config": HELP_CONFIG})
@friendly
def relink(c, how, config=None):
    """Move a lab linked with the deprecated `link` to link-gen, keeping the Links and their mirrors."""
    lab = _running(Lab.open(config, "auto"))
    before = lab.cfg.link_command
    print(_switched("links", before, how, lab.relink(how, report=_report), "already so") +
          f"; set `link_with: {how}` in lab.yaml so later commands keep it")


@task(help={"source": "the cluster whose access to mirror from --target is revoked", "target": "default: the cluster it links to",
            "config": HELP_CONFIG})
@friendly
def revoke(c, source, target=None, config=None):
    """Revoke one source cluster's access (the guide: uninstall its Helm release); nothing else is touched."""
    target = Lab.open(config, "auto").revoke(source, target)
    print(f"revoke: {source} can no longer read {target}'s services; its mirror of {target} stops receiving changes")


@task(help={"config": HELP_CONFIG})
@friendly
def check(c, config=None):
    """`linkerd check --multicluster` for every cluster; exit 1 if anything fails."""
    lab = _running(Lab.open(config, "auto"), fix="run `./labctl up`")
    failed = 0
    for cluster, prints in steps.foreign_anchors(lab.context()).items():  # before Linkerd's own checks: theirs pass
        print(f"× {steps.foreign_anchors_message(lab.context(), cluster, prints)}")
        failed += 1
    command = " ".join(("linkerd", *lab.cfg.profile.mc_check))
    for name in lab.cfg.cluster_names:
        print(f"{name} (`{command}`, profile {lab.cfg.profile_name}):")
        section = None
        for result in lab.backend.kube.check(name):
            if result.category != section:
                section = result.category
                print(f"  {section}")
            mark = {"success": "√", "warning": "‼"}.get(result.result, "×")
            detail = "".join(f"\n        {line}" for line in (result.error, result.hint) if line)
            print(f"    {mark} {result.name}{detail}")
            failed += result.failed
    if failed:
        raise Exit(f"check: {failed} check(s) failed", code=1)
    print("check: all passed")


@task(help={"backend": HELP_BACKEND, "config": HELP_CONFIG, "profile": HELP_PROFILE,
            "keep": "leave the lab up afterwards (default: down, pass or fail)",
            "scenarios": "comma-separated scenario files to run (default: all of scenarios/)"})
@friendly
def e2e(c, backend="auto", config=None, profile=None, keep=False, scenarios=None):
    """up, the scenarios with JUnit XML, a diagnostics bundle on failure, then down unless --keep."""
    from lab.report import diagnostics

    lab = Lab.open(config, backend, profile=profile)
    print(f"backend: {lab.backend.name} ({lab.choice.reason}); profile {lab.cfg.profile_name}")
    artifacts = diagnostics.artifacts_dir(lab.cfg, lab.root)
    artifacts.mkdir(parents=True, exist_ok=True)
    code = 1
    try:
        try:
            lab.up(report=_report)
        except LabError:
            print(f"diagnostics: {diagnostics.collect(lab.cfg, lab.backend, lab.root, 'up-failed')}")
            raise
        env = {**os.environ, "LAB_BACKEND": lab.backend.name, "LAB_ROOT": str(lab.root), "LAB_PROFILE": lab.cfg.profile_name}
        if config:
            env["LAB_CONFIG"] = config
        chosen = [str(Path(s).resolve()) for s in scenarios.split(",")] if scenarios else \
            [str(Path(__file__).resolve().parent / "scenarios")]
        missing = [s for s in chosen if not Path(s).exists()]
        if missing:
            raise LabError(f"no scenario file {', '.join(missing)}. Fix: name files under scenarios/")
        code = subprocess.call([sys.executable, "-m", "pytest", *chosen, f"--junitxml={artifacts / 'junit.xml'}"], env=env)
        print(f"e2e: JUnit XML in {artifacts / 'junit.xml'}")
        # The lab as the scenarios left it, for a CI job summary (markdown: the flowchart and the tables).
        from lab.report import status as status_mod

        picture = status_mod.collect(lab.cfg, lab.backend)
        (artifacts / "status.md").write_text(f"## lab {lab.cfg.name} on {lab.backend.name}, profile {lab.cfg.profile_name}\n\n"
                                             f"```mermaid\n{status_mod.mermaid(picture)}\n```\n\n```\n{status_mod.render(picture)}\n```\n")
        print(f"e2e: topology and status in {artifacts / 'status.md'}")
    finally:
        if not keep:
            _print_removed(lab.down())
    if code:
        raise Exit(f"e2e: scenarios failed (exit {code}); diagnostics bundles are in {artifacts}", code=code)


@task(help={"config": HELP_CONFIG})
@friendly
def kubeconfig(c, config=None):
    """Print the lab's KUBECONFIG: `KUBECONFIG=$(./labctl kubeconfig) kubectl --context=kind-west get svc -A`."""
    lab = _running(Lab.open(config, "auto"))
    print(lab.backend.provider.kubeconfig_path())


@task(help={"address": "ADDRESS:PORT on the lab's network, e.g. east's gateway 172.18.255.200:4143", "config": HELP_CONFIG})
@friendly
def address(c, address, config=None):
    """Where this machine connects to reach ADDRESS:PORT on the lab's network, as HOST:PORT (for openssl, curl):
    the address itself on kind (the docker network is routed from the host), a loopback port on the simulation."""
    lab = _running(Lab.open(config, "auto"))
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise Exit(f"address: give ADDRESS:PORT, e.g. 172.18.255.200:4143, not {address!r}", code=2)
    reached = lab.backend.provider.host_address(host, int(port))
    if reached is None:
        raise Exit(f"address: nothing on the lab's network answers at {address}", code=1)
    print(f"{reached[0]}:{reached[1]}")


@task(help={"args": "extra pytest arguments, e.g. \"-k mirror -x\""})
def test(c, args=""):
    """Run every test: unit tests of lab/ and the end-to-end scenarios (which bring the lab up if needed)."""
    import shlex

    argv = shlex.split(args)
    code = subprocess.call([sys.executable, "-m", "pytest", *_parallel(argv), *argv], env={**os.environ})
    if code:
        raise Exit(code=code)


def _parallel(argv: list[str]) -> list[str]:
    """pytest-xdist workers for a run on the simulation, each with a lab of its own (lab/pytest_plugin.py gives each
    worker its root); how many, conftest.py's pytest_xdist_auto_num_workers says (three per core, fewer when the
    run names fewer test files). Files stay whole on one worker, so a module's lab comes up once. Not on kind or
    existing contexts: their clusters are real and shared (two workers would create `east` twice). A run that
    chooses its own (`-n`, `-p no:xdist`) keeps its choice."""
    if any(a.startswith(("-n", "--numprocesses", "--dist")) or a in ("no:xdist", "-pno:xdist") for a in argv):
        return []
    try:
        chosen = Lab.open(os.environ.get("LAB_CONFIG"), os.environ.get("LAB_BACKEND", "auto"),
                          Path(os.environ["LAB_ROOT"]) if os.environ.get("LAB_ROOT") else None,
                          profile=os.environ.get("LAB_PROFILE"))
    except LabError:
        return []  # the session's `lab` fixture says what is wrong, once
    if chosen.backend.name != "sim":
        return []
    return ["-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder"]  # conftest.py queues files longest first


@task(help={"config": HELP_CONFIG, "profile": HELP_PROFILE})
@friendly
def doctor(c, config=None, profile=None):
    """What the kind backend needs here (Docker, pinned tools, inotify limits), each with its fix."""
    from lab.backends import doctor as doctor_mod

    lab = Lab.open(config, "sim", profile=profile)
    problems = 0
    from lab.backends.kind import tool_bin

    for f in doctor_mod.findings(lab.cfg.profile, tool_bin(lab.root)):
        print(f"{'√' if f.ok else '×'} {f.name}: {f.detail}" + (f"\n    fix: {f.fix}" if f.fix else ""))
        problems += not f.ok
    if problems:
        raise Exit(f"doctor: {problems} problem(s) for the kind backend (the simulation needs none of this)", code=1)
    print("doctor: ready for --backend kind")


@task(help={"config": HELP_CONFIG, "profile": HELP_PROFILE})
@friendly
def tools(c, config=None, profile=None):
    """Download the profile's kind, kubectl and linkerd into .lab/tools, each verified against its pinned SHA-256."""
    from lab.tools import install as tools_mod
    from lab.backends.kind import tool_bin

    lab = Lab.open(config, "sim", profile=profile)
    cache = tools_mod.ToolCache(tool_bin(lab.root).parent)
    p = lab.cfg.profile
    missing = []
    for tool, version in (("kind", p.kind_cli), ("kubectl", p.kubectl), ("linkerd", p.linkerd)):
        try:
            path = cache.ensure(tools_mod.find(tool, version))
            print(f"√ {tool} {version}: {path} (sha256 verified)")
        except LabError as exc:
            print(f"× {tool} {version}: {exc}")
            missing.append(tool)
    if missing:
        raise Exit(f"tools: {', '.join(missing)} not installed; see above", code=1)


@task(help={"runs": "runs of each measurement (the median is printed)", "suite_runs": "runs of the whole scenario suite",
            "soak_requests": "requests per soak round, each way", "soak_rounds": "rounds of the soak",
            "only": "measure only these parts, comma-separated: updown,suite,mirror,soak,kind"})
@friendly
def bench(c, runs=5, suite_runs=3, soak_requests=10_000, soak_rounds=3, only=""):
    """Benchmark figures beside their goals: sim up/down, scenario suite, mirror convergence, soak, kind overlap."""
    script = Path(__file__).resolve().parent / "scripts" / "bench.py"
    argv = [sys.executable, str(script), "--runs", str(runs), "--suite-runs", str(suite_runs),
            "--soak-requests", str(soak_requests), "--soak-rounds", str(soak_rounds)]
    for part in filter(None, only.split(",")):
        argv += ["--only", part.strip()]
    code = subprocess.call(argv)
    if code:
        raise Exit(code=code)


@task(help={"only": f"mutate only these modules, comma-separated: {', '.join(__import__('lab.tools.mutation', fromlist=['TARGETS']).TARGETS)}",
            "fast": "judge by the unit tests alone: the TLS and RBAC modules, or those --only names (minutes)",
            "summary": "also append the score table (Markdown) to this file, e.g. $GITHUB_STEP_SUMMARY",
            "min_score": "exit 1 when the overall score is below this percentage (default 0: report only)",
            "budget": "minutes after which no new mutant is started; the rest are reported as not run (default: none)"})
def mutate(c, only=None, fast=False, summary=None, min_score=0.0, budget=None):
    """Mutation testing of the security and mirroring core with Cosmic Ray; prints scores and survivors.

    Cosmic Ray (not mutmut 3) because it writes each mutant into the file and runs the tests as a fresh
    process, so the simulated lab a scenario brings up runs the mutated code too; mutmut 3 activates
    mutants in a forked pytest and picks tests by in-process coverage, which never sees the lab process.
    Each mutant is judged in a scratch copy of the checkout, never in it. Survivors recorded with a
    reason in fixtures/mutation/equivalent.yaml do not count against the score.
    """
    from lab.tools import mutation

    names = [n.strip() for n in only.split(",")] if only else list(mutation.FAST if fast else mutation.TARGETS)
    unknown = [n for n in names if n not in mutation.TARGETS]
    if unknown:
        raise Exit(f"unknown module(s) {', '.join(unknown)}: choose from {', '.join(mutation.TARGETS)}", code=2)
    repo = Path(__file__).resolve().parent
    entries = mutation.load_equivalent(repo)
    scratch = mutation.scratch_copy(repo)
    try:
        deadline = time.monotonic() + 60 * float(budget) if budget else None
        scores = [mutation.run_module(name, scratch, fast=fast, log=lambda line: print(line, flush=True), deadline=deadline)
                  for name in names]
    finally:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)
    stale = mutation.apply_equivalents(scores, entries)
    print()
    print(mutation.report(scores, stale))
    if summary:
        with open(summary, "a") as out:
            out.write(mutation.report(scores, stale, markdown=True) + "\n")
    if mutation.overall_score(scores) < float(min_score):
        raise Exit(f"mutation score {mutation.overall_score(scores):.1f}% is below {min_score}%", code=1)


@task
@friendly
def linkerd(c, config=None):
    """The guide's read-only linkerd commands on the lab: `./labctl linkerd --context=west multicluster gateways`.
    The real CLI where it is installed (kind), else what the simulation answers (gateways, the multicluster check)."""
    import shlex

    from lab.report import linkerd_cli

    lab = _running(Lab.open(config, "auto"))
    text, code = linkerd_cli.run(lab, shlex.split(c.remainder))
    print(text, end="")
    if code:
        raise Exit(code=code)


@task(help={"auto": "run every block without waiting for Enter (a recording, a projector)",
            "start": "begin at this line of docs/workshop.md", "stop": "end after this line"})
@friendly
def tour(c, auto=False, start=1, stop=None):
    """Walk docs/workshop.md one block at a time: what to notice, the command, Enter runs it, its output."""
    from lab import workshop

    differing = workshop.tour(auto, start=int(start), stop=int(stop) if stop else None)
    print(f"\ntour: done; {differing} command(s) printed something else than the page expects" if differing else "\ntour: done")
