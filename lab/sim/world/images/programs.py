"""What a container of a general-purpose image does when the simulation runs it: a "sleeping container".

The lab's own images (podinfo, the gateways, Linkerd's controllers) are played by apps.py. A container of a
general-purpose image (busybox, alpine, curlimages/curl, ubuntu, debian) runs its command as the container
runtime would start it (the image's entrypoint and default command, replaced by the container's `command`
and `args`), and that command is interpreted only as far as a pod's life goes: how long it runs, what it
writes to its log, and the code it exits with. Understood are `sh -c`/`bash -c` scripts and plain commands
made of `echo`, `sleep` (seconds, with s/m/h/d, or `infinity`), `true`, `false`, `:` and `exit N`, joined by
`;`, `&&`, `||` or new lines, with `while true; do ...; done` and `for x in ...; do ...; done` loops and
`$VAR` from the container's `env`. So `sh -c "echo hi; sleep 3600"` runs for an hour, `sh -c "exit 3"` ends
at once with exit code 3, and busybox without a command runs `sh`, which finds no terminal and exits 0.

Anything else (a pipe, `curl` as the container's own process, any other program) cannot be modelled:
`for_container` raises CommandNotSupported saying what can, and the pod fails with that reason and message, as
a pod of an image the simulation does not play fails with ImageNotSupported. `kubectl exec` into a running container is podexec.py's, not this module's.
"""
from __future__ import annotations

import re
import time
import shlex
from dataclasses import dataclass, field
from typing import Iterator

from .apps import ImageError

# repository (last path part) -> (entrypoint, default command), as the images' configs set them
IMAGES = {"busybox": ((), ("sh",)), "alpine": ((), ("/bin/sh",)), "curl": (("/entrypoint.sh",), ("curl",)),
          "ubuntu": ((), ("/bin/bash",)), "debian": ((), ("bash",))}
SHELLS = {"sh", "bash", "ash"}
BUILTINS = {"echo", "sleep", "true", "false", ":", "exit"}
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOREVER = float("inf")
STEP_LIMIT = 1000  # statements run in one go by a loop that never sleeps, before it yields to the clock


class CommandNotSupported(ImageError):
    """A command of a general-purpose image the simulation cannot model: the pod fails with this reason."""
    reason = "CommandNotSupported"


class Exit(Exception):
    def __init__(self, code: int):
        self.code = code


@dataclass
class Command:
    words: list[str]


@dataclass
class Loop:
    kind: str  # "while" or "for"
    condition: list  # while: a statement list; for: [variable, words]
    body: list


@dataclass
class Program:
    """A container's parsed command: statements as (operator joining it to the one before, node)."""
    statements: list = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def run(self) -> Iterator[tuple[str, object]]:
        """("log", line) and ("sleep", seconds) steps; returns the exit code (StopIteration.value)."""
        try:
            return (yield from _run_list(self.statements, self.env, [0]))
        except Exit as done:
            return done.code


def image_repo(image: str) -> str:
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]


def argv_of(container: dict) -> list[str] | None:
    """What the runtime executes for a container of a general-purpose image (None: not one of those)."""
    found = IMAGES.get(image_repo(container.get("image", "")))
    if found is None:
        return None
    entrypoint, default = found
    command, args = container.get("command"), container.get("args")
    argv = list(command) + list(args or []) if command else list(entrypoint) + list(args or default)
    if argv[:1] == ["/entrypoint.sh"]:  # curlimages/curl: `curl` in front of options or of what is no program
        argv = argv[1:]
        if not argv or argv[0].startswith("-") or _name(argv[0]) not in SHELLS | BUILTINS | {"curl"}:
            argv = ["curl", *argv]
    return argv


