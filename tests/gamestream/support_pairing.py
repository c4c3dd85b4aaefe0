"""Shared by the GameStream tests: the service on its own event loop in a thread, and a
pairing client written from the protocol facts (not from any implementation)."""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import itertools
import os
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

from host.gamestream.service import GameStreamService, GameStreamSettings

T = TypeVar("T")
ClientIdentity = tuple[rsa.RSAPrivateKey, x509.Certificate]


class ServiceThread:
    """A started GameStreamService on 127.0.0.1 (free ports), its loop in a thread."""

    def __init__(self, config: Path, settings: GameStreamSettings | None = None, **kw: Any) -> None:
        settings = settings or GameStreamSettings(
            bind="127.0.0.1", http_port=0, https_port=0, hostname="test-host", mdns=False
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        try:
            self.service: GameStreamService = self.run(
                lambda: GameStreamService(config, settings, **kw)
            )
            self.http_port, self.https_port = self.call(self.service.start())
        except BaseException:
            self._stop_loop()
            raise

    def call(self, coro: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def run(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run `fn` on the service's loop (where the service must be used) and return."""

        async def wrapper() -> T:
            return fn()

        result: T = self.call(wrapper(), timeout)
        return result

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        """Poll `condition` on the loop until it holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.run(condition):
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.01)

    def wait_for_pin_request(self, timeout: float = 20) -> None:
        self.wait_for(lambda: self.service.pairing_status().waiting, timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.call(self.service.close())
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> ServiceThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- a pairing client from the protocol facts -------------------------------------------


def make_client_identity(
    cn: str = "NVIDIA GameStream Client",
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert


_POOL_SIZE = 8  # distinct client identities a single test may use
_handed_out = itertools.count()


@functools.cache
def _identity_pool() -> tuple[tuple[rsa.RSAPrivateKey, x509.Certificate], ...]:
    return tuple(make_client_identity() for _ in range(_POOL_SIZE))


def pooled_client_identity() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """One of a few identities made once per run (RSA key generation is the slow part);
    consecutive calls return different ones."""
    return _identity_pool()[next(_handed_out) % _POOL_SIZE]


def ecb(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the protocol's mode
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def xml_root(body: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(body)  # noqa: S314 - the host under test's own answers


def parse_xml(body: bytes) -> tuple[int, dict[str, str], str]:
    """(status_code, {child tag: text}, status_message) of an nvhttp answer."""
    root = xml_root(body)
    assert root.tag == "root"
    fields = {child.tag: child.text or "" for child in root}
    return int(root.get("status_code", "-1")), fields, root.get("status_message", "")


Answer = tuple[int, dict[str, str], str]


def http_sender(base_url: str, timeout: float = 30) -> Callable[[str], bytes]:
    """Send a /pair query over plain HTTP; returns the XML body."""

    def send(query: str) -> bytes:
        with httpx.Client(timeout=timeout) as http:
            response = http.get(f"{base_url}/pair?{query}")
        assert response.status_code == 200, response.text
        return response.content

    return send


@dataclass
class PairingClient:
    """The client side of pairing, one call per phase so tests can misbehave between
    them. `send` takes a /pair query and returns the host's XML answer."""

    send: Callable[[str], bytes]
    uniqueid: str = "0123456789ABCDEF"
    key: rsa.RSAPrivateKey | None = None
    cert: x509.Certificate | None = None

    def __post_init__(self) -> None:
        if self.key is None or self.cert is None:
            self.key, self.cert = pooled_client_identity()
        self.salt = os.urandom(16)
        self.aes_key = b""
        self.server_cert: x509.Certificate | None = None
        self.challenge = os.urandom(16)
        self.client_secret = os.urandom(16)
        self.server_secret = b""
        self.server_signature = b""
        self.server_challenge = b""
        self.server_hash = b""

    @property
    def cert_pem(self) -> bytes:
        assert self.cert is not None
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def query(self, rest: str) -> str:
        return f"uniqueid={self.uniqueid}&devicename=roth&updateState=1&{rest}"

    def phase1_query(self, pin: str) -> str:
        self.aes_key = hashlib.sha256(self.salt + pin.encode()).digest()[:16]
        return self.query(
            f"phrase=getservercert&salt={self.salt.hex()}&clientcert={self.cert_pem.hex()}"
        )

    def read_phase1(self, xml: bytes) -> Answer:
        answer = parse_xml(xml)
        if "plaincert" in answer[1]:
            self.server_cert = x509.load_pem_x509_certificate(bytes.fromhex(answer[1]["plaincert"]))
        return answer

    def phase1(self, pin: str) -> Answer:
        return self.read_phase1(self.send(self.phase1_query(pin)))

    def phase2_query(self) -> str:
        return self.query(f"clientchallenge={ecb(self.aes_key, self.challenge).hex()}")

    def phase2(self) -> Answer:
        answer = parse_xml(self.send(self.phase2_query()))
        if "challengeresponse" in answer[1]:
            plain = ecb(self.aes_key, bytes.fromhex(answer[1]["challengeresponse"]), decrypt=True)
            self.server_hash, self.server_challenge = plain[:32], plain[32:48]
        return answer

    def phase3_query(self) -> str:
        assert self.cert is not None
        digest = hashlib.sha256(self.server_challenge + self.cert.signature + self.client_secret)
        return self.query(f"serverchallengeresp={ecb(self.aes_key, digest.digest()).hex()}")

    def phase3(self) -> Answer:
        answer = parse_xml(self.send(self.phase3_query()))
        if "pairingsecret" in answer[1]:
            secret = bytes.fromhex(answer[1]["pairingsecret"])
            self.server_secret, self.server_signature = secret[:16], secret[16:]
        return answer

    def server_proved_pin(self) -> bool:
        """The client's check after phase 3: the host knew the PIN (its hash matches)
        and holds the key of the certificate it sent (its signature verifies)."""
        assert self.server_cert is not None
        expected = hashlib.sha256(
            self.challenge + self.server_cert.signature + self.server_secret
        ).digest()
        public_key = self.server_cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(
            self.server_signature, self.server_secret, padding.PKCS1v15(), hashes.SHA256()
        )
        return expected == self.server_hash

    def phase4_query(self) -> str:
        assert self.key is not None
        signature = self.key.sign(self.client_secret, padding.PKCS1v15(), hashes.SHA256())
        return self.query(f"clientpairingsecret={(self.client_secret + signature).hex()}")

    def phase4(self) -> Answer:
        return parse_xml(self.send(self.phase4_query()))


# -- plain clients for the HTTP and HTTPS ports -------------------------------------------


def client_tls_context(
    directory: Path, identity: tuple[rsa.RSAPrivateKey, x509.Certificate] | None
) -> ssl.SSLContext:
    """A TLS client context that presents `identity` (none: no certificate) and, like
    Moonlight before pairing, does not check the host's certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if identity is not None:
        key, cert = identity
        cert_path, key_path = directory / "client-cert.pem", directory / "client-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context


def get(url: str, *, tls: ssl.SSLContext | None = None, timeout: float = 30) -> httpx.Response:
    with httpx.Client(verify=tls if tls is not None else True, timeout=timeout) as http:
        return http.get(url)
