"""The GameStream control stream's messages: AES-GCM envelope, decoding, host messages.

Sans-I/O: ENet packet payloads in, typed events out (`ControlDecoder`); host messages out as
sealed payloads (`ControlEncoder`). The ENet transport is a separate edge.

At appversion 7.1.431 every control message is encrypted. On the wire (little endian):

    LE16 0x0001 | LE16 length | LE32 seq | 16-byte GCM tag | ciphertext

where length = 4 + 16 + len(ciphertext) counts everything after itself, and the ciphertext
is the plaintext message `LE16 type | LE16 payload length | payload`. The key is the launch's
rikey. The IV, when the client enabled Sunshine's control-v2 encryption (which it always does
when DESCRIBE offers it), is 12 bytes: the sequence number little endian in bytes 0-3, zeros,
then a direction marker in bytes 10-11: b"CC" for client-originated messages, b"HC" for the
host's. Without v2 it is NVIDIA's old 16-byte IV: the low byte of the sequence, then zeros —
the sequence's upper bytes are then outside the authentication, so replay protection in that
mode only holds within 256 messages. The header is not additional authenticated data.

Each side counts its own sequence from 0. The client sends on several ENet channels, some
unsequenced, so its messages may arrive out of order: replays are caught with a sliding window.

Client message types (Sunshine-mode table): 0x0302 IDR request (which is also what the client
sends as "start A" in this mode), 0x0307 start B, 0x0301 reference-frame invalidation,
0x0200 periodic ping (every 100 ms), 0x5502 per-frame FEC status, 0x0206 input; older
0x0305 start A and 0x0201 loss stats are decoded too. Host types: 0x0109 termination
(BE32 HRESULT), 0x010b rumble, 0x010e HDR mode, 0x5500 trigger rumble, 0x5501 motion-event
request, 0x5502 RGB LED.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENCRYPTED = 0x0001

# client -> host
IDR_REQUEST = 0x0302
START_A = 0x0305
START_B = 0x0307
INVALIDATE_REF_FRAMES = 0x0301
LOSS_STATS = 0x0201
FRAME_STATS = 0x0204
INPUT_DATA = 0x0206
PERIODIC_PING = 0x0200
FRAME_FEC_STATUS = 0x5502  # same number as SET_RGB_LED, the other direction

# host -> client
TERMINATION = 0x0109
RUMBLE = 0x010B
HDR_MODE = 0x010E
RUMBLE_TRIGGERS = 0x5500
SET_MOTION_EVENT = 0x5501
SET_RGB_LED = 0x5502

# Termination reasons (HRESULTs, sent big endian). Moonlight reports this one as a graceful
# end (error 0) once it has seen a frame, and as an unexpected early termination before.
TERMINATION_GRACEFUL = 0x80030023

TAG_BYTES = 16
_OUTER = struct.Struct("<HHI")  # type, length, seq
_INNER = struct.Struct("<HH")  # type, payload length
HEADER_BYTES = _OUTER.size + TAG_BYTES  # 24
MIN_PACKET = HEADER_BYTES + _INNER.size  # 28
# The client builds every message in a 256-byte buffer; input packets are at most 128 bytes.
MAX_PACKET = 4096
DEFAULT_REPLAY_WINDOW = 4096

_RFI = struct.Struct("<qqq")
_LOSS_STATS = struct.Struct("<iII")  # loss count, interval ms, then a constant 1000
_FEC_STATUS = struct.Struct(">IHHHHHHHBBB")


class ControlError(ValueError):
    """A control packet that is dropped; `reason` is the counter it is filed under."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class StartA:
    pass


@dataclass(frozen=True)
class StartB:
    pass


@dataclass(frozen=True)
class Ping:
    payload: bytes


@dataclass(frozen=True)
class IdrRequest:
    pass


@dataclass(frozen=True)
class InvalidateReferenceFrames:
    first: int
    last: int


@dataclass(frozen=True)
class LossStats:
    """The pre-Sunshine periodic loss report (0x0201)."""

    loss_count: int
    interval_ms: int
    last_good_frame: int


@dataclass(frozen=True)
class FrameFecStatus:
    """The client's report on a frame it needed FEC for or lost (0x5502)."""

    frame_index: int
    highest_received_seq: int
    next_contiguous_seq: int
    missing_before_highest: int
    total_data_packets: int
    total_parity_packets: int
    received_data_packets: int
    received_parity_packets: int
    fec_percent: int
    block_index: int
    block_count: int


@dataclass(frozen=True)
class InputMessage:
    """An input packet (decode with host.gamestream.input)."""

    payload: bytes


@dataclass(frozen=True)
class Unknown:
    type: int
    payload: bytes