def for_container(container: dict, hostname: str) -> Program | None:
    """The container's program when its image is a general-purpose one; ImageError when its command cannot
    be modelled."""
    argv = argv_of(container)
    if argv is None:
        return None
    env = {"HOSTNAME": hostname, **{e["name"]: str(e.get("value", "")) for e in container.get("env", []) if "name" in e}}
    if argv == ["curl"]:  # curl without a URL prints its hint and exits 2
        return Program([(";", Command(["echo", "curl: try 'curl --help' or 'curl --manual' for more information"])),
                        (";", Command(["exit", "2"]))], env)
    if _name(argv[0]) in SHELLS:
        if len(argv) == 1:
            return Program([], env)  # no terminal: the shell reads an empty stdin and exits 0
        if argv[1] == "-c" and len(argv) >= 3:
            return Program(_parse_script(argv[2], container), env)
        raise _unmodelled(container, f"{argv[0]} {' '.join(argv[1:])}")
    if _name(argv[0]) == "exit" or _name(argv[0]) not in BUILTINS:
        raise _unmodelled(container, argv[0])
    return Program([(";", Command([_name(argv[0]), *argv[1:]]))], env)


def _name(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _unmodelled(container: dict, what: str) -> ImageError:
    return CommandNotSupported(f"the simulation cannot run {what!r} in container {container.get('name', '')!r} "
                      f"(image {container.get('image', '')!r}): a container of a general-purpose image runs "
                      "`echo`, `sleep`, `true`, `false` and `exit`, alone or in a `sh -c` script with ;, &&, ||, "
                      "while and for (use the kind backend for anything else)")


def _parse_script(script: str, container: dict) -> list:
    lexer = shlex.shlex(script.replace("\n", ";"), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:  # an unterminated quote: sh's syntax error
        raise _unmodelled(container, f"sh -c {script!r} ({exc})") from None
    statements, rest = _parse_list(tokens, 0, (), container, script)
    if rest != len(tokens):
        raise _unmodelled(container, f"sh -c {script!r}")
    return statements


def _parse_list(tokens: list[str], i: int, stop: tuple[str, ...], container: dict, script: str) -> tuple[list, int]:
    """Statements up to one of the `stop` words; returns them and the index of that word."""
    out, op = [], ";"
    while i < len(tokens) and tokens[i] not in stop:
        token = tokens[i]
        if token in (";", "&&", "||"):
            op, i = token, i + 1
            continue
        if token in ("while", "until"):
            condition, i = _parse_list(tokens, i + 1, ("do",), container, script)
            body, i = _parse_list(tokens, i + 1, ("done",), container, script)
            node = Loop("while" if token == "while" else "until", condition, body)
            i += 1
        elif token == "for":
            if i + 2 >= len(tokens) or tokens[i + 2] != "in":
                raise _unmodelled(container, f"sh -c {script!r}")
            variable, j = tokens[i + 1], i + 3
            while j < len(tokens) and tokens[j] not in (";", "do"):
                j += 1
            words, j = tokens[i + 3:j], j + (1 if j < len(tokens) and tokens[j] == ";" else 0)
            if j >= len(tokens) or tokens[j] != "do":
                raise _unmodelled(container, f"sh -c {script!r}")
            body, i = _parse_list(tokens, j + 1, ("done",), container, script)
            node, i = Loop("for", [variable, words], body), i + 1
        else:
            j = i
            while j < len(tokens) and tokens[j] not in (";", "&&", "||"):  # reserved words count only first
                j += 1
            words, i = tokens[i:j], j
            if any(w in ("|", "&") for w in words) or _name(words[0]) not in BUILTINS:
                raise _unmodelled(container, words[0] if _name(words[0]) not in BUILTINS else f"sh -c {script!r}")
            node = Command([_name(words[0]), *words[1:]])
        out.append((op, node))
        op = ";"
    if stop and i >= len(tokens):
        raise _unmodelled(container, f"sh -c {script!r}")
    return out, i


def _expand(word: str, env: dict[str, str], status: list[int]) -> str:
    word = word.replace("$?", str(status[0]))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), word)


