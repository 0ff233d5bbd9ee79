"""Which lab a command talks to: its config, its backend, its state directory.

`up` records the backend it chose in .lab/<name>/backend, so `status`,
`down` and the scenarios talk to the same lab without being told again.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from . import config as config_mod
from .backends import BACKENDS, Choice, select
from .backends.base import Backend, LabError
from . import steps
from . import gateways
from .config import INSTALLERS, TRUST_MODES, LabConfig
from .profiles import PROFILES
Context = steps.Context

DEFAULT_CONFIG_FILE = "lab.yaml"


def load_config(path: str | None, root: Path) -> LabConfig:
    """--config FILE, else ./lab.yaml if there is one, else the built-in default."""
    if path:
        return config_mod.load(path)
    local = root / DEFAULT_CONFIG_FILE
    return config_mod.load(local if local.exists() else None)


def _one_of(what: str, value: str, choices) -> None:
    if value not in choices:
        raise LabError(f"unknown {what} {value!r}. Fix: use one of {', '.join(choices)}")


def with_flags(cfg: LabConfig, profile: str | None = None, trust: str | None = None,
               installer: str | None = None) -> LabConfig:
    """--profile, --trust and --installer override the file's `profile`, `trust.mode` and `installer`."""
    if profile is not None:
        _one_of("profile", profile, list(PROFILES))
        cfg = dataclasses.replace(cfg, profile_name=profile)
    if trust is not None:
        _one_of("trust mode", trust, TRUST_MODES)
        if trust == "bundle" and cfg.trust.anchor_cert:
            raise LabError("--trust bundle makes each cluster's anchor; it cannot use trust.anchor_cert. Fix: drop one of them")
        cfg = dataclasses.replace(cfg, trust=dataclasses.replace(cfg.trust, mode=trust))
    if installer is not None:
        _one_of("installer", installer, INSTALLERS)
        cfg = dataclasses.replace(cfg, installer=installer)
    return cfg


def _record(cfg: LabConfig, root: Path) -> Path:
    return cfg.state_dir(root) / "backend"


def _recorded(cfg: LabConfig, root: Path) -> dict:
    try:
        record = json.loads(_record(cfg, root).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded_backend(cfg: LabConfig, root: Path) -> str | None:
    backend = _recorded(cfg, root).get("backend")
    return backend if backend in BACKENDS else None


def record_backend(cfg: LabConfig, root: Path, name: str) -> None:
    """What `up` chose, with the profile, trust mode and installer it ran with: later commands on
    this lab (`status`, `check`, `down`, the scenarios) use the same, unless told otherwise."""
    path = _record(cfg, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"backend": name, "profile": cfg.profile_name, "trust": cfg.trust.mode,
                                "installer": cfg.installer}))


def with_recorded_flags(cfg: LabConfig, root: Path, profile: str | None, trust: str | None,
                        installer: str | None) -> LabConfig:
    """Flags given now win; those left out come from the lab's record, then from the config."""
    record = _recorded(cfg, root)
    try:
        return with_flags(cfg, profile or record.get("profile"), trust or record.get("trust"),
                          installer or record.get("installer"))
    except LabError:
        return with_flags(cfg, profile, trust, installer)  # a record from an older lab: ignore it


def forget_backend(cfg: LabConfig, root: Path) -> None:
    _record(cfg, root).unlink(missing_ok=True)
    _gateway_record(cfg, root).unlink(missing_ok=True)


def _gateway_record(cfg: LabConfig, root: Path) -> Path:
    return cfg.state_dir(root) / "gateway"


def with_active_gateway(cfg: LabConfig, root: Path) -> LabConfig:
    """`inv gateway X` outlives the command: the lab keeps using X until switched back or down."""
    path = _gateway_record(cfg, root)
    active = path.read_text().strip() if path.exists() else None
    return dataclasses.replace(cfg, gateway=active) if active in gateways.kinds() else cfg


def switch_gateway(session: "Session", kind: str, report=lambda r: None) -> list:
    """Move exported services to gateway `kind`: install it where needed, re-export, wait until
    linked clusters mirror and probe it. A second switch to the same gateway changes nothing."""
    _one_of("gateway", kind, gateways.kinds())
    cfg = dataclasses.replace(session.cfg, gateway=kind)
    session.cfg = session.backend.cfg = cfg
    ctx = session.context()
    results = steps.run_step(ctx, steps.by_name("gateway"), report) + steps.run_step(ctx, steps.by_name("export"), report)
    path = _gateway_record(cfg, session.root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kind)
    return results


@dataclass
class Session:
    cfg: LabConfig
    root: Path
    choice: Choice

    @property
    def backend(self) -> Backend:
        return self.choice.backend

    def context(self) -> Context:
        return Context(self.cfg, self.backend, self.root)


def open_session(config_path: str | None = None, backend: str = "auto", root: Path | None = None,
                 profile: str | None = None, trust: str | None = None, installer: str | None = None) -> Session:
    """The lab a command acts on. `auto` means: the backend the lab is already up on, else detect."""
    _one_of("backend", backend, BACKENDS)
    root = (root or Path.cwd()).resolve()
    cfg = with_active_gateway(with_recorded_flags(load_config(config_path, root), root, profile, trust, installer), root)
    recorded = recorded_backend(cfg, root)
    if backend == "auto" and recorded:
        choice = select(recorded, cfg, root)
        return Session(cfg, root, Choice(choice.backend, f"the lab '{cfg.name}' is up on {recorded}"))
    if recorded and backend != recorded:
        raise LabError(f"the lab '{cfg.name}' is up on the {recorded} backend, not {backend}. "
                       f"Fix: run `./labctl down` first, or leave --backend out")
    return Session(cfg, root, select(backend, cfg, root))
