"""Input packets: each built here byte by byte as moonlight-common-c builds it, decoded;
malformed and out-of-range packets rejected by reason, never an exception."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.gamestream.input import (
    ControllerArrival,
    ControllerBattery,
    ControllerMotion,
    ControllerRemoved,
    ControllerState,
    ControllerTouch,
    HapticsEnable,
    InputDecoder,
    InputError,
    KeyEvent,
    MouseButton,
    MouseMove,
    MousePosition,
    Pen,
    Rejected,
    Scroll,
    Text,
    Touch,
    parse_input,
)


def packet(magic: int, body: bytes) -> bytes:
    """NV_INPUT_HEADER: BE32 size of what follows it (magic + body), then LE32 magic."""
    return struct.pack(">I", 4 + len(body)) + struct.pack("<I", magic) + body


def key(magic: int, code: int, modifiers: int = 0, flags: int = 0) -> bytes:
    # u8 flags, LE16 key code, u8 modifiers, LE16 zero
    return packet(magic, bytes([flags]) + struct.pack("<H", code) + bytes([modifiers]) + b"\0\0")


def controller(
    number: int, mask: int, buttons: int, lt: int, rt: int, sticks: tuple[int, int, int, int]
) -> bytes:
    body = struct.pack("<HHHHH", 0x001A, number, mask, 0x0014, buttons & 0xFFFF)
    body += bytes([lt, rt]) + struct.pack("<hhhh", *sticks)
    body += struct.pack("<HHH", 0x009C, buttons >> 16, 0x0055)
    return packet(0x0C, body)


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


PEN_BODY = bytes([3, 1, 0x01, 0]) + f32(0.25, 0.75, 0.5) + struct.pack("<H", 90)
PEN_BODY += bytes([30, 0]) + f32(0.01, 0.02)

CASES = [
    (key(0x03, 0x8041, 0x01), KeyEvent(True, 0x8041, 0x01, 0)),
    (key(0x04, 0x0041, 0x00, 0x01), KeyEvent(False, 0x0041, 0x00, 0x01)),
    (packet(0x07, b"\xff\xfe\x00\x05"), MouseMove(-2, 5)),  # BE16 dx, dy
    (
        packet(0x05, b"\x03\xc0\x02\x1c\x00\x00\x07\x7f\x04\x37"),
        MousePosition(960, 540, 1919, 1079),
    ),
    (packet(0x08, b"\x01"), MouseButton(1, True)),
    (packet(0x09, b"\x05"), MouseButton(5, False)),
    (packet(0x0A, b"\xff\x88\xff\x88\x00\x00"), Scroll(-120)),
    (packet(0x55000001, b"\x00\x1e"), Scroll(30, horizontal=True)),
    (packet(0x17, "é".encode()), Text("é")),
    (packet(0x17, "🎮".encode()), Text("🎮")),
    (packet(0x0D, b"\x01\x00"), HapticsEnable(True)),
    (
        controller(1, 0b11, 0x1000 | 0x100000, 255, 7, (-32768, 32767, 0, -1)),
        ControllerState(1, 0b11, 0x1000 | 0x100000, 255, 7, -32768, 32767, 0, -1),
    ),
    (controller(2, 0b011, 0, 0, 0, (0, 0, 0, 0)), ControllerRemoved(2, 0b011)),
    (
        packet(0x55000004, bytes([3, 2]) + struct.pack("<HI", 0x3F, 0x3FF7FF)),
        ControllerArrival(3, "playstation", 0x3F, 0x3FF7FF),
    ),
    (
        packet(0x55000002, bytes([1, 0]) + struct.pack("<HI", 45, 7) + f32(0.5, 0.25, 1.0, 0, 0)),
        Touch(1, 7, 0.5, 0.25, 1.0, 0.0, 0.0, 45),
    ),
    (packet(0x55000003, PEN_BODY), Pen(3, 1, 1, 0.25, 0.75, 0.5, 90, 30, 0.01, 0.02)),
    (
        packet(0x55000005, bytes([0, 3, 0, 0]) + struct.pack("<I", 9) + f32(0.5, 0.5, 0.0)),
        ControllerTouch(0, 3, 9, 0.5, 0.5, 0.0),
    ),
    (
        packet(0x55000006, bytes([15, 2, 0, 0]) + f32(1.5, -2.0, 0.0)),
        ControllerMotion(15, 2, 1.5, -2.0, 0.0),
    ),
    (packet(0x55000007, bytes([0, 2, 80, 0])), ControllerBattery(0, 2, 80)),
]


@pytest.mark.parametrize(("raw", "event"), CASES)
def test_packets_decode(raw: bytes, event: object) -> None:
    decoded = parse_input(raw)
    if isinstance(event, Pen | Touch | ControllerTouch | ControllerMotion):
        # floats went through float32
        assert type(decoded) is type(event)
        for name, expected in vars(event).items():
            value = getattr(decoded, name)
            assert value == pytest.approx(expected, rel=1e-6), name
    else:
        assert decoded == event


def test_key_event_exposes_the_virtual_key() -> None:
    event = parse_input(key(0x03, 0x80A2, 0x02))
    assert isinstance(event, KeyEvent)
    assert event.vk == 0xA2


def test_decoder_counts_what_it_accepts_and_rejects() -> None:
    decoder = InputDecoder()
    for raw, _ in CASES:
        assert not isinstance(decoder.decode(raw), Rejected)
    result = decoder.decode(packet(0x99, b""))
    assert isinstance(result, Rejected)
    assert result.reason == "unknown"
    assert decoder.accepted == len(CASES)
    assert decoder.rejected == {"unknown": 1}


def reason(raw: bytes) -> str:
    with pytest.raises(InputError) as info:
        parse_input(raw)
    return info.value.reason


@pytest.mark.parametrize(("raw", "_event"), CASES)
def test_every_truncation_is_rejected(raw: bytes, _event: object) -> None:
    for n in range(len(raw)):
        assert reason(raw[:n]) in {"short", "size"}


@pytest.mark.parametrize(("raw", "_event"), CASES)
def test_a_size_field_that_lies_is_rejected(raw: bytes, _event: object) -> None:
    size = struct.unpack_from(">I", raw)[0]
    for wrong in (size - 1, size + 1, 0, 0xFFFFFFFF):
        assert reason(struct.pack(">I", wrong) + raw[4:]) == "size"


@pytest.mark.parametrize(("raw", "_event"), [c for c in CASES if c[0][4] != 0x17])
def test_fixed_packets_with_extra_or_missing_bytes_are_rejected(raw: bytes, _event: object) -> None:
    magic = raw[4:8]
    body = raw[8:]
    assert reason(packet(struct.unpack("<I", magic)[0], body + b"\0")) == "length"
    assert reason(packet(struct.unpack("<I", magic)[0], body[:-1])) == "length"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "short"),
        (b"\x00\x00\x00\x04\x03\x00", "short"),
        (packet(0x17, b"x" * 200), "oversized"),
        (packet(0x0B, b""), "unknown"),
        (packet(0x55000099, b"\x00" * 4), "unknown"),
        (packet(0x17, b""), "length"),
        (packet(0x17, b"x" * 33), "length"),
        (packet(0x17, b"\xc3"), "utf8"),
        (packet(0x17, b"\xed\xa0\x80"), "utf8"),  # a surrogate, not UTF-8
        (key(0x03, 0x8000), "key_code"),
        (key(0x03, 0x80FF), "key_code"),
        (key(0x03, 0x1241), "key_code"),
        (key(0x03, 0x8041, modifiers=0x10), "key_modifiers"),
        (key(0x03, 0x8041, flags=0x02), "key_flags"),
        (packet(0x08, b"\x00"), "button"),
        (packet(0x09, b"\x06"), "button"),
        (packet(0x05, b"\x00\x01\x00\x01\x00\x00\x00\x00\x04\x37"), "reference_size"),
        (packet(0x05, b"\x00\x01\x00\x01\x00\x00\x07\x7f\xff\xff"), "reference_size"),
        (controller(16, 0xFFFF, 0, 0, 0, (0, 0, 0, 0)), "controller_number"),
        (controller(0, 1, 0x0800, 0, 0, (0, 0, 0, 0)), "buttons"),
        (controller(0, 1, 0x400000, 0, 0, (0, 0, 0, 0)), "buttons"),
        (packet(0x55000004, bytes([16, 1]) + b"\0" * 6), "controller_number"),
        (packet(0x55000004, bytes([0, 4]) + b"\0" * 6), "controller_type"),
        (packet(0x55000002, bytes([8, 0]) + b"\0" * 26), "event_type"),
        (packet(0x55000002, bytes([1, 0]) + b"\0" * 6 + f32(math.nan) + b"\0" * 16), "float"),
        (packet(0x55000003, bytes([1, 3, 0, 0]) + b"\0" * 24), "tool_type"),
        (packet(0x55000003, bytes([1, 1, 8, 0]) + b"\0" * 24), "buttons"),
        (packet(0x55000003, bytes([1, 1, 0, 0]) + f32(math.inf) + b"\0" * 20), "float"),
        (packet(0x55000005, bytes([16, 1, 0, 0]) + b"\0" * 16), "controller_number"),
        (packet(0x55000006, bytes([0, 3, 0, 0]) + b"\0" * 12), "motion_type"),
        (packet(0x55000006, bytes([0, 1, 0, 0]) + f32(0, -math.inf, 0)), "float"),
        (packet(0x55000007, bytes([0, 6, 50, 0])), "battery"),
        (packet(0x55000007, bytes([0, 2, 101, 0])), "battery"),
    ],
)
def test_out_of_range_and_unknown_packets_are_rejected(raw: bytes, expected: str) -> None:
    assert reason(raw) == expected
    decoder = InputDecoder()
    result = decoder.decode(raw)
    assert isinstance(result, Rejected)
    assert decoder.rejected == {expected: 1}
    assert decoder.accepted == 0


def test_battery_percentage_unknown_is_accepted() -> None:
    assert parse_input(packet(0x55000007, bytes([0, 0, 0xFF, 0]))) == ControllerBattery(0, 0, 255)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=160))
def test_random_bytes_raise_only_input_errors(data: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_input(data)
    decoder = InputDecoder()
    decoder.decode(data)
    assert decoder.accepted + sum(decoder.rejected.values()) == 1


MAGICS = [0x03, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x17] + [
    0x55000000 + n for n in range(1, 8)
]


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=48))
def test_random_bodies_under_valid_headers_raise_only_input_errors(magic: int, body: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_input(packet(magic, body))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 15),
    st.integers(0, 0xFFFF),
    st.integers(0, 0x3FFFFF).map(lambda b: b & 0x3FF7FF),
    st.integers(0, 255),
    st.integers(0, 255),
    st.tuples(*[st.integers(-32768, 32767)] * 4),
)
def test_any_valid_controller_packet_round_trips(
    number: int, mask: int, buttons: int, lt: int, rt: int, sticks: tuple[int, int, int, int]
) -> None:
    event = parse_input(controller(number, mask, buttons, lt, rt, sticks))
    if mask >> number & 1:
        assert event == ControllerState(number, mask, buttons, lt, rt, *sticks)
    else:
        assert event == ControllerRemoved(number, mask)
