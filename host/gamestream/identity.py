"""The host's GameStream identity and the clients paired with it.

Both live in one private directory the caller chooses (0700, files 0600, written
atomically):

- `cert.pem`, `key.pem`: the host's RSA-2048 self-signed certificate. Moonlight pins it
  while pairing and checks RSA-SHA256 signatures made with its key, so it must be RSA.
- `uniqueid`: the host's stable id; Moonlight tells hosts apart by it.
- `clients.json`: the paired clients, keyed by the SHA-256 fingerprint of their
  certificate's DER.

A damaged certificate or key is an error rather than a reason to make new ones: a new
certificate would silently unpair every client. A damaged `clients.json` is moved aside
(kept for inspection), logged, and the store starts empty, so the host still starts.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from host.config import ensure_private_dir, write_private_file

log = logging.getLogger(__name__)

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
UNIQUEID_FILE = "uniqueid"
CLIENTS_FILE = "clients.json"
STORE_VERSION = 1
CERT_COMMON_NAME = "punktfunk GameStream host"
CERT_VALID_DAYS = 20 * 365
MAX_CLIENT_NAME_CHARS = 64
_UNIQUEID = re.compile(r"[0-9A-Za-z-]{1,64}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class IdentityError(Exception):
    """The identity files exist but cannot be used; the message names the file."""


def fingerprint(cert_der: bytes) -> str:
    """A client's id: the SHA-256 of its certificate's DER, lowercase hex."""
    return hashlib.sha256(cert_der).hexdigest()


def verify_rsa_sha256(certificate: x509.Certificate, data: bytes, signature: bytes) -> bool:
    """True if `signature` is `certificate`'s key's RSA PKCS#1 v1.5 SHA-256 signature of
    `data` (the scheme GameStream pairing uses); False for any other key type."""
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class HostIdentity:
    """The host's certificate, its key and its GameStream uniqueid."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey
    uniqueid: str
    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_signature(self) -> bytes:
        """The signature bytes inside the certificate, which pairing hashes."""
        return self.certificate.signature

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _new_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CERT_VALID_DAYS))
        .sign(key, hashes.SHA256())
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror or exc}") from None


