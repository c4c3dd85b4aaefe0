"""The per-frame record layouts: the one place they are defined.

Producers write records with `struct` (derived from the fields below), the aggregator
reads them as numpy structured arrays (derived from the same fields), so the two views
cannot drift apart. Every record is 64 bytes and starts with `seq`, the ring index the
record was written at; readers use it to reject slots a producer was overwriting.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntFlag

import numpy as np

from ipc.segment import SegmentKind

RECORD_SIZE = 64

_NUMPY_CODES = {"Q": "<u8", "I": "<u4", "H": "<u2", "B": "u1"}


class FrameFlags(IntFlag):
    NONE = 0
    REPEAT = 1  # re-encode of the previous picture: the source had nothing new
    KEYFRAME = 2


@dataclass(frozen=True)
class RecordLayout:
    """Fixed-size little-endian record: (name, struct code) per field, `seq` first."""

    name: str
    kind: SegmentKind
    fields: tuple[tuple[str, str], ...]
    struct: struct.Struct = field(init=False)
    dtype: np.dtype[np.void] = field(init=False)

    def __post_init__(self) -> None:
        if self.fields[0] != ("seq", "Q"):
            raise ValueError("a record starts with its u64 `seq`")
        codes = "".join(code for _, code in self.fields)
        packed = struct.Struct("<" + codes)
        if packed.size > RECORD_SIZE:
            raise ValueError(f"{self.name} is {packed.size} bytes, more than {RECORD_SIZE}")
        padded = struct.Struct(f"<{codes}{RECORD_SIZE - packed.size}x")
        dtype = np.dtype(
            {
                "names": [n for n, _ in self.fields],
                "formats": [_NUMPY_CODES[c] for _, c in self.fields],
                "offsets": _offsets(self.fields),
                "itemsize": RECORD_SIZE,
            }
        )
        object.__setattr__(self, "struct", padded)
        object.__setattr__(self, "dtype", dtype)

    @property
    def payload_names(self) -> tuple[str, ...]:
        """The fields a producer supplies (everything but `seq`)."""
        return tuple(n for n, _ in self.fields[1:])


def _offsets(fields: tuple[tuple[str, str], ...]) -> list[int]:
    offsets, at = [], 0
    for _, code in fields:
        offsets.append(at)
        at += struct.calcsize("<" + code)
    return offsets


# Written by the capture/encode process, one per frame while measuring.
FRAME_RECORD = RecordLayout(
    "FrameRecord",
    SegmentKind.FRAME_RING,
    (
        ("seq", "Q"),
        ("session_id", "I"),
        ("flags", "I"),  # FrameFlags
        ("frame_index", "Q"),
        ("capture_ts_ns", "Q"),  # CLOCK_MONOTONIC when the capture of this frame began
        ("capture_us", "I"),  # source read + colour convert
        ("submit_us", "I"),  # hand-off to the encoder
        ("encode_us", "I"),  # wait for the bitstream
        ("bytes", "I"),  # encoded access-unit size
    ),
)

# Written by the send process, one per frame while measuring.
SEND_RECORD = RecordLayout(
    "SendRecord",
    SegmentKind.SEND_RING,
    (
        ("seq", "Q"),
        ("session_id", "I"),
        ("flags", "I"),  # FrameFlags, as received from the encoder
        ("frame_index", "Q"),
        ("capture_ts_ns", "Q"),  # copied from the frame, so host latency needs one ring
        ("done_ts_ns", "Q"),  # CLOCK_MONOTONIC after the last datagram went to the kernel
        ("handoff_us", "I"),  # encoder output -> send process picked it up
        ("packetize_us", "I"),  # framing + FEC, where a path measures it on its own
        ("send_us", "I"),  # after packetizing -> last datagram handed to the kernel
        ("bytes", "I"),  # bytes on the wire for this frame (headers, parity, tags)
        ("datagrams", "H"),
        ("parity_shards", "H"),
    ),
)

# Written by a GameStream session's audio process, one per audio packet while measuring.
AUDIO_RECORD = RecordLayout(
    "AudioRecord",
    SegmentKind.AUDIO_RING,
    (
        ("seq", "Q"),
        ("session_id", "I"),
        ("flags", "I"),  # reserved
        ("packet_index", "Q"),
        ("capture_ts_ns", "Q"),  # CLOCK_MONOTONIC when the packet's samples were read
        ("encode_us", "I"),  # Opus encode of one packet
        ("send_us", "I"),  # packetize, encrypt, FEC and send
        ("bytes", "I"),  # Opus payload bytes
    ),
)
