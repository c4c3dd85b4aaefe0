"""The GameStream audio datagrams: RTP and FEC headers at their offsets, the IV and AES-CBC
the client decrypts with, GFE's parity matrix through nanors, and round trips with loss."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from host.gamestream import audio_wire
from tests.gamestream import nanors_ref

KEY = bytes(range(16))
KEY_ID = 0x1234_5678
# GFE's matrix as Moonlight copies it over nanors' (rows: parity 0, parity 1).
GFE_AUDIO_MATRIX = bytes([0x77, 0x40, 0x38, 0x0E, 0xC7, 0xA7, 0x0D, 0x6C])


def client_decrypt(sequence: int, payload: bytes) -> bytes:
    """What the client does: IV = BE32(rikeyid + seq) + 12 zero bytes, AES-CBC, PKCS#7."""
    iv = ((KEY_ID + sequence) % 2**32).to_bytes(4, "big") + bytes(12)
    decryptor = Cipher(algorithms.AES(KEY), modes.CBC(iv)).decryptor()
    padded = decryptor.update(payload) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def opus_packets(count: int, size: int = 60, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes([0xFC]) + rng.randbytes(size - 1) for _ in range(count)]


def test_data_datagram_header_and_encrypted_payload() -> None:
    source = audio_wire.AudioPacketizer(5, audio_wire.AudioCipher(KEY, KEY_ID))
    packets = opus_packets(6)
    datagrams = [source.packetize(p) for p in packets]
    assert [len(d) for d in datagrams] == [1, 1, 1, 3, 1, 1]  # parity after the 4th
    for sequence, (packet, group) in enumerate(zip(packets, datagrams, strict=True)):
        data = group[0]
        assert data[0] == 0x80  # RTP v2, no extension
        assert data[1] == 97
        assert int.from_bytes(data[2:4], "big") == sequence
        assert int.from_bytes(data[4:8], "big") == 5 * sequence  # milliseconds
        assert data[8:12] == bytes(4)  # SSRC 0
        assert len(data) == 12 + 64  # 60 bytes of Opus padded to whole AES blocks
        assert client_decrypt(sequence, data[12:]) == packet


def test_parity_datagrams_headers_at_their_offsets() -> None:
    source = audio_wire.AudioPacketizer(10)
    for packet in opus_packets(4 * 3)[:8]:
        group = source.packetize(packet)
    # The second block: data 4..7, timestamps 40..70 ms; parity follows packet 7.
    _, first, second = group
    for shard, parity in enumerate((first, second)):
        assert parity[0] == 0x80
        assert parity[1] == 127
        assert int.from_bytes(parity[2:4], "big") == 7 + 1 + shard
        assert parity[4:12] == bytes(8)  # timestamp 0, SSRC 0
        assert parity[12] == shard
        assert parity[13] == 97
        assert int.from_bytes(parity[14:16], "big") == 4  # base sequence number
        assert int.from_bytes(parity[16:20], "big") == 40  # base timestamp
        assert parity[20:24] == bytes(4)
        assert len(parity) == 24 + 60


def test_parity_is_nanors_with_gfes_matrix(nanors: nanors_ref.Nanors) -> None:
    source = audio_wire.AudioPacketizer(5, audio_wire.AudioCipher(KEY, KEY_ID))
    groups = [source.packetize(p) for p in opus_packets(4, size=200)]
    payloads = [group[0][12:] for group in groups]
    expected = nanors.encode(payloads, 2, matrix=GFE_AUDIO_MATRIX)
    assert [parity[24:] for parity in groups[3][1:]] == expected


