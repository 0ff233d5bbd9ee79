"""The lab's trust material on disk: one anchor, one issuer per cluster, the bundle.

Layout under the lab's state directory (the guide's file names):
  pki/root.crt  pki/root.key  pki/bundle.crt  pki/<cluster>/issuer.crt  pki/<cluster>/issuer.key
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import pki
from ..model.config import LabConfig
from ..tools.run import Command, cmd


@dataclass(frozen=True)
class TrustMaterial:
    mode: str                                  # "shared" (one anchor) or "bundle" (the guide's bundle)
    anchors: dict[str, "pki.x509.Certificate"]  # each cluster's own anchor (shared: the same one)
    issuers: dict[str, pki.CertKey]
    bundle_pem: str | None                     # shared: the anchor; bundle: pki/bundle.crt once made

    @property
    def anchor(self) -> "pki.x509.Certificate":
        return next(iter(self.anchors.values()))

    def roots_for(self, cluster: str) -> str:
        """The anchors `cluster` is installed to trust: the bundle where there is one, else its own."""
        return self.bundle_pem or pki.cert_pem(self.anchors[cluster])

    def anchors_fingerprints(self) -> list[str]:
        return [pki.fingerprint(c) for c in pki.load_certs(self.bundle_pem)] if self.bundle_pem else []


def pki_dir(cfg: LabConfig, root: Path | None = None) -> Path:
    return cfg.state_dir(root) / "pki"


def existing_cluster(cfg: LabConfig) -> str:
    """In bundle mode, the cluster playing the guide's existing installation: the first link's target."""
    return cfg.links[0].target if cfg.links else cfg.cluster_names[0]


def roots_path(cfg: LabConfig, root: Path | None, cluster: str) -> Path:
    """The file `linkerd install --identity-trust-anchors-file` gets for `cluster`."""
    base = pki_dir(cfg, root)
    if cfg.trust.mode == "shared" or (base / "bundle.crt").exists():
        return base / "bundle.crt"
    return base / cluster / "root.crt"


def _paths(base: Path, cluster: str) -> tuple[Path, Path]:
    return base / cluster / "issuer.crt", base / cluster / "issuer.key"


def _marker(crt: Path) -> Path:
    return crt.with_name(f".{crt.stem}.writing")


def _write_pair(crt: Path, key: Path, cert_pem: str, key_pem: str) -> None:
    """A new pair, each file atomic, under a marker that says the lab is writing it: a command killed between
    the two files leaves the marker beside the half it wrote, which the next command may then drop
    (_being_written) instead of refusing it as a half pair a cluster may depend on."""
    marker = _marker(crt)
    pki.write_public(marker, "")
    pki.write_private(key, key_pem)
    pki.write_public(crt, cert_pem)
    marker.unlink()


def _being_written(crt: Path, key: Path, create: bool) -> bool:
    """Whether a `_write_pair` of this pair has not finished. The trust step (`create`, under the lab's lock)
    finishes what a killed one left: a whole pair is kept, a half one removed (no step after trust ran with it,
    as it was never whole), and says False. A reader (no lock: a writer may be at work) takes the pair as not
    made yet."""
    marker = _marker(crt)
    if not marker.exists():
        return False
    if not create:
        return True
    if crt.exists() != key.exists():
        crt.unlink(missing_ok=True)
        key.unlink(missing_ok=True)
    marker.unlink()
    return False


def _half_pair(crt: Path, key: Path, what: str) -> None:
    """A certificate without its key, or a key without its certificate, is never completed by making a new
    pair: the one left may be what a cluster trusts or signs with."""
    if crt.exists() != key.exists():
        present, missing = (crt, key) if crt.exists() else (key, crt)
        raise pki.PKIError(f"{missing} is missing but {present} is there; the lab will not replace {what} a cluster may "
                           f"depend on. Fix: restore {missing.name}, or `./labctl down --purge` to start over")


def _issuer(cfg: LabConfig, base: Path, cluster: str, anchor: pki.CertKey, create: bool) -> pki.CertKey | None:
    crt, key = _paths(base, cluster)
    if _being_written(crt, key, create):
        return None
    _half_pair(crt, key, f"{cluster}'s issuer")
    if crt.exists() and key.exists():
        issuer = pki.load_pair(crt, key)
    elif not create:
        return None
    else:
        if anchor.key is None:
            raise pki.PKIError(f"{cluster}'s issuer is missing and the trust anchor's private key is needed to sign a new "
                               f"one, but {base / 'root.key' if cfg.trust.mode == 'shared' else base / cluster / 'root.key'} "
                               "is gone. Fix: restore that key, or `./labctl down --purge` to start over with a new anchor")
        issuer = pki.create_issuer(anchor, cfg.trust_domain)
        _write_pair(crt, key, issuer.cert_pem, issuer.key_pem)
    pki.validate_issuer(issuer.cert, [anchor.cert])
    return issuer


def _material(cfg: LabConfig, root: Path | None, create: bool) -> TrustMaterial | None:
    base = pki_dir(cfg, root)
    anchors: dict[str, pki.CertKey] = {}
    if cfg.trust.mode == "shared":
        shared = _ensure_anchor(cfg, base) if create else (
            pki.load_pair(base / "root.crt", base / "root.key" if (base / "root.key").exists() else None)
            if (base / "root.crt").exists() and not _being_written(base / "root.crt", base / "root.key", False) else None)
        if shared is None:
            return None
        anchors = {c: shared for c in cfg.cluster_names}
    else:
        for c in cfg.cluster_names:
            crt, key = base / c / "root.crt", base / c / "root.key"
            if _being_written(crt, key, create):
                return None
            if key.exists() and not crt.exists():
                _half_pair(crt, key, f"{c}'s trust anchor")
            if crt.exists():
                anchors[c] = pki.load_pair(crt, key if key.exists() else None)
            elif create:
                anchors[c] = pki.create_anchor(cfg.trust_domain)
                _write_pair(crt, key, anchors[c].cert_pem, anchors[c].key_pem)
            else:
                return None
    issuers = {}
    for c in cfg.cluster_names:
        issuer = _issuer(cfg, base, c, anchors[c], create)
        if issuer is None:
            return None
        issuers[c] = issuer
    bundle_path = base / "bundle.crt"
    if cfg.trust.mode == "shared":
        bundle = pki.bundle(anchors[cfg.cluster_names[0]].cert)
        if create and (not bundle_path.exists() or bundle_path.read_text() != bundle):
            pki.write_public(bundle_path, bundle)
        if not bundle_path.exists():
            return None
    else:
        # The guide's premise: the existing installation's anchor key was thrown away.
        (base / existing_cluster(cfg) / "root.key").unlink(missing_ok=True)
        bundle = bundle_path.read_text() if bundle_path.exists() else None
    return TrustMaterial(cfg.trust.mode, {c: a.cert for c, a in anchors.items()}, issuers, bundle)


def ensure(cfg: LabConfig, root: Path | None = None) -> TrustMaterial:
    """Create whatever is missing, reuse what is there; a second call changes nothing."""
    return _material(cfg, root, create=True)


def load(cfg: LabConfig, root: Path | None = None) -> TrustMaterial | None:
    """What is on disk, validated; None when the trust step has not run."""
    return _material(cfg, root, create=False)


def _ensure_anchor(cfg: LabConfig, base: Path) -> pki.CertKey:
    crt, key = base / "root.crt", base / "root.key"
    if cfg.trust.anchor_cert is not None:
        supplied = pki.load_pair(cfg.trust.anchor_cert, cfg.trust.anchor_key)
        bc = supplied.cert.extensions.get_extension_for_class(pki.x509.BasicConstraints).value
        if not bc.ca:
            raise pki.PKIError(f"{cfg.trust.anchor_cert} is not a CA certificate; a trust anchor must be one")
        if crt.exists() and pki.load_certs(crt.read_bytes())[0] != supplied.cert:
            raise pki.PKIError(f"{cfg.trust.anchor_cert} is not the anchor this lab already holds in {crt}, which its "
                               "clusters may trust. Fix: point anchor_cert back at that anchor, or `./labctl down --purge` "
                               "to start over with the new one")
        if not crt.exists():
            _write_pair(crt, key, supplied.cert_pem, supplied.key_pem)
        return supplied
    _being_written(crt, key, create=True)
    if key.exists() and not crt.exists():
        _half_pair(crt, key, "the trust anchor")
    if crt.exists():
        # Never replace an anchor that exists: clusters may trust it. Without its key it can still
        # be trusted, only not sign new issuers (the issuer check says so when one is needed).
        return pki.load_pair(crt, key if key.exists() else None)
    anchor = pki.create_anchor(cfg.trust_domain)
    _write_pair(crt, key, anchor.cert_pem, anchor.key_pem)
    return anchor


def step_cli_commands(cfg: LabConfig, root: Path | None = None) -> list[Command]:
    """The guide's `step certificate create` commands for the same files the lab writes."""
    base = pki_dir(cfg, root)
    name = pki.anchor_name(cfg.trust_domain)
    out = [cmd("mkdir", "-p", *(str(base / c) for c in cfg.cluster_names))]

    def anchor(crt: Path, key: Path) -> Command:
        return cmd("step", "certificate", "create", name, str(crt), str(key), "--profile", "root-ca",
                   "--no-password", "--insecure", "--san", name)

    def issuer(cluster: str, ca: Path, ca_key: Path) -> Command:
        return cmd("step", "certificate", "create", name, str(base / cluster / "issuer.crt"), str(base / cluster / "issuer.key"),
                   "--profile", "intermediate-ca", "--not-after", "8760h", "--no-password", "--insecure",
                   "--ca", str(ca), "--ca-key", str(ca_key), "--san", name)

    if cfg.trust.mode == "shared":
        out.append(anchor(base / "root.crt", base / "root.key"))
        out += [issuer(c, base / "root.crt", base / "root.key") for c in cfg.cluster_names]
        out.append(cmd("cp", str(base / "root.crt"), str(base / "bundle.crt")))
        return out
    # bundle: every cluster its own anchor; the existing one's key is then thrown away (the guide's premise)
    for c in cfg.cluster_names:
        out += [anchor(base / c / "root.crt", base / c / "root.key"), issuer(c, base / c / "root.crt", base / c / "root.key")]
    out.append(cmd("rm", str(base / existing_cluster(cfg) / "root.key")))
    return out


def _certs_in(path: Path) -> list:
    try:
        return pki.load_certs(path.read_bytes())
    except (OSError, pki.PKIError, ValueError):
        return []


def foreign_anchors(cfg: LabConfig, root: Path | None, trusted: dict[str, str | None]) -> dict[str, list[str]]:
    """Per cluster, the fingerprints of the anchors it trusts (`trusted`: the roots each existing cluster
    stores) that the lab's pki/ does not hold."""
    held = {pki.fingerprint(c) for path in pki_dir(cfg, root).rglob("*.crt") for c in _certs_in(path)}
    out = {}
    for cluster, roots in trusted.items():
        foreign = [pki.fingerprint(c) for c in pki.load_certs(roots) if pki.fingerprint(c) not in held] if roots else []
        if foreign:
            out[cluster] = foreign
    return out


def foreign_anchors_message(cfg: LabConfig, root: Path | None, cluster: str, prints: list[str]) -> str:
    base = pki_dir(cfg, root)
    return (f"cluster {cluster} trusts anchor(s) {', '.join(p[:16] for p in prints)}, and {base} does not hold them "
            f"(was it removed?). Fix: restore {base} from a backup, or `./labctl down --purge` and `./labctl up` to start over")


def bundle_stamp(path: Path) -> str:
    """What pods restarted for a bundle are marked with: the first 16 hex of the bundle file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
