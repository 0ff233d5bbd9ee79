import os
import signal

import pytest

from lab.model import config
from lab.session import Lab


@pytest.fixture
def sim_lab(tmp_path):
    """A private simulated lab (its own name and state directory), always torn down; yields its step Context."""
    lab = Lab.from_config(config.parse({"name": "unit", "probe_period": 1}), "sim", tmp_path)
    try:
        yield lab.context()
    finally:
        pid = lab.backend.provider.pid()
        lab.down()
        if pid:  # never leave a process behind, even if down itself broke
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
