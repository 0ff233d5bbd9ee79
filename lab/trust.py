"""The lab's trust material on disk: one anchor, one issuer per cluster, the bundle.

Layout under the lab's state directory (the guide's file names):
  pki/root.crt  pki/root.key  pki/bundle.crt  pki/<cluster>/issuer.crt  pki/<cluster>/issuer.key
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import pki
from .config import LabConfig
from .run import Command, cmd


@dataclass(frozen=True)
class TrustMaterial:
    anchor: pki.CertKey
    issuers: dict[str, pki.CertKey]
    bundle_pem: str

    def anchors_fingerprints(self) -> list[str]:
        return [pki.fingerprint(c) for c in pki.load_certs(self.bundle_pem)]


def pki_dir(cfg: LabConfig, root: Path | None = None) -> Path:
    return cfg.state_dir(root) / "pki"


def _paths(base: Path, cluster: str) -> tuple[Path, Path]:
    return base / cluster / "issuer.crt", base / cluster / "issuer.key"


def ensure(cfg: LabConfig, root: Path | None = None) -> TrustMaterial:
    """Create whatever is missing, reuse what is there; a second call changes nothing."""
    base = pki_dir(cfg, root)
    anchor = _ensure_anchor(cfg, base)
    issuers = {}
    for name in cfg.cluster_names:
        crt, key = _paths(base, name)
        if crt.exists() and key.exists():
            issuer = pki.load_pair(crt, key)
        else:
            issuer = pki.create_issuer(anchor, cfg.trust_domain)
            pki.write_private(key, issuer.key_pem)
            pki.write_public(crt, issuer.cert_pem)
        pki.validate_issuer(issuer.cert, [anchor.cert])
        issuers[name] = issuer
    bundle = pki.bundle(anchor.cert)
    bundle_path = base / "bundle.crt"
    if not bundle_path.exists() or bundle_path.read_text() != bundle:
        pki.write_public(bundle_path, bundle)
    return TrustMaterial(anchor, issuers, bundle)


def _ensure_anchor(cfg: LabConfig, base: Path) -> pki.CertKey:
    crt, key = base / "root.crt", base / "root.key"
    if cfg.trust.anchor_cert is not None:
        supplied = pki.load_pair(cfg.trust.anchor_cert, cfg.trust.anchor_key)
        bc = supplied.cert.extensions.get_extension_for_class(pki.x509.BasicConstraints).value
        if not bc.ca:
            raise pki.PKIError(f"{cfg.trust.anchor_cert} is not a CA certificate; a trust anchor must be one")
        if not crt.exists() or pki.load_certs(crt.read_bytes())[0] != supplied.cert:
            pki.write_public(crt, supplied.cert_pem)
            pki.write_private(key, supplied.key_pem)
        return supplied
    if crt.exists() and key.exists():
        return pki.load_pair(crt, key)
    anchor = pki.create_anchor(cfg.trust_domain)
    pki.write_private(key, anchor.key_pem)
    pki.write_public(crt, anchor.cert_pem)
    return anchor


def step_cli_commands(cfg: LabConfig, root: Path | None = None) -> list[Command]:
    """The guide's `step certificate create` commands for the same files the lab writes."""
    base = pki_dir(cfg, root)
    name = pki.anchor_name(cfg.trust_domain)
    root_crt, root_key = str(base / "root.crt"), str(base / "root.key")
    out = [cmd("mkdir", "-p", *(str(base / c) for c in cfg.cluster_names)),
           cmd("step", "certificate", "create", name, root_crt, root_key, "--profile", "root-ca",
               "--no-password", "--insecure", "--san", name)]
    for c in cfg.cluster_names:
        out.append(cmd("step", "certificate", "create", name, str(base / c / "issuer.crt"), str(base / c / "issuer.key"),
                       "--profile", "intermediate-ca", "--not-after", "8760h", "--no-password", "--insecure",
                       "--ca", root_crt, "--ca-key", root_key, "--san", name))
    out.append(cmd("cp", root_crt, str(base / "bundle.crt")))
    return out


def load(cfg: LabConfig, root: Path | None = None) -> TrustMaterial | None:
    """What is on disk, validated; None when the trust step has not run."""
    base = pki_dir(cfg, root)
    if not (base / "root.crt").exists():
        return None
    anchor = pki.load_pair(base / "root.crt", None)
    issuers = {}
    for name in cfg.cluster_names:
        crt, key = _paths(base, name)
        if not (crt.exists() and key.exists()):
            return None
        issuers[name] = pki.load_pair(crt, key)
        pki.validate_issuer(issuers[name].cert, [anchor.cert])
    bundle_path = base / "bundle.crt"
    if not bundle_path.exists():
        return None
    return TrustMaterial(anchor, issuers, bundle_path.read_text())
