"""A diagnostics bundle: what someone debugging a failed run needs, in one folder.

Per cluster: the multicluster check, recent events, the gateways listing,
and the objects that matter (pods, deployments, services, endpoints, links).
Secrets are never written: the issuers' keys live in them. The backend adds
its own (the sim's lab log; kind's `kubectl describe` and pod logs).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..backends.base import Backend, LabError
from ..model.config import LabConfig

KINDS = ("Pod", "Deployment", "Service", "Endpoints", "Link", "ConfigMap")


def artifacts_dir(cfg: LabConfig, root: Path) -> Path:
    return cfg.state_dir(root) / "artifacts"


def collect(cfg: LabConfig, backend: Backend, root: Path, label: str) -> Path:
    """Write a bundle under .lab/<name>/artifacts/<label>-<time>/ and return its path; never raises."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)[:80]
    dest = artifacts_dir(cfg, root) / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"
    dest.mkdir(parents=True, exist_ok=True)
    for cluster in cfg.cluster_names:
        folder = dest / cluster
        folder.mkdir(exist_ok=True)
        _write(folder / "check.json", lambda: [r.to_dict() for r in backend.kube.check(cluster)])
        _write(folder / "events.json", lambda: backend.kube.events(cluster))
        _write(folder / "gateways.json", lambda: [g.to_dict() for g in backend.kube.gateways(cluster)])
        for kind in KINDS:
            _write(folder / f"{kind.lower()}s.json", lambda kind=kind: backend.kube.list(cluster, kind))
    try:
        backend.provider.write_diagnostics(dest)
    except Exception as exc:  # a bundle is best effort: say what could not be gathered
        (dest / "errors.txt").open("a").write(f"backend diagnostics: {exc}\n")
    return dest


def _write(path: Path, gather) -> None:
    try:
        data = gather()
    except (LabError, OSError, ValueError) as exc:
        data = {"error": str(exc)}
    path.write_text(json.dumps(data, indent=2, default=str))
