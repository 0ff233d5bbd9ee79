"""The Lab: which lab a command talks to (config, backend, state directory) and its lifecycle.

`up` records the backend it chose in .lab/<name>/record.json (lab/record.py), so `status`,
`down` and the scenarios talk to the same lab without being told again.
"""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
from pathlib import Path

from .model import config as config_mod
from .model import gateways
from . import steps
from .backends import BACKENDS, Choice, select
from .backends.base import Backend, LabError
from .model.config import LabConfig
from .errors import one_of
from .lock import lab_lock
from .model.profiles import DEFAULT_PROFILE, MODES
from .record import LabRecord

# Where `inv test`'s parallel workers each keep a lab of their own (lab/pytest_plugin.py), under the root
TEST_WORKERS = Path(".lab") / "workers"

Context = steps.Context

DEFAULT_CONFIG_FILE = "lab.yaml"


def load_config(path: str | None, root: Path) -> LabConfig:
    """--config FILE, else ./lab.yaml if there is one, else the built-in default."""
    if path:
        return config_mod.load(path)
    local = root / DEFAULT_CONFIG_FILE
    return config_mod.load(local if local.exists() else None)


class Lab:
    """One lab: the only copy of its config, its backend, its state directory and the gateway in use.

    `up()`, `down()` and `with Lab.open(...) as lab:` are the lab's only lifecycle: the tasks, the
    pytest plugin, the benchmark and the tests all go through them. Commands that change the lab
    hold its lock (lab/lock.py); `locked()` takes it once per Lab, so a holder (the scenario
    session) can call `up()` inside it.
    """

    def __init__(self, cfg: LabConfig, root: Path, choice: Choice):
        self.root = root
        self.choice = choice
        self.backend.cfg = cfg  # the one copy: the backend reads it, the Lab replaces it
        self._held = 0
        self.started_here = False
        self.keep = False  # leaving `with lab:` keeps a lab it started (LAB_KEEP=1, `./labctl e2e --keep`)

    @classmethod
    def open(cls, config_path: str | None = None, backend: str = "auto", root: Path | None = None,
             profile: str | None = None, trust: str | None = None, installer: str | None = None) -> "Lab":
        """The lab a command acts on. `auto` means: the backend the lab is already up on, else detect."""
        one_of("backend", backend, BACKENDS)
        root = (root or Path.cwd()).resolve()
        cfg = load_config(config_path, root)
        record = LabRecord.read(cfg.state_dir(root))
        cfg = record.apply(cfg, profile, trust, installer)
        recorded = record.backend
        if backend == "auto" and recorded:
            choice = select(recorded, cfg, root)
            return cls(cfg, root, Choice(choice.backend, f"the lab '{cfg.name}' is up on {recorded}"))
        if recorded and backend != recorded:
            raise LabError(f"the lab '{cfg.name}' is up on the {recorded} backend, not {backend}. "
                           f"Fix: run `./labctl down` first, or leave --backend out")
        return cls(cfg, root, select(backend, cfg, root))

    @classmethod
    def from_config(cls, cfg: LabConfig, backend: str, root: Path) -> "Lab":
        """A lab described in code (tests, the benchmark, a scenario's sibling lab) on a named backend."""
        return cls(cfg, root, select(backend, cfg, root))

    # -- what it is ------------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        return self.choice.backend

    @property
    def cfg(self) -> LabConfig:
        return self.backend.cfg

    @property
    def state_dir(self) -> Path:
        return self.cfg.state_dir(self.root)

    @property
    def gateway(self) -> gateways.Gateway:
        """The gateway exported services use now."""
        return gateways.resolve(self.cfg)

    def context(self) -> Context:
        return Context(self.cfg, self.backend, self.root)

    def running(self) -> bool:
        return self.backend.provider.running()

    @contextlib.contextmanager
    def locked(self, command: str):
        """The lab's lock for a command that changes it: a second command waits, saying for whom."""
        if self._held:
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
            return
        with lab_lock(self.state_dir, command):
            self._held = 1
            try:
                yield
            finally:
                self._held = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def up(self, until: str | None = None, report=lambda r: None) -> list[steps.StepResult]:
        """Every step in order (up to `until`), skipping those already done. Refuses before recording
        anything when the backend lacks what it needs."""
        if until is not None:
            steps.by_name(until)
        self.backend.provider.preflight()
        with self.locked("./labctl up"):
            self._record_run()
            return steps.up(self.context(), until=until, report=report)

    def _record_run(self) -> None:
        """What `up` and `step` run with, for the commands after them; the gateway switched to stays."""
        LabRecord.read(self.state_dir).ran(self.cfg, self.backend.name).write(self.state_dir)

    def step(self, name: str, report=lambda r: None) -> list[steps.StepResult]:
        """One step alone (its check first: it does nothing if already done)."""
        chosen = steps.by_name(name)
        with self.locked(f"./labctl step {name}"):
            self._record_run()
            return steps.run_step(self.context(), chosen, report)

    @classmethod
    def test_workers(cls, config_path: str | None, root: Path) -> list["Lab"]:
        """The labs `inv test`'s parallel workers brought up under `root` and an interrupted run (SIGKILL)
        left behind: only those recorded on the simulation, the one backend the workers run on."""
        folder = root.resolve() / TEST_WORKERS
        cfg = load_config(config_path, root)
        found = []
        for worker_root in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
            if LabRecord.read(cfg.state_dir(worker_root)).backend == "sim":
                found.append(cls.open(config_path, "sim", worker_root))
        return found

    def down(self, purge: bool = False) -> list[str]:
        """Tear the lab down; safe twice, or on a lab that never came up. `purge` also deletes its
        certificates and keys. Returns what was removed."""
        with self.locked("./labctl down"):
            removed = self.backend.provider.destroy()
            LabRecord.forget(self.state_dir)
            pki_dir = self.state_dir / "pki"
            if purge and pki_dir.exists():
                shutil.rmtree(pki_dir)
                removed.append(str(pki_dir))
        return removed

    def switch_gateway(self, gateway: str, report=lambda r: None) -> list[steps.StepResult]:
        """Move exported services to the gateway type `gateway`: install it where needed, re-export, wait
        until linked clusters mirror and probe it. A second switch to the same gateway changes nothing.
        The choice outlives the command: the lab keeps it until switched back or down."""
        one_of("gateway", gateway, gateways.gateway_types())
        with self.locked(f"./labctl gateway {gateway}"):
            self.backend.cfg = dataclasses.replace(self.cfg, gateway=gateway)
            ctx = self.context()
            results = steps.run_step(ctx, steps.by_name("gateway"), report) + steps.run_step(ctx, steps.by_name("export"), report)
            dataclasses.replace(LabRecord.read(self.state_dir), gateway=gateway).write(self.state_dir)
        return results

    def relink(self, link_with: str, report=lambda r: None) -> list[steps.StepResult]:
        """Link the lab's clusters again with `link-gen` or the deprecated `link`: for link-gen, the extension's
        controllers are installed, each link's own controller removed, the Links kept, so mirrors and traffic
        carry on. The choice lasts for this Lab; lab.yaml's `link_with` should say the same for later commands."""
        one_of("link_with", link_with, config_mod.LINK_COMMANDS)
        if link_with == "link" and self.cfg.link_command == "link-gen" and self.cfg.profile.link_crd:
            raise LabError("moving back to the deprecated `link` is not supported: the extension's controllers would stay "
                           "beside the links' own. Fix: `./labctl down`, set `link_with: link` in lab.yaml, `./labctl up`")
        if link_with == "link-gen" and link_with not in self.cfg.profile.modes:
            raise LabError(f"link-gen came with Linkerd {MODES['link-gen']}, and profile {self.cfg.profile_name} runs "
                           f"Linkerd {self.cfg.profile.linkerd}. Fix: use profile {DEFAULT_PROFILE}")
        with self.locked(f"./labctl relink {link_with}"):
            self.backend.cfg = dataclasses.replace(self.cfg, link_with=link_with)
            ctx = self.context()
            return steps.run_step(ctx, steps.by_name("multicluster"), report) + steps.run_step(ctx, steps.by_name("link"), report)

    def revoke(self, source: str, target: str | None = None) -> str:
        """Revoke one source cluster's access to `target` (default: the one cluster it links to); returns the target."""
        targets = [link.target for link in self.cfg.links if link.source == source]
        if target is None and len(targets) != 1:
            raise LabError(f"{source} links to {', '.join(targets) or 'no cluster'}. Fix: name one with --target")
        target = target or targets[0]
        with self.locked(f"./labctl revoke {source}"):
            self.backend.installer.revoke_access(target, source)
        return target

    def __enter__(self) -> "Lab":
        """Up, unless it already is; a lab started here is taken down on leaving."""
        self.started_here = not self.running()
        try:
            self.up()
        except BaseException:
            self.__exit__()  # `with` calls __exit__ only after __enter__ returned: a failed up must not leave a lab
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.started_here and not self.keep:
            self.down()
