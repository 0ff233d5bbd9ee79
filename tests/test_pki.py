"""Certificates equivalent to the guide's `step certificate create` commands."""
import datetime as dt
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from lab.trust import pki


@pytest.fixture(scope="module")
def anchor():
    return pki.create_anchor("cluster.local")


def test_anchor_is_a_p256_root_ca_named_for_linkerd_identity(anchor):
    cert = anchor.cert
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["identity.linkerd.cluster.local"]
    assert cert.issuer == cert.subject


def test_issuer_is_an_intermediate_for_8760h_signed_by_the_anchor(anchor):
    issuer = pki.create_issuer(anchor, "cluster.local")
    bc = issuer.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    lifetime = issuer.cert.not_valid_after_utc - issuer.cert.not_valid_before_utc
    assert dt.timedelta(hours=8760) <= lifetime <= dt.timedelta(hours=8760, minutes=6)
    pki.validate_issuer(issuer.cert, [anchor.cert])


def test_workload_identity_is_the_san_and_chains_to_the_issuer(anchor):
    issuer = pki.create_issuer(anchor, "cluster.local")
    name = "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local"
    leaf = pki.issue_workload(issuer, name)
    assert leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [name]
    assert pki.verify_signed_by(leaf.cert, issuer.cert)
    assert not pki.verify_signed_by(leaf.cert, anchor.cert)


def test_issuer_from_another_anchor_is_rejected_with_the_reason(anchor):
    other = pki.create_issuer(pki.create_anchor("cluster.local"), "cluster.local")
    with pytest.raises(pki.PKIError, match="not signed by the trust anchor"):
        pki.validate_issuer(other.cert, [anchor.cert])


def test_expired_issuer_is_rejected_with_the_date(anchor):
    issuer = pki.create_issuer(anchor, "cluster.local", lifetime=dt.timedelta(minutes=1))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    with pytest.raises(pki.PKIError, match="expired on"):
        pki.validate_issuer(issuer.cert, [anchor.cert], when=later)


def test_bundle_concatenates_without_duplicates(anchor):
    second = pki.create_anchor("cluster.local")
    bundle = pki.bundle(anchor.cert, second.cert, anchor.cert)
    assert [pki.fingerprint(c) for c in pki.load_certs(bundle)] == [anchor.fingerprint, second.fingerprint]


def test_private_keys_are_written_0600(tmp_path, anchor):
    old = os.umask(0)
    try:
        pki.write_private(tmp_path / "k" / "root.key", anchor.key_pem)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k" / "root.key").stat().st_mode) == 0o600


def test_load_pair_explains_each_broken_input(tmp_path, anchor):
    crt, key = tmp_path / "a.crt", tmp_path / "a.key"
    pki.write_public(crt, anchor.cert_pem)
    pki.write_private(key, pki.create_anchor("cluster.local").key_pem)
    with pytest.raises(pki.PKIError, match="does not belong"):
        pki.load_pair(crt, key)
    with pytest.raises(pki.PKIError, match="does not exist"):
        pki.load_pair(tmp_path / "missing.crt", None)
    (tmp_path / "junk.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(pki.PKIError, match="not a PEM certificate"):
        pki.load_pair(tmp_path / "junk.crt", None)
    (tmp_path / "junk.key").write_text("nonsense")
    with pytest.raises(pki.PKIError, match="not an unencrypted PEM private key"):
        pki.load_pair(crt, tmp_path / "junk.key")
