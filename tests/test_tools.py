"""The tool installer, against a local HTTP server standing in for the release hosts."""
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from lab.tools import install as tools
from lab.backends.base import LabError

PAYLOAD = b"#!/bin/sh\necho kind v0.33.0\n"


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www at the release URL's path; counts requests."""
    www = tmp_path / "www"
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(www), **kw)

        def log_message(self, *args):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def publish(www: Path, release: tools.Release, data: bytes) -> None:
    path = www / release.url.split("://", 1)[1].split("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def release(sha: str | None) -> tools.Release:
    return tools.Release("kind", "v0.33.0", "linux", "amd64",
                         "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64", sha)


def test_a_matching_download_is_installed_once_and_reused(server, tmp_path):
    www, origin, hits = server
    good = release(hashlib.sha256(PAYLOAD).hexdigest())
    publish(www, good, PAYLOAD)
    cache = tools.ToolCache(tmp_path / "cache", mirror=origin)
    path = cache.ensure(good)
    assert path.read_bytes() == PAYLOAD and path.stat().st_mode & 0o111
    assert (cache.bin_dir / "kind").resolve() == path.resolve()
    assert cache.ensure(good) == path
    assert len(hits) == 1, "a verified cached binary must not be downloaded again"


def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(server, tmp_path):
    www, origin, _ = server
    pinned = release(hashlib.sha256(PAYLOAD).hexdigest())
    publish(www, pinned, PAYLOAD + b"# tampered\n")
    cache = tools.ToolCache(tmp_path / "cache", mirror=origin)
    with pytest.raises(LabError, match="checksum mismatch for kind v0.33.0.*nothing was installed"):
        cache.ensure(pinned)
    assert not cache.path(pinned).exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_a_tampered_cached_binary_is_replaced_by_a_verified_download(server, tmp_path):
    www, origin, hits = server
    good = release(hashlib.sha256(PAYLOAD).hexdigest())
    publish(www, good, PAYLOAD)
    cache = tools.ToolCache(tmp_path / "cache", mirror=origin)
    path = cache.ensure(good)
    path.write_bytes(b"evil")
    assert cache.ensure(good).read_bytes() == PAYLOAD
    assert len(hits) == 2


def test_no_pinned_checksum_means_no_download(server, tmp_path):
    _, origin, hits = server
    with pytest.raises(LabError, match="no pinned SHA-256"):
        tools.ToolCache(tmp_path / "cache", mirror=origin).ensure(release(None))
    assert hits == []


def test_an_unreachable_origin_says_what_to_do(tmp_path):
    cache = tools.ToolCache(tmp_path / "cache", mirror="http://127.0.0.1:9")
    with pytest.raises(LabError, match="could not download kind v0.33.0.*LAB_TOOLS_MIRROR"):
        cache.ensure(release("0" * 64))


def test_every_profile_version_has_a_release_entry():
    from lab.model import profiles

    for p in profiles.PROFILES.values():
        for tool, version in (("kind", p.kind_cli), ("kubectl", p.kubectl), ("linkerd", p.linkerd)):
            assert tools.find(tool, version, "linux", "amd64").version == version


def test_a_retry_that_runs_out_says_what_it_waited_for(tmp_path):
    """The live runner's retry: the last failure is the one line given, the tool's own output kept in detail."""
    from lab.tools.run import Runner, cmd

    marker = tmp_path / "calls"
    script = f"echo x >> {marker}; echo 'not yet' >&2; exit 1"
    with pytest.raises(LabError) as err:
        Runner().retry(cmd("sh", "-c", script), attempts=3, interval=0, failure="the token is still empty. Fix: look")
    assert str(err.value) == "the token is still empty. Fix: look" and "not yet" in err.value.detail
    assert marker.read_text().count("x") == 3


def test_doctor_checks_the_pinned_helm_and_step(tmp_path):
    """helm and step are pinned per profile: doctor reads each one's own version output (step prints
    "Smallstep CLI/0.30.6 (linux/amd64)", no "v") and names the pin when it differs."""
    from lab.model import profiles
    from lab.backends.doctor import tool_findings

    current = profiles.PROFILES["current"]
    for name, out in (("helm", "v4.2.4+g3900f43"), ("step", "Smallstep CLI/0.29.0 (linux/amd64)")):
        tool = tmp_path / name
        tool.write_text(f"#!/bin/sh\necho '{out}'\n")
        tool.chmod(0o755)
    found = {f.name: f for f in tool_findings(current, tmp_path)}
    assert found["helm v4.2.4"].ok, found["helm v4.2.4"]
    step = found["step v0.30.6"]
    assert not step.ok and "reports v0.29.0" in step.detail and "pins v0.30.6" in step.fix, step
