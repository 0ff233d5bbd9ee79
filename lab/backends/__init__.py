"""Choosing a backend: `sim`, `kind`, `contexts`, or `auto` (kind where a Docker engine answers).

A backend is a provider, its cluster API and an installer (lab/backends/base.py). Each factory below puts
one together; the installer comes from the config's `installer` (the linkerd CLI or Helm), looked up, not
switched on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model.config import LabConfig
from ..tools.docker_probe import probe_docker
from .base import Backend, LabError

BACKENDS = ("auto", "sim", "kind", "contexts")


@dataclass(frozen=True)
class Choice:
    backend: Backend
    reason: str


def select(name: str, cfg: LabConfig, root: Path | None = None) -> Choice:
    if name not in BACKENDS:
        raise LabError(f"unknown backend {name!r}. Fix: use one of {', '.join(BACKENDS)}")
    if name == "sim":
        return Choice(sim_backend(cfg, root), "asked for with --backend sim")
    if name == "contexts":
        return Choice(contexts_backend(cfg, root), "asked for with --backend contexts: existing clusters")
    docker = probe_docker()
    if name == "kind":
        if not docker.answers:
            raise LabError(f"the kind backend needs a Docker engine, and {docker.detail}. "
                           "Fix: start Docker (or set DOCKER_HOST), or use --backend sim")
        return Choice(kind_backend(cfg, root), f"asked for with --backend kind; {docker.detail}")
    if docker.answers:
        return Choice(kind_backend(cfg, root), f"{docker.detail}: kind")
    return Choice(sim_backend(cfg, root), f"{docker.detail}: simulation")


def kind_backend(cfg: LabConfig, root: Path | None = None, runner=None, docker=None) -> Backend:
    """kind clusters, driven by the real tools through `runner` (a recording or scripting one in tests and plans)."""
    from .kind import KindProvider
    from .kubectl import Kubectl

    return Backend(cfg, root, lambda b: KindProvider(b, runner, docker), Kubectl, _real_installer(cfg))


def contexts_backend(cfg: LabConfig, root: Path | None = None, runner=None) -> Backend:
    """Clusters that exist, named by kubeconfig contexts in lab.yaml; the same tools as kind."""
    from .contexts import ContextsProvider
    from .kubectl import Kubectl

    return Backend(cfg, root, lambda b: ContextsProvider(b, runner), Kubectl, _real_installer(cfg))


def _real_installer(cfg: LabConfig):
    """The real tools' installer for the config's `installer`: kind and existing contexts share it."""
    from .real_install import CliInstaller, HelmInstaller

    return {"cli": CliInstaller, "helm": HelmInstaller}[cfg.installer]


def sim_backend(cfg: LabConfig, root: Path | None = None) -> Backend:
    """The embedded simulation: the lab process holds the clusters."""
    from .sim import SimProvider
    from .sim_install import SimCliInstaller, SimHelmInstaller
    from .sim_kube import SimKube

    installer = {"cli": SimCliInstaller, "helm": SimHelmInstaller}[cfg.installer]
    return Backend(cfg, root, SimProvider, SimKube, installer)
