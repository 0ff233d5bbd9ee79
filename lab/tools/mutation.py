"""Mutation testing of the security and mirroring core (`inv mutate`), with Cosmic Ray as the mutator.

Why Cosmic Ray (cosmic-ray >= 8.4) and not mutmut 3: Cosmic Ray writes each mutant into the source file
on disk and runs the oracle as a fresh subprocess, so a scenario that brings a simulated lab up starts
the lab process from the mutated file too (the lab process imports lab/ from the checkout's PYTHONPATH).
mutmut 3 mutates through trampolines activated by an environment variable in a forked pytest, and picks
tests per function from in-process coverage: code that only runs inside the lab process (RBAC, auth,
policy, the mirror) would have no tests, or be judged with stale code. Cosmic Ray also takes the module
and its test command per session (one session per module here), and stores each mutant's file, line,
operator and diff in its work database, which is what the survivor list below reads.

How a run is laid out: the checkout's files (tracked and untracked, not ignored) are copied to a scratch
folder, and every mutant is written there, never in the checkout. Each oracle run (`python -m
lab.tools.mutation oracle TESTS...`) first tears down any lab a timed-out run left in the scratch copy,
then runs pytest with `--lab-backend sim --lab-root <scratch>`; the session's `lab` fixture then brings a
fresh lab up (it reuses a lab only if one is up, and none is), and the unit tests' `sim_lab` fixture
starts one per test. So every mutant is judged by labs started from the mutated code.

Which mutants: Cosmic Ray's operators, one replacement per site (`==` becomes `!=`, not also `<`, `<=`,
`is` ...; `a + b` becomes `a - b`), and none inside annotations: every module here has `from __future__
import annotations`, so an annotation is never evaluated and mutating `str | None` cannot change behaviour.
Survivors that cannot change behaviour either are listed, each with its reason, in
fixtures/mutation/equivalent.yaml and not counted against the score; an entry there that matches no
survivor any more is reported as stale.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EQUIVALENT_FILE = Path("fixtures/mutation/equivalent.yaml")


@dataclass(frozen=True)
class Target:
    """One module under mutation and its oracle: the tests that should notice when it breaks."""

    path: str
    oracle: tuple[str, ...]          # the full oracle, fastest first (pytest stops at the first failure)
    fast: tuple[str, ...] = ()       # for --fast: unit tests alone, none of which brings a lab up


TARGETS: dict[str, Target] = {
    "tls": Target("lab/sim/wire/tls.py",
                  ("tests/test_sim_wire.py", "scenarios/test_identity_checks.py", "scenarios/test_gateway_refuses_strangers.py"),
                  fast=("tests/test_sim_wire.py",)),
    "tlsserver": Target("lab/sim/wire/tlsserver.py",
                        ("tests/test_tlsserver.py", "tests/test_sim_wire.py", "scenarios/test_identity_checks.py",
                         "scenarios/test_cross_cluster_traffic.py"),
                        fast=("tests/test_tlsserver.py", "tests/test_sim_wire.py")),
    "pki": Target("lab/trust/pki.py", ("tests/test_pki.py", "tests/test_trust.py", "scenarios/test_trust_bundle.py"),
                  fast=("tests/test_pki.py", "tests/test_trust.py")),
    "rbac": Target("lab/sim/kube/rbac.py",
                   ("tests/test_rbac.py", "tests/test_kubeapi.py::test_rbac_allows_exactly_what_the_bindings_grant",
                    "tests/test_kubeapi.py::test_rbac_rules_match_users_subresources_and_groups_as_the_api_server_does",
                    "tests/test_kubeapi.py::test_a_token_is_allowed_what_its_account_is_bound_to_and_forbidden_the_rest",
                    "scenarios/test_impersonation.py", "scenarios/test_helm_access.py"),
                   fast=("tests/test_rbac.py", "tests/test_kubeapi.py::test_rbac_allows_exactly_what_the_bindings_grant",
                         "tests/test_kubeapi.py::test_rbac_rules_match_users_subresources_and_groups_as_the_api_server_does")),
    "auth": Target("lab/sim/kube/apiserver/auth.py",
                   ("tests/test_auth.py", "tests/test_kubeapi.py", "scenarios/test_impersonation.py",
                    "scenarios/test_helm_access.py"),
                   fast=("tests/test_auth.py",)),
    "policy": Target("lab/sim/mesh/policy.py",
                     ("tests/test_mesh_policy.py",
                      "scenarios/test_pod_to_pod.py::test_east_policy_admits_wests_client_and_refuses_another_account",
                      "scenarios/test_default_policy.py"),
                     fast=("tests/test_mesh_policy.py",)),
    "mirror": Target("lab/sim/mesh/mirror.py",
                     ("tests/test_mirror.py", "tests/test_mirror_gateways.py", "tests/test_sim_mirror_namespaces.py",
                      "scenarios/test_export.py", "scenarios/test_multiport_export.py"),
                     fast=("tests/test_mirror.py", "tests/test_mirror_gateways.py")),
    "gateway": Target("lab/sim/mesh/gateway.py",
                      ("tests/test_gateway.py", "tests/test_upstream_fidelity.py", "scenarios/test_gateway_outage.py",
                       "scenarios/test_gateway_refuses_strangers.py"),
                      fast=("tests/test_gateway.py",)),
}
FAST = ("tls", "rbac")

# One replacement per site: the mutation that inverts the decision (or shifts the number), not every
# operator of the same family, which would mostly repeat it.
KEPT_OPERATORS = {
    "ReplaceComparisonOperator_Eq_NotEq", "ReplaceComparisonOperator_NotEq_Eq",
    "ReplaceComparisonOperator_Lt_GtE", "ReplaceComparisonOperator_LtE_Gt",
    "ReplaceComparisonOperator_Gt_LtE", "ReplaceComparisonOperator_GtE_Lt",
    "ReplaceComparisonOperator_Is_IsNot", "ReplaceComparisonOperator_IsNot_Is",
    "ReplaceComparisonOperator_In_NotIn", "ReplaceComparisonOperator_NotIn_In",
    "ReplaceBinaryOperator_Add_Sub", "ReplaceBinaryOperator_Sub_Add", "ReplaceBinaryOperator_Mul_Div",
    "ReplaceBinaryOperator_Div_Mul", "ReplaceBinaryOperator_FloorDiv_Mul", "ReplaceBinaryOperator_Mod_Mul",
    "ReplaceBinaryOperator_Pow_Mul", "ReplaceBinaryOperator_BitOr_BitAnd", "ReplaceBinaryOperator_BitAnd_BitOr",
    "ReplaceUnaryOperator_Delete_Not", "ReplaceUnaryOperator_USub_UAdd", "AddNot",
    "ReplaceTrueWithFalse", "ReplaceFalseWithTrue", "ReplaceAndWithOr", "ReplaceOrWithAnd",
    "ReplaceBreakWithContinue", "ReplaceContinueWithBreak", "ExceptionReplacer", "NumberReplacer",
    "ZeroIterationForLoop", "RemoveDecorator",
}


@dataclass
class Mutant:
    file: str
    line: int
    operator: str
    original: str
    mutated: str
    outcome: str = "pending"         # killed, survived, equivalent, incompetent
    reason: str = ""


@dataclass
class ModuleScore:
    name: str
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(m.outcome == outcome for m in self.mutants)

    @property
    def judged(self) -> int:
        return self.count("killed") + self.count("survived")

    @property
    def score(self) -> float:
        return 100.0 * self.count("killed") / self.judged if self.judged else 100.0


# -- the mutants ----------------------------------------------------------------------------------
def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        annotations = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in annotations]
    return spans


def _kept(operator_name: str, start: tuple[int, int], spans) -> bool:
    if operator_name.split("/", 1)[-1] not in KEPT_OPERATORS:
        return False
    return not any(lo <= tuple(start) < hi for lo, hi in spans)


def _lines_of(diff: str) -> tuple[str, str]:
    minus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return " / ".join(minus), " / ".join(plus)


def load_equivalent(repo: Path) -> list[dict]:
    path = repo / EQUIVALENT_FILE
    entries = yaml.safe_load(path.read_text()) if path.exists() else []
    for entry in entries or []:
        missing = {"file", "operator", "original", "mutated", "reason"} - set(entry)
        if missing or not str(entry.get("reason", "")).strip():
            raise ValueError(f"{EQUIVALENT_FILE}: entry {entry} lacks {sorted(missing) or ['a reason']}")
    return entries or []


def _equivalent_entry(m: Mutant, entries: list[dict]) -> dict | None:
    for entry in entries:
        if (entry["file"], entry["operator"], entry["original"].strip(), entry["mutated"].strip()) == \
                (m.file, m.operator, m.original, m.mutated):
            return entry
    return None


# -- running --------------------------------------------------------------------------------------
def scratch_copy(repo: Path) -> Path:
    """The checkout's files (tracked and untracked, not ignored) in a fresh folder, where mutants go."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo, check=True,
                            capture_output=True).stdout.decode().split("\0")
    scratch = Path(tempfile.mkdtemp(prefix="lab-mutate-"))
    for name in filter(None, listed):
        source = repo / name
        if source.is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, scratch / name)
    return scratch


