import contextlib
import hashlib
import os
from pathlib import Path

import pytest

from lab.model import config
from lab.session import Lab
from lab_process import stop_leftover


@contextlib.contextmanager
def private_lab(root: Path, **settings):
    """A private simulated lab (its own name and state directory; `settings` as lab.yaml's, a profile say),
    always torn down; yields its step Context."""
    lab = Lab.from_config(config.parse({"name": "unit", "probe_period": 1, **settings}), "sim", root)
    try:
        yield lab.context()
    finally:
        pid = lab.backend.provider.pid()
        lab.down()
        stop_leftover(lab.backend.provider, pid)  # never leave a process behind, even if down itself broke


@pytest.fixture
def sim_lab(tmp_path):
    """A private simulated lab for one test."""
    with private_lab(tmp_path) as lab:
        yield lab


@pytest.fixture(scope="module")
def module_sim_lab(tmp_path_factory):
    """A private simulated lab shared by the tests of one file that each keep to what they make (a namespace
    of their own, say) and leave its lab process alone: each lab is a process, and about a second of CPU."""
    with private_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@pytest.fixture
def sim_lab_of(tmp_path):
    """A private simulated lab with the lab.yaml settings a test gives: `with sim_lab_of(profile="seed-2.8") as lab:`."""
    return lambda **settings: private_lab(tmp_path / "lab", **settings)


@pytest.fixture
def test_namespace(request) -> str:
    """A namespace name of this test's own (`t-` and a hash of its name): where a test on a shared lab puts
    what it makes, so its neighbours never see it."""
    return "t-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:10]


# What the lab's pytest plugin reads from the environment (lab/pytest_plugin.py); `./labctl test` and the
# benchmark set some of them for the whole run.
LAB_VARIABLES = ("LAB_CONFIG", "LAB_BACKEND", "LAB_PROFILE", "LAB_KEEP", "LAB_ROOT", "LAB_PROBE_PERIOD")


@pytest.fixture
def session_env():
    """The environment for a pytest session a test starts on a lab of its own: this one's, less the LAB_*
    variables the run was given (a nested session that inherits the run's LAB_ROOT shares the run's own
    labs and waits on their locks), plus what the test sets."""
    def env(**given: str) -> dict[str, str]:
        return {**{k: v for k, v in os.environ.items() if k not in LAB_VARIABLES}, **given}
    return env

