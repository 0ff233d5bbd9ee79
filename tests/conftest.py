import os
import signal

import pytest

from lab import config, steps
from lab.backends.sim.backend import SimBackend


@pytest.fixture
def sim_lab(tmp_path):
    """A private simulated lab (its own name and state directory), always torn down."""
    cfg = config.parse({"name": "unit", "probe_period": 1})
    backend = SimBackend(cfg, tmp_path)
    ctx = steps.Context(cfg, backend, tmp_path)
    try:
        yield ctx
    finally:
        pid = backend.pid()
        backend.destroy()
        if pid:  # never leave a process behind, even if destroy itself broke
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
