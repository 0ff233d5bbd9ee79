"""scripts/cpu_of.py: the CPU time of everything a command started, what outlived it included."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_OF = [sys.executable, str(REPO / "scripts" / "cpu_of.py")]

# A command that leaves behind a process of its own (a new session, as `up` leaves its lab process) which
# burns CPU for a while and then ends, or sleeps on, and says its PID.
LEAVE = """
import subprocess, sys
left = subprocess.Popen([sys.executable, "-c", sys.argv[1], "cpu_of test: left behind"], start_new_session=True,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(left.pid, flush=True)
sys.exit(3)
"""
BURN = "import time, sys\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
SLEEP = "import time\ntime.sleep(60)"


def _run(tmp_path: Path, left: str, wait: float) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "cpu.json"
    result = subprocess.run([*CPU_OF, "--json", str(out), "--wait", str(wait), "--", sys.executable, "-c", LEAVE, left],
                            capture_output=True, text=True, timeout=60)
    return result, json.loads(out.read_text())


def test_the_cpu_of_a_process_the_command_left_behind_is_counted_and_its_exit_code_kept(tmp_path):
    result, figures = _run(tmp_path, BURN, wait=10)
    assert result.returncode == 3
    assert result.stdout.strip().isdigit()  # the command's own output passes through
    assert figures["cpu_s"] >= 0.4 and figures["still_running"] == 0, figures
    assert "CPU-s in every process it started" in result.stderr


def test_a_process_still_running_is_named_not_counted_and_not_waited_for_long(tmp_path):
    started = time.monotonic()
    result, figures = _run(tmp_path, SLEEP, wait=0.3)
    pid = int(result.stdout)
    try:
        assert figures["still_running"] == 1 and "1 still running, not counted" in result.stderr
        assert time.monotonic() - started < 30
    finally:
        # ours: the sleeper this test's command started, proven by its command line
        if b"cpu_of test: left behind" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)


def test_no_command_is_a_usage_error():
    result = subprocess.run([*CPU_OF, "--"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no command given" in result.stderr
