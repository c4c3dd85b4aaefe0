"""Per-session cumulative counters in shared memory: one u64 slot each, one writer each.

Each counter has exactly one writing process (named below), so increments need no
atomics: the writer reads its own slot and stores the new value with one aligned 8-byte
store. Readers (the aggregator) take snapshots and compute deltas per window.
"""

from __future__ import annotations

from enum import IntEnum

from ipc.segment import Segment, SegmentKind


class Counter(IntEnum):
    # capture/encode process
    FRAMES_NEW = 0  # frames with a new picture from the source
    FRAMES_REPEAT = 1  # re-encodes of the last picture (source had nothing new)
    FRAMES_DROPPED = 2  # frame slots skipped because encoding fell behind
    ENCODED_BYTES = 3
    # send process
    BYTES_SENT = 4  # bytes handed to the kernel (whole datagrams)
    DATAGRAMS_SENT = 5
    SEND_DROPPED = 6  # datagrams refused by the kernel (EAGAIN / ENOBUFS)
    PAYLOAD_BYTES_SENT = 15  # access-unit bytes of the frames sent: goodput, without FEC/headers
    PINGS_REJECTED = 16  # GameStream video pings from an address or with a payload not ours
    # audio process (GameStream)
    AUDIO_PACKETS_SENT = 21
    AUDIO_BYTES_SENT = 22
    # control channel: the client's cumulative feedback, stored as reported
    FEEDBACK_REPORTS = 7  # 0 means the client never reported: loss counters are unmeasured
    PACKETS_RECEIVED = 8
    PACKETS_LOST = 9
    FEC_RECOVERED = 10  # data shards rebuilt from parity
    FRAMES_DECODED = 11
    FRAMES_UNRECOVERABLE = 12
    DECODE_US_TOTAL = 13  # sum of per-frame decode times, for a mean per window
    KEYFRAME_REQUESTS = 14  # the encoder forces an IDR whenever this changes
    RTT_US = 17  # latest round-trip time of the control channel; 0: not measured
    CONTROL_REJECTED = 18  # control packets dropped: failed authentication, malformed, replayed
    INPUT_EVENTS = 19  # input events received from the client
    INPUT_REJECTED = 20  # input events dropped: malformed, out of range, queue full, too late


SLOTS = 32  # room to add counters without changing the segment size


class CountersBlock:
    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.name = segment.name
        self._slots = segment.payload[: SLOTS * 8].cast("Q")

    @classmethod
    def create(cls) -> CountersBlock:
        return cls(Segment.create(SegmentKind.COUNTERS, SLOTS * 8))

    @classmethod
    def attach(cls, name: str) -> CountersBlock:
        return cls(Segment.attach(name, SegmentKind.COUNTERS))

    def add(self, counter: Counter, n: int = 1) -> None:
        """Single-writer increment (the writer owns the slot; no read-modify-write race)."""
        self._slots[counter] = self._slots[counter] + n

    def set(self, counter: Counter, value: int) -> None:
        self._slots[counter] = value

    def get(self, counter: Counter) -> int:
        return int(self._slots[counter])

    def snapshot(self) -> dict[Counter, int]:
        # tolist() loads each slot with its own aligned 8-byte read.
        values = self._slots.tolist()
        return {c: int(values[c]) for c in Counter}

    def close(self) -> None:
        self._slots.release()
        self.segment.close()
