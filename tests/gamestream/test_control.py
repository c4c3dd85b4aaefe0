"""Control stream: client messages sealed here from the protocol facts, decoded; hostile
packets dropped and counted; host messages opened here with the client's IV rule."""

from __future__ import annotations

import struct
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from host.gamestream.control import (
    ControlDecoder,
    ControlEncoder,
    FrameFecStatus,
    HdrMetadata,
    IdrRequest,
    InputMessage,
    InvalidateReferenceFrames,
    LossStats,
    Ping,
    StartA,
    StartB,
    Unknown,
)
from host.gamestream.input import InputDecoder, KeyEvent

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


def client_iv(seq: int) -> bytes:
    """moonlight-common-c with control-v2 encryption: LE32 seq in bytes 0-3, 'C','C' at 10-11."""
    return struct.pack("<I", seq) + b"\x00" * 6 + b"CC"


def legacy_iv(seq: int) -> bytes:
    """Without control-v2: a 16-byte IV holding only the sequence's low byte."""
    return bytes([seq & 0xFF]) + b"\x00" * 15


def seal(
    seq: int, msg_type: int, payload: bytes, *, key: bytes = KEY, iv: bytes | None = None
) -> bytes:
    """A client message: LE16 1 | LE16 length | LE32 seq | tag | AES-GCM(LE16 type, LE16 len,
    payload), length counting seq, tag and ciphertext."""
    plaintext = struct.pack("<HH", msg_type, len(payload)) + payload
    sealed = AESGCM(key).encrypt(iv or client_iv(seq), plaintext, None)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return struct.pack("<HHI", 0x0001, 4 + 16 + len(ciphertext), seq) + tag + ciphertext


def open_host_message(packet: bytes, *, key: bytes = KEY) -> tuple[int, int, bytes]:
    """What the client does with a host message: IV with 'H','C'; returns (seq, type, payload)."""
    outer_type, length, seq = struct.unpack_from("<HHI", packet)
    assert outer_type == 0x0001
    assert length + 4 == len(packet)
    tag, ciphertext = packet[8:24], packet[24:]
    iv = struct.pack("<I", seq) + b"\x00" * 6 + b"HC"
    plaintext = AESGCM(key).decrypt(iv, ciphertext + tag, None)
    msg_type, payload_length = struct.unpack_from("<HH", plaintext)
    assert payload_length == len(plaintext) - 4
    return seq, msg_type, plaintext[4:]


RFI_PAYLOAD = struct.pack("<qqq", 100, 105, 0)
# frame 7, highest 0x1234, next 0x1230, missing 3, data 40, parity 8, got 38 + 5, 20 %, block 1 of 2
FEC_PAYLOAD = bytes.fromhex("000000071234123000030028000800260005140102")
LOSS_PAYLOAD = (
    struct.pack("<iII", 0, 50, 1000) + struct.pack("<Q", 4242) + struct.pack("<III", 0, 0, 0x14)
)
PING_PAYLOAD = b"\x04\x00" + b"\x00" * 4 + b"\xaa\xbb"  # LE16 4, LE32 0, two stray bytes


@pytest.mark.parametrize(
    ("msg_type", "payload", "event"),
    [
        (0x0302, b"\x00\x00", IdrRequest()),  # also the client's "start A" in this mode
        (0x0305, b"\x00\x00", StartA()),
        (0x0307, b"\x00", StartB()),
        (0x0200, PING_PAYLOAD, Ping(PING_PAYLOAD)),
        (0x0301, RFI_PAYLOAD, InvalidateReferenceFrames(100, 105)),
        (0x5502, FEC_PAYLOAD, FrameFecStatus(7, 0x1234, 0x1230, 3, 40, 8, 38, 5, 20, 1, 2)),
        (0x0201, LOSS_PAYLOAD, LossStats(0, 50, 4242)),
        (
            0x0206,
            b"\x00\x00\x00\x05\x07\x00\x00\x00\x01",
            InputMessage(b"\x00\x00\x00\x05\x07\x00\x00\x00\x01"),
        ),
        (0x1234, b"xyz", Unknown(0x1234, b"xyz")),
        (0x0204, b"", Unknown(0x0204, b"")),
    ],
)
def test_client_messages_decode(msg_type: int, payload: bytes, event: object) -> None:
    decoder = ControlDecoder(KEY)
    assert decoder.feed(seal(0, msg_type, payload)) == event
    assert decoder.accepted == 1
    assert not decoder.dropped


