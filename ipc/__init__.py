"""Shared-memory IPC between the streaming processes and mgmt.

`segment` (headers, ownership), `records` (the record layouts), `ring` (the lock-free
SPSC metrics ring), `control` (armed/perf flags) and `counters` (cumulative counters).
"""

from ipc.control import ControlBlock
from ipc.counters import Counter, CountersBlock
from ipc.records import AUDIO_RECORD, FRAME_RECORD, SEND_RECORD, FrameFlags, RecordLayout
from ipc.ring import Ring, RingReader, RingWriter
from ipc.segment import Segment, SegmentError, SegmentKind, SegmentNotFoundError

__all__ = [
    "AUDIO_RECORD",
    "FRAME_RECORD",
    "SEND_RECORD",
    "ControlBlock",
    "Counter",
    "CountersBlock",
    "FrameFlags",
    "RecordLayout",
    "Ring",
    "RingReader",
    "RingWriter",
    "Segment",
    "SegmentError",
    "SegmentKind",
    "SegmentNotFoundError",
]
