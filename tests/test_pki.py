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


# -- what `step certificate create` would have made ------------------------------------------------
def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


def test_cas_carry_steps_profiles_and_leaves_only_sign_handshakes(anchor):
    """The root-ca and intermediate-ca profiles (smallstep/crypto x509util/templates.go, DefaultRootTemplate
    and DefaultIntermediateTemplate): key usage certSign and crlSign, path length 1 and 0; RFC 5280 4.2.1.3
    and 4.2.1.9 make key usage and basic constraints critical, 4.2.1.1 and 4.2.1.2 make the key identifiers
    non-critical. A leaf signs TLS handshakes (ECDSA: digitalSignature) and can sign no certificate."""
    issuer = pki.create_issuer(anchor, "cluster.local")
    leaf = pki.issue_workload(issuer, "web.apps.serviceaccount.identity.linkerd.cluster.local")
    for ca, path_length in ((anchor.cert, 1), (issuer.cert, 0)):
        usage = _ext(ca, x509.KeyUsage)
        assert usage.critical and (usage.value.key_cert_sign, usage.value.crl_sign, usage.value.digital_signature) == \
            (True, True, False)
        assert not (usage.value.content_commitment or usage.value.key_encipherment or usage.value.data_encipherment
                    or usage.value.key_agreement)
        constraints = _ext(ca, x509.BasicConstraints)
        assert constraints.critical and constraints.value == x509.BasicConstraints(ca=True, path_length=path_length)
        assert not _ext(ca, x509.SubjectKeyIdentifier).critical
        with pytest.raises(x509.ExtensionNotFound):
            _ext(ca, x509.ExtendedKeyUsage)
    usage = _ext(leaf.cert, x509.KeyUsage)
    assert usage.critical and (usage.value.digital_signature, usage.value.key_cert_sign, usage.value.crl_sign) == \
        (True, False, False)
    assert _ext(leaf.cert, x509.BasicConstraints).value.ca is False
    eku = _ext(leaf.cert, x509.ExtendedKeyUsage)
    assert not eku.critical and set(eku.value) == {x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                   x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH}
    # each issued certificate names its signer's key; a root names none
    for cert, signer in ((issuer.cert, anchor.cert), (leaf.cert, issuer.cert)):
        aki = _ext(cert, x509.AuthorityKeyIdentifier)
        assert not aki.critical and aki.value.key_identifier == _ext(signer, x509.SubjectKeyIdentifier).value.digest
        assert cert.issuer == signer.subject
    with pytest.raises(x509.ExtensionNotFound):
        _ext(anchor.cert, x509.AuthorityKeyIdentifier)
    # valid from a few minutes back (clocks differ), for the lifetime asked
    now = dt.datetime.now(dt.timezone.utc)
    assert now - dt.timedelta(minutes=6) < leaf.cert.not_valid_before_utc < now - dt.timedelta(minutes=4)


def test_an_identity_longer_than_a_common_name_lives_in_a_critical_san_alone(anchor):
    """X.520 caps a CN at 64 characters; RFC 5280 4.2.1.6 makes the SAN critical when the subject is empty."""
    issuer = pki.create_issuer(anchor, "cluster.local")
    fits, long = "a" * 40 + ".identity.linkerd.local", "a" * 42 + ".identity.linkerd.local"
    assert (len(fits), len("b" + fits), len(long)) == (63, 64, 65)
    for identity, cn, critical in ((fits, fits, False), ("b" + fits, "b" + fits, False), (long, None, True)):
        leaf = pki.issue_workload(issuer, identity)
        names = leaf.cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        assert [n.value for n in names] == ([cn] if cn else []), len(identity)
        san = _ext(leaf.cert, x509.SubjectAlternativeName)
        assert san.critical is critical and san.value.get_values_for_type(x509.DNSName) == [identity]


def test_an_issuer_is_refused_outside_its_validity_or_when_it_is_no_ca(anchor):
    issuer = pki.create_issuer(anchor, "cluster.local")
    start, end = issuer.cert.not_valid_before_utc, issuer.cert.not_valid_after_utc
    pki.validate_issuer(issuer.cert, [anchor.cert], when=start)       # valid from its first second...
    pki.validate_issuer(issuer.cert, [anchor.cert], when=end - dt.timedelta(seconds=1))
    with pytest.raises(pki.PKIError, match="expired on"):            # ...and no longer at its end
        pki.validate_issuer(issuer.cert, [anchor.cert], when=end)
    with pytest.raises(pki.PKIError, match="not valid yet"):
        pki.validate_issuer(issuer.cert, [anchor.cert], when=start - dt.timedelta(seconds=1))
    leaf = pki.issue_workload(issuer, "web.apps.serviceaccount.identity.linkerd.cluster.local")
    with pytest.raises(pki.PKIError, match="not a CA"):
        pki.validate_issuer(leaf.cert, [issuer.cert])
    # any one of several anchors will do (the trust bundle during a rotation)
    pki.validate_issuer(issuer.cert, [pki.create_anchor("cluster.local").cert, anchor.cert])
    with pytest.raises(pki.PKIError, match="not signed by the trust anchor"):
        pki.validate_issuer(issuer.cert, [])


