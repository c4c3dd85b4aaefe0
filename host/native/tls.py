"""TLS for the control channel: the host's identity and the client's pinned fingerprints.

The host generates a self-signed certificate and key on first start (config dir, 0600).
Clients do not use a CA: they pin the certificate's SHA-256 fingerprint the first time
they connect to a host (trust on first use) and refuse a changed one.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from host.config import write_private_file

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
KNOWN_HOSTS_FILE = "known_hosts.json"


@dataclass(frozen=True)
class HostIdentity:
    cert_path: Path
    key_path: Path
    fingerprint: str


def fingerprint(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


def load_or_create_identity(config_dir: Path) -> HostIdentity:
    cert_path, key_path = config_dir / CERT_FILE, config_dir / KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "punktfunk host")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        write_private_file(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        write_private_file(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return HostIdentity(
        cert_path, key_path, fingerprint(cert.public_bytes(serialization.Encoding.DER))
    )


def server_context(identity: HostIdentity) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(identity.cert_path, identity.key_path)
    return context


def client_context() -> ssl.SSLContext:
    """No CA and no hostname check: the peer is authenticated by its pinned fingerprint,
    which the caller must check with `KnownHosts.verify` before sending anything."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class CertificateChangedError(ssl.SSLError):
    pass


class KnownHosts:
    """The client's pinned host fingerprints: `<config dir>/known_hosts.json`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CertificateChangedError(
                f"cannot read pinned host certificates from {self.path}: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise CertificateChangedError(f"{self.path} is not a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def verify(self, host: str, seen: str) -> bool:
        """Pin `seen` for `host` on first use (returns True), accept it if it matches,
        raise CertificateChangedError if the host presents another certificate."""
        pinned = self._load()
        known = pinned.get(host)
        if known == seen:
            return False
        if known is not None:
            raise CertificateChangedError(
                f"the certificate of {host} changed: pinned {known}, presented {seen}. "
                "This is either a different machine or someone intercepting the connection. "
                f"If the host's certificate was regenerated on purpose, remove {host!r} "
                f"from {self.path} and connect again."
            )
        pinned[host] = seen
        write_private_file(self.path, (json.dumps(pinned, indent=2) + "\n").encode())
        return True
