"""A TLS-only MariaDB outside the task, the stand-in for an Aurora cluster: a test CA and a
server certificate for 127.0.0.1 and localhost made here (`cryptography`), the server started
by tools/throwaway_db.py with them and `require_secure_transport=ON`, so a client that does not
speak TLS is refused, as Aurora's parameter group makes it."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tools import throwaway_db


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what the job verifies the server against (DB_TLS_CA)
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_ca(folder: Path, common: str = "etl test CA") -> tuple[Path, ec.EllipticCurvePrivateKey]:
    """A self-signed CA: its certificate's path and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{common.replace(' ', '-')}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key


def make_tls_files(folder: Path, names: Sequence[str] = ()) -> TlsFiles:
    """A CA, and a server certificate it signs for 127.0.0.1, localhost and `names` (a
    cluster endpoint the task resolves to a forwarded port)."""
    ca_path, ca_key = make_ca(folder)
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    alternatives = [
        *(x509.DNSName(name) for name in ("localhost", *names)),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(ca=ca_path, cert=folder / "server.pem", key=folder / "server-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    return files


@contextmanager
def tls_only_server(
    folder: Path, names: Sequence[str] = ()
) -> Iterator[tuple[throwaway_db.Server, TlsFiles]]:
    """A throw-away MariaDB that accepts TLS connections only, and the files of its TLS."""
    files = make_tls_files(folder, names)
    options = [f"--ssl-ca={files.ca}", f"--ssl-cert={files.cert}", f"--ssl-key={files.key}",
               "--require-secure-transport=ON"]  # fmt: skip
    with throwaway_db.running(options=options) as server:
        yield server, files
