"""Choosing a backend: `sim`, `kind`, or `auto` (kind where a Docker engine answers)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import LabConfig
from .base import Backend, LabError

BACKENDS = ("auto", "sim", "kind", "contexts")


@dataclass(frozen=True)
class DockerProbe:
    answers: bool
    detail: str


def probe_docker() -> DockerProbe:
    """Ask the Docker engine named by the environment (DOCKER_HOST or the default socket) for a ping."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        version = client.version().get("Version", "?")
        client.close()
        return DockerProbe(True, f"Docker engine {version} answers at {where}")
    except Exception as exc:  # the SDK raises several unrelated types for "nobody home"
        reason = type(exc).__name__
        if "FileNotFoundError" in str(exc) or "No such file" in str(exc):
            reason = "no socket"
        elif "Connection refused" in str(exc):
            reason = "connection refused"
        return DockerProbe(False, f"no Docker engine answers at {where} ({reason})")


@dataclass(frozen=True)
class Choice:
    backend: Backend
    reason: str


def select(name: str, cfg: LabConfig, root: Path | None = None) -> Choice:
    if name not in BACKENDS:
        raise LabError(f"unknown backend {name!r}. Fix: use one of {', '.join(BACKENDS)}")
    from .sim.backend import SimBackend

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