def test_the_client_start_sequence_and_periodic_pings() -> None:
    decoder = ControlDecoder(KEY)
    packets = [seal(0, 0x0302, b"\x00\x00"), seal(1, 0x0307, b"\x00")]
    packets += [seal(seq, 0x0200, PING_PAYLOAD) for seq in range(2, 12)]
    events = [decoder.feed(p) for p in packets]
    assert events[:2] == [IdrRequest(), StartB()]
    assert events[2:] == [Ping(PING_PAYLOAD)] * 10
    assert decoder.accepted == 12


def test_an_input_message_carries_an_input_packet_through() -> None:
    # key down, VK 'A' (0x41) as moonlight-qt sends it (0x8000 | vk), shift held
    key_down = struct.pack(">I", 10) + struct.pack("<I", 3) + bytes([0]) + b"\x41\x80\x01\x00\x00"
    event = ControlDecoder(KEY).feed(seal(0, 0x0206, key_down))
    assert isinstance(event, InputMessage)
    assert InputDecoder().decode(event.payload) == KeyEvent(True, 0x8041, 0x01, 0)


def test_legacy_iv_mode_uses_the_low_byte_of_the_sequence() -> None:
    decoder = ControlDecoder(KEY, v2_iv=False)
    assert decoder.feed(seal(0x105, 0x0307, b"\x00", iv=legacy_iv(0x105))) == StartB()
    assert ControlDecoder(KEY).feed(seal(0x105, 0x0307, b"\x00", iv=legacy_iv(0x105))) is None


# ---------------------------------------------------------------------------- hostile


def dropped_as(packet: bytes, decoder: ControlDecoder | None = None) -> str:
    decoder = decoder or ControlDecoder(KEY)
    before = decoder.dropped.copy()
    assert decoder.feed(packet) is None
    (reason,) = (decoder.dropped - before).elements()
    return reason


def test_every_bit_flip_in_tag_sequence_or_ciphertext_fails_authentication() -> None:
    packet = seal(3, 0x0302, b"\x00\x00")
    for byte in range(4, len(packet)):
        for bit in (0, 7):
            corrupted = bytearray(packet)
            corrupted[byte] ^= 1 << bit
            assert dropped_as(bytes(corrupted)) == "auth", (byte, bit)


def test_every_truncation_is_short_or_mis_sized() -> None:
    packet = seal(0, 0x0200, PING_PAYLOAD)
    decoder = ControlDecoder(KEY)
    for n in range(len(packet)):
        assert decoder.feed(packet[:n]) is None
    assert set(decoder.dropped) <= {"short", "length"}
    assert sum(decoder.dropped.values()) == len(packet)
    assert decoder.accepted == 0


def test_length_field_must_match_the_packet() -> None:
    packet = bytearray(seal(0, 0x0307, b"\x00"))
    packet[2] += 1
    assert dropped_as(bytes(packet)) == "length"
    assert dropped_as(seal(0, 0x0307, b"\x00") + b"\x00") == "length"


def test_other_keys_host_direction_and_unencrypted_packets_are_dropped() -> None:
    assert dropped_as(seal(0, 0x0307, b"\x00", key=bytes(16))) == "auth"
    reflected = seal(0, 0x0307, b"\x00", iv=struct.pack("<I", 0) + b"\x00" * 6 + b"HC")
    assert dropped_as(reflected) == "auth"  # a host message echoed back is not a client's
    plain = struct.pack("<HH", 0x0307, 1) + b"\x00" + bytes(30)
    assert dropped_as(plain) == "unencrypted"
    assert dropped_as(b"\x01\x00") == "short"
    assert dropped_as(b"") == "short"


def test_replayed_and_stale_sequences_are_dropped() -> None:
    decoder = ControlDecoder(KEY, replay_window=64)
    first = seal(10, 0x0302, b"\x00\x00")
    assert decoder.feed(first) == IdrRequest()
    assert decoder.feed(first) is None
    assert decoder.dropped["replay"] == 1
    # Out of order but inside the window: fine (the client sends on several ENet channels).
    assert decoder.feed(seal(12, 0x0307, b"\x00")) == StartB()
    assert decoder.feed(seal(11, 0x0307, b"\x00")) == StartB()
    assert decoder.feed(seal(11, 0x0307, b"\x00")) is None
    assert decoder.feed(seal(100, 0x0307, b"\x00")) == StartB()
    assert decoder.feed(seal(20, 0x0307, b"\x00")) is None  # 80 behind, window is 64
    assert decoder.dropped == {"replay": 2, "stale": 1}


