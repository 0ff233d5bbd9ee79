"""Trust anchor, issuers, workload certificates and bundles.

Equivalent to the guide's `step certificate create` commands:
  root:   --profile root-ca --san identity.linkerd.<domain>         (ECDSA P-256, 10 years)
  issuer: --profile intermediate-ca --not-after 8760h --ca root.crt (ECDSA P-256, 1 year)
Private keys are written 0600 and never printed; only fingerprints are shown.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic_write import write_atomic
from ..errors import PKIError  # noqa: F401 - raised here, caught as the LabError root

# cryptography is imported where it is used, not with this module: every command imports this module (for
# write_private at least), and cryptography's ~30 ms of imports would delay `up`'s start of the lab process,
# which waits for nothing of it; the trust step, which needs it, runs while that process starts.
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec


def __getattr__(name: str):
    """`pki.x509` for the modules that name certificate classes through this one (lab/trust/files.py)."""
    if name == "x509":
        from cryptography import x509  # noqa: PLC0415 - see above

        return x509
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def anchor_name(trust_domain: str) -> str:
    return f"identity.linkerd.{trust_domain}"


@dataclass(frozen=True)
class CertKey:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - see the imports

        if self.key is None:
            raise PKIError("this certificate's private key is not available")
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)


def cert_pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - see the imports

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over DER, as `step certificate fingerprint` prints it."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415 - see the imports

    return cert.fingerprint(hashes.SHA256()).hex()


def _build(
    subject_cn: str,
    issuer: CertKey | None,
    *,
    ca: bool,
    path_length: int | None,
    lifetime: dt.timedelta,
    sans: list[str],
    client_server: bool,
) -> CertKey:
    from cryptography import x509  # noqa: PLC0415 - see the imports
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    # A CN holds at most 64 characters; long workload identities live in the SAN alone
    # (then critical, as RFC 5280 asks of a SAN with an empty subject).
    fits = len(subject_cn) <= 64
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)] if fits else [])
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=not fits)
    )
    # CAs sign certificates; leaves sign handshakes.
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False,
        ),
        critical=True,
    )
    if client_server:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    signer = issuer.key if issuer else key
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    cert = builder.sign(signer, hashes.SHA256())
    return CertKey(cert, key)


def create_anchor(trust_domain: str, lifetime: dt.timedelta = dt.timedelta(days=3650)) -> CertKey:
    """`step certificate create identity.linkerd.<d> root.crt root.key --profile root-ca`."""
    name = anchor_name(trust_domain)
    return _build(name, None, ca=True, path_length=1, lifetime=lifetime, sans=[name], client_server=False)


def create_issuer(anchor: CertKey, trust_domain: str, lifetime: dt.timedelta = dt.timedelta(hours=8760)) -> CertKey:
    """`step certificate create ... --profile intermediate-ca --not-after 8760h --ca root.crt`."""
    if anchor.key is None:
        raise PKIError("the trust anchor's private key is needed to sign an issuer; supply trust.anchor_key")
    name = anchor_name(trust_domain)
    return _build(name, anchor, ca=True, path_length=0, lifetime=lifetime, sans=[name], client_server=False)


def issue_workload(issuer: CertKey, identity: str, lifetime: dt.timedelta = dt.timedelta(hours=24)) -> CertKey:
    """A proxy's leaf certificate, as Linkerd's identity service issues it (24h, SAN = identity)."""
    return _build(identity, issuer, ca=False, path_length=None, lifetime=lifetime, sans=[identity], client_server=True)


def bundle(*certs: x509.Certificate) -> str:
    """`cat trustAnchor.crt root.crt > bundle.crt`, without duplicates."""
    seen: set[str] = set()
    out = []
    for cert in certs:
        fp = fingerprint(cert)
        if fp not in seen:
            seen.add(fp)
            out.append(cert_pem(cert))
    return "".join(out)


def load_certs(pem: str | bytes) -> list[x509.Certificate]:
    from cryptography import x509  # noqa: PLC0415 - see the imports

    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PKIError(f"not a PEM certificate ({exc})") from None


def go_pem_certificates(text: str) -> list[x509.Certificate]:
    """Certificates as Linkerd's CLI and controllers read a PEM bundle, or PKIError where they refuse it.

    Linkerd decodes with Go's encoding/pem (pkg/tls/codec.go DecodePEMCertificates, stable-2.8.1 and
    edge-26.8.3): a block's BEGIN line must start a line, and its END line must end with nothing but
    white space. Two files glued by `cat` where the first lacks its final newline put
    `-----END CERTIFICATE----------BEGIN CERTIFICATE-----` on one line, and the first block fails:
    "not a PEM certificate". OpenSSL is laxer, so the lab checks the Go rules itself.
    """
    certs: list[x509.Certificate] = []
    block: list[str] | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if block is None:
            if line.startswith("-----BEGIN "):
                if line.rstrip() != "-----BEGIN CERTIFICATE-----":
                    raise PKIError("not a PEM certificate")
                block = [line.rstrip()]
            continue  # text between blocks is skipped, as pem.Decode skips it
        block.append(line)
        if "-----END " in line:
            if line.rstrip() != "-----END CERTIFICATE-----":
                raise PKIError("not a PEM certificate")
            certs += load_certs("\n".join(block) + "\n")
            block = None
    if block is not None or not certs:
        raise PKIError("not a PEM certificate")
    return certs


def same_certificates(a: str | None, b: str | None) -> bool:
    """Two PEM texts hold the same certificates in the same order (white space aside: Linkerd's
    charts trim what they store)."""
    if not a or not b:
        return False
    try:
        return load_certs(a) == load_certs(b)
    except PKIError:
        return False


def verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 - see the imports

    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def validate_issuer(issuer: x509.Certificate, anchors: list[x509.Certificate], when: dt.datetime | None = None) -> None:
    """Raise PKIError unless `issuer` is a current CA signed by one of `anchors`."""
    from cryptography import x509  # noqa: PLC0415 - see the imports

    when = when or _now()
    if issuer.not_valid_after_utc <= when:
        raise PKIError(f"the issuer certificate expired on {issuer.not_valid_after_utc:%Y-%m-%d}; run `./labctl step trust` after removing it to issue a new one")
    if issuer.not_valid_before_utc > when:
        raise PKIError("the issuer certificate is not valid yet; check the machine's clock")
    bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not bc.ca:
        raise PKIError("the issuer certificate is not a CA; issue it with the intermediate-ca profile")
    if not any(verify_signed_by(issuer, a) for a in anchors):
        raise PKIError("the issuer certificate is not signed by the trust anchor; issue it from this anchor")


def write_private(path: Path, text: str, durable: bool = True) -> None:
    """A private key: 0600, never world-readable, even for a moment. `durable=False` for a file that is
    made again whenever it is needed (no fsync: a power loss may leave it empty, never readable by others)."""
    write_atomic(path, text, 0o600, durable)


def write_public(path: Path, text: str, durable: bool = True) -> None:
    write_atomic(path, text, 0o644, durable)


def load_pair(cert_path: Path, key_path: Path | None) -> CertKey:
    """Read a certificate (and optionally its key) from files, with a clear error for each failure."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - see the imports
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    try:
        certs = load_certs(cert_path.read_bytes())
    except FileNotFoundError:
        raise PKIError(f"{cert_path} does not exist") from None
    if not certs:
        raise PKIError(f"{cert_path} holds no certificate")
    key = None
    if key_path is not None:
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except FileNotFoundError:
            raise PKIError(f"{key_path} does not exist") from None
        except (ValueError, TypeError):
            raise PKIError(f"{key_path} is not an unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PKIError(f"{key_path} is not an ECDSA key; Linkerd identity needs ECDSA P-256")
        if key.public_key().public_numbers() != certs[0].public_key().public_numbers():
            raise PKIError(f"{key_path} does not belong to the certificate in {cert_path}")
    return CertKey(certs[0], key)
