"""The shell simulated pods run for `kubectl exec` (lab.sim.world.shell), driven as `sh` is: `sh -c TEXT`
or a script on stdin, against a small pod view with a fake network. What a user sees: stdout, stderr
and the exit status, with busybox ash's words for errors."""
from __future__ import annotations

import asyncio

import pytest

from lab.sim.wire import httpwire
from lab.sim.world.shell.commands import APPLETS
from lab.sim.world.shell.parser import parse
from lab.sim.world.shell.podview import NetError, PodView
from lab.sim.world.shell.program import sh_main
from lab.sim.world.shell.streams import IO, BytesSource, Capture
from lab.sim.world.shell.syntax import Incomplete, ShellSyntaxError


class FakeNet:
    """web.demo.svc.cluster.local answers; down.demo.svc.cluster.local refuses connections."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def resolve(self, name):
        for short, ip in (("web", "10.96.0.20"), ("down", "10.96.0.21")):
            if name in (short, f"{short}.demo", f"{short}.demo.svc.cluster.local"):
                return f"{short}.demo.svc.cluster.local", [ip]
        return None

    def lookup(self, fqdn):
        found = self.resolve(fqdn)
        return found[1] if found and found[0] == fqdn else None

    async def get(self, url, headers, timeout):
        self.sent.append((url, headers))
        if "down" in url:
            raise NetError(7, "Connection refused")
        if url.endswith("/missing"):
            return httpwire.Response(404, {"content-type": "text/plain"}, b"not found\n")
        return httpwire.Response(200, {"content-type": "text/plain"}, b"hello from web\n")


def pod(**changes) -> PodView:
    view = PodView("client-7d9f", "demo", {"PATH": "/bin", "HOME": "/home/curl_user", "HOSTNAME": "client-7d9f",
                                           "GREETING": "hi there"},
                   {"/etc/hostname": b"client-7d9f\n", "/etc/resolv.conf": b"nameserver 10.96.0.10\n"}, FakeNet(),
                   user="curl_user", uid=100, gid=101, home="/home/curl_user", tools=frozenset(APPLETS),
                   writable=("/tmp", "/home/curl_user"))
    for key, value in changes.items():
        setattr(view, key, value)
    return view


def sh(script: str | None = None, stdin: bytes = b"", view: PodView | None = None, argv: list[str] | None = None):
    """(status, stdout, stderr) of `sh -c script` (or `sh` reading stdin, or argv)."""
    out, err = Capture(), Capture()
    argv = argv or (["sh", "-c", script] if script is not None else ["sh"])
    status = asyncio.run(asyncio.wait_for(sh_main(view or pod(), argv, IO(BytesSource(stdin), out, err)), 10))
    return status, out.value.decode(), err.value.decode()


def out(script: str, **kwargs) -> str:
    status, stdout, stderr = sh(script, **kwargs)
    assert status == 0, (status, stderr)
    return stdout


# -- quoting and expansion -----------------------------------------------------------------------------------
@pytest.mark.parametrize("script, expected", [
    ("echo 'a'\"b\"c\\ d", "abc d\n"),
    ("echo 'single $GREETING' \"double $GREETING\"", "single $GREETING double hi there\n"),
    ('printf "[%s]" $GREETING; echo', "[hi][there]\n"),  # unquoted: split into two fields
    ('printf "[%s]" "$GREETING"; echo', "[hi there]\n"),
    ('printf "[%s]" "" a; echo', "[][a]\n"),  # an empty quoted word is still an argument
    ('x=""; printf "[%s]" $x; echo', "[]\n"),  # an empty unquoted expansion is none: printf reuses its format once
    ("echo \"a\\\"b\\$c\" 'it'\\''s'", "a\"b$c it's\n"),
    ("echo ${UNSET:-dflt} ${GREETING:+set} ${#GREETING} ${HOME#/home/} ${HOME%/*}", "dflt set 8 curl_user /home\n"),
    ("echo $((2 + 3 * 4)) $((-7 / 2)) $((7 % 3)) $((1 << 4)) $((3 > 2 && 0))", "14 -3 1 16 0\n"),
    ("echo $(echo $(echo nested)) `echo back`", "nested back\n"),
    ('echo "$(printf "a\\n\\n\\n")"x', "ax\n"),  # command substitution drops trailing newlines
    ("IFS=:; set -- $(echo a:b:c); echo $# $2", "3 b\n"),
    ('set -- "a b" c; for arg in "$@"; do echo "<$arg>"; done', "<a b>\n<c>\n"),
    ("echo a#b # a comment", "a#b\n"),
    ("echo one \\\ntwo", "one two\n"),  # a line continuation
    ("echo a&&echo b;echo c||echo d", "a\nb\nc\n"),  # operators need no spaces
    ("cd /tmp && echo ~ ~/x $PWD", "/home/curl_user /home/curl_user/x /tmp\n"),
    ("echo /etc/h*", "/etc/hostname\n"),
    ("echo '/etc/h*' /nomatch*", "/etc/h* /nomatch*\n"),  # quoted or unmatched: left as written
])
def test_quoting_and_expansion(script, expected):
    assert out(script) == expected


def test_here_documents_expand_unless_their_delimiter_is_quoted():
    assert out("cat <<EOF\n$GREETING $((1+1))\nEOF\ncat <<'EOF'\n$GREETING\nEOF") == "hi there 2\n$GREETING\n"


# -- control flow, status ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("script, expected", [
    ("for i in $(seq 3); do echo $i; done | wc -l", "3\n"),
    ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", "3\n"),
    ("until true; do echo never; done; echo done", "done\n"),
    ("for i in 1 2 3 4; do [ $i = 2 ] && continue; [ $i = 4 ] && break; echo $i; done", "1\n3\n"),
    ("if false; then echo a; elif true; then echo b; else echo c; fi", "b\n"),
    ("case web-1 in db*) echo db;; web-*|api) echo web;; *) echo other;; esac", "web\n"),
    ("greet() { echo \"hello $1\"; return 3; }; greet you; echo $?", "hello you\n3\n"),
    ("false; echo $?; ! false; echo $?; false | true; echo $?", "1\n0\n0\n"),
    ("x=$(exit 4); echo $?", "4\n"),
    ("(exit 5); echo $?; (x=1); echo ${x:-unset}", "5\nunset\n"),  # a subshell changes nothing outside
    ("{ echo a; echo b; } | tail -1", "b\n"),
    ("echo out; echo err >&2", "out\n"),
    ("echo err >&2 2>&1 | wc -l", "0\n"),  # >&2 first: stdout is stderr, then stderr stays stderr
    ("echo err 2>&1 >&2 | wc -l", "1\n"),  # 2>&1 first: stderr is the pipe, then stdout is too
    ("(echo err >&2) 2>&1 | wc -l", "1\n"),
    ("yes | head -2", "y\ny\n"),  # the writer stops when its reader has gone
    ("seq 1000000 | head -1", "1\n"),
    ("sleep 0.01 & wait; echo waited", "waited\n"),
    ("(sleep 0.01; echo later) & echo first", "first\nlater\n"),  # the shell's end waits for its background
    ("trap 'echo bye' EXIT; echo hi; exit 0", "hi\nbye\n"),
    ("f() { local x=inner; echo $x; }; x=outer; f; echo $x", "inner\nouter\n"),
])
def test_control_flow(script, expected):
    assert out(script) == expected


@pytest.mark.parametrize("script, status", [("exit 3", 3), ("exit 300", 44), ("false", 1), ("true", 0),
                                            ("set -e; false; echo unreachable", 1), ("set -e; false || true", 0),
                                            ("sh -c 'exit 9'", 9), ("test 1 -gt 2", 1)])
def test_exit_status(script, status):
    result = sh(script)
    assert result[0] == status and "unreachable" not in result[1], result


# -- errors as busybox ash words them ------------------------------------------------------------------------------
@pytest.mark.parametrize("script, message", [
    ("echo )", 'sh: syntax error: unexpected ")"'),
    ("if then fi", 'sh: syntax error: unexpected "then"'),
    ("fi", 'sh: syntax error: unexpected "fi"'),
    ("| wc", 'sh: syntax error: unexpected "|"'),
    ("for i in 1 2; do echo $i", 'sh: syntax error: unexpected end of file (expecting "done")'),
    ("echo 'open", "sh: syntax error: unterminated quoted string"),
    ("echo $(echo", 'sh: syntax error: unexpected end of file (expecting ")")'),
    ("case x in a) echo", 'sh: syntax error: unexpected end of file (expecting "esac")'),
])
def test_syntax_errors_exit_2_and_run_nothing(script, message):
    status, stdout, stderr = sh(f"echo first; {script}")
    assert (status, stdout, stderr) == (2, "", message + "\n")


def test_a_missing_command_is_not_found_with_127_and_the_script_goes_on():
    assert sh("nosuch arg; echo $?") == (0, "127\n", "sh: nosuch: not found\n")
    assert sh("/usr/games/fortune")[0::2] == (127, "sh: /usr/games/fortune: not found\n")
    assert sh("/bin/echo via path")[1] == ""  # echo is a builtin in ash, /bin/echo an applet this view lacks
    assert sh("/bin/cat /etc/hostname")[1] == "client-7d9f\n"


def test_set_x_traces_each_command_on_stderr():
    assert sh("set -x; x=2; echo $x | cat") == (0, "2\n", "+ echo 2\n+ cat\n")


def test_an_image_without_a_tool_does_not_find_it():
    view = pod(tools=frozenset({"cat"}))
    assert sh("curl -s web", view=view) == (127, "", "sh: curl: not found\n")


def test_bad_expansions_and_numbers_report_and_fail():
    assert sh("echo ${NOPE:?is required}; echo after") == (2, "", "sh: NOPE: is required\n")
    assert sh("echo $((1 / 0))")[0::2] == (2, "sh: divide by zero\n")
    assert sh("[ a -lt 2 ]")[0::2] == (2, "[: a: bad number\n")
    assert sh("[ 1 = 1")[0::2] == (2, "[: missing ]\n")
    assert sh("exit nope")[0::2] == (2, "sh: exit: Illegal number: nope\n")


def test_the_parser_tells_an_unfinished_command_from_a_wrong_one():
    for unfinished in ("for i in 1; do", "echo 'a", "if true; then echo", "echo $((1 +", "cat <<EOF\nbody"):
        with pytest.raises(Incomplete):
            parse(unfinished)
    for wrong in ("echo )", "done", "if then fi", ";;"):
        with pytest.raises(ShellSyntaxError) as caught:
            parse(wrong)
        assert not isinstance(caught.value, Incomplete), wrong


# -- the pod's view ---------------------------------------------------------------------------------------------------
def test_the_shell_sees_the_pods_environment_and_files_and_nothing_of_the_host():
    assert out('echo "$HOSTNAME"; hostname; cat /etc/hostname; pwd; whoami') == \
        "client-7d9f\nclient-7d9f\nclient-7d9f\n/\ncurl_user\n"
    assert "GREETING=hi there\n" in out("env")
    status, _, stderr = sh(f"cat {__file__} /proc/self/environ /etc/shadow")
    assert status == 1 and stderr.count("No such file or directory") == 3, stderr
    assert out("ls /") == "dev\netc\nhome\ntmp\n"


def test_writes_go_to_tmp_and_home_and_stay_for_the_pods_next_exec():
    view = pod()
    assert sh("echo saved > /tmp/note; echo more >> /tmp/note", view=view)[0] == 0
    assert sh("cat /tmp/note; wc -l < /tmp/note", view=view)[1] == "saved\nmore\n2\n"
    assert sh("echo x > /etc/hostname; echo $?", view=view)[1:] == ("1\n", "sh: can't create /etc/hostname: Permission denied\n")
    assert sh("cat < /nope", view=view)[0::2] == (1, "sh: can't open /nope: No such file or directory\n")
    assert sh("echo x > /dev/null; mkdir /tmp/d && touch /tmp/d/f && ls /tmp/d", view=view)[1] == "f\n"


# -- the network ------------------------------------------------------------------------------------------------------
def test_curl_resolves_through_the_pod_and_keeps_its_exit_codes():
    view = pod()
    assert sh("curl -s web", view=view) == (0, "hello from web\n", "")
    assert view.net.sent[-1][1]["host"] == "web" and view.net.sent[-1][1]["user-agent"].startswith("curl/")
    assert sh("curl -s -o /dev/null -w '%{http_code}' web.demo/missing", view=view)[1] == "404"
    assert sh("curl -sf web/missing", view=view) == (22, "", "")
    assert sh("curl -sS web/missing -f", view=view)[0::2] == (22, "curl: (22) The requested URL returned error: 404\n")
    assert sh("curl nowhere", view=view) == (6, "", "curl: (6) Could not resolve host: nowhere\n")
    assert sh("curl -s down", view=view) == (7, "", "")
    assert sh("curl down:8080", view=view)[2] == "curl: (7) Failed to connect to down port 8080 after 0 ms: Couldn't connect to server\n"
    assert sh("curl -X POST web", view=view)[0] == 2


def test_wget_and_nslookup_print_as_busybox_does():
    assert sh("wget -qO- web") == (0, "hello from web\n", "")
    assert sh("wget -qO- nowhere") == (1, "", "wget: bad address 'nowhere'\n")
    assert sh("wget -q -O - web/missing")[0::2] == (1, "wget: server returned error: HTTP/1.1 404 Not Found\n")
    assert sh("cd /tmp && wget -q web/page.html && cat page.html")[1] == "hello from web\n"
    assert sh("wget -q web/x")[0::2] == (1, "wget: can't open 'x': Permission denied\n")  # `/` is root's
    with_search = {**pod().files, "/etc/resolv.conf": b"search demo.svc.cluster.local svc.cluster.local cluster.local\n"
                                                        b"nameserver 10.96.0.10\noptions ndots:5\n"}
    header = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"
    found = "Name:\tweb.demo.svc.cluster.local\nAddress: 10.96.0.20\n\n"
    nowhere = "".join(f"** server can't find web.{d}: NXDOMAIN\n\n" for d in ("svc.cluster.local", "cluster.local"))
    # busybox asks a short name under each search domain, A then AAAA, prints every answer, and exits 1 when
    # any was NXDOMAIN, even with a name found; a name with a dot is asked as it is (curl's resolver searches it)
    assert sh("nslookup web", view=pod(files=with_search)) == (1, header + found + nowhere + "\n" + nowhere, "")
    assert sh("nslookup web.demo.svc.cluster.local", view=pod(files=with_search)) == (0, header + found + "\n", "")
    assert sh("nslookup web.demo", view=pod(files=with_search)) == (1, header + 2 * "** server can't find web.demo: NXDOMAIN\n\n", "")
    # without a search line a short name is asked bare
    assert sh("nslookup web") == (1, header + 2 * "** server can't find web: NXDOMAIN\n\n", "")


# -- stdin ------------------------------------------------------------------------------------------------------------
def test_a_script_on_stdin_runs_command_by_command_and_commands_read_the_rest():
    script = b"x=1\nfor i in a b; do\n  echo $i$x\ndone\ncat\nthis line is cat's\n"
    assert sh(stdin=script) == (0, "a1\nb1\nthis line is cat's\n", "")
    assert sh(stdin=b"echo ok\nexit 4\necho never\n") == (4, "ok\n", "")
    assert sh(stdin=b"echo ok\nif true; then\n") == (2, "ok\n", 'sh: syntax error: unexpected end of file (expecting "fi")\n')
    assert sh(stdin=b"") == (0, "", "")
    assert sh(stdin=b"echo one \\\ntwo\n") == (0, "one two\n", "")  # a continued line waits for the next


def test_an_interactive_shell_prompts_on_stderr():
    status, stdout, stderr = sh(stdin=b"cd /tmp\necho hi\nfor i in 1\ndo echo $i; done\n", argv=["sh", "-i"])
    assert (status, stdout) == (0, "hi\n1\n")
    assert stderr == "/ $ /tmp $ /tmp $ > /tmp $ "  # PS1 with the directory; PS2 inside the for loop


def test_text_tools():
    assert out("printf 'b\\na\\nb\\n' | sort | uniq -c") == "      1 a\n      2 b\n"
    assert out("echo a:b:c | cut -d: -f2,3; echo hello | tr a-z A-Z") == "b:c\nHELLO\n"
    assert out("seq 10 | grep -c 1; seq 5 | tail -n 2; seq 5 | head -n 2 | wc -l") == "2\n4\n5\n2\n"
    assert out("echo hi | gzip | gunzip; echo aGk= | base64 -d; echo") == "hi\nhi\n"
    assert out("grep -n resolv /etc/hostname /etc/resolv.conf; echo $?") == "1\n"
    assert sh("grep -q name /nope")[0] == 2
    assert out("seq 3 | xargs -n 2 echo x; echo a b | xargs; printf 'h\\n' | xargs -I {} cat /etc/{}ostname") == \
        "x 1 2\nx 3\na b\nclient-7d9f\n"


def test_the_terminal_echoes_edits_recalls_and_hands_over_whole_lines():
    """kubectl -t sends keys raw; the pod's terminal echoes them, edits the line, and gives the shell a
    line at Enter. Up recalls the previous line; Ctrl-D on an empty line reads as the end of input."""
    from lab.sim.world.terminal import Terminal, TerminalOutput

    async def scenario():
        keys = [b"ecko", b"\x7f\x7fho one\r", b"junk\x15echo two\r", b"\x1b[A\x1b[A\r", b"\x04"]
        screen = Capture()

        async def read():
            return keys.pop(0) if keys else b""

        terminal = Terminal(read, TerminalOutput(screen.write))
        feeder = asyncio.ensure_future(terminal.feed())
        lines = [await terminal.readline() for _ in range(4)]
        await feeder
        return lines, screen.value

    lines, screen = asyncio.run(asyncio.wait_for(scenario(), 5))
    assert lines == [b"echo one\n", b"echo two\n", b"echo one\n", b""]
    assert screen.startswith(b"ecko\b \b\b \bho one\r\n") and screen.endswith(b"echo one\r\n"), screen
