"""Certificates the lab's PKI never issues, for tests of what a TLS peer makes of them."""
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lab.trust import pki


def not_yet_valid(issuer: pki.CertKey, identity: str) -> pki.CertKey:
    """A workload leaf whose validity starts tomorrow (a clock running behind the issuer's)."""
    leaf = pki.issue_workload(issuer, identity)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(leaf.cert.subject).issuer_name(issuer.cert.subject)
               .public_key(leaf.key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2)))
    for extension in leaf.cert.extensions:  # the leaf's SAN, usages and key identifiers: the anchor and the
        builder = builder.add_extension(extension.value, extension.critical)  # issuer share a subject name
    return pki.CertKey(builder.sign(issuer.key, hashes.SHA256()), leaf.key)
