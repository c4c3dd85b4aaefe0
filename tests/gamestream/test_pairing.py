"""Pairing, byte for byte, against a client written from the protocol facts: the five
phases, a wrong PIN, out-of-order and replayed phases, and a second client meanwhile.
Sans-I/O: queries in, XML out, the clock passed in."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from host.gamestream.identity import (
    ClientStore,
    HostIdentity,
    fingerprint,
    load_or_create_host_identity,
)
from host.gamestream.nvhttp import parse_query
from host.gamestream.pairing import (
    HANDSHAKE_IDLE_S,
    AwaitPin,
    InvalidNameError,
    InvalidPinError,
    NoClientWaitingError,
    Pairing,
    Reply,
)
from tests.gamestream.support_pairing import PairingClient, make_client_identity, parse_xml

PEER = "192.168.1.20"
OTHER_PEER = "192.168.1.77"


@dataclass
class Host:
    identity: HostIdentity
    store: ClientStore
    pairing: Pairing
    now: float = 1000.0

    def handle(self, query: str, *, peer: str = PEER, secure: bool = False) -> Reply | AwaitPin:
        return self.pairing.handle(parse_query(query), peer=peer, secure=secure, now=self.now)

    def sender(self, peer: str = PEER) -> Callable[[str], bytes]:
        def send(query: str) -> bytes:
            outcome = self.handle(query, peer=peer)
            assert isinstance(outcome, Reply), outcome
            return outcome.xml

        return send

    def client(self, peer: str = PEER, uniqueid: str = "0123456789ABCDEF") -> PairingClient:
        return PairingClient(self.sender(peer), uniqueid=uniqueid)

    def begin(self, client: PairingClient, pin: str) -> AwaitPin:
        outcome = self.handle(client.phase1_query(pin))
        assert isinstance(outcome, AwaitPin)
        return outcome

    def enter_pin(self, client: PairingClient, pin: str, name: str = "") -> None:
        accepted = self.pairing.submit_pin(pin, name, self.now)
        status, fields, _ = client.read_phase1(accepted.xml)
        assert (status, fields["paired"]) == (200, "1")


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> HostIdentity:
    # One host identity for the module: making and loading RSA keys is the slow part.
    return load_or_create_host_identity(tmp_path_factory.mktemp("gamestream"))


@pytest.fixture
def host(identity: HostIdentity, tmp_path: Path) -> Host:
    store = ClientStore(tmp_path / "clients.json")
    return Host(identity, store, Pairing(identity, store, wall_clock_ms=lambda: 1_234))


def _pairing_log(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "host.gamestream.pairing" and r.levelno == level
    ]


def test_full_pairing_in_five_phases(host: Host) -> None:
    client = host.client()
    wait = host.begin(client, "4711")
    assert wait.client_name == "Moonlight 0123456789ABCDEF"
    waiting = host.pairing.waiting()
    assert waiting is not None
    assert (waiting.name, waiting.address) == ("Moonlight 0123456789ABCDEF", PEER)

    host.enter_pin(client, "4711", "Living-room TV")
    assert client.server_cert is not None
    assert client.server_cert.public_bytes(serialization.Encoding.PEM) == host.identity.cert_pem
    assert host.pairing.waiting() is None

    status, fields, _ = client.phase2()
    assert (status, set(fields), fields["paired"]) == (200, {"paired", "challengeresponse"}, "1")
    assert len(bytes.fromhex(fields["challengeresponse"])) == 48  # hash + server challenge
    assert client.phase3()[1]["paired"] == "1"
    assert client.server_proved_pin()  # the host hashed our challenge with the right key
    assert host.store.clients() == []  # nothing stored before phase 4
    assert client.phase4()[:2] == (200, {"paired": "1"})

    [paired] = host.store.clients()
    assert client.cert is not None
    assert paired.id == fingerprint(client.cert.public_bytes(serialization.Encoding.DER))
    assert (paired.name, paired.paired_unix_ms) == ("Living-room TV", 1_234)

    # Phase 5 comes over HTTPS with the now paired certificate.
    outcome = host.handle(client.query("phrase=pairchallenge"), secure=True)
    assert isinstance(outcome, Reply)
    assert parse_xml(outcome.xml)[:2] == (200, {"paired": "1"})


def test_pairchallenge_over_plain_http_is_refused(host: Host) -> None:
    outcome = host.handle("uniqueid=0123456789ABCDEF&phrase=pairchallenge")
    assert isinstance(outcome, Reply)
    status, fields, message = parse_xml(outcome.xml)
    assert (status, fields) == (400, {"paired": "0"})
    assert "HTTPS" in message


def test_the_name_defaults_to_the_clients_uniqueid(host: Host) -> None:
    client = host.client(uniqueid="CAFE")
    host.begin(client, "0000")
    host.enter_pin(client, "0000", "   ")
    client.phase2()
    client.phase3()
    client.phase4()
    assert [c.name for c in host.store.clients()] == ["Moonlight CAFE"]


def test_wrong_pin_fails_phase_4_stores_nothing_and_logs_once(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    client = host.client()
    host.begin(client, "1111")
    host.enter_pin(client, "2222")  # the operator typed another PIN
    with caplog.at_level(logging.INFO, logger="host.gamestream.pairing"):
        assert client.phase2()[0] == 200
        assert client.phase3()[0] == 200
        assert not client.server_proved_pin()  # a real client would stop here
        status, fields, _ = client.phase4()
    assert (status, fields) == (200, {"paired": "0"})
    assert host.store.clients() == []
    warnings = _pairing_log(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "PIN did not match" in warnings[0]
    # The session is over: a new pairing may start.
    host.begin(host.client(), "1234")


def test_a_client_that_gives_up_after_phase_3_ends_the_pairing(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    client = host.client()
    host.begin(client, "1111")
    host.enter_pin(client, "2222")
    client.phase2()
    client.phase3()
    with caplog.at_level(logging.INFO, logger="host.gamestream.pairing"):
        host.pairing.client_unpaired("0123456789ABCDEF", PEER)  # Moonlight's HTTP unpair
    assert "most likely a wrong PIN" in _pairing_log(caplog, logging.WARNING)[0]
    assert host.store.clients() == []
    host.begin(host.client(), "1234")  # free again


def test_a_forged_client_signature_stores_nothing(host: Host) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.enter_pin(client, "1234")
    client.phase2()
    client.phase3()
    # Same hash (right PIN), but the secret is signed by a key that is not the cert's.
    client.key, _ = make_client_identity()
    assert parse_xml(client.send(client.phase4_query()))[1] == {"paired": "0"}
    assert host.store.clients() == []


def test_phases_out_of_order_fail_and_reset(host: Host) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.enter_pin(client, "1234")
    status, fields, message = parse_xml(client.send(client.phase3_query()))
    assert (status, fields["paired"]) == (400, "0")
    assert "out of order" in message
    # Reset: the next phase finds no pairing at all.
    status, _, message = client.phase2()
    assert status == 400
    assert "no pairing in progress" in message


@pytest.mark.parametrize("repeat", [2, 3])
def test_a_replayed_phase_fails_and_resets(host: Host, repeat: int) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.enter_pin(client, "1234")
    client.phase2()
    queries = {2: client.phase2_query(), 3: client.phase3_query()}
    if repeat == 3:
        client.send(queries[3])
    status, _, message = parse_xml(client.send(queries[repeat]))
    assert status == 400
    assert "out of order or repeated" in message
    assert host.pairing.waiting() is None
    assert parse_xml(client.send(client.phase4_query()))[0] == 400
    assert host.store.clients() == []


def test_phase_1_replayed_mid_pairing_fails_and_resets(host: Host) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.enter_pin(client, "1234")
    outcome = host.handle(client.phase1_query("1234"))
    assert isinstance(outcome, Reply)
    assert parse_xml(outcome.xml)[0] == 400
    host.begin(host.client(), "1234")  # reset: a new pairing may start


def test_a_second_client_is_told_busy_while_one_waits(host: Host) -> None:
    first = host.client()
    host.begin(first, "1234")
    second = host.client(peer=OTHER_PEER)
    outcome = host.handle(second.phase1_query("9999"), peer=OTHER_PEER)
    # GFE's "another device is pairing": paired=1 and no plaincert.
    assert isinstance(outcome, Reply)
    assert parse_xml(outcome.xml)[:2] == (200, {"paired": "1"})
    # The same machine, same uniqueid, other certificate: still busy, not a mix-up.
    third = host.client()
    outcome = host.handle(third.phase1_query("5555"))
    assert isinstance(outcome, Reply)
    assert parse_xml(outcome.xml)[:2] == (200, {"paired": "1"})

    waiting = host.pairing.waiting()
    assert waiting is not None
    assert waiting.address == PEER
    host.enter_pin(first, "1234")
    # ...and while the first is mid-handshake, too.
    outcome = host.handle(second.phase1_query("9999"), peer=OTHER_PEER)
    assert isinstance(outcome, Reply)
    assert "plaincert" not in parse_xml(outcome.xml)[1]
    first.phase2()
    first.phase3()
    assert first.server_proved_pin()
    assert first.phase4()[1] == {"paired": "1"}
    assert first.cert is not None
    assert [c.id for c in host.store.clients()] == [
        fingerprint(first.cert.public_bytes(serialization.Encoding.DER))
    ]


def test_stray_phases_from_someone_else_do_not_disturb_a_pairing(host: Host) -> None:
    client = host.client()
    host.begin(client, "1234")
    stranger = host.client(peer=OTHER_PEER)
    stranger.aes_key = bytes(16)
    # While the PIN is awaited, and afterwards: refused, but the pairing goes on.
    assert parse_xml(client.send(client.phase2_query()))[0] == 400  # own uniqueid, no PIN yet
    assert host.pairing.waiting() is not None
    host.enter_pin(client, "1234")
    assert parse_xml(stranger.send(stranger.phase2_query()))[0] == 400
    other_id = host.client(uniqueid="FEEDFACE")
    other_id.aes_key = bytes(16)
    assert parse_xml(other_id.send(other_id.phase2_query()))[0] == 400
    client.phase2()
    client.phase3()
    assert client.phase4()[1] == {"paired": "1"}


def test_an_unpair_from_someone_else_does_not_end_a_pairing(host: Host) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.pairing.client_unpaired("0123456789ABCDEF", PEER)  # a busy-answered client's
    assert host.pairing.waiting() is not None
    host.enter_pin(client, "1234")
    host.pairing.client_unpaired("0123456789ABCDEF", OTHER_PEER)
    client.phase2()
    client.phase3()
    assert client.phase4()[1] == {"paired": "1"}


def test_a_pairing_stalled_after_the_pin_expires(host: Host) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.enter_pin(client, "1234")
    client.phase2()
    host.now += HANDSHAKE_IDLE_S + 1
    assert parse_xml(client.send(client.phase3_query()))[0] == 400
    host.begin(host.client(), "1234")


def test_abandoning_the_wait_frees_the_host(host: Host) -> None:
    client = host.client()
    wait = host.begin(client, "1234")
    status, fields, message = parse_xml(host.pairing.abandon(wait.ticket, "no PIN in time"))
    assert (status, fields) == (400, {"paired": "0"})
    assert "no PIN in time" in message
    assert host.pairing.waiting() is None
    with pytest.raises(NoClientWaitingError):
        host.pairing.submit_pin("1234", "", host.now)
    # A stale ticket does not touch the next pairing.
    host.begin(host.client(), "1234")
    host.pairing.abandon(wait.ticket, "late")
    assert host.pairing.waiting() is not None


def test_pin_without_a_waiting_client_is_refused(host: Host) -> None:
    with pytest.raises(NoClientWaitingError, match="start pairing on the client"):
        host.pairing.submit_pin("1234", "TV", host.now)


@pytest.mark.parametrize("pin", ["", "123", "12345", "abcd", "12 4", "١٢٣٤", "1234\n"])
def test_a_malformed_pin_is_refused_and_the_client_keeps_waiting(host: Host, pin: str) -> None:
    host.begin(host.client(), "1234")
    with pytest.raises(InvalidPinError, match="4 digits"):
        host.pairing.submit_pin(pin, "TV", host.now)
    assert host.pairing.waiting() is not None


@pytest.mark.parametrize("name", ["x" * 65, "TV\x00", "line\nbreak"])
def test_a_bad_name_is_refused_and_the_client_keeps_waiting(host: Host, name: str) -> None:
    host.begin(host.client(), "1234")
    with pytest.raises(InvalidNameError):
        host.pairing.submit_pin("1234", name, host.now)
    assert host.pairing.waiting() is not None


def _ec_certificate_hex() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).hex()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("phrase=getservercert&salt=00&clientcert=00", "salt"),
        ("phrase=getservercert&salt=" + "00" * 16 + "&clientcert=zz", "clientcert"),
        ("phrase=getservercert&salt=" + "00" * 16 + "&clientcert=" + "41" * 100, "clientcert"),
        ("phrase=getservercert&salt=" + "00" * 16, "clientcert"),
        ("phrase=getservercert&salt=" + "00" * 16 + "&clientcert=EC", "clientcert"),
        ("phrase=whatever", "unknown pairing phrase"),
        ("clientchallenge=00&serverchallengeresp=00", "exactly one step"),
        ("", "exactly one step"),
    ],
)
def test_malformed_pairing_requests_fail_without_a_session(
    host: Host, query: str, message: str
) -> None:
    query = query.replace("clientcert=EC", f"clientcert={_ec_certificate_hex()}")
    outcome = host.handle(f"uniqueid=0123456789ABCDEF&{query}")
    assert isinstance(outcome, Reply)
    status, fields, text = parse_xml(outcome.xml)
    assert (status, fields) == (400, {"paired": "0"})
    assert message in text
    assert host.pairing.waiting() is None


@pytest.mark.parametrize("uniqueid", [None, "", "x" * 65, "a/b"])
def test_a_missing_or_malformed_uniqueid_is_refused(host: Host, uniqueid: str | None) -> None:
    query = "phrase=getservercert" if uniqueid is None else f"uniqueid={uniqueid}"
    outcome = host.handle(query)
    assert isinstance(outcome, Reply)
    assert "uniqueid" in parse_xml(outcome.xml)[2]


@pytest.mark.parametrize(
    ("step", "value"),
    [("clientchallenge", "zz"), ("clientchallenge", "00" * 15), ("clientchallenge", "00" * 32)],
)
def test_a_malformed_phase_fails_and_resets(host: Host, step: str, value: str) -> None:
    client = host.client()
    host.begin(client, "1234")
    host.enter_pin(client, "1234")
    assert parse_xml(client.send(client.query(f"{step}={value}")))[0] == 400
    assert parse_xml(client.send(client.phase2_query()))[0] == 400  # reset
