"""The certificates of a simulated cluster's API server, laid out as kubeadm lays out kind's.

Per cluster: a CA (CN `kubernetes`, as kubeadm names it), the API server's serving certificate
(localhost and 127.0.0.1), and the admin's client certificate (CN `kubernetes-admin`, O
`kubeadm:cluster-admins` from Kubernetes 1.29, `system:masters` before) that goes into the lab's kubeconfig. Kept under the
lab process's state directory so a restarted lab process serves the same CA, and a kubeconfig
written earlier keeps working. Private keys are 0600.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...trust.pki import write_private, write_public

# cryptography where it is used (as in lab/trust/pki.py): the command that starts the lab process imports this
# module only for the certificates' paths, before it starts that process.
if TYPE_CHECKING:
    from cryptography import x509

ADMIN_USER = "kubernetes-admin"
# The admin's group (the certificate's O). kubeadm writes admin.conf, which kind exports, for group
# kubeadm:cluster-admins from v1.29 (bound to cluster-admin by a ClusterRoleBinding of the same name; the
# system:masters certificate went to super-admin.conf: cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go,
# ClusterAdminsGroupAndClusterRoleBinding); before, admin.conf was in system:masters.
ADMIN_GROUP, ADMIN_GROUP_BEFORE_1_29 = "kubeadm:cluster-admins", "system:masters"


@dataclass(frozen=True)
class ApiCerts:
    directory: Path

    @classmethod
    def of(cls, sim_dir: Path, cluster: str) -> "ApiCerts":
        """Where the lab process keeps a cluster's API certificates (and the backend reads them)."""
        return cls(sim_dir / "certs" / cluster / "apiserver")

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server(self) -> tuple[Path, Path]:
        return self.directory / "apiserver.crt", self.directory / "apiserver.key"

    @property
    def admin(self) -> tuple[Path, Path]:
        return self.directory / "admin.crt", self.directory / "admin.key"

    def ensure(self, admin_group: str = ADMIN_GROUP) -> "ApiCerts":
        """The certificates, made where any is missing or empty. They are written without fsync (each
        durable write is two, ~1.5 ms here: twelve per cluster on the lab process's loop while `up` waits for
        its clusters): a killed lab process loses nothing the kernel holds; only a machine that goes down before
        they reach the disk can leave one empty, and then all are made again, as for a new lab (the next
        command rewrites the kubeconfig from them)."""
        if all(p.exists() and p.stat().st_size for p in (self.ca, *self.server, *self.admin)):
            return self
        from cryptography import x509  # noqa: PLC0415 - see the imports
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
        ca = _sign(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True, usages=None, sans=None)
        write_public(self.ca, _pem(ca), durable=False)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _sign(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), ca_name,
                       server_key.public_key(), ca_key, ca=False, usages=[ExtendedKeyUsageOID.SERVER_AUTH],
                       sans=[x509.DNSName("localhost"), x509.DNSName("kubernetes"),
                             x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))])
        write_public(self.server[0], _pem(server), durable=False)
        write_private(self.server[1], _key_pem(server_key), durable=False)
        admin_key = ec.generate_private_key(ec.SECP256R1())
        admin = _sign(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, admin_group),
                                 x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER)]), ca_name,
                      admin_key.public_key(), ca_key, ca=False, usages=[ExtendedKeyUsageOID.CLIENT_AUTH], sans=None)
        write_public(self.admin[0], _pem(admin), durable=False)
        write_private(self.admin[1], _key_pem(admin_key), durable=False)
        return self


def _sign(subject, issuer, public_key, signer, *, ca: bool, usages, sans) -> x509.Certificate:
    from cryptography import x509  # noqa: PLC0415 - see the imports
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=not ca,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=False,
                                            encipher_only=False, decipher_only=False), critical=True))
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - see the imports

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - see the imports

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
