"""The scenarios' lab is chosen with --lab-* options or the LAB_* variables `./labctl e2e` sets: an option
given wins over its variable; a variable is used where its option is left out."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from lab.pytest_plugin import LabOptions, lab_options

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


def _session(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A scenario session in a project of its own (root), with this repository's lab plugin, as `pytest ARGS`."""
    (root / "conftest.py").write_text('pytest_plugins = ["lab.pytest_plugin"]\n')
    (root / "test_period.py").write_text(
        "def test_period(lab, east):\n"
        "    gw = lab.gateway\n"
        "    annotations = east.get('Service', gw.namespace, gw.name)['metadata']['annotations']\n"
        "    print('period', lab.probe_period, annotations['mirror.linkerd.io/probe-period'])\n")
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               "LAB_BACKEND": "sim", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "--rootdir", str(root),
                           *args, str(root)], cwd=root, env=environ, capture_output=True, text=True, timeout=120)


def test_a_lab_the_session_brings_up_probes_on_the_runs_time_scale_which_the_header_states(tmp_path):
    result = _session(tmp_path, env={"LAB_PROBE_PERIOD": "2"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "probes gateways every 2 s (--lab-probe-period; the guide's is 3)" in result.stdout
    assert "period 2 2\n" in result.stdout  # the lab's config and the gateway the clusters were given agree
    # A config the user names keeps its own period, whatever the run's time scale.
    (tmp_path / "mine.yaml").write_text("name: mine\nprobe_period: 1\n")
    result = _session(tmp_path, "--lab-probe-period", "2", env={"LAB_CONFIG": str(tmp_path / "mine.yaml")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "period 1 1\n" in result.stdout


def test_a_bad_probe_period_is_refused_with_the_lab_yaml_rule(tmp_path):
    result = _session(tmp_path, env={"LAB_PROBE_PERIOD": "0"})
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error: no lab was started
    assert "is not a whole number of seconds from 1 to 300" in result.stderr
    assert not (tmp_path / ".lab").exists() or not any((tmp_path / ".lab").glob("*/sim"))
