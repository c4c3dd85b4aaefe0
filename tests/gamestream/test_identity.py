"""The host identity and the paired-clients store: made once, kept, private, and a damaged
store is set aside instead of lost."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from host.gamestream.identity import (
    CLIENTS_FILE,
    ClientStore,
    IdentityError,
    fingerprint,
    load_or_create_host_identity,
    verify_rsa_sha256,
)
from tests.gamestream.support_pairing import make_client_identity


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_identity_is_made_once_and_kept(tmp_path: Path) -> None:
    directory = tmp_path / "gs"
    first = load_or_create_host_identity(directory)
    second = load_or_create_host_identity(directory)
    assert first.uniqueid == second.uniqueid
    assert first.cert_pem == second.cert_pem
    assert isinstance(first.private_key, rsa.RSAPrivateKey)
    assert first.private_key.key_size == 2048
    assert first.certificate.issuer == first.certificate.subject  # self-signed
    assert _mode(directory) == 0o700
    for name in ("cert.pem", "key.pem", "uniqueid"):
        assert _mode(directory / name) == 0o600, name


def test_identity_signs_what_its_certificate_verifies(tmp_path: Path) -> None:
    identity = load_or_create_host_identity(tmp_path)
    signature = identity.sign(b"server secret 16")
    assert verify_rsa_sha256(identity.certificate, b"server secret 16", signature)
    assert not verify_rsa_sha256(identity.certificate, b"server secret 17", signature)


def test_a_lone_certificate_is_an_error_not_a_new_identity(tmp_path: Path) -> None:
    load_or_create_host_identity(tmp_path)
    (tmp_path / "key.pem").unlink()
    with pytest.raises(IdentityError, match=r"key\.pem"):
        load_or_create_host_identity(tmp_path)


def test_a_damaged_certificate_is_an_error_naming_the_file(tmp_path: Path) -> None:
    load_or_create_host_identity(tmp_path)
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(IdentityError, match=r"cert\.pem is not a PEM certificate"):
        load_or_create_host_identity(tmp_path)


def test_a_damaged_uniqueid_is_an_error(tmp_path: Path) -> None:
    load_or_create_host_identity(tmp_path)
    (tmp_path / "uniqueid").write_text("<script>\n")
    with pytest.raises(IdentityError, match="uniqueid"):
        load_or_create_host_identity(tmp_path)


def test_store_survives_a_restart_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / CLIENTS_FILE
    _, cert = make_client_identity()
    added = ClientStore(path).add(cert, "Living-room TV", 1_700_000_000_000)
    assert added.id == fingerprint(cert.public_bytes(serialization.Encoding.DER))
    assert _mode(path) == 0o600
    reloaded = ClientStore(path)
    assert reloaded.clients() == [added]
    assert reloaded.find(added.id) == added
    assert reloaded.remove(added.id)
    assert not reloaded.remove(added.id)
    assert ClientStore(path).clients() == []


def test_pairing_the_same_certificate_again_renames_it(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / CLIENTS_FILE)
    _, cert = make_client_identity()
    store.add(cert, "old", 1)
    store.add(cert, "new", 2)
    assert [(c.name, c.paired_unix_ms) for c in store.clients()] == [("new", 2)]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 1, "clients": {}}',
        b'{"version": 99, "clients": []}',
        b'{"version": 1, "clients": [{"id": "x"}]}',
    ],
)
def test_a_damaged_store_is_set_aside_with_one_log_line(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / CLIENTS_FILE
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="host.gamestream.identity"):
        store = ClientStore(path)
    assert store.clients() == []
    assert store.set_aside is not None
    assert store.set_aside.read_bytes() == content  # kept, not lost
    assert not path.exists()
    [record] = caplog.records
    assert str(store.set_aside) in record.getMessage()
    assert "pair again" in record.getMessage()


def test_an_entry_whose_id_does_not_match_its_certificate_is_damage(tmp_path: Path) -> None:
    path = tmp_path / CLIENTS_FILE
    _, cert = make_client_identity()
    ClientStore(path).add(cert, "TV", 1)
    root = json.loads(path.read_text())
    root["clients"][0]["id"] = "0" * 64  # someone pasted another id next to the cert
    path.write_text(json.dumps(root))
    store = ClientStore(path)
    assert store.clients() == []
    assert store.set_aside is not None


def test_a_second_damaged_store_does_not_overwrite_the_first_set_aside(tmp_path: Path) -> None:
    path = tmp_path / CLIENTS_FILE
    path.write_text("first")
    first = ClientStore(path).set_aside
    path.write_text("second")
    second = ClientStore(path).set_aside
    assert first is not None
    assert second is not None
    assert first != second
    assert (first.read_text(), second.read_text()) == ("first", "second")
