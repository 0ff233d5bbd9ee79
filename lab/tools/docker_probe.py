"""Is there a Docker engine? Asked once, by backend selection and by `doctor` alike (no lab imports here)."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DockerProbe:
    answers: bool
    detail: str


def probe_docker() -> DockerProbe:
    """Ask the Docker engine named by the environment (DOCKER_HOST or the default socket) for a ping."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    # A DOCKER_HOST naming a socket file that does not exist has nobody home: said without importing the SDK
    # (~0.05 s of every command that picks a backend). Only when DOCKER_HOST is set: without it the SDK may
    # follow the Docker CLI's current context elsewhere (docker 7.2.0, docker/client.py, `from_env`'s
    # `use_context`).
    if where.startswith("unix:///") and "DOCKER_HOST" in os.environ and not os.path.exists(where[len("unix://"):]):
        return DockerProbe(False, f"no Docker engine answers at {where} (no socket)")
    return ask_sdk(where)


def ask_sdk(where: str) -> DockerProbe:
    """The Docker SDK's ping of the engine the environment names (`where` is that name, for the message)."""
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
