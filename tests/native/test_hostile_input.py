"""Hostile datagrams and control messages are dropped, counted and never crash anything."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.native import messages
from host.native.packetizer import Packetizer
from host.native.reassembler import FrameDone, Reassembler
from host.native.wire import DatagramError, Opener, Sealer

KEY, SALT, SESSION = bytes(range(16)), b"salt", 7


def one_frame(data: bytes = b"x" * 5000, index: int = 0) -> list[bytes]:
    return Packetizer(Sealer(KEY, SALT, SESSION), 1200, 20).packetize(index, 0, data)[0]


def drop_reason(opener: Opener, datagram: bytes) -> str:
    with pytest.raises(DatagramError) as info:
        opener.open(datagram)
    return info.value.reason


def test_every_truncation_of_a_datagram_is_dropped() -> None:
    datagram = one_frame()[0]
    opener = Opener(KEY, SALT, SESSION)
    reasons = {drop_reason(opener, datagram[:n]) for n in range(len(datagram))}
    assert reasons <= {"short", "auth"}
    assert sum(opener.dropped.values()) == len(datagram)
    assert opener.window.accepted == 0


def test_a_datagram_from_another_key_fails_authentication() -> None:
    datagram = one_frame()[0]
    assert drop_reason(Opener(bytes(16), SALT, SESSION), datagram) == "auth"


def test_a_replayed_datagram_is_dropped_once_accepted() -> None:
    opener = Opener(KEY, SALT, SESSION)
    datagram = one_frame()[0]
    opener.open(datagram)
    assert drop_reason(opener, datagram) == "replay"
    assert opener.dropped["replay"] == 1


def test_a_datagram_older_than_the_replay_window_is_stale() -> None:
    sealer = Sealer(KEY, SALT, SESSION)
    packetizer = Packetizer(sealer, 1200, 0)
    first = packetizer.packetize(0, 0, b"a")[0][0]
    sealer.seq = 10_000
    opener = Opener(KEY, SALT, SESSION)
    opener.open(packetizer.packetize(1, 0, b"b")[0][0])
    assert drop_reason(opener, first) == "stale"


def test_a_flipped_bit_anywhere_fails_authentication_or_parsing() -> None:
    datagram = one_frame()[0]
    for bit in range(0, len(datagram) * 8, 7):
        corrupted = bytearray(datagram)
        corrupted[bit // 8] ^= 1 << (bit % 8)
        reason = drop_reason(Opener(KEY, SALT, SESSION), bytes(corrupted))
        assert reason in {"magic", "version", "session", "header", "auth"}


def test_oversized_and_wrong_session_datagrams_are_dropped() -> None:
    opener = Opener(KEY, SALT, SESSION)
    assert drop_reason(opener, b"PF\x01" + bytes(65_504)) in {"session", "header", "auth"}
    other = Packetizer(Sealer(KEY, SALT, 8), 1200, 20).packetize(0, 0, b"x")[0][0]
    assert drop_reason(opener, other) == "session"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_only_ever_raise_a_datagram_error(data: bytes) -> None:
    opener = Opener(KEY, SALT, SESSION)
    with pytest.raises(DatagramError):
        opener.open(data)


@settings(max_examples=300, deadline=None)
@given(
    frame_bytes=st.integers(min_value=0, max_value=2**32 - 1),
    block=st.integers(0, 255),
    blocks=st.integers(0, 255),
    shard=st.integers(0, 255),
    k=st.integers(0, 255),
    m=st.integers(0, 255),
    size=st.integers(0, 1300),
)
def test_authentic_but_inconsistent_headers_never_crash_the_reassembler(
    frame_bytes, block, blocks, shard, k, m, size
) -> None:
    """Even a peer holding the key cannot crash the receiver with contradictory fields."""
    sealer = Sealer(KEY, SALT, SESSION)
    opener = Opener(KEY, SALT, SESSION)
    reassembler = Reassembler(1200)
    datagram = sealer.seal(0, 0, frame_bytes, block, blocks, shard, k, m, b"z" * size)
    try:
        header, payload = opener.open(datagram)
    except DatagramError:
        return
    reassembler.push(header, payload)
    # ...and a genuine frame afterwards still goes through.
    genuine = Packetizer(sealer, 1200, 20).packetize(1, 0, b"ok" * 100)[0]
    events = [e for d in genuine for e in reassembler.push(*opener.open(d))]
    assert any(isinstance(e, FrameDone) and e.data == b"ok" * 100 for e in events)


# -- control messages -----------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=512))
def test_random_control_payloads_only_ever_raise_a_protocol_error(data: bytes) -> None:
    try:
        message = messages.decode(data)
    except messages.ProtocolError:
        return
    assert isinstance(message, messages.Message)  # random bytes that happen to be valid


@pytest.mark.parametrize(
    ("obj", "complaint"),
    [
        ([1, 2, 3], "not a map"),
        ({"no": "type"}, "not a map"),
        ({"type": "launch-missiles"}, "invalid"),
        ({"type": "hello", "version": 1}, "missing required field"),
        (
            {
                "type": "hello",
                "version": 1,
                "client": "x" * 65,
                "width": 1280,
                "height": 720,
                "fps": 60,
                "codec": "h264",
                "bitrate_kbps": 10000,
                "udp_port": 5000,
            },
            "length <= 64",
        ),
        ({"type": "feedback", "packets_received": -1}, "invalid"),
        ({"type": "feedback", "packets_received": "many"}, "invalid"),
    ],
)
def test_malformed_control_messages_say_what_is_wrong(obj: object, complaint: str) -> None:
    with pytest.raises(messages.ProtocolError, match=complaint):
        messages.decode(msgpack.packb(obj))