def test_a_forgery_does_not_use_up_its_sequence_number() -> None:
    decoder = ControlDecoder(KEY)
    forged = bytearray(seal(5, 0x0302, b"\x00\x00"))
    forged[10] ^= 0xFF
    assert decoder.feed(bytes(forged)) is None
    assert decoder.feed(seal(5, 0x0302, b"\x00\x00")) == IdrRequest()
    assert decoder.dropped == {"auth": 1}


def test_a_far_jump_clears_the_window_cheaply() -> None:
    decoder = ControlDecoder(KEY)
    assert decoder.feed(seal(0, 0x0307, b"\x00")) == StartB()
    assert decoder.feed(seal(0xFFFFFFFF, 0x0307, b"\x00")) == StartB()
    assert decoder.feed(seal(0xFFFFFFFE, 0x0307, b"\x00")) == StartB()
    assert decoder.feed(seal(0, 0x0307, b"\x00")) is None
    assert decoder.dropped == {"stale": 1}


def test_inner_header_lies_and_nested_envelopes_are_dropped() -> None:
    def raw_seal(seq: int, plaintext: bytes) -> bytes:
        sealed = AESGCM(KEY).encrypt(client_iv(seq), plaintext, None)
        return struct.pack("<HHI", 1, 4 + len(sealed), seq) + sealed[-16:] + sealed[:-16]

    assert dropped_as(raw_seal(0, struct.pack("<HH", 0x0302, 5) + b"\x00\x00")) == "inner_length"
    assert dropped_as(raw_seal(0, struct.pack("<HH", 0x0001, 0))) == "nested"


@pytest.mark.parametrize(
    ("msg_type", "payload"),
    [
        (0x0301, RFI_PAYLOAD[:16]),
        (0x0301, struct.pack("<qqq", 9, 3, 0)),
        (0x0301, struct.pack("<qqq", -1, 3, 0)),
        (0x5502, FEC_PAYLOAD[:-1]),
        (0x0201, LOSS_PAYLOAD + b"\x00"),
        (0x0206, b""),
    ],
)
def test_malformed_payloads_are_dropped(msg_type: int, payload: bytes) -> None:
    assert dropped_as(seal(0, msg_type, payload)) == "payload"


def test_oversized_packets_are_dropped_before_decryption() -> None:
    assert dropped_as(seal(0, 0x0206, b"\x00" * 5000)) == "oversized"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    decoder = ControlDecoder(KEY)
    assert decoder.feed(data) is None
    assert sum(decoder.dropped.values()) == 1


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFFFFFF), st.binary(max_size=120))
def test_authentic_random_plaintexts_never_raise(seq: int, plaintext: bytes) -> None:
    sealed = AESGCM(KEY).encrypt(client_iv(seq), plaintext, None)
    packet = struct.pack("<HHI", 1, 4 + len(sealed), seq) + sealed[-16:] + sealed[:-16]
    decoder = ControlDecoder(KEY)
    decoder.feed(packet)
    assert decoder.accepted + sum(decoder.dropped.values()) == 1


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.binary(max_size=64), st.integers(0, 0xFFFFFFFF))
def test_authentic_random_messages_never_raise(msg_type: int, payload: bytes, seq: int) -> None:
    decoder = ControlDecoder(KEY)
    decoder.feed(seal(seq, msg_type, payload))
    assert decoder.accepted + sum(decoder.dropped.values()) == 1


# ------------------------------------------------------------------------ host -> client


def test_termination_is_the_graceful_hresult_big_endian() -> None:
    encoder = ControlEncoder(KEY)
    packet = encoder.termination()
    assert packet[:2] == b"\x01\x00"
    seq, msg_type, payload = open_host_message(packet)
    assert (seq, msg_type, payload) == (0, 0x0109, b"\x80\x03\x00\x23")
    # Moonlight reads 0x0109 messages of 6+ bytes (type + payload) as a BE32 HRESULT.
    assert len(payload) + 2 >= 6


def test_host_sequence_counts_up_from_zero() -> None:
    encoder = ControlEncoder(KEY)
    seqs = [open_host_message(encoder.rumble(0, 1, 2))[0] for _ in range(3)]
    assert seqs == [0, 1, 2]
    assert encoder.seq == 3


