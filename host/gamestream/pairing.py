"""GameStream pairing as a state machine: the PIN, four HTTP phases and an HTTPS check.

Sans-I/O: `Pairing.handle` takes a parsed `/pair` query and answers XML bytes, or says
to hold the request until the operator types the PIN (`AwaitPin`); the edge owns the
sockets, the waiting and the clock (`now` is monotonic seconds).

The exchange (SHA-256 since GameStream 7; AES-128-ECB without padding; `key` =
SHA256(salt ‖ PIN as ASCII)[:16]; RSA signatures are PKCS#1 v1.5 with SHA-256; all
binary fields travel as hex):

1. `phrase=getservercert&salt=<16 bytes>&clientcert=<client cert PEM>`: held until the
   PIN arrives, then `plaincert` = the host certificate PEM.
2. `clientchallenge` = Enc(challenge, 16 bytes). Answer `challengeresponse` =
   Enc(SHA256(challenge ‖ host cert signature ‖ server secret) ‖ server challenge).
3. `serverchallengeresp` = Enc(client hash, 32 bytes), kept. Answer `pairingsecret` =
   server secret ‖ Sign_host(server secret). (The client now checks the first hash; a
   wrong PIN shows there, and Moonlight gives up with an HTTP `unpair`.)
4. `clientpairingsecret` = client secret (16) ‖ Sign_client(client secret). The host
   checks SHA256(server challenge ‖ client cert signature ‖ client secret) against the
   kept hash and the signature against the client certificate; only then is the client
   stored as paired.
5. `phrase=pairchallenge` over HTTPS with the now paired certificate: `paired=1`.

One pairing at a time, host-wide: the operator types one PIN for one waiting client.
Every Moonlight client sends the same `uniqueid`, so a session is tied to the uniqueid,
the peer address and (for phase 1) the client certificate. A second client's phase 1
gets the answer GFE gives while another device pairs (`paired=1` without `plaincert`),
which Moonlight reports as "pairing already in progress". Out-of-order or replayed
phases from the pairing client fail and reset the session; stray phases from anyone
else fail without touching it.

Facts: Sunshine `src/nvhttp.cpp`, moonlight-qt `app/backend/nvpairingmanager.cpp`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from host.gamestream.identity import (
    MAX_CLIENT_NAME_CHARS,
    ClientStore,
    ClientStoreError,
    HostIdentity,
    PairedClient,
    verify_rsa_sha256,
)
from host.gamestream.nvhttp import Query, pair_failed_xml, pair_xml

log = logging.getLogger(__name__)

PIN_WAIT_S = 120.0  # how long the edge holds phase 1 for the operator's PIN
HANDSHAKE_IDLE_S = 30.0  # after the PIN, a phase that takes longer abandons the pairing
SALT_BYTES = 16
CHALLENGE_BYTES = 16
SECRET_BYTES = 16
HASH_BYTES = 32
MAX_CLIENT_CERT_BYTES = 3000  # a 4096-bit RSA certificate in PEM is ~1.9 kB
_PIN = re.compile(r"[0-9]{4}")
_UNIQUEID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


class PairingError(Exception):
    """The operator's PIN submission was refused; the message says why."""


class NoClientWaitingError(PairingError):
    pass


class InvalidPinError(PairingError, ValueError):
    pass


class InvalidNameError(PairingError, ValueError):
    pass


