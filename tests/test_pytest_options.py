"""The scenarios' lab is chosen with --lab-* options or the LAB_* variables `./labctl e2e` sets: an option
given wins over its variable; a variable is used where its option is left out."""
from pathlib import Path
from types import SimpleNamespace

from lab.pytest_plugin import LabOptions, lab_options

ENV = {"LAB_CONFIG": "env.yaml", "LAB_BACKEND": "kind", "LAB_PROFILE": "seed-2.8", "LAB_KEEP": "1", "LAB_ROOT": "/env-root"}


def _pytest_config(**given):
    """What lab_options reads of pytest's Config: the options (None when left out) and the rootdir."""
    options = {"lab_config": None, "lab_backend": None, "lab_profile": None, "lab_keep": None, "lab_root": None, **given}
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
    for option in ("lab_config", "lab_backend", "lab_profile", "lab_keep", "lab_root"):
        pytestconfig.getoption(option)  # ValueError for an option pytest was not told about
