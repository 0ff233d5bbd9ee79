"""`inv doctor`: what the kind backend needs from this machine, each with the fix."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..tools.docker_probe import probe_docker
from ..model.profiles import Profile
from ..tools.install import RELEASES, host_platform

# kind's known issues ("Pod errors due to too many open files"): multi-node and
# multi-cluster setups exhaust the default inotify limits.
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    text = out.stdout + out.stderr
    # step prints "Smallstep CLI/0.14.4 (linux/amd64)": its Makefile strips the tag's "v" (smallstep/cli v0.14.4
    # Makefile, config/config.go Version)
    text = re.sub(r"Smallstep CLI/(\d+\.\d+\.\d+)", r"v\1", text)
    match = re.search(r"(v\d+\.\d+\.\d+|stable-\d+\.\d+\.\d+|edge-\d+\.\d+\.\d+)", text)
    return match.group(1) if match else None


def tool_findings(profile: Profile, extra_path: Path | None = None) -> list[Finding]:
    out = []
    wanted = {"kind": (profile.kind_cli, ["version"]), "kubectl": (profile.kubectl, ["version", "--client"]),
              "linkerd": (profile.linkerd, ["version", "--client", "--short"]),
              # helm runs only for `installer: helm`; step makes every lab's trust anchors
              "helm": (profile.helm, ["version", "--short"]), "step": (profile.step, ["version"])}
    for tool, (version, args) in wanted.items():
        path = shutil.which(tool, path=os.pathsep.join(filter(None, [str(extra_path or ""), os.environ.get("PATH", "")])))
        pinned = any(r.sha256 and (r.tool, r.version, (r.os, r.arch)) == (tool, version, host_platform()) for r in RELEASES)
        listed = any((r.tool, r.version) == (tool, version) for r in RELEASES)
        install = ("run `./labctl tools` (downloads it and verifies its pinned SHA-256)" if pinned else
                   f"install {tool} {version} yourself (no checksum is pinned for it yet; lab/tools/install.py has the URL)"
                   if listed else f"install {tool} {version} yourself (its release is an archive; ./labctl tools does "
                                  "not fetch it)")
        if path is None:
            out.append(Finding(f"{tool} {version}", False, "not found on PATH", install))
            continue
        found = _version([path, *args])
        ok = found is not None and (found == version or tool == "kubectl" and found.rsplit(".", 1)[0] == version.rsplit(".", 1)[0])
        out.append(Finding(f"{tool} {version}", ok, f"{path} reports {found or 'no version'}",
                           "" if ok else f"{install}: the profile {profile.name} pins {version}"))
    return out


def inotify_findings(proc: Path = Path("/proc/sys/fs/inotify")) -> list[Finding]:
    out = []
    for key, minimum in INOTIFY.items():
        try:
            value = int((proc / key).read_text())
        except (FileNotFoundError, ValueError):
            out.append(Finding(f"fs.inotify.{key}", True, "not a Linux host: nothing to check"))
            continue
        out.append(Finding(f"fs.inotify.{key}", value >= minimum, f"{value} (kind needs {minimum} for two clusters)",
                           "" if value >= minimum else f"sudo sysctl fs.inotify.{key}={minimum}"))
    return out


CGROUP_V2_MARKER = Path("/sys/fs/cgroup/cgroup.controllers")  # present only where the unified (v2) hierarchy is mounted


def cgroup_version(docker_info: dict | None = None, marker: Path = CGROUP_V2_MARKER) -> str:
    """The cgroup version kind's nodes will run under: Docker's own answer (`docker info` CgroupVersion)
    where the engine answers, else this host's hierarchy."""
    if docker_info and str(docker_info.get("CgroupVersion", "")) in ("1", "2"):
        return str(docker_info["CgroupVersion"])
    return "2" if marker.exists() else "1"


def cgroup_findings(profile: Profile, version: str) -> list[Finding]:
    """kind's known issues (kubernetes-sigs/kind v0.20.0 site/content/docs/user/known-issues.md, "Failure to
    Create Cluster with Cgroups v2"): only Kubernetes >= 1.19 runs on a cgroup v2 host, and seed-2.8's node
    image is v1.18.2."""
    if not profile.cgroup_v1_only:
        return [Finding("cgroups", True, f"v{version}; the {profile.name} node image runs on either")]
    ok = version == "1"
    return [Finding("cgroups", ok, f"v{version}; the {profile.name} node image (Kubernetes 1.18) needs cgroup v1",
                    "" if ok else "run on a cgroup v1 host (e.g. boot with systemd.unified_cgroup_hierarchy=0, or "
                                  "an Ubuntu 20.04 machine), or use --profile current")]


def _docker_info() -> dict | None:
    try:
        import docker

        return docker.from_env(timeout=5).info()
    except Exception:  # no engine, no SDK, no permission: fall back to this host's hierarchy
        return None


def findings(profile: Profile, tool_dir: Path | None = None) -> list[Finding]:
    docker = probe_docker()
    return [Finding("docker", docker.answers, docker.detail,
                    "" if docker.answers else "start Docker (or set DOCKER_HOST); without it only --backend sim runs")
            ] + tool_findings(profile, tool_dir) + inotify_findings() + \
        cgroup_findings(profile, cgroup_version(_docker_info() if docker.answers else None))
