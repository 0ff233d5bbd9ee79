"""TLS 1.3 contexts for the sim's proxies: mutual TLS with Linkerd-style identities.

A proxy presents its leaf plus its cluster's issuer, and verifies peers against
its cluster's trust roots (the anchor or the bundle), exactly what makes a
shared anchor necessary between linked clusters.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Identity:
    """A proxy's credentials: its name, its chain and key on disk (0600), the roots it trusts."""

    name: str
    chain_file: Path
    key_file: Path
    roots_pem: str

    def server_context(self, require_client_cert: bool = True) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(self.chain_file, self.key_file)
        ctx.load_verify_locations(cadata=self.roots_pem)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(self.chain_file, self.key_file)
        ctx.load_verify_locations(cadata=self.roots_pem)
        ctx.check_hostname = True  # the peer's identity is its DNS SAN
        return ctx


def peer_identity(peercert: dict | None) -> str | None:
    """The DNS SAN of a verified peer certificate, as Linkerd reads client identities."""
    if not peercert:
        return None
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "DNS":
            return value
    return None


def refusal_reason(exc: BaseException) -> str:
    """Name why a TLS handshake was refused, in words a user can act on."""
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper()
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in text or "CERTIFICATE_REQUIRED" in text:
        return "no client certificate"
    # Before "unknown authority": OpenSSL reports a name mismatch as CERTIFICATE_VERIFY_FAILED too
    # ("certificate verify failed: Hostname mismatch, ...").
    if "HOSTNAME" in text or "IP ADDRESS MISMATCH" in text:
        return "identity mismatch"
    # Before "unknown authority" too: a certificate outside its validity period fails verification as
    # well ("certificate verify failed: certificate has expired"); the peer it refused is told by the
    # certificate_expired alert. (A not-yet-valid one is told only bad_certificate.)
    if "CERTIFICATE HAS EXPIRED" in text or "CERTIFICATE_EXPIRED" in text:
        return "certificate expired"
    if "NOT YET VALID" in text:
        return "certificate not yet valid"
    if "UNKNOWN_CA" in text or "CERTIFICATE_VERIFY_FAILED" in text or "UNABLE TO GET" in text:
        return "unknown authority"
    if "HTTP_REQUEST" in text or "WRONG_VERSION_NUMBER" in text or "UNEXPECTED_MESSAGE" in text or "RECORD_LAYER" in text or "PACKET_LENGTH" in text:
        return "not TLS (plaintext)"
    return (getattr(exc, "reason", None) or type(exc).__name__).lower().replace("_", " ")
