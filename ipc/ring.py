"""Lock-free single-producer / single-consumer ring of fixed-size records.

Segment payload layout (offsets from the payload start):

    0    head: u64, the number of records ever published (own cache line)
    64   records: capacity x 64 bytes, record i lives in slot i & (capacity - 1)

Publishing: the producer writes the record payload first and then publishes `head`
with ONE aligned 8-byte store through a `memoryview.cast('Q')`. Never publish with
`struct.pack_into`: it zero-fills the target before writing, so a concurrent reader
can observe 0.

Reading: read head (h1), bulk-copy records [max(tail, h1 - cap), h1), read head again
(h2). A record idx is trustworthy only if the producer cannot have started
overwriting it, i.e. idx + cap > h2, and its slot still carries seq == idx. Everything
else was lost to an overrun: counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ipc.records import RECORD_SIZE, RecordLayout
from ipc.segment import Segment

HEAD_LINE = 64

WriteFn = Callable[..., None]


class Ring:
    """Owner/attacher handle for one ring segment."""

    def __init__(self, segment: Segment, layout: RecordLayout) -> None:
        cap = segment.capacity
        if cap <= 0 or cap & (cap - 1):
            raise ValueError(f"ring capacity must be a power of two, got {cap}")
        self.segment = segment
        self.layout = layout
        self.capacity = cap
        self.name = segment.name
        self._head = segment.payload[0:8].cast("Q")
        self._children: list[RingWriter | RingReader] = []

    @classmethod
    def create(cls, layout: RecordLayout, capacity: int = 1024) -> Ring:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError(f"ring capacity must be a power of two, got {capacity}")
        segment = Segment.create(
            layout.kind,
            HEAD_LINE + capacity * RECORD_SIZE,
            record_size=RECORD_SIZE,
            capacity=capacity,
        )
        return cls(segment, layout)

    @classmethod
    def attach(cls, name: str, layout: RecordLayout) -> Ring:
        return cls(Segment.attach(name, layout.kind, record_size=RECORD_SIZE), layout)

    @property
    def head(self) -> int:
        return int(self._head[0])

    def writer(self) -> RingWriter:
        """The producer handle. One producer per ring: that is what makes it lock-free."""
        child = RingWriter(self)
        self._children.append(child)
        return child

    def reader(self, *, from_start: bool = False) -> RingReader:
        child = RingReader(self, from_start=from_start)
        self._children.append(child)
        return child

    def close(self) -> None:
        """Close the writer/reader made from this ring, then the segment (the owner
        also unlinks it). Idempotent."""
        for child in self._children:
            child.close()
        self._children.clear()
        self._head.release()
        self.segment.close()

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RingWriter:
    """The producer side. `write(<payload fields>)` is the hot path: one `pack_into`
    of the record plus one 8-byte head store, no locks, no allocation to speak of."""

    write: WriteFn

    def __init__(self, ring: Ring) -> None:
        self._ring = ring
        self._records = ring.segment.payload[HEAD_LINE:]
        self.write = _compile_writer(
            ring.layout, self._records, ring._head, ring.capacity - 1, start=ring.head
        )

    def close(self) -> None:
        self.write = _closed_writer
        self._records.release()


def _closed_writer(*_: object) -> None:
    raise ValueError("write to a closed ring writer")


def _compile_writer(
    layout: RecordLayout, records: memoryview, head: memoryview, mask: int, start: int
) -> WriteFn:
    """Build `write(session_id, flags, ...)` with the layout's own parameter list.

    Generated (the way dataclasses generate `__init__`) because a generic
    `write(*values)` costs ~100 ns more per record on the producer's per-frame path.
    """
    params = ", ".join(layout.payload_names)
    source = (
        "def factory(pack_into, records, head, mask, n):\n"
        f"    def write({params}):\n"
        "        nonlocal n\n"
        f"        pack_into(records, (n & mask) * {RECORD_SIZE}, n, {params})\n"
        "        n += 1\n"
        "        head[0] = n\n"
        "    return write\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{layout.name} writer>", "exec"), namespace)  # noqa: S102
    write: WriteFn = namespace["factory"](layout.struct.pack_into, records, head, mask, start)
    return write


class RingReader:
    """The consumer side: returns copies of new, validated records."""

    def __init__(self, ring: Ring, *, from_start: bool = False) -> None:
        self._ring = ring
        self.capacity = ring.capacity
        self._mask = ring.capacity - 1
        self._records: np.ndarray[Any, Any] | None = np.ndarray(
            (ring.capacity,),
            dtype=ring.layout.dtype,
            buffer=ring.segment.payload,
            offset=HEAD_LINE,
        )
        self._empty = np.empty(0, dtype=ring.layout.dtype)
        # Begin at the producer's current position unless asked to replay what the ring
        # still holds: a reader attaching late wants new records, not stale ones.
        self.tail = 0 if from_start else ring.head
        self.overruns = 0

    def read(self) -> np.ndarray[Any, Any]:
        """All records published since the last read that are still intact."""
        records = self._records
        if records is None:
            raise ValueError("read from a closed ring reader")
        cap = self.capacity
        h1 = self._ring.head
        start = max(self.tail, h1 - cap)
        lost = start - self.tail
        n = h1 - start
        if n <= 0:
            self.overruns += lost
            self.tail = max(self.tail, h1)
            return self._empty
        first = start & self._mask
        if first + n <= cap:
            copy = records[first : first + n].copy()
        else:
            copy = np.concatenate((records[first:], records[: first + n - cap]))
        h2 = self._ring.head
        # Records the producer may have started overwriting during the copy.
        clobbered = min(max(h2 - cap + 1 - start, 0), n)
        keep = copy[clobbered:]
        expected = np.arange(start + clobbered, h1, dtype=np.uint64)
        intact = keep["seq"] == expected
        if not intact.all():
            keep = keep[intact]
        self.overruns += lost + n - len(keep)
        self.tail = h1
        return keep

    def close(self) -> None:
        self._records = None
