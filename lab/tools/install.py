"""The external tools the kind backend drives: pinned by version and SHA-256, cached, verified.

`ensure()` downloads a release once into the cache (.lab/tools/<tool>-<version>),
verifying its SHA-256 against the value pinned here before it is made
executable; a mismatch is refused and nothing is kept. A release with no
pinned checksum is refused too: install that tool yourself (`inv doctor`
checks what is on PATH) or pin its checksum here after verifying it.

LAB_TOOLS_MIRROR replaces the download origin (an air-gapped mirror, or the
local server the tests use); the checksums still apply.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import LabError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Release:
    tool: str
    version: str
    os: str
    arch: str
    url: str
    sha256: str | None  # None: no checksum confirmed yet, so the lab will not download it


# Checksums from the upstream release's published .sha256/.sha256sum files, as
# pinned in public install scripts (cross-checked where two sources agree).
RELEASES = [
    Release("kind", "v0.33.0", "linux", "amd64",
            "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64",
            "aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d"),
    Release("kind", "v0.33.0", "linux", "arm64",
            "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-arm64",
            "20022bee6cfcd5086cb7234d218e3454e6090022f2a8f55d1fa7fcf42c3867a2"),
    Release("kubectl", "v1.37.1", "linux", "amd64", "https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kubectl",
            "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8"),
    Release("kubectl", "v1.37.1", "linux", "arm64", "https://dl.k8s.io/release/v1.37.1/bin/linux/arm64/kubectl",
            "ff749f4b78d9c4f1ec87307df9b50119ed819e2094aa9810cb9acffc3286c8c7"),
    Release("linkerd", "edge-26.8.3", "linux", "amd64",
            "https://github.com/linkerd/linkerd2/releases/download/edge-26.8.3/linkerd2-cli-edge-26.8.3-linux-amd64", None),
    Release("kind", "v0.8.1", "linux", "amd64",
            "https://github.com/kubernetes-sigs/kind/releases/download/v0.8.1/kind-linux-amd64", None),
    Release("kubectl", "v1.18.2", "linux", "amd64", "https://dl.k8s.io/release/v1.18.2/bin/linux/amd64/kubectl", None),
    Release("linkerd", "stable-2.8.1", "linux", "amd64",
            "https://github.com/linkerd/linkerd2/releases/download/stable-2.8.1/linkerd2-cli-stable-2.8.1-linux", None),
]


def host_platform() -> tuple[str, str]:
    machine = platform.machine().lower()
    return platform.system().lower(), {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def find(tool: str, version: str, os_: str | None = None, arch: str | None = None) -> Release:
    host_os, host_arch = host_platform()
    os_, arch = os_ or host_os, arch or host_arch
    for r in RELEASES:
        if (r.tool, r.version, r.os, r.arch) == (tool, version, os_, arch):
            return r
    raise LabError(f"no pinned release of {tool} {version} for {os_}/{arch}. "
                   f"Fix: install {tool} {version} yourself and put it on PATH (`./labctl doctor` checks it)")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ToolCache:
    def __init__(self, root: Path, mirror: str | None = None):
        self.root = root
        self.mirror = mirror if mirror is not None else os.environ.get("LAB_TOOLS_MIRROR")

    @property
    def bin_dir(self) -> Path:
        """Links named after each tool, to put first on PATH."""
        return self.root / "bin"

    def path(self, release: Release) -> Path:
        return self.root / f"{release.tool}-{release.version}-{release.os}-{release.arch}"

    def url(self, release: Release) -> str:
        if not self.mirror:
            return release.url
        return self.mirror.rstrip("/") + urlsplit(release.url).path

    def ensure(self, release: Release) -> Path:
        """The verified binary, downloading it once; refuses anything that does not match its pin."""
        if release.sha256 is None:
            raise LabError(f"{release.tool} {release.version} has no pinned SHA-256 in lab/tools/install.py, so the lab will not "
                           f"download it. Fix: install it yourself and put it on PATH, or verify and pin its checksum")
        target = self.path(release)
        if target.exists() and sha256_of(target) == release.sha256:
            self._link(release, target)
            return target
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f".{release.tool}-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with urllib.request.urlopen(self.url(release), timeout=60) as response:
                        shutil.copyfileobj(response, out, CHUNK)
                except (urllib.error.URLError, OSError) as exc:
                    raise LabError(f"could not download {release.tool} {release.version} from {self.url(release)} ({exc}). "
                                   "Fix: check the network, or set LAB_TOOLS_MIRROR to a mirror") from None
            got = sha256_of(tmp)
            if got != release.sha256:
                raise LabError(f"checksum mismatch for {release.tool} {release.version}: expected {release.sha256}, "
                               f"got {got}. The download was discarded; nothing was installed")
            tmp.chmod(0o755)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self._link(release, target)
        return target

    def _link(self, release: Release, target: Path) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        link = self.bin_dir / release.tool
        if link.is_symlink() or link.exists():
            if link.resolve() == target.resolve():
                return
            link.unlink()
        link.symlink_to(target)
