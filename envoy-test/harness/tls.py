"""Certificates for the mutual-TLS tests, made by the test run with `cryptography`: a CA, a server
certificate for 127.0.0.1 and client certificates, each written as PEM files; and TLS client
contexts that present one of them (or none)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .procs import LOOPBACK


@dataclass
class Pair:
    """A certificate and its key, as PEM files."""

    name: str
    cert: Path
    key: Path
    der: bytes

    @property
    def x5t(self) -> str:
        """RFC 8705 `x5t#S256`: base64url SHA-256 of the DER."""
        return base64.urlsafe_b64encode(hashlib.sha256(self.der).digest()).rstrip(b"=").decode()

    @property
    def pem(self) -> str:
        return self.cert.read_text()

    @property
    def escaped_pem(self) -> str:
        """URL-encoded PEM, as nginx's `$ssl_client_escaped_cert` and Envoy's `%DOWNSTREAM_PEER_CERT%` write it."""
        return urllib.parse.quote(self.pem, safe="")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """A CA in `dir`, and certificates it signs."""

    def __init__(self, dir: Path, name: str = "dpop-gate test CA"):
        self.dir = dir
        dir.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca = self._write("ca", self._cert, self._key)

    def _write(self, name: str, cert: x509.Certificate, key) -> Pair:
        cert_path, key_path = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
        key_path.chmod(0o600)
        return Pair(name, cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))

    def issue(self, name: str, server: bool = False) -> Pair:
        """A certificate with CN `name`: for TLS servers on 127.0.0.1 (`server`), else for clients."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]),
                critical=False,
            )
        return self._write(name, builder.sign(self._key, hashes.SHA256()), key)

    def client_context(self, client: Pair | None) -> ssl.SSLContext:
        """A TLS client context trusting this CA, presenting `client`'s certificate (None: none)."""
        ctx = ssl.create_default_context(cafile=str(self.ca.cert))
        if client is not None:
            ctx.load_cert_chain(str(client.cert), str(client.key))
        return ctx
