"""Choosing a backend: `sim`, `kind`, or `auto` (kind where a Docker engine answers)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import LabConfig
from ..docker_probe import DockerProbe, probe_docker  # noqa: F401 - part of this module's interface
from .base import Backend, LabError

BACKENDS = ("auto", "sim", "kind", "contexts")


@dataclass(frozen=True)
class Choice:
    backend: Backend
    reason: str


def select(name: str, cfg: LabConfig, root: Path | None = None) -> Choice:
    if name not in BACKENDS:
        raise LabError(f"unknown backend {name!r}. Fix: use one of {', '.join(BACKENDS)}")
    from .sim import SimBackend

    if name == "sim":
        return Choice(SimBackend(cfg, root), "asked for with --backend sim")
    if name == "contexts":
        from .contexts import ContextsBackend

        return Choice(ContextsBackend(cfg, root), "asked for with --backend contexts: existing clusters")
    docker = probe_docker()
    if name == "kind":
        if not docker.answers:
            raise LabError(f"the kind backend needs a Docker engine, and {docker.detail}. "
                           "Fix: start Docker (or set DOCKER_HOST), or use --backend sim")
        return Choice(kind_backend(cfg, root), f"asked for with --backend kind; {docker.detail}")
    if docker.answers:
        return Choice(kind_backend(cfg, root), f"{docker.detail}: kind")
    return Choice(SimBackend(cfg, root), f"{docker.detail}: simulation")


def kind_backend(cfg: LabConfig, root: Path | None = None, **kwargs) -> Backend:
    from .kind import KindBackend

    return KindBackend(cfg, root, **kwargs)