def test_host_messages_have_the_layouts_moonlight_reads() -> None:
    encoder = ControlEncoder(KEY)
    _, msg_type, payload = open_host_message(encoder.rumble(2, 0x1111, 0x2222))
    assert msg_type == 0x010B
    assert payload == b"\x00\x00\x00\x00" + b"\x02\x00" + b"\x11\x11" + b"\x22\x22"
    _, msg_type, payload = open_host_message(encoder.rumble_triggers(1, 0x0102, 0x0304))
    assert (msg_type, payload) == (0x5500, b"\x01\x00\x02\x01\x04\x03")
    _, msg_type, payload = open_host_message(encoder.motion_event_state(3, 100, 2))
    assert (msg_type, payload) == (0x5501, b"\x03\x00\x64\x00\x02")
    _, msg_type, payload = open_host_message(encoder.rgb_led(0, 255, 128, 1))
    assert (msg_type, payload) == (0x5502, b"\x00\x00\xff\x80\x01")
    metadata = HdrMetadata(
        ((34000, 16000), (13250, 34500), (7500, 3000)), (15635, 16450), 1000, 50, 1000, 400, 600
    )
    _, msg_type, payload = open_host_message(encoder.hdr_mode(True, metadata))
    assert msg_type == 0x010E
    expected = b"\x01" + struct.pack(
        "<13H", 34000, 16000, 13250, 34500, 7500, 3000, 15635, 16450, 1000, 50, 1000, 400, 600
    )
    assert payload == expected
    _, _, payload = open_host_message(encoder.hdr_mode(False))
    assert payload == bytes(27)


def test_legacy_iv_host_messages() -> None:
    packet = ControlEncoder(KEY, v2_iv=False, first_seq=0x201).termination()
    seq = struct.unpack_from("<I", packet, 4)[0]
    plaintext = AESGCM(KEY).decrypt(legacy_iv(seq), packet[24:] + packet[8:24], None)
    assert plaintext == b"\x09\x01\x04\x00\x80\x03\x00\x23"


def test_encoder_refuses_what_it_cannot_send() -> None:
    encoder = ControlEncoder(KEY)
    with pytest.raises(ValueError, match="over"):
        encoder.seal(0x0100, b"\x00" * 70000)
    with pytest.raises(ValueError, match="type"):
        encoder.seal(0x0001, b"")
    with pytest.raises(ValueError, match="16 bytes"):
        ControlEncoder(b"short")


# ----------------------------------------------------------------- over real ENet (pyenet)


def test_control_messages_over_enet_on_loopback() -> None:
    """Moonlight's side is played by a pyenet client: 48 channels, connect data, a reliable
    IDR request on the urgent channel and an unsequenced ping; the host answers with a
    termination. Skipped where pyenet is not installed."""
    enet = pytest.importorskip("enet")
    server = enet.Host(enet.Address(b"127.0.0.1", 0), 4, 0x30, 0, 0)
    client = enet.Host(None, 1, 0x30, 0, 0)
    peer = client.connect(enet.Address(b"127.0.0.1", server.address.port), 0x30, 0xC0FFEE)
    decoder, encoder = ControlDecoder(KEY), ControlEncoder(KEY)
    events: list[object] = []
    connect_data = None
    answer = None
    deadline = time.monotonic() + 10
    while answer is None and time.monotonic() < deadline:
        for host, side in ((server, "host"), (client, "client")):
            event = host.service(5)
            if event.type == enet.EVENT_TYPE_CONNECT and side == "host":
                connect_data = event.data
            elif event.type == enet.EVENT_TYPE_CONNECT:
                peer.send(1, enet.Packet(seal(0, 0x0302, b"\x00\x00"), enet.PACKET_FLAG_RELIABLE))
                ping = enet.Packet(seal(1, 0x0200, PING_PAYLOAD), enet.PACKET_FLAG_UNSEQUENCED)
                peer.send(0, ping)
            elif event.type == enet.EVENT_TYPE_RECEIVE and side == "host":
                events.append(decoder.feed(event.packet.data))
                if len(events) == 2:
                    reply = enet.Packet(encoder.termination(), enet.PACKET_FLAG_RELIABLE)
                    event.peer.send(0, reply)
            elif event.type == enet.EVENT_TYPE_RECEIVE:
                answer = open_host_message(event.packet.data)
    peer.disconnect_now(0)
    assert connect_data == 0xC0FFEE
    assert sorted(map(repr, events)) == sorted(map(repr, [IdrRequest(), Ping(PING_PAYLOAD)]))
    assert answer == (0, 0x0109, b"\x80\x03\x00\x23")
