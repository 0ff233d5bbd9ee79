"""Each golden plan (fixtures/plans/*.sh) run by bash, as a person would run it, against stand-ins for the tools
that would touch a cluster: every poll in it is answered "not yet" a few times and must keep waiting, and run out
with its own message, instead of going on. PATH holds exactly the commands the plan's header lists, so a command
the header leaves out stops the plan ("command not found").

The stand-in (`FAKE` below) logs each call with how it answered: `notyet` for a poll answered not yet (the
multicluster check failing, a token still empty), `ready` when the same poll then succeeds, `plain` for anything
else. Blocking waits (`kubectl wait`, `rollout status`) wait inside the real tool; they are checked to name what
they wait for, since `kubectl wait --selector` passes or fails on whichever pods exist when it starts.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLANS = sorted((REPO / "fixtures" / "plans").glob("*.sh"))
NOT_YET = 2

# The tools that would reach a cluster, a registry or the network; the rest of the header's list runs for real.
# The stand-in itself uses only bash builtins: PATH holds nothing else.
FAKED = ("kind", "kubectl", "linkerd", "helm", "docker", "curl", "step", "openssl", "sleep")
FAKE = r"""#!/bin/bash
name=${0##*/}
line="$name $*"
answer=plain
poll=""
case "$line" in
  "linkerd "*" multicluster check"*|"linkerd "*" check --multicluster"*) poll=check ;;
  "kubectl "*"jsonpath={.data.token}"*|"kubectl "*"jsonpath={.secrets[*].name}"*) poll=token ;;
esac
if [ -n "$poll" ]; then
  key=${line//[^A-Za-z0-9]/_}
  count_file="$REPLAY_DIR/count.${key:0:200}"
  n=0
  [ -f "$count_file" ] && n=$(<"$count_file")
  if [ "$n" -lt "$REPLAY_NOT_YET" ]; then
    echo $((n + 1)) > "$count_file"; answer=notyet
  else
    echo 0 > "$count_file"; answer=ready
  fi
fi
printf '%s\t%s\n' "$answer" "$line" >> "$REPLAY_DIR/log"
for arg in "$@"; do [ "$arg" = "-" ] && { while IFS= read -r _; do :; done; break; }; done
case "$answer:$poll" in
  notyet:check) echo "probe services able to communicate with all gateway mirrors: not yet" >&2; exit 1 ;;
  notyet:token) exit 0 ;;
  ready:token) echo dG9rZW4=; exit 0 ;;
esac
case "$line" in
  "docker inspect"*) echo 172.18.0.2 ;;
  "openssl rand"*) echo c2VjcmV0 ;;
  "curl "*) echo "kind: List" ;;
  "step certificate create "*) : > "$4"; : > "$5" ;;
  "kubectl "*"jsonpath={.data.global}"*) echo '{"identityContext": {"trustAnchorsPem": "-----BEGIN CERTIFICATE-----\n"}}' ;;
  "kubectl "*"jsonpath={.data.ca-bundle"*) echo "-----BEGIN CERTIFICATE-----" ;;
esac
exit 0
"""


def header_tools(script: str) -> list[str]:
    needs = re.search(r"^# Needs on PATH: (.*)\.$", script, re.M)
    assert needs, "the plan's header lists the commands it calls"
    return [entry.split(" ")[0] for entry in needs.group(1).split(", ")]


def replay(plan: Path, tmp_path: Path, not_yet: int) -> tuple[subprocess.CompletedProcess, list[tuple[str, str]]]:
    script = plan.read_text()
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in header_tools(script):
        if tool in FAKED:
            (bin_dir / tool).write_text(FAKE)
            (bin_dir / tool).chmod(0o755)
        else:
            # the system's own first: a version manager's shim is a script that needs more than PATH holds
            real = shutil.which(tool, path="/usr/local/bin:/usr/bin:/bin") or shutil.which(tool)
            assert real, f"{tool} (in {plan.name}'s header) is not installed here"
            (bin_dir / tool).symlink_to(real)
    work = tmp_path / "lab"
    work.mkdir()
    env = {"PATH": str(bin_dir), "REPLAY_DIR": str(state), "REPLAY_NOT_YET": str(not_yet), "HOME": str(tmp_path)}
    result = subprocess.run(["/bin/bash", str(plan)], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    log = state / "log"
    calls = [tuple(line.split("\t", 1)) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.stem)
def test_every_poll_keeps_waiting_through_not_yet_answers(plan, tmp_path):
    result, calls = replay(plan, tmp_path, NOT_YET)
    assert result.returncode == 0, result.stderr[-2000:]
    loops = sum(1 for line in plan.read_text().splitlines() if line.startswith("n=0; until "))
    assert loops > 0
    assert sum(1 for answer, _ in calls if answer == "ready") == loops
    assert sum(1 for answer, _ in calls if answer == "notyet") == NOT_YET * loops
    for i, (answer, line) in enumerate(calls):
        if answer == "notyet":  # it waited, and asked again; nothing else ran in between
            assert calls[i + 1][1].startswith("sleep ") and calls[i + 2][1] == line, calls[i:i + 3]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.stem)
def test_a_poll_that_never_succeeds_stops_the_plan_after_its_attempts(plan, tmp_path):
    result, calls = replay(plan, tmp_path, 10_000)
    assert result.returncode == 1
    answer, line = calls[-1]
    assert answer == "notyet", "nothing runs after a poll that ran out"
    first = next(text for text in plan.read_text().splitlines() if text.startswith("n=0; until "))
    attempts = int(re.search(r'\[ "\$n" -lt (\d+) \]', first).group(1))
    assert [entry for entry in calls if entry[1] == line] == [("notyet", line)] * attempts
    said = re.search(r"\|\| \{ echo '(.*?)' >&2; exit 1; \}", first)
    if said:
        assert said.group(1).replace("'\"'\"'", "'") in result.stderr


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.stem)
def test_every_blocking_wait_names_what_it_waits_for(plan):
    for line in plan.read_text().splitlines():
        words = line.split()
        if words[:1] == ["kubectl"] and "wait" in words:
            assert not any(w.startswith(("--selector", "-l", "--all")) for w in words), line
            named = [w for w in words[words.index("wait") + 1:] if not w.startswith("-")]
            assert named, line
        if words[:1] == ["kubectl"] and "rollout" in words:
            assert re.search(r"rollout status [a-z]+/[a-z0-9.-]+ --timeout=", line), line
