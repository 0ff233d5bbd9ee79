"""The lab's trust material on disk: created once, reused, or taken from the user."""
import stat

import pytest

from lab.model import config
from lab.trust import pki, files as trust


def test_ensure_creates_once_and_then_reuses(tmp_path):
    cfg = config.load()
    first = trust.ensure(cfg, tmp_path)
    files = sorted(p for p in (tmp_path / ".lab" / "lab" / "pki").rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    second = trust.ensure(cfg, tmp_path)
    assert pki.fingerprint(second.anchor) == pki.fingerprint(first.anchor)
    assert {n: i.fingerprint for n, i in second.issuers.items()} == {n: i.fingerprint for n, i in first.issuers.items()}
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert sorted(p.name for p in files if p.suffix == ".key") == ["issuer.key", "issuer.key", "root.key"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files if p.suffix == ".key")


def test_one_anchor_and_a_distinct_issuer_per_cluster(tmp_path):
    material = trust.ensure(config.load(), tmp_path)
    assert set(material.issuers) == {"east", "west"}
    assert material.issuers["east"].fingerprint != material.issuers["west"].fingerprint
    for issuer in material.issuers.values():
        pki.validate_issuer(issuer.cert, [material.anchor])
    assert material.anchors_fingerprints() == [pki.fingerprint(material.anchor)]


def test_a_supplied_anchor_signs_the_issuers(tmp_path):
    mine = pki.create_anchor("cluster.local")
    pki.write_public(tmp_path / "mine.crt", mine.cert_pem)
    pki.write_private(tmp_path / "mine.key", mine.key_pem)
    cfg = config.parse({"trust": {"anchor_cert": str(tmp_path / "mine.crt"), "anchor_key": str(tmp_path / "mine.key")}})
    material = trust.ensure(cfg, tmp_path)
    assert pki.fingerprint(material.anchor) == mine.fingerprint
    assert pki.verify_signed_by(material.issuers["east"].cert, mine.cert)


def test_a_supplied_leaf_is_not_accepted_as_an_anchor(tmp_path):
    leaf = pki.issue_workload(pki.create_issuer(pki.create_anchor("cluster.local"), "cluster.local"), "x.y.serviceaccount.identity.linkerd.cluster.local")
    pki.write_public(tmp_path / "leaf.crt", leaf.cert_pem)
    pki.write_private(tmp_path / "leaf.key", leaf.key_pem)
    cfg = config.parse({"trust": {"anchor_cert": str(tmp_path / "leaf.crt"), "anchor_key": str(tmp_path / "leaf.key")}})
    with pytest.raises(pki.PKIError, match="not a CA"):
        trust.ensure(cfg, tmp_path)


@pytest.mark.parametrize("lost, kept", [("root.crt", "root.key"), ("east/issuer.crt", "east/issuer.key"),
                                        ("east/issuer.key", "east/issuer.crt")])
def test_half_a_pair_is_refused_not_replaced(tmp_path, lost, kept):
    cfg = config.parse({"name": "t"})
    trust.ensure(cfg, tmp_path)
    base = trust.pki_dir(cfg, tmp_path)
    before = (base / kept).read_bytes()
    (base / lost).unlink()
    with pytest.raises(pki.PKIError) as refused:
        trust.ensure(cfg, tmp_path)
    message = str(refused.value)
    assert str(base / lost) in message and str(base / kept) in message and "./labctl down --purge" in message
    assert (base / kept).read_bytes() == before and not (base / lost).exists()


def test_a_different_supplied_anchor_does_not_replace_the_one_held(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        anchor = pki.create_anchor("cluster.local")
        pki.write_public(folder / "ca.crt", anchor.cert_pem)
        pki.write_private(folder / "ca.key", anchor.key_pem)
    cfg = config.parse({"name": "t", "trust": {"anchor_cert": str(first / "ca.crt"), "anchor_key": str(first / "ca.key")}})
    trust.ensure(cfg, tmp_path)
    held = (trust.pki_dir(cfg, tmp_path) / "root.crt").read_bytes()
    other = config.parse({"name": "t", "trust": {"anchor_cert": str(second / "ca.crt"), "anchor_key": str(second / "ca.key")}})
    with pytest.raises(pki.PKIError, match="is not the anchor this lab already holds"):
        trust.ensure(other, tmp_path)
    assert (trust.pki_dir(cfg, tmp_path) / "root.crt").read_bytes() == held


@pytest.mark.parametrize("mode, torn", [("shared", "root.crt"), ("shared", "west/issuer.crt"), ("bundle", "west/root.crt")])
def test_a_pair_whose_writing_was_killed_between_its_files_is_made_again(tmp_path, monkeypatch, mode, torn):
    """`up` killed after a pair's key is written and before its certificate: what that leaves is the lab's own
    unfinished write, not a half pair a cluster may depend on; readers take it as not made yet, and the next
    trust step makes the pair again."""
    cfg = config.parse({"name": "t", "trust": {"mode": mode}})
    base = trust.pki_dir(cfg, tmp_path)
    write_public = pki.write_public

    def killed_at_the_certificate(path, text, durable=True):
        if path == base / torn:
            raise KeyboardInterrupt  # stands for the SIGKILL: nothing after this line of the step runs
        write_public(path, text, durable)

    monkeypatch.setattr(pki, "write_public", killed_at_the_certificate)
    with pytest.raises(KeyboardInterrupt):
        trust.ensure(cfg, tmp_path)
    monkeypatch.setattr(pki, "write_public", write_public)
    assert (base / torn).with_suffix(".key").exists() and not (base / torn).exists()
    assert trust.load(cfg, tmp_path) is None  # a reader neither refuses nor repairs it
    assert (base / torn).with_suffix(".key").exists()
    material = trust.ensure(cfg, tmp_path)
    assert (base / torn).exists() and not list(base.rglob(".*.writing"))
    assert trust.load(cfg, tmp_path).issuers["west"].fingerprint == material.issuers["west"].fingerprint