def _run_list(statements: list, env: dict[str, str], status: list[int]):
    for op, node in statements:
        if (op == "&&" and status[0] != 0) or (op == "||" and status[0] == 0):
            continue
        if isinstance(node, Command):
            status[0] = yield from _run_command(node, env, status)
        elif node.kind == "for":
            variable, words = node.condition
            status[0] = 0
            for word in [_expand(w, env, status) for w in words]:
                env[variable] = word
                yield from _run_list(node.body, env, status)
        else:
            steps = 0
            while True:
                yield from _run_list(node.condition, env, status)
                if (status[0] == 0) != (node.kind == "while"):
                    break
                before = steps
                steps += len(node.body) + 1
                yield from _run_list(node.body, env, status)
                if steps // STEP_LIMIT != before // STEP_LIMIT:
                    yield ("sleep", 0.0)  # a loop that never sleeps still lets the clock move
            status[0] = 0
    return status[0]


def _run_command(node: Command, env: dict[str, str], status: list[int]):
    name, args = node.words[0], [_expand(w, env, status) for w in node.words[1:]]
    if name == "echo":
        newline = not args[:1] == ["-n"]
        yield ("log", " ".join(args[0 if newline else 1:]))
        return 0
    if name == "sleep":
        total = 0.0
        for arg in args or ["missing"]:
            match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", arg)
            if arg == "infinity":
                total = FOREVER
            elif match is None:
                yield ("log", f"sleep: invalid number '{arg}'" if args else "sleep: missing operand")
                return 1
            else:
                total += float(match.group(1)) * UNITS[match.group(2) or "s"]
        yield ("sleep", total)
        return 0
    if name == "exit":
        raise Exit(int(args[0]) % 256 if args and args[0].lstrip("-").isdigit() else status[0])
    return 1 if name == "false" else 0


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


BACK_OFF, MAX_BACK_OFF = 10.0, 300.0  # the kubelet's crash-loop back-off: 10 s, doubled up to 5 min


class ContainerRun:
    """One container's process over time, restarted as its pod's restartPolicy says: Always, or OnFailure
    after a non-zero exit, after the kubelet's back-off (pkg/kubelet/kubelet.go, v1.32: 10 s doubling to 5 min),
    during which the container waits in CrashLoopBackOff."""

    def __init__(self, name: str, program: Program, policy: str, log, now: float):
        self.name, self.program, self.policy, self.log = name, program, policy, log
        self.restarts = 0
        self.last: dict | None = None  # the previous run's termination, once restarted
        self.back_off_until: float | None = None
        self._start(now)

    def _start(self, now: float) -> None:
        self.started_at = self.clock = now
        self.terminated: dict | None = None
        self._steps = self.program.run()

    def advance(self, now: float) -> bool:
        """Run the program up to `now`; True when the container's state changed."""
        changed = False
        if self.back_off_until is not None:
            if now < self.back_off_until:
                return False
            self.back_off_until, self.restarts, changed = None, self.restarts + 1, True
            self._start(now)
        while self.terminated is None and self.clock <= now:
            try:
                kind, value = next(self._steps)
            except StopIteration as done:
                code = done.value or 0
                self.terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                   "startedAt": stamp(self.started_at), "finishedAt": stamp(self.clock)}
                if self.policy == "Always" or (self.policy == "OnFailure" and code != 0):
                    self.last = self.terminated
                    self.back_off_until = self.clock + self.back_off()
                return True
            if kind == "log":
                self.log(value)
            else:
                self.clock += value or 1.0  # a loop that never sleeps gets a second per STEP_LIMIT statements
        return changed

    def back_off(self) -> float:
        return min(BACK_OFF * 2 ** self.restarts, MAX_BACK_OFF)

    @property
    def due(self) -> float | None:
        """When the container next needs the clock: its back-off's end, or the end of its current sleep."""
        if self.back_off_until is not None:
            return self.back_off_until
        return self.clock if self.terminated is None and self.clock != FOREVER else None

    @property
    def running(self) -> bool:
        return self.terminated is None and self.back_off_until is None

    def state(self, pod: str) -> dict:
        if self.back_off_until is not None:
            return {"waiting": {"reason": "CrashLoopBackOff",
                                "message": f"back-off {int(self.back_off())}s restarting failed container={self.name} pod={pod}"}}
        if self.terminated is not None:
            return {"terminated": self.terminated}
        return {"running": {"startedAt": stamp(self.started_at)}}
