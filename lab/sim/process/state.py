"""What the lab process keeps on disk, and how it is read back at start: the snapshot (state.json: every
cluster's spec and objects, and the last journal record it holds) and the journal of changes since
(journal.py), replayed over it. Both hold Secrets: 0600. A file that cannot be read back is refused in
one line naming it and the fix; nothing is guessed.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path

from ...trust import pki
from ..kube.store import ObjectError, key_of
from . import journal

SNAPSHOT = "state.json"
REQUIRED_SPEC = ("pod_subnet", "service_subnet", "domain")  # what a simulated cluster cannot run without


class CorruptState(Exception):
    """The saved state cannot be read back: the lab process says so in one log line and exits."""


class _Bad(ValueError):
    """What exactly is wrong with a saved cluster, for the message."""


@dataclass
class SavedCluster:
    spec: dict | None
    objects: dict[tuple, dict] = field(default_factory=dict)
    version: int = 0  # the last resourceVersion handed out


@dataclass
class Restored:
    clusters: dict[str, SavedCluster]
    seq: int            # the last journal record applied
    journal_valid: int  # bytes of the journal that hold whole records
    torn: bool          # a torn last record was dropped


def _fix(path: Path) -> str:
    return (f"Fix: `./labctl down` removes the lab and its saved state (the clusters' objects are lost), or restore "
            f"{path.name} from a backup")


def _check_spec(spec, where: str) -> None:
    if not isinstance(spec, dict):
        raise _Bad(f"{where}: its spec is not a mapping")
    missing = [k for k in REQUIRED_SPEC if not isinstance(spec.get(k), str) or not spec.get(k)]
    if missing:
        raise _Bad(f"{where}: its spec lacks {', '.join(missing)}")
    for key in ("pod_subnet", "service_subnet"):
        try:
            ipaddress.ip_network(spec[key])
        except ValueError:
            raise _Bad(f"{where}: its spec's {key} is not a network") from None


def _snapshot(path: Path) -> tuple[dict[str, SavedCluster], int]:
    if not path.exists():
        return {}, 0
    try:
        data = json.loads(path.read_bytes())
        clusters = {}
        for name, entry in data["clusters"].items():
            _check_spec(entry["spec"], f"cluster {name}")
            objects = list(entry["objects"])
            if not all(isinstance(o, dict) for o in objects):
                raise _Bad(f"cluster {name}: an object is not a mapping")
            clusters[name] = SavedCluster(entry["spec"], {key_of(o): o for o in objects}, int(entry.get("version", 0)))
        seq = data.get("seq", 0)
        if type(seq) is not int:
            raise _Bad("seq is not a number")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ObjectError) as exc:
        detail = str(exc) if isinstance(exc, _Bad) else type(exc).__name__
        raise CorruptState(f"{path} is not the lab's saved state ({detail}). {_fix(path)}") from None
    return clusters, seq


def restore(state_dir: Path) -> Restored:
    """The clusters as the last acknowledged write left them: the snapshot, then the journal's later records."""
    clusters, seq = _snapshot(state_dir / SNAPSHOT)
    path = state_dir / journal.NAME
    try:
        records, valid, torn = journal.read(path)
    except journal.JournalError as exc:
        raise CorruptState(f"{exc}. Fix: `./labctl down` removes the lab and its saved state, or move {path.name} "
                           f"aside to start from the last snapshot (the writes it holds are lost)") from None
    last = seq
    for number, record in enumerate(records, 1):
        if record["seq"] <= seq:  # already in the snapshot (a crash between writing it and emptying the journal)
            continue
        try:
            _apply(clusters, record)
        except (KeyError, TypeError, ValueError, ObjectError) as exc:
            detail = str(exc) if isinstance(exc, _Bad) else type(exc).__name__
            raise CorruptState(f"{path} is damaged at record {number} ({detail}). Fix: `./labctl down` removes the lab "
                               f"and its saved state") from None
        last = record["seq"]
    for name, saved in clusters.items():
        if saved.spec is None:
            raise CorruptState(f"{path} has changes of cluster {name} but not the cluster. {_fix(path)}")
    return Restored(clusters, last, valid, torn)


def _apply(clusters: dict[str, SavedCluster], record: dict) -> None:
    saved = clusters.setdefault(record["c"], SavedCluster(None))
    if "spec" in record:
        _check_spec(record["spec"], f"cluster {record['c']}")
        saved.spec = record["spec"]
    elif "put" in record:
        obj = record["put"]
        saved.objects[key_of(obj)] = obj
        saved.version = max(saved.version, int(obj["metadata"]["resourceVersion"]))
    elif "del" in record:
        saved.objects.pop(tuple(record["del"]), None)
        saved.version = max(saved.version, int(record["rv"]))
    else:
        raise KeyError("no change")


def write_snapshot(state_dir: Path, clusters: dict[str, tuple[dict, list[dict], int]], seq: int) -> None:
    """Every cluster (spec, objects, last resourceVersion) and the last journal record they hold, replacing
    the snapshot atomically (pki.write_private: a temporary file, fsynced, renamed, the folder fsynced)."""
    data = {"seq": seq, "clusters": {name: {"spec": spec, "objects": objects, "version": version}
                                     for name, (spec, objects, version) in clusters.items()}}
    pki.write_private(state_dir / SNAPSHOT, json.dumps(data, separators=(",", ":")))