ControlEvent = (
    StartA
    | StartB
    | Ping
    | IdrRequest
    | InvalidateReferenceFrames
    | LossStats
    | FrameFecStatus
    | InputMessage
    | Unknown
)


def decode_message(msg_type: int, payload: bytes) -> ControlEvent:
    """The event for one decrypted message; ControlError("payload") if its payload is wrong."""
    if msg_type == IDR_REQUEST:
        return IdrRequest()
    if msg_type == START_A:
        return StartA()
    if msg_type == START_B:
        return StartB()
    if msg_type == PERIODIC_PING:
        return Ping(payload)
    if msg_type == INPUT_DATA:
        if not payload:
            raise ControlError("payload", "empty input message")
        return InputMessage(payload)
    if msg_type == INVALIDATE_REF_FRAMES:
        if len(payload) != _RFI.size:
            raise ControlError("payload", f"RFI payload is {len(payload)} bytes, not 24")
        first, last, _ = _RFI.unpack(payload)
        if first < 0 or last < first:
            raise ControlError("payload", f"RFI range {first}..{last} is not a range")
        return InvalidateReferenceFrames(first, last)
    if msg_type == FRAME_FEC_STATUS:
        if len(payload) != _FEC_STATUS.size:
            raise ControlError("payload", f"FEC status is {len(payload)} bytes, not 21")
        return FrameFecStatus(*_FEC_STATUS.unpack(payload))
    if msg_type == LOSS_STATS:
        if len(payload) != 32:
            raise ControlError("payload", f"loss stats are {len(payload)} bytes, not 32")
        count, interval_ms, _ = _LOSS_STATS.unpack_from(payload)
        (last_good_frame,) = struct.unpack_from("<Q", payload, 12)
        return LossStats(count, interval_ms, last_good_frame)
    return Unknown(msg_type, payload)


def control_iv(seq: int, *, host: bool, v2: bool = True) -> bytes:
    """The AES-GCM IV for a message with this sequence number, from the host or the client."""
    if not v2:
        return bytes([seq & 0xFF]) + bytes(15)
    return struct.pack("<I", seq) + bytes(6) + (b"HC" if host else b"CC")


