"""The lab process's event loop: uvloop's where it is installed, asyncio's where it is not or where the user
asks for it (LAB_EVENT_LOOP=asyncio), so a machine without uvloop still runs the lab."""
import asyncio
import sys

import pytest

from lab.sim.process import daemon


def _loop_module(monkeypatch, env: str | None, uvloop_installed: bool) -> str:
    if env is None:
        monkeypatch.delenv("LAB_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("LAB_EVENT_LOOP", env)
    if not uvloop_installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    loop = daemon.event_loop_factory()()
    try:
        return type(loop).__module__.split(".")[0]
    finally:
        loop.close()


def test_without_uvloop_the_lab_runs_on_asyncios_loop(monkeypatch):
    assert _loop_module(monkeypatch, None, uvloop_installed=False) == "asyncio"


def test_asked_for_asyncio_it_gets_asyncios_loop(monkeypatch):
    assert _loop_module(monkeypatch, "asyncio", uvloop_installed=True) == "asyncio"


def test_with_uvloop_installed_the_lab_runs_on_it(monkeypatch):
    pytest.importorskip("uvloop")
    assert _loop_module(monkeypatch, None, uvloop_installed=True) == "uvloop"
    loop = daemon.event_loop_factory()()
    try:  # what the data plane needs of it
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()
