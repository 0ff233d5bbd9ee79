"""Faults a user or a nightly run will meet: up killed midway, two labs at once, broken certificates."""
import datetime
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.model import config
from lab.trust import pki, files as trust

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def inv(cwd, *args):
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=ENV)


def status(cwd, *args):
    return json.loads(inv(cwd, "status", "--json", *args).stdout)


def serving(data) -> bool:
    alive = any(g["alive"] for g in data["gateways"] if g["observer"] == "west" and g["cluster"] == "east")
    return alive and any(m["name"] == "foobar-east" and m["endpoints"] for m in data["mirrored_services"])


@pytest.mark.parametrize("killed_after", ["clusters", "trust", "multicluster", "workloads"])
def test_up_killed_in_the_middle_of_a_step_is_finished_by_the_next_up(tmp_path, killed_after):
    """SIGKILL right after a step reports, i.e. while the next one runs; the next `up` completes the lab."""
    (tmp_path / "lab.yaml").write_text("name: killed\nprobe_period: 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "-r", str(REPO), "up"], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if line.split()[:1] == [killed_after]:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        second = inv(tmp_path, "up")
        assert second.returncode == 0, second.stdout + second.stderr
        assert serving(status(tmp_path)), "the second up reported success but the lab does not serve"
        check = inv(tmp_path, "check")
        assert check.returncode == 0, check.stdout
    finally:
        proc.kill()
        inv(tmp_path, "down")


def test_two_labs_side_by_side_do_not_touch_each_other(tmp_path):
    (tmp_path / "a.yaml").write_text("name: lab-a\nprobe_period: 1\n")
    (tmp_path / "b.yaml").write_text("name: lab-b\nprobe_period: 1\n")
    try:
        ups = [subprocess.Popen([sys.executable, "-m", "invoke", "-r", str(REPO), "up", "--config", f], cwd=tmp_path,
                                env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in ("a.yaml", "b.yaml")]
        for proc in ups:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, out + err
        a, b = status(tmp_path, "--config", "a.yaml"), status(tmp_path, "--config", "b.yaml")
        assert serving(a) and serving(b)
        assert inv(tmp_path, "down", "--config", "a.yaml").returncode == 0
        assert not status(tmp_path, "--config", "a.yaml")["running"]
        assert serving(status(tmp_path, "--config", "b.yaml")), "taking lab-a down disturbed lab-b"
    finally:
        inv(tmp_path, "down", "--config", "a.yaml")
        inv(tmp_path, "down", "--config", "b.yaml")


def broken(tmp_path, what: str) -> Path:
    """A lab whose pki/ has one problem, before `up` runs."""
    cfg = config.parse({"name": "broken"})
    trust.ensure(cfg, tmp_path)
    base = trust.pki_dir(cfg, tmp_path)
    if what == "corrupted issuer":
        (base / "east" / "issuer.crt").write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    elif what == "issuer from another anchor":
        stranger = pki.create_issuer(pki.create_anchor("cluster.local"), "cluster.local")
        pki.write_public(base / "east" / "issuer.crt", stranger.cert_pem)
        pki.write_private(base / "east" / "issuer.key", stranger.key_pem)
    elif what == "expired issuer":
        # valid from five minutes ago until one minute ago
        old = pki.create_issuer(pki.load_pair(base / "root.crt", base / "root.key"), "cluster.local",
                                lifetime=datetime.timedelta(minutes=-1))
        pki.write_public(base / "east" / "issuer.crt", old.cert_pem)
        pki.write_private(base / "east" / "issuer.key", old.key_pem)
    elif what == "missing anchor key":
        (base / "root.key").unlink()
        (base / "west" / "issuer.crt").unlink()  # west's issuer gone whole, so a new one must be signed
        (base / "west" / "issuer.key").unlink()
    (tmp_path / "lab.yaml").write_text("name: broken\n")
    return tmp_path


@pytest.mark.parametrize("what, words", [
    ("corrupted issuer", "not a PEM certificate"),
    ("issuer from another anchor", "not signed by the trust anchor"),
    ("expired issuer", "expired on"),
    ("missing anchor key", "private key is needed to sign a new one"),
])
def test_a_broken_certificate_stops_up_with_one_clear_line(tmp_path, what, words):
    result = inv(broken(tmp_path, what), "up", "--backend", "sim")
    try:
        assert result.returncode == 1, result.stdout
        errors = [l for l in result.stderr.splitlines() if l.strip()]
        assert len(errors) == 1 and errors[0].startswith("error: step trust failed") and words in errors[0], result.stderr
        assert "Traceback" not in result.stderr
    finally:
        inv(tmp_path, "down")