def _load_certificate(
    cert_path: Path, key_path: Path
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    try:
        certificate = x509.load_pem_x509_certificate(_read(cert_path))
    except ValueError as exc:
        raise IdentityError(f"{cert_path} is not a PEM certificate: {exc}") from None
    try:
        key = serialization.load_pem_private_key(_read(key_path), password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{key_path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise IdentityError(f"{key_path} is not an RSA key; GameStream pairing needs RSA")
    if certificate.public_key() != key.public_key():
        raise IdentityError(f"{cert_path} does not belong to the key in {key_path}")
    return certificate, key


def _load_or_create_uniqueid(path: Path) -> str:
    if not path.exists():
        write_private_file(path, (str(uuid.uuid4()).upper() + "\n").encode())
    text = _read(path).decode("ascii", errors="replace").strip()
    if _UNIQUEID.fullmatch(text) is None:
        raise IdentityError(f"{path} does not hold a host id (1-64 letters, digits or dashes)")
    return text


def load_or_create_host_identity(directory: Path) -> HostIdentity:
    """The identity in `directory`, made on first use (the key takes ~0.1 s to generate).

    Raises IdentityError when only one of cert/key exists or either is unreadable."""
    ensure_private_dir(directory)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    have_cert, have_key = cert_path.exists(), key_path.exists()
    if have_cert != have_key:
        present, missing = (cert_path, key_path) if have_cert else (key_path, cert_path)
        raise IdentityError(
            f"{present} exists but {missing} does not; restore the missing file, or delete "
            f"both to make a new identity (every client then has to pair again)"
        )
    if not have_cert:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private_file(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        write_private_file(
            cert_path, _new_certificate(key).public_bytes(serialization.Encoding.PEM)
        )
    certificate, key = _load_certificate(cert_path, key_path)
    uniqueid = _load_or_create_uniqueid(directory / UNIQUEID_FILE)
    return HostIdentity(certificate, key, uniqueid, cert_path, key_path)


# -- paired clients ------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedClient:
    id: str  # fingerprint() of the client's certificate
    name: str
    paired_unix_ms: int
    cert_pem: str


class ClientStoreError(Exception):
    """The paired-clients file cannot be read or written (permissions, disk)."""


class _CorruptStoreError(Exception):
    pass


def _parse_client(entry: Any) -> PairedClient:
    if not isinstance(entry, dict):
        raise _CorruptStoreError("an entry is not an object")
    client_id, name = entry.get("id"), entry.get("name")
    paired, cert_pem = entry.get("paired_unix_ms"), entry.get("cert")
    if not isinstance(client_id, str) or _FINGERPRINT.fullmatch(client_id) is None:
        raise _CorruptStoreError(f"bad client id {str(client_id)[:80]!r}")
    if not isinstance(name, str) or len(name) > MAX_CLIENT_NAME_CHARS:
        raise _CorruptStoreError(f"client {client_id}: bad name")
    if isinstance(paired, bool) or not isinstance(paired, int) or paired < 0:
        raise _CorruptStoreError(f"client {client_id}: bad paired_unix_ms")
    if not isinstance(cert_pem, str):
        raise _CorruptStoreError(f"client {client_id}: no certificate")
    try:
        der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
    except ValueError:
        raise _CorruptStoreError(f"client {client_id}: unreadable certificate") from None
    if fingerprint(der) != client_id:
        raise _CorruptStoreError(f"client {client_id}: id does not match its certificate")
    return PairedClient(client_id, name, paired, cert_pem)


def _parse_store(data: bytes) -> dict[str, PairedClient]:
    try:
        root = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _CorruptStoreError(f"not JSON ({exc})") from None
    if not isinstance(root, dict) or root.get("version") != STORE_VERSION:
        raise _CorruptStoreError(f"not a version-{STORE_VERSION} paired-clients object")
    entries = root.get("clients")
    if not isinstance(entries, list):
        raise _CorruptStoreError('"clients" is not a list')
    clients: dict[str, PairedClient] = {}
    for entry in entries:
        client = _parse_client(entry)
        clients[client.id] = client
    return clients


class ClientStore:
    """The paired clients, persisted to one JSON file on every change.

    Not thread-safe: the GameStream service calls it from its event loop only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set_aside: Path | None = None  # where a corrupt file went, if one did
        self._clients = self._load()

    def _load(self) -> dict[str, PairedClient]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ClientStoreError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            return _parse_store(data)
        except _CorruptStoreError as exc:
            self.set_aside = self._move_aside()
            log.error(
                "the paired-clients file %s is damaged (%s); moved it to %s and starting "
                "with no paired clients: Moonlight clients must pair again",
                self.path,
                exc,
                self.set_aside,
            )
            return {}

    def _move_aside(self) -> Path:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise ClientStoreError(
                f"{self.path} is damaged and cannot be moved aside: {exc.strerror or exc}"
            ) from None
        return target

    def _save(self) -> None:
        root = {
            "version": STORE_VERSION,
            "clients": [
                {"id": c.id, "name": c.name, "paired_unix_ms": c.paired_unix_ms, "cert": c.cert_pem}
                for c in self.clients()
            ],
        }
        try:
            write_private_file(self.path, (json.dumps(root, indent=2) + "\n").encode())
        except OSError as exc:
            raise ClientStoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def clients(self) -> list[PairedClient]:
        """Every paired client, oldest pairing first."""
        return sorted(self._clients.values(), key=lambda c: (c.paired_unix_ms, c.id))

    def find(self, client_id: str) -> PairedClient | None:
        return self._clients.get(client_id)

    def add(self, certificate: x509.Certificate, name: str, paired_unix_ms: int) -> PairedClient:
        """Pair `certificate` under `name` (pairing an already paired one renames it)."""
        der = certificate.public_bytes(serialization.Encoding.DER)
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        client = PairedClient(fingerprint(der), name[:MAX_CLIENT_NAME_CHARS], paired_unix_ms, pem)
        previous = self._clients.get(client.id)
        self._clients[client.id] = client
        try:
            self._save()
        except ClientStoreError:
            if previous is None:
                del self._clients[client.id]
            else:
                self._clients[client.id] = previous
            raise
        return client

    def remove(self, client_id: str) -> bool:
        client = self._clients.pop(client_id, None)
        if client is None:
            return False
        try:
            self._save()
        except ClientStoreError:
            self._clients[client_id] = client
            raise
        return True
