"""Is there a Docker engine? Asked once, by backend selection and by `doctor` alike (no lab imports here)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DockerProbe:
    answers: bool
    detail: str


DEFAULT_SOCKET = "/var/run/docker.sock"  # the SDK's DEFAULT_UNIX_SOCKET and its `default` context's host


def probe_docker() -> DockerProbe:
    """Ask the Docker engine named by the environment (DOCKER_HOST or the default socket) for a ping."""
    where = os.environ.get("DOCKER_HOST")  # empty is unset, to the SDK too (utils.py kwargs_from_env)
    if not where:
        context = _sdk_context()
        if context != "default":  # another context may point anywhere: the SDK knows where
            return ask_sdk(f"the Docker CLI's context {context!r}")
        where = f"unix://{DEFAULT_SOCKET}"
    # A socket file that does not exist has nobody home: said without importing the SDK (~0.06 s of every
    # command that picks a backend, before `up` can start anything).
    if where.startswith("unix:///") and not os.path.exists(where[len("unix://"):]):
        return DockerProbe(False, f"no Docker engine answers at {where} (no socket)")
    return ask_sdk(where)


def _sdk_context() -> str:
    """The Docker CLI context the SDK follows when DOCKER_HOST is not set: DOCKER_CONTEXT, else the
    `currentContext` of the first Docker config file that exists, else `default` (docker 7.2.0:
    client.py `from_env` with use_context; context/api.py `kwargs_from_context`; context/config.py
    `get_current_context_name`, which takes an unreadable file as `default`; utils/config.py `find_config_file`)."""
    if os.environ.get("DOCKER_CONTEXT"):
        return os.environ["DOCKER_CONTEXT"]
    home = os.path.expanduser("~")
    candidates = [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    if os.environ.get("DOCKER_CONFIG"):
        candidates.insert(0, os.path.join(os.environ["DOCKER_CONFIG"], "config.json"))
    for path in candidates:
        if os.path.exists(path):
            try:
                with open(path) as f:
                    return json.load(f).get("currentContext", "default") or "default"
            except Exception:  # noqa: BLE001 - the SDK reads any failure as the default context
                return "default"
    return "default"


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
