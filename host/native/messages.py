"""punktfunk/1 control messages: typed, validated, length-prefixed msgpack.

On the TLS control connection each message is a 4-byte big-endian length followed by a
msgpack map with a "type" key. Decoding is bounded (MAX_MESSAGE bytes, capped string and
binary lengths) and every message is validated against its struct, so malformed input
becomes a ProtocolError with a message that says what was wrong.

    client -> host   hello, feedback (cumulative, >= 1/s), keyframe, bye
    host -> client   welcome, error, bye
"""

from __future__ import annotations

import asyncio
import struct
from typing import Annotated, Literal

import msgpack
import msgspec
from msgspec import Meta, Struct

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024
STALL_TIMEOUT_S = 10.0
_LENGTH = struct.Struct(">I")

Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Codec = Literal["h264", "hevc", "av1"]


class ProtocolError(ValueError):
    """The peer sent something that is not valid punktfunk/1."""


class Hello(Struct, tag="hello", tag_field="type", forbid_unknown_fields=True):
    version: int
    client: Annotated[str, Meta(max_length=64)]
    width: Annotated[int, Meta(ge=64, le=7680, multiple_of=2)]
    height: Annotated[int, Meta(ge=64, le=4320, multiple_of=2)]
    fps: Annotated[int, Meta(ge=1, le=240)]
    codec: Codec
    bitrate_kbps: Annotated[int, Meta(ge=100, le=1_000_000)]
    udp_port: Annotated[int, Meta(ge=1, le=65535)]


class Welcome(Struct, tag="welcome", tag_field="type"):
    session_id: int
    shard_size: int
    fec_percent: int
    key: bytes
    salt: bytes
    width: int
    height: int
    fps: int
    codec: Codec
    encoder: str
    bitrate_kbps: int


class Feedback(Struct, tag="feedback", tag_field="type", forbid_unknown_fields=True):
    packets_received: Count
    packets_lost: Count
    fec_recovered: Count
    frames_decoded: Count
    frames_unrecoverable: Count
    decode_us_total: Count
    keyframes_requested: Count


class KeyframeRequest(Struct, tag="keyframe", tag_field="type"):
    pass


class Bye(Struct, tag="bye", tag_field="type"):
    reason: Annotated[str, Meta(max_length=200)] = ""


class Error(Struct, tag="error", tag_field="type"):
    message: Annotated[str, Meta(max_length=1000)]


Message = Hello | Welcome | Feedback | KeyframeRequest | Bye | Error


def encode(message: Message) -> bytes:
    payload: bytes = msgpack.packb(msgspec.to_builtins(message), use_bin_type=True)
    return _LENGTH.pack(len(payload)) + payload


def decode(payload: bytes) -> Message:
    """One message from its msgpack payload (without the length prefix)."""
    try:
        obj = msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            max_str_len=4096,
            max_bin_len=4096,
            max_array_len=64,
            max_map_len=64,
        )
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ProtocolError(f"undecodable control message: {exc}") from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise ProtocolError("control message is not a map with a 'type'")
    try:
        message: Message = msgspec.convert(obj, Message)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"invalid {obj.get('type')!r} message: {exc}") from None
    return message


async def read_message(reader: asyncio.StreamReader, idle_timeout: float | None = None) -> Message:
    """The next message; ProtocolError on bad framing, EOFError on a clean close.

    TimeoutError when no message starts within `idle_timeout`. The timeout covers only
    the wait for the length prefix: `readexactly` consumes nothing until it has every
    byte, so timing out there never loses part of a message. A peer that stalls inside a
    message is a protocol error.
    """
    try:
        async with asyncio.timeout(idle_timeout):
            prefix = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("connection closed inside a length prefix") from None
        raise EOFError("control connection closed") from None
    (length,) = _LENGTH.unpack(prefix)
    if not 0 < length <= MAX_MESSAGE:
        raise ProtocolError(f"control message of {length} bytes (limit {MAX_MESSAGE})")
    try:
        async with asyncio.timeout(STALL_TIMEOUT_S):
            payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a message") from None
    except TimeoutError:
        raise ProtocolError(f"peer stalled for {STALL_TIMEOUT_S:g} s inside a message") from None
    return decode(payload)