def test_an_issuer_needs_the_anchors_key_and_a_certificate_alone_shows_no_key(anchor):
    public = pki.CertKey(anchor.cert, None)
    with pytest.raises(pki.PKIError, match="anchor's private key is needed"):
        pki.create_issuer(public, "cluster.local")
    with pytest.raises(pki.PKIError, match="private key is not available"):
        public.key_pem
    assert anchor.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert anchor.fingerprint == pki.fingerprint(anchor.cert) and len(anchor.fingerprint) == 64


def test_pem_bundles_are_read_as_linkerds_go_code_reads_them(anchor):
    """pkg/tls/codec.go DecodePEMCertificates (Go encoding/pem): CRLF and text between blocks are fine, a
    trailing blank after END is fine; another block type, an unterminated block or no block at all is not."""
    a, b = anchor.cert_pem, pki.create_anchor("cluster.local").cert_pem
    assert [pki.fingerprint(c) for c in pki.go_pem_certificates("# anchors\n" + a + "\nbetween\n" + b.replace("\n", "\r\n"))] \
        == [anchor.fingerprint, pki.fingerprint(pki.load_certs(b)[0])]
    assert len(pki.go_pem_certificates(a.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE-----  "))) == 1
    for bad in ("", "no pem here\n", a.rstrip("\n").rsplit("\n", 1)[0] + "\n",
                anchor.key_pem, a.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE----- x"),
                a.replace("-----END CERTIFICATE-----", "-----END PRIVATE KEY-----")):
        with pytest.raises(pki.PKIError, match="not a PEM certificate"):
            pki.go_pem_certificates(bad)


def test_same_certificates_compares_what_is_held_not_how_it_is_spelled(anchor):
    a, b = anchor.cert_pem, pki.create_anchor("cluster.local").cert_pem
    assert pki.same_certificates(a + b, (a + b).strip())
    assert not pki.same_certificates(a + b, b + a), "order counts"
    assert not pki.same_certificates(a, a + b)
    assert not pki.same_certificates(a, None) and not pki.same_certificates("", a) and not pki.same_certificates(a, "")
    assert not pki.same_certificates(a, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")


def test_public_files_are_0644_and_writing_leaves_no_temporary_file(tmp_path, anchor):
    old = os.umask(0o077)
    try:
        pki.write_public(tmp_path / "ca.crt", anchor.cert_pem)
        pki.write_public(tmp_path / "ca.crt", anchor.cert_pem)  # replaced in place
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ca.crt").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["ca.crt"]
    assert pki.load_pair(tmp_path / "ca.crt", None).cert == anchor.cert


def test_load_pair_takes_a_matching_ecdsa_key_and_refuses_others(tmp_path, anchor):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    crt, key = tmp_path / "a.crt", tmp_path / "a.key"
    pki.write_public(crt, anchor.cert_pem)
    pki.write_private(key, anchor.key_pem)
    pair = pki.load_pair(crt, key)
    assert pair.cert == anchor.cert and pair.key_pem == anchor.key_pem
    with pytest.raises(pki.PKIError, match="a.missing does not exist"):
        pki.load_pair(crt, tmp_path / "a.missing")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "rsa.key").write_bytes(rsa_key)
    with pytest.raises(pki.PKIError, match="not an ECDSA key"):
        pki.load_pair(crt, tmp_path / "rsa.key")


def test_certificates_last_as_long_as_the_guide_asks_from_five_minutes_back(anchor):
    """The guide's lifetimes (step's root-ca default of ten years, `--not-after 8760h` for the issuer, and
    the 24 h Linkerd's identity service gives a proxy), each valid from five minutes before it was made,
    so a cluster whose clock runs a little behind the host's accepts it at once."""
    issuer = pki.create_issuer(anchor, "cluster.local")
    leaf = pki.issue_workload(issuer, "web.apps.serviceaccount.identity.linkerd.cluster.local")
    five = dt.timedelta(minutes=5)
    for cert, lifetime in ((anchor.cert, dt.timedelta(days=3650)), (issuer.cert, dt.timedelta(hours=8760)),
                           (leaf.cert, dt.timedelta(hours=24))):
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == lifetime + five


def test_a_certificate_file_holding_a_chain_pairs_its_first_certificate_with_the_key(tmp_path, anchor):
    other = pki.create_anchor("cluster.local")
    chain, key = tmp_path / "chain.crt", tmp_path / "a.key"
    pki.write_public(chain, anchor.cert_pem + other.cert_pem)
    pki.write_private(key, anchor.key_pem)
    assert pki.load_pair(chain, key).cert == anchor.cert
    assert pki.load_pair(chain, None).cert == anchor.cert
    pki.write_private(key, other.key_pem)
    with pytest.raises(pki.PKIError, match="does not belong"):
        pki.load_pair(chain, key)