class _ReplayWindow:
    """Sequence numbers seen recently: the highest, and a bitmap of the `size` below it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.highest = -1
        self._bits = 0  # bit i: highest - i was accepted
        self._mask = (1 << size) - 1

    def check(self, seq: int) -> None:
        if seq > self.highest:
            return
        offset = self.highest - seq
        if offset >= self.size:
            raise ControlError("stale", f"sequence {seq} is older than the replay window")
        if self._bits >> offset & 1:
            raise ControlError("replay", f"sequence {seq} was already accepted")

    def accept(self, seq: int) -> None:
        if seq > self.highest:
            shift = seq - self.highest
            # A long jump clears the window without building a huge shifted integer.
            self._bits = 1 if shift >= self.size else ((self._bits << shift) | 1) & self._mask
            self.highest = seq
        else:
            self._bits |= 1 << (self.highest - seq)


class ControlDecoder:
    """Client control packets in, events out; bad packets are dropped and counted.

    `feed` never raises: a packet that is short, mis-sized, unencrypted, fails
    authentication, repeats or predates the replay window, or carries a malformed payload
    returns None and adds one to `dropped[reason]`.
    """

    def __init__(
        self, key: bytes, *, v2_iv: bool = True, replay_window: int = DEFAULT_REPLAY_WINDOW
    ) -> None:
        if len(key) != 16:
            raise ValueError("the control key (rikey) is 16 bytes")
        if replay_window < 1:
            raise ValueError("replay_window must be positive")
        self._aead = AESGCM(key)
        self._v2_iv = v2_iv
        self._window = _ReplayWindow(replay_window)
        self.dropped: Counter[str] = Counter()
        self.accepted = 0

    def feed(self, packet: bytes) -> ControlEvent | None:
        try:
            seq, msg_type, payload = self.open(packet)
            # Authentic, so its sequence number is used up even if the payload is bad;
            # a forgery never gets here and cannot poison the window.
            self._window.accept(seq)
            event = decode_message(msg_type, payload)
        except ControlError as error:
            self.dropped[error.reason] += 1
            return None
        self.accepted += 1
        return event

    def open(self, packet: bytes) -> tuple[int, int, bytes]:
        """(seq, type, payload) of an authentic, fresh packet; ControlError otherwise.

        Does not mark the sequence as seen (`feed` does).
        """
        if len(packet) < MIN_PACKET:
            raise ControlError("short", f"{len(packet)} bytes is shorter than {MIN_PACKET}")
        if len(packet) > MAX_PACKET:
            raise ControlError("oversized", f"{len(packet)} bytes is over {MAX_PACKET}")
        outer_type, length, seq = _OUTER.unpack_from(packet)
        if outer_type != ENCRYPTED:
            raise ControlError("unencrypted", f"type {outer_type:#06x} outside the envelope")
        if length + 4 != len(packet):
            raise ControlError("length", f"length field {length} for a {len(packet)}-byte packet")
        self._window.check(seq)
        tag = packet[_OUTER.size : HEADER_BYTES]
        ciphertext = packet[HEADER_BYTES:]
        iv = control_iv(seq, host=False, v2=self._v2_iv)
        try:
            plaintext = self._aead.decrypt(iv, ciphertext + tag, None)
        except InvalidTag:
            raise ControlError("auth", "authentication failed") from None
        msg_type, payload_length = _INNER.unpack_from(plaintext)
        if payload_length != len(plaintext) - _INNER.size:
            raise ControlError(
                "inner_length",
                f"inner length {payload_length} for {len(plaintext) - _INNER.size} bytes",
            )
        if msg_type == ENCRYPTED:
            raise ControlError("nested", "an encrypted message inside an encrypted message")
        return seq, msg_type, plaintext[_INNER.size :]


@dataclass(frozen=True)
class HdrMetadata:
    """SMPTE ST 2086 / CTA-861.3 metadata as Moonlight takes it."""

    display_primaries: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # RGB, /50000
    white_point: tuple[int, int]  # /50000
    max_display_luminance: int  # nits
    min_display_luminance: int  # 1/10000 nit
    max_content_light_level: int  # nits
    max_frame_average_light_level: int  # nits
    max_full_frame_luminance: int  # nits

    def pack(self) -> bytes:
        values = [c for point in self.display_primaries for c in point]
        values += [*self.white_point, self.max_display_luminance, self.min_display_luminance]
        values += [self.max_content_light_level, self.max_frame_average_light_level]
        values.append(self.max_full_frame_luminance)
        return struct.pack("<13H", *values)


class ControlEncoder:
    """Host messages, sealed for the client; the host's sequence counts from `first_seq`."""

    def __init__(self, key: bytes, *, v2_iv: bool = True, first_seq: int = 0) -> None:
        if len(key) != 16:
            raise ValueError("the control key (rikey) is 16 bytes")
        self._aead = AESGCM(key)
        self._v2_iv = v2_iv
        self.seq = first_seq

    def seal(self, msg_type: int, payload: bytes) -> bytes:
        max_payload = 0xFFFF - TAG_BYTES - 4 - _INNER.size
        if len(payload) > max_payload:
            raise ValueError(f"control payload of {len(payload)} bytes is over {max_payload}")
        if not 0 <= msg_type <= 0xFFFF or msg_type == ENCRYPTED:
            raise ValueError(f"bad message type {msg_type:#x}")
        if self.seq > 0xFFFFFFFF:
            raise ValueError("control sequence numbers exhausted")
        seq = self.seq
        self.seq += 1
        plaintext = _INNER.pack(msg_type, len(payload)) + payload
        sealed = self._aead.encrypt(control_iv(seq, host=True, v2=self._v2_iv), plaintext, None)
        ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
        header = _OUTER.pack(ENCRYPTED, 4 + TAG_BYTES + len(ciphertext), seq)
        return header + tag + ciphertext

    def termination(self, reason: int = TERMINATION_GRACEFUL) -> bytes:
        """Tells the client the session is over (graceful by default)."""
        return self.seal(TERMINATION, struct.pack(">I", reason))

    def hdr_mode(self, enabled: bool, metadata: HdrMetadata | None = None) -> bytes:
        meta = metadata.pack() if metadata is not None else bytes(26)
        return self.seal(HDR_MODE, bytes([1 if enabled else 0]) + meta)

    def rumble(self, controller: int, low_freq: int, high_freq: int) -> bytes:
        return self.seal(RUMBLE, struct.pack("<IHHH", 0, controller, low_freq, high_freq))

    def rumble_triggers(self, controller: int, left: int, right: int) -> bytes:
        return self.seal(RUMBLE_TRIGGERS, struct.pack("<HHH", controller, left, right))

    def motion_event_state(self, controller: int, report_rate_hz: int, motion_type: int) -> bytes:
        """Asks for (rate > 0) or stops (rate 0) motion reports: type 1 accel, 2 gyro."""
        payload = struct.pack("<HHB", controller, report_rate_hz, motion_type)
        return self.seal(SET_MOTION_EVENT, payload)

    def rgb_led(self, controller: int, red: int, green: int, blue: int) -> bytes:
        return self.seal(SET_RGB_LED, struct.pack("<HBBB", controller, red, green, blue))