def oracle_command(tests: tuple[str, ...]) -> str:
    return " ".join([sys.executable, "-m", "lab.tools.mutation", "oracle", *tests])


def run_oracle(tests: list[str]) -> int:
    """One oracle run in the scratch copy (the cwd): a fresh lab, pytest, then no lab left behind."""
    root = Path.cwd()
    env = {k: v for k, v in os.environ.items() if k not in {"LAB_KEEP", "LAB_CONFIG", "LAB_ROOT", "LAB_BACKEND"}}
    env["PYTHONPATH"] = str(root)

    def down():
        # A run that timed out was killed with its process group, but the lab process has a session of
        # its own (it outlives `inv up`): take it down. Then drop .lab whole, certificates included, so
        # no mutant of the PKI leaves keys or certificates for the next one.
        if any(p.name not in {"lock", "pki"} for p in (root / ".lab").glob("*/*")):
            subprocess.run([sys.executable, "-m", "invoke", "down"], cwd=root, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root / ".lab", ignore_errors=True)

    down()
    try:
        return subprocess.call([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                "--lab-backend", "sim", "--lab-root", str(root), *tests], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        down()


def run_module(name: str, scratch: Path, fast: bool, timeout: float = 30.0, log=print,
               deadline: float | None = None) -> ModuleScore:
    """Judge every mutant of one module; past `deadline` (time.monotonic()), the rest are left "not run"."""
    from cosmic_ray.config import ConfigDict
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    target = TARGETS[name]
    tests = (target.fast or target.oracle) if fast else target.oracle
    # --fast: unit tests that bring no lab up, so pytest alone (one process less per mutant)
    command = (" ".join([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests])
               if fast and target.fast else oracle_command(tests))
    session = scratch / ".mutation"
    session.mkdir(exist_ok=True)
    config = session / f"{name}.toml"
    config.write_text(f'[cosmic-ray]\nmodule-path = "{target.path}"\ntimeout = {timeout}\nexcluded-modules = []\n'
                      f'test-command = "{command}"\n[cosmic-ray.distributor]\nname = "local"\n')
    db_path = session / f"{name}.sqlite"
    db_path.unlink(missing_ok=True)
    subprocess.run([str(Path(sys.executable).parent / "cosmic-ray"), "init", str(config), str(db_path)], cwd=scratch,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    source = (scratch / target.path).read_text()
    spans = _annotation_spans(source)
    lines = source.splitlines()

    cwd = os.getcwd()
    os.chdir(scratch)
    result = ModuleScore(name)
    try:
        started = time.monotonic()
        if subprocess.call(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
            raise RuntimeError(f"{name}: the oracle fails on unmutated code: {' '.join(tests)}")
        baseline = time.monotonic() - started
        timeout = max(timeout, 3 * baseline)  # a mutant that hangs is killed (Cosmic Ray counts a timeout as killed)
        log(f"{name}: {target.path}, oracle {' '.join(tests)} ({baseline:.0f}s unmutated)")
        with use_db(str(db_path), WorkDB.Mode.open) as db:
            items = [i for i in db.pending_work_items
                     if all(_kept(m.operator_name, m.start_pos, spans) for m in i.mutations)]
            for index, item in enumerate(items, 1):
                spec = item.mutations[0]
                if deadline is not None and time.monotonic() > deadline:
                    result.mutants.append(Mutant(target.path, spec.start_pos[0], spec.operator_name.split("/", 1)[-1],
                                                 lines[spec.start_pos[0] - 1].strip(), "", outcome="not run"))
                    continue
                work: WorkResult = mutate_and_test(item.mutations, command, timeout)
                db.set_result(item.job_id, work)
                original, mutated = _lines_of(work.diff or "")
                mutant = Mutant(target.path, spec.start_pos[0], spec.operator_name.split("/", 1)[-1],
                                original or lines[spec.start_pos[0] - 1].strip(), mutated)
                if work.worker_outcome != WorkerOutcome.NORMAL:
                    mutant.outcome = "incompetent"   # the mutant did not even import: not a test's merit
                elif work.test_outcome == TestOutcome.SURVIVED:
                    mutant.outcome = "survived"
                else:
                    mutant.outcome = "killed"
                result.mutants.append(mutant)
                log(f"  [{index}/{len(items)}] {mutant.outcome:<11} {mutant.file}:{mutant.line} {mutant.operator}")
    finally:
        os.chdir(cwd)
    return result


def apply_equivalents(scores: list[ModuleScore], entries: list[dict]) -> list[dict]:
    """Mark survivors listed as equivalent; return the entries that matched nothing (stale)."""
    used = []
    for score in scores:
        for m in score.mutants:
            entry = _equivalent_entry(m, entries) if m.outcome == "survived" else None
            if entry is not None:
                m.outcome, m.reason = "equivalent", entry["reason"]
                used.append(id(entry))
    ran = {TARGETS[s.name].path for s in scores}
    return [e for e in entries if e["file"] in ran and id(e) not in used]


def _partial(not_run: int) -> str:
    return f" ({not_run} not run: out of time)" if not_run else ""


def report(scores: list[ModuleScore], stale: list[dict], markdown: bool = False) -> str:
    rows = [(s.name, len(s.mutants), s.count("killed"), s.count("survived"), s.count("equivalent"),
             s.count("incompetent"), s.score, s.count("not run")) for s in scores]
    killed, judged = sum(s.count("killed") for s in scores), sum(s.judged for s in scores)
    overall = 100.0 * killed / judged if judged else 100.0
    out = []
    if markdown:
        out += ["## Mutation score", "", "| module | mutants | killed | survived | equivalent | incompetent | score |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        out += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.1f}%{_partial(r[7])} |" for r in rows]
        out += [f"| **overall** | | {killed} | {judged - killed} | | | **{overall:.1f}%** |", ""]
    else:
        out.append(f"{'module':<10} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv':>5} {'incomp':>6} {'score':>7}")
        out += [f"{r[0]:<10} {r[1]:>7} {r[2]:>6} {r[3]:>8} {r[4]:>5} {r[5]:>6} {r[6]:>6.1f}%{_partial(r[7])}" for r in rows]
        out.append(f"{'overall':<10} {'':>7} {killed:>6} {judged - killed:>8} {'':>5} {'':>6} {overall:>6.1f}%")
    survivors = [m for s in scores for m in s.mutants if m.outcome == "survived"]
    if survivors:
        out += ["", "Surviving mutants (kill each with a test, or record it in fixtures/mutation/equivalent.yaml):"]
        out += [f"- {m.file}:{m.line} {m.operator}: `{m.original}` -> `{m.mutated}`" for m in survivors]
    if stale:
        out += ["", f"Stale entries in {EQUIVALENT_FILE} (they match no surviving mutant any more):"]
        out += [f"- {e['file']} {e['operator']}: `{e['original']}` -> `{e['mutated']}`" for e in stale]
    return "\n".join(out)


def overall_score(scores: list[ModuleScore]) -> float:
    killed, judged = sum(s.count("killed") for s in scores), sum(s.judged for s in scores)
    return 100.0 * killed / judged if judged else 100.0


def main(argv: list[str]) -> int:
    if argv[:1] == ["oracle"]:
        return run_oracle(argv[1:])
    print("usage: python -m lab.tools.mutation oracle TESTS... (the rest is `inv mutate`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