def aes_ecb(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    """AES-128-ECB without padding: what the pairing protocol prescribes (the data are
    single random blocks and hashes, so ECB's pattern leak does not apply)."""
    cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the protocol's mode
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def pin_key(salt: bytes, pin: str) -> bytes:
    return hashlib.sha256(salt + pin.encode("ascii")).digest()[:16]


def default_client_name(uniqueid: str) -> str:
    return f"Moonlight {uniqueid}"[:MAX_CLIENT_NAME_CHARS]


class Phase(enum.Enum):
    WAITING_FOR_PIN = 1
    CERT_SENT = 2
    CHALLENGED = 3
    SECRET_SENT = 4


# The query key of each of phases 2-4 and the phase the session must be in for it.
_STEPS = {
    "clientchallenge": Phase.CERT_SENT,
    "serverchallengeresp": Phase.CHALLENGED,
    "clientpairingsecret": Phase.SECRET_SENT,
}


@dataclass
class _Session:
    ticket: int
    uniqueid: str
    peer: str
    client_cert: x509.Certificate
    client_cert_der: bytes
    salt: bytes
    default_name: str
    phase: Phase
    last_activity: float
    key: bytes = b""
    name: str = ""
    server_secret: bytes = b""
    server_challenge: bytes = b""
    client_hash: bytes = b""


@dataclass(frozen=True)
class Reply:
    """Answer the request with `xml` now."""

    xml: bytes


@dataclass(frozen=True)
class AwaitPin:
    """Hold the request: its answer comes from `submit_pin`, or from `abandon` when the
    wait ends (timeout, client gone). `ticket` names this wait."""

    ticket: int
    client_name: str


@dataclass(frozen=True)
class PinAccepted:
    ticket: int  # the held request this answers
    xml: bytes


@dataclass(frozen=True)
class WaitingClient:
    """The client whose pairing waits for the operator's PIN."""

    name: str  # the default name it will be stored under
    uniqueid: str
    address: str
    fingerprint: str  # SHA-256 of its certificate (DER), the id it will be paired under


def _clean_name(name: str, default: str) -> str:
    clean = name.strip()
    if not clean:
        return default
    if len(clean) > MAX_CLIENT_NAME_CHARS:
        raise InvalidNameError(f"the client name is longer than {MAX_CLIENT_NAME_CHARS} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in clean):
        raise InvalidNameError("the client name contains a control character")
    return clean


def _load_client_cert(cert_hex: str | None) -> x509.Certificate | None:
    if cert_hex is None or len(cert_hex) > 2 * MAX_CLIENT_CERT_BYTES:
        return None
    if _HEX.fullmatch(cert_hex) is None:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(bytes.fromhex(cert_hex))
    except ValueError:
        return None
    # The client signs its pairing secret with RSA-SHA256; any other key cannot pair.
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        return None
    return certificate


class Pairing:
    """Pairing sessions (at most one) for a host identity and its client store."""

    def __init__(
        self,
        identity: HostIdentity,
        store: ClientStore,
        *,
        wall_clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.identity = identity
        self.store = store
        self._wall_clock_ms = wall_clock_ms
        self._random = random_bytes
        self._tickets = itertools.count(1)
        self._session: _Session | None = None

    # -- what the operator sees and does -----------------------------------------------

    def waiting(self) -> WaitingClient | None:
        s = self._session
        if s is None or s.phase is not Phase.WAITING_FOR_PIN:
            return None
        fingerprint = hashlib.sha256(s.client_cert_der).hexdigest()
        return WaitingClient(s.default_name, s.uniqueid, s.peer, fingerprint)

    def submit_pin(self, pin: str, name: str, now: float) -> PinAccepted:
        """Take the PIN (and the name to store the client under; empty: the default) for
        the waiting client. Raises NoClientWaitingError, InvalidPinError,
        InvalidNameError; nothing changes when it raises."""
        s = self._session
        if s is None or s.phase is not Phase.WAITING_FOR_PIN:
            raise NoClientWaitingError(
                "no Moonlight client is waiting for a PIN; start pairing on the client first"
            )
        if not isinstance(pin, str) or _PIN.fullmatch(pin) is None:
            raise InvalidPinError("the PIN is the 4 digits the Moonlight client shows")
        s.name = _clean_name(name, s.default_name)
        s.key = pin_key(s.salt, pin)
        s.phase = Phase.CERT_SENT
        s.last_activity = now
        log.info("PIN entered for %s; finishing the pairing", s.name)
        return PinAccepted(s.ticket, pair_xml(True, (("plaincert", self.identity.cert_pem.hex()),)))

    # -- what the edge reports ---------------------------------------------------------

    def abandon(self, ticket: int, reason: str) -> bytes:
        """The held phase-1 request `ticket` ends without its answer having been sent
        (`reason`: timeout, client gone, shutdown). Drops its session; returns the
        failure answer to send if the connection is still there."""
        s = self._session
        if (
            s is not None
            and s.ticket == ticket
            and s.phase
            in (
                Phase.WAITING_FOR_PIN,
                Phase.CERT_SENT,
            )
        ):
            log.info("pairing with %s abandoned: %s", s.name or s.default_name, reason)
            self._session = None
        return pair_failed_xml(f"pairing abandoned: {reason}")

    def client_unpaired(self, uniqueid: str, peer: str) -> None:
        """A client sent `unpair` over plain HTTP: Moonlight does this when it gives up on
        a pairing, for instance on a wrong PIN. Only the pairing of that very client
        (after the PIN) ends; a waiting one cannot be it, as its request is still open."""
        s = self._session
        if s is None or s.phase is Phase.WAITING_FOR_PIN:
            return
        if s.uniqueid == uniqueid and s.peer == peer:
            reason = (
                "most likely a wrong PIN"
                if s.phase is Phase.SECRET_SENT
                else f"after step {s.phase.value - 1} of 4"
            )
            log.warning(
                "pairing with %s failed: the client gave up (%s); nothing was stored",
                s.name,
                reason,
            )
            self._session = None

    # -- the protocol ---------------------------------------------------------------------

    def handle(self, query: Query, *, peer: str, secure: bool, now: float) -> Reply | AwaitPin:
        """Answer one `/pair` request from `peer` (`secure`: it came over HTTPS with a
        paired certificate)."""
        uniqueid = query.get("uniqueid")
        if uniqueid is None or _UNIQUEID.fullmatch(uniqueid) is None:
            return Reply(pair_failed_xml("missing or malformed uniqueid"))
        self._expire(now)
        phrase = query.get("phrase")
        if phrase == "getservercert":
            return self._get_server_cert(query, uniqueid, peer, now)
        if phrase == "pairchallenge":
            if not secure:
                return Reply(pair_failed_xml("pairchallenge is only answered over HTTPS"))
            return Reply(pair_xml(True))
        if phrase is not None:
            return Reply(pair_failed_xml(f"unknown pairing phrase {phrase[:40]!r}"))
        steps = [key for key in _STEPS if key in query]
        if len(steps) != 1:
            return Reply(pair_failed_xml("a pairing request names exactly one step"))
        step = steps[0]
        s = self._session
        if s is None or s.uniqueid != uniqueid or s.peer != peer:
            return Reply(pair_failed_xml(f"{step}: no pairing in progress for this client"))
        if s.phase is Phase.WAITING_FOR_PIN:
            # The waiting client's own request is still open, so someone else sent this.
            return Reply(pair_failed_xml(f"{step}: the pairing in progress waits for its PIN"))
        if s.phase is not _STEPS[step]:
            return Reply(self._fail(s, f"{step} out of order or repeated"))
        raw = query[step]
        if _HEX.fullmatch(raw) is None:
            return Reply(self._fail(s, f"{step} is not hex"))
        data = bytes.fromhex(raw)
        s.last_activity = now
        if step == "clientchallenge":
            return Reply(self._client_challenge(s, data))
        if step == "serverchallengeresp":
            return Reply(self._server_challenge_response(s, data))
        return Reply(self._client_pairing_secret(s, data))

    def _expire(self, now: float) -> None:
        s = self._session
        if (
            s is not None
            and s.phase is not Phase.WAITING_FOR_PIN
            and now - s.last_activity > HANDSHAKE_IDLE_S
        ):
            log.warning(
                "pairing with %s abandoned: the client stopped after step %d of 4; "
                "nothing was stored",
                s.name,
                s.phase.value - 1,
            )
            self._session = None

    def _fail(self, s: _Session, reason: str) -> bytes:
        name = s.name or s.default_name
        log.warning("pairing with %s failed: %s; the pairing was reset", name, reason)
        self._session = None
        return pair_failed_xml(f"{reason}; pairing reset, start again")

    def _get_server_cert(
        self, query: Query, uniqueid: str, peer: str, now: float
    ) -> Reply | AwaitPin:
        salt_hex = query.get("salt", "")
        if len(salt_hex) != 2 * SALT_BYTES or _HEX.fullmatch(salt_hex) is None:
            return Reply(pair_failed_xml("getservercert needs a 16-byte salt in hex"))
        certificate = _load_client_cert(query.get("clientcert"))
        if certificate is None:
            return Reply(
                pair_failed_xml("getservercert needs clientcert: an RSA certificate PEM in hex")
            )
        der = certificate.public_bytes(serialization.Encoding.DER)
        s = self._session
        if s is not None:
            same_client = s.client_cert_der == der and s.uniqueid == uniqueid and s.peer == peer
            if same_client and s.phase is not Phase.WAITING_FOR_PIN:
                return Reply(self._fail(s, "getservercert repeated mid-pairing"))
            log.info(
                "a second client (%s) tried to pair while %s is pairing; told it to wait",
                peer,
                s.name or s.default_name,
            )
            # GFE's "another device is pairing" answer: paired=1 without plaincert.
            return Reply(pair_xml(True))
        s = _Session(
            ticket=next(self._tickets),
            uniqueid=uniqueid,
            peer=peer,
            client_cert=certificate,
            client_cert_der=der,
            salt=bytes.fromhex(salt_hex),
            default_name=default_client_name(uniqueid),
            phase=Phase.WAITING_FOR_PIN,
            last_activity=now,
        )
        self._session = s
        log.info("a Moonlight client at %s wants to pair; waiting for its PIN", peer)
        return AwaitPin(s.ticket, s.default_name)

    def _client_challenge(self, s: _Session, data: bytes) -> bytes:
        if len(data) != CHALLENGE_BYTES:
            return self._fail(s, f"clientchallenge is not {CHALLENGE_BYTES} bytes")
        challenge = aes_ecb(s.key, data, decrypt=True)
        s.server_secret = self._random(SECRET_BYTES)
        s.server_challenge = self._random(CHALLENGE_BYTES)
        digest = hashlib.sha256(challenge + self.identity.cert_signature + s.server_secret).digest()
        s.phase = Phase.CHALLENGED
        response = aes_ecb(s.key, digest + s.server_challenge)
        return pair_xml(True, (("challengeresponse", response.hex()),))

    def _server_challenge_response(self, s: _Session, data: bytes) -> bytes:
        if len(data) != HASH_BYTES:
            return self._fail(s, f"serverchallengeresp is not {HASH_BYTES} bytes")
        s.client_hash = aes_ecb(s.key, data, decrypt=True)
        s.phase = Phase.SECRET_SENT
        secret = s.server_secret + self.identity.sign(s.server_secret)
        return pair_xml(True, (("pairingsecret", secret.hex()),))

    def _client_pairing_secret(self, s: _Session, data: bytes) -> bytes:
        self._session = None  # whatever happens now, this pairing is over
        if len(data) <= SECRET_BYTES:
            log.warning("pairing with %s failed: clientpairingsecret too short", s.name)
            return pair_failed_xml("clientpairingsecret is too short; start again")
        secret, signature = data[:SECRET_BYTES], data[SECRET_BYTES:]
        expected = hashlib.sha256(s.server_challenge + s.client_cert.signature + secret).digest()
        if not hmac.compare_digest(expected, s.client_hash):
            log.warning("pairing with %s failed: the PIN did not match; nothing was stored", s.name)
            return pair_xml(False)
        if not verify_rsa_sha256(s.client_cert, secret, signature):
            log.warning(
                "pairing with %s failed: its signature does not match its certificate; "
                "nothing was stored",
                s.name,
            )
            return pair_xml(False)
        try:
            client: PairedClient = self.store.add(s.client_cert, s.name, self._wall_clock_ms())
        except ClientStoreError as exc:
            log.error("pairing with %s failed: %s", s.name, exc)
            return pair_failed_xml("the host could not save the pairing", status_code=500)
        log.info("paired %s (client id %s)", client.name, client.id[:16])
        return pair_xml(True)