def test_the_clients_nanors_rebuilds_any_two_lost_payloads(nanors: nanors_ref.Nanors) -> None:
    source = audio_wire.AudioPacketizer(5, audio_wire.AudioCipher(KEY, KEY_ID))
    groups = [source.packetize(p) for p in opus_packets(4, size=120, seed=9)]
    shards = [group[0][12:] for group in groups] + [parity[24:] for parity in groups[3][1:]]
    for lost in [(0, 1), (2, 3), (1, 4), (3, 5), (0,)]:
        received = [None if i in lost else shard for i, shard in enumerate(shards)]
        assert nanors.decode(received, 4, 2, matrix=GFE_AUDIO_MATRIX) == shards[:4]


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 40),
    size=st.integers(1, 400),
    encrypted=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_with_up_to_two_losses_per_block_in_any_order(
    count: int, size: int, encrypted: bool, seed: int
) -> None:
    cipher = audio_wire.AudioCipher(KEY, KEY_ID) if encrypted else None
    source = audio_wire.AudioPacketizer(5, cipher)
    packets = opus_packets(count, size, seed)
    groups = [source.packetize(p) for p in packets]
    rng = random.Random(seed)
    kept: list[bytes] = []
    complete_blocks = count // 4
    for block in range((count + 3) // 4):
        datagrams = [d for group in groups[4 * block : 4 * block + 4] for d in group]
        # Only a complete block has parity, so only there may anything be lost.
        lost = set(rng.sample(range(len(datagrams)), 2)) if block < complete_blocks else set()
        kept += [d for i, d in enumerate(datagrams) if i not in lost]
    rng.shuffle(kept)
    sink = audio_wire.AudioDepacketizer(5, cipher)
    received = [packet for datagram in kept for packet in sink.receive(datagram)]
    assert sorted((p.sequence, p.timestamp, p.opus) for p in received) == [
        (sequence, 5 * sequence, packet) for sequence, packet in enumerate(packets)
    ]


def test_sequence_numbers_wrap_and_ivs_follow_them() -> None:
    source = audio_wire.AudioPacketizer(5, audio_wire.AudioCipher(KEY, 2**32 - 2))
    source.sequence = 65_532
    datagrams = [source.packetize(p)[0] for p in opus_packets(8)]
    assert [int.from_bytes(d[2:4], "big") for d in datagrams] == [
        65_532,
        65_533,
        65_534,
        65_535,
        0,
        1,
        2,
        3,
    ]
    assert audio_wire.audio_iv(2**32 - 2, 3) == (1).to_bytes(4, "big") + bytes(12)


def test_a_block_of_unequal_payloads_goes_without_parity() -> None:
    source = audio_wire.AudioPacketizer(5)
    groups = [source.packetize(bytes([1]) * size) for size in (50, 50, 51, 50)]
    assert [len(g) for g in groups] == [1, 1, 1, 1]
    assert source.blocks_without_fec == 1


@pytest.mark.parametrize(
    ("packet", "message"),
    [(b"", "empty"), (bytes(1377), "exceeds 1376")],
)
def test_packetizer_rejects_packets_the_client_cannot_take(packet: bytes, message: str) -> None:
    with pytest.raises(audio_wire.AudioWireError, match=message):
        audio_wire.AudioPacketizer(5).packetize(packet)


def test_cipher_rejects_a_wrong_key_size_and_undecryptable_payloads() -> None:
    with pytest.raises(audio_wire.AudioWireError, match="16 bytes"):
        audio_wire.AudioCipher(bytes(15), 1)
    cipher = audio_wire.AudioCipher(KEY, KEY_ID)
    with pytest.raises(audio_wire.AudioWireError, match="whole blocks"):
        cipher.decrypt(0, bytes(15))
    wrong_key = audio_wire.AudioCipher(bytes(16), KEY_ID)
    with pytest.raises(audio_wire.AudioWireError, match="does not decrypt"):
        wrong_key.decrypt(0, cipher.encrypt(0, b"x" * 16))  # its padding comes out wrong


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (bytes(11), "datagram of 11 bytes"),
        (bytes(1401), "datagram of 1401 bytes"),
        (bytes([0x40, 97]) + bytes(20), "RTP v2"),
        (bytes([0x80, 96]) + bytes(20), "payload type 96"),
        (bytes([0x80, 127]) + bytes(10) + bytes([2, 97]) + bytes(20), "shard 2"),
        (bytes([0x80, 127]) + bytes(10) + bytes([0, 97, 0, 5]) + bytes(20), "base 5"),
        (bytes([0x80, 127]) + bytes(22), "without parity"),
    ],
)
def test_depacketizer_rejects_malformed_datagrams(datagram: bytes, message: str) -> None:
    with pytest.raises(audio_wire.AudioWireError, match=message):
        audio_wire.AudioDepacketizer(5).receive(datagram)
