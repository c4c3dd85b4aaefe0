"""punktfunk/1 control messages: typed, validated, length-prefixed msgpack; no I/O.

On the TLS control connection each message is a 4-byte big-endian length followed by a
msgpack map with a "type" key. `encode` turns a message into those bytes; a
`MessageDecoder` is fed whatever bytes arrive, in chunks of any size, and hands back
whole messages. Decoding is bounded (MAX_MESSAGE bytes, capped string and binary
lengths) and every message is validated against its struct, so malformed input becomes
a ProtocolError with a message that says what was wrong. Waiting for bytes, and how
long to wait, is the business of the server and the client.

    client -> host   hello, feedback (cumulative, >= 1/s), keyframe, bye
    host -> client   welcome, error, bye
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal, NoReturn

import msgpack
import msgspec
from msgspec import Meta, Struct

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024
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
        raise ProtocolError(
            f"undecodable control message: {str(exc) or type(exc).__name__}"
        ) from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise ProtocolError("control message is not a map with a 'type'")
    try:
        message: Message = msgspec.convert(obj, Message)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"invalid {obj.get('type')!r} message: {exc}") from None
    return message


class MessageDecoder:
    """Bytes in, messages out: the framing half of the control channel (sans-I/O).

    Feed it what the connection delivered (`feed`), then take messages until
    `next_message` returns None, which means the rest has not arrived yet. A
    ProtocolError leaves the decoder broken: every later call raises it again, since
    nothing after a framing error can be trusted.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: ProtocolError | None = None
        self._closed = False

    @property
    def in_message(self) -> bool:
        """Bytes of an unfinished message (perhaps of its length prefix) are buffered,
        once `next_message` has returned None: more must come."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> None:
        if self._closed:
            raise RuntimeError("data fed after the end of the stream")
        self._buffer += data

    def feed_eof(self) -> None:
        """The peer closed its side; a ProtocolError if that cut a message short."""
        self._closed = True
        if self._error is not None:
            raise self._error
        if len(self._buffer) >= _LENGTH.size:
            self._fail("connection closed inside a message")
        if self._buffer:
            self._fail("connection closed inside a length prefix")

    def next_message(self) -> Message | None:
        if self._error is not None:
            raise self._error
        if len(self._buffer) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(self._buffer)
        # Refused on the prefix alone: nobody waits for the payload of a hostile length.
        if not 0 < length <= MAX_MESSAGE:
            self._fail(f"control message of {length} bytes (limit {MAX_MESSAGE})")
        end = _LENGTH.size + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[_LENGTH.size : end])
        del self._buffer[:end]
        try:
            return decode(payload)
        except ProtocolError as exc:
            self._error = exc
            raise

    def _fail(self, reason: str) -> NoReturn:
        self._error = ProtocolError(reason)
        raise self._error
