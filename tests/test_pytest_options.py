"""The scenarios' lab is chosen with --lab-* options or the LAB_* variables `./labctl e2e` sets: an option
given wins over its variable; a variable is used where its option is left out."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.pytest_plugin import LabOptions, lab_options, run_kubectl

REPO = Path(__file__).resolve().parent.parent

ENV = {"LAB_CONFIG": "env.yaml", "LAB_BACKEND": "kind", "LAB_PROFILE": "seed-2.8", "LAB_KEEP": "1", "LAB_ROOT": "/env-root"}


def _pytest_config(**given):
    """What lab_options reads of pytest's Config: the options (None when left out) and the rootdir."""
    options = {"lab_config": None, "lab_backend": None, "lab_profile": None, "lab_keep": None, "lab_root": None,
               "lab_probe_period": None, **given}
    return SimpleNamespace(getoption=options.__getitem__, rootpath=Path("/rootdir"))


def test_an_option_given_wins_over_its_variable():
    given = _pytest_config(lab_config="opt.yaml", lab_backend="sim", lab_profile="current", lab_keep=True,
                           lab_root="/opt-root")
    assert lab_options(given, {**ENV, "LAB_KEEP": "0"}) == LabOptions("opt.yaml", "sim", "current", True, Path("/opt-root"))


def test_each_variable_is_used_where_its_option_is_left_out():
    assert lab_options(_pytest_config(), ENV) == LabOptions("env.yaml", "kind", "seed-2.8", True, Path("/env-root"))
    mixed = lab_options(_pytest_config(lab_backend="sim"), ENV)
    assert (mixed.backend, mixed.config, mixed.profile) == ("sim", "env.yaml", "seed-2.8")


def test_neither_gives_the_defaults():
    assert lab_options(_pytest_config(), {}) == LabOptions(None, "auto", None, False, Path("/rootdir"))


def test_the_options_are_registered_with_pytest(pytestconfig):
    for option in ("lab_config", "lab_backend", "lab_profile", "lab_keep", "lab_root", "lab_probe_period"):
        pytestconfig.getoption(option)  # ValueError for an option pytest was not told about


def _session(root: Path, session_env, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A scenario session in a project of its own (root), with this repository's lab plugin, as `pytest ARGS`."""
    (root / "conftest.py").write_text('pytest_plugins = ["lab.pytest_plugin"]\n')
    (root / "test_period.py").write_text(
        "def test_period(lab, east):\n"
        "    gw = lab.gateway\n"
        "    annotations = east.get('Service', gw.namespace, gw.name)['metadata']['annotations']\n"
        "    print('period', lab.probe_period, annotations['mirror.linkerd.io/probe-period'])\n")
    environ = session_env(PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                          LAB_BACKEND="sim", **(env or {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "--rootdir", str(root),
                           *args, str(root)], cwd=root, env=environ, capture_output=True, text=True, timeout=120)


def test_a_lab_the_session_brings_up_probes_on_the_runs_time_scale_which_the_header_states(tmp_path, session_env):
    result = _session(tmp_path, session_env, env={"LAB_PROBE_PERIOD": "2"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "probes gateways every 2 s (--lab-probe-period; the guide's is 3)" in result.stdout
    assert "period 2 2\n" in result.stdout  # the lab's config and the gateway the clusters were given agree
    # A config the user names keeps its own period, whatever the run's time scale.
    (tmp_path / "mine.yaml").write_text("name: mine\nprobe_period: 1\n")
    result = _session(tmp_path, session_env, "--lab-probe-period", "2", env={"LAB_CONFIG": str(tmp_path / "mine.yaml")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "period 1 1\n" in result.stdout


def test_a_bad_probe_period_is_refused_with_the_lab_yaml_rule(tmp_path, session_env):
    result = _session(tmp_path, session_env, env={"LAB_PROBE_PERIOD": "0"})
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error: no lab was started
    assert "is not a whole number of seconds from 1 to 300" in result.stderr
    assert not (tmp_path / ".lab").exists() or not any((tmp_path / ".lab").glob("*/sim"))


# kubectl v1.32's own line when its websocket client drops an exec's output (client-go v0.32.0
# tools/remotecommand/websocket.go readDemuxLoop: klog.Errorf("Unknown stream id %d, discarding message"))
DROPPED = "E1206 20:00:00.000000   4242 websocket.go:296] Unknown stream id 1, discarding message"


def _fake_kubectl(tmp_path: Path, first_stderr: str) -> dict:
    """A `kubectl` on PATH that answers its first call with nothing on stdout and `first_stderr`, and
    every later call with `hi`; it counts its calls in tmp_path/calls."""
    script = tmp_path / "kubectl"
    script.write_text(f"""#!/bin/sh
echo x >> {tmp_path}/calls
if [ $(wc -l < {tmp_path}/calls) -eq 1 ]; then echo '{first_stderr}' >&2; exit 0; fi
echo hi
""")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


def _calls(tmp_path: Path) -> int:
    return len((tmp_path / "calls").read_text().splitlines())


def test_an_exec_whose_output_kubectl_says_it_dropped_runs_again_and_the_report_says_so(tmp_path):
    env = _fake_kubectl(tmp_path, DROPPED)
    with pytest.warns(UserWarning, match="dropped the output.*v0.34.*Unknown stream id 1"):
        result = run_kubectl(["exec", "deploy/client", "--", "echo", "hi"], env=env)
    assert (result.returncode, result.stdout, _calls(tmp_path)) == (0, "hi\n", 2)


def test_an_empty_exec_without_kubectls_line_or_another_command_with_it_runs_once(tmp_path):
    env = _fake_kubectl(tmp_path, "some other complaint")
    assert run_kubectl(["exec", "deploy/client", "--", "true"], env=env).stdout == ""
    (tmp_path / "calls").unlink()
    env = _fake_kubectl(tmp_path, DROPPED)
    assert run_kubectl(["logs", "deploy/client"], env=env).stdout == ""
    assert _calls(tmp_path) == 1
