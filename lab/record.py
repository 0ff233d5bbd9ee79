"""What a lab remembers between commands: the LabRecord in .lab/<name>/record.json.

`up` records the backend it chose, with the profile, trust mode and installer it ran with, so
`status`, `down` and the scenarios talk to the same lab without being told again; `./labctl
gateway X` records the gateway in use, which the lab keeps until switched back or down.

The file is written whole (a temporary file beside it, then os.replace), so a command reading it
while another writes sees the old record or the new one, never half of one. A lab brought up by
the previous version kept the same in two files, `backend` (JSON) and `gateway` (text): they are
read the same way, and replaced by record.json at the next write.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .model import gateways
from .backends import BACKENDS
from .model.config import LabConfig, with_flags
from .errors import LabError

RECORD_FILE = "record.json"
LEGACY_BACKEND, LEGACY_GATEWAY = "backend", "gateway"  # the previous version's: backend and flags as JSON; gateway, text
LEGACY_FILES = (LEGACY_BACKEND, LEGACY_GATEWAY)
TEMP_PREFIX = f".{RECORD_FILE}."  # a write in progress, or one a crash cut short


def _json(path: Path) -> dict:
    """A JSON object from `path`; missing or not a JSON object (a crash mid-write, a hand edit): none."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (FileNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class LabRecord:
    """The record as read. `backend` is one this version knows, or None; the others are kept as written
    and checked where they are applied (`apply`), so a record from an older lab with values this version
    does not know is ignored there, not refused."""

    backend: str | None = None
    profile: str | None = None
    trust: str | None = None
    installer: str | None = None
    gateway: str | None = None  # the gateway type `./labctl gateway` switched to; None: the config's

    @classmethod
    def read(cls, state_dir: Path) -> LabRecord:
        """The lab's record; an empty one when the lab never came up, or the file cannot be read as one."""
        path = state_dir / RECORD_FILE
        if path.exists():
            data = _json(path)
        else:
            data = {**_json(state_dir / LEGACY_BACKEND), "gateway": _text(state_dir / LEGACY_GATEWAY)}
        backend = data.get("backend")
        return cls(backend=backend if backend in BACKENDS else None, profile=data.get("profile"), trust=data.get("trust"),
                   installer=data.get("installer"), gateway=data.get("gateway"))

    def write(self, state_dir: Path) -> None:
        """Replace the lab's record with this one, whole; the previous version's files go with it."""
        state_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=state_dir, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(dataclasses.asdict(self), fh)
            os.replace(temp, state_dir / RECORD_FILE)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        for name in LEGACY_FILES:
            (state_dir / name).unlink(missing_ok=True)

    @staticmethod
    def forget(state_dir: Path) -> None:
        """`down`: no record, in either version's files (and no temporary file a crashed write left)."""
        for name in (RECORD_FILE, *LEGACY_FILES):
            (state_dir / name).unlink(missing_ok=True)
        for temp in state_dir.glob(f"{TEMP_PREFIX}*"):
            temp.unlink(missing_ok=True)

    def ran(self, cfg: LabConfig, backend: str) -> LabRecord:
        """This record after `up` (or `step`) ran on `backend` with `cfg`: later commands on this lab
        (`status`, `check`, `down`, the scenarios) use the same, unless told otherwise. The gateway stays."""
        return dataclasses.replace(self, backend=backend, profile=cfg.profile_name, trust=cfg.trust.mode,
                                   installer=cfg.installer)

    def apply(self, cfg: LabConfig, profile: str | None = None, trust: str | None = None,
              installer: str | None = None) -> LabConfig:
        """Flags given now win; those left out come from the record, then from the config. `inv gateway X`
        outlives the command: the lab keeps using X until switched back or down."""
        try:
            cfg = with_flags(cfg, profile or self.profile, trust or self.trust, installer or self.installer)
        except LabError:
            cfg = with_flags(cfg, profile, trust, installer)  # a record from an older lab: ignore it
        return dataclasses.replace(cfg, gateway=self.gateway) if self.gateway in gateways.gateway_types() else cfg
