"""Datagrams -> frames (the receive side of the FEC layout). Sans-I/O.

Feed it authenticated (header, shard) pairs in arrival order; it returns events:
`FrameDone` as soon as every block of a frame has enough shards (rebuilding lost data
shards from parity), `FrameLost` once a frame can no longer complete. Frames are
resolved in index order, so a decoder downstream never sees an older frame after a
newer one.

A frame is given up when a newer frame completes, when a datagram arrives for a frame
`reorder_frames` or more ahead (the sender finishes one frame before starting the next,
so on a path without reordering nothing more can come), or when the caller expires it.
Frames of which no datagram arrived at all are reported lost when the index moves past
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from host.native.fec import block_sizes, recover_block
from host.native.wire import DatagramHeader

MAX_PENDING_FRAMES = 32
MAX_REPORTED_GAP = 10_000  # a bigger jump is reported as one lost run, not frame by frame


@dataclass(frozen=True)
class FrameDone:
    frame_index: int
    data: bytes
    flags: int
    recovered: int  # data shards rebuilt from parity for this frame


@dataclass(frozen=True)
class FrameLost:
    frame_index: int  # the first lost frame of this run
    count: int = 1
    reason: str = "incomplete"


Event = FrameDone | FrameLost


@dataclass
class _Block:
    k: int
    m: int
    shards: dict[int, bytes] = field(default_factory=dict)


@dataclass
class _Frame:
    frame_bytes: int
    flags: int
    sizes: list[int]  # data shards per block, from the layout
    blocks: list[_Block | None]
    ready_blocks: int = 0


class Reassembler:
    def __init__(
        self, shard_size: int, *, first_index: int | None = 0, reorder_frames: int = 2
    ) -> None:
        self.shard_size = shard_size
        self.reorder_frames = reorder_frames
        # Lowest frame index not yet resolved. A session's stream starts at frame 0, so
        # even a first frame that lost every datagram is counted; None joins mid-stream.
        self.next_index: int | None = first_index
        self._pending: dict[int, _Frame] = {}
        self.fec_recovered = 0
        self.frames_done = 0
        self.frames_lost = 0
        self.late = 0  # datagrams for frames already resolved
        self.inconsistent = 0  # datagrams whose header contradicts their frame's others

    def push(self, header: DatagramHeader, shard: bytes) -> list[Event]:
        index = header.frame_index
        if self.next_index is None:
            self.next_index = index
        if index < self.next_index:
            self.late += 1
            return []
        if len(shard) != self.shard_size:
            self.inconsistent += 1
            return []
        events: list[Event] = []
        if index >= self.next_index + self.reorder_frames:
            events += self._give_up_before(index - self.reorder_frames + 1)
        frame = self._pending.get(index)
        if frame is None:
            sizes = block_sizes(header.frame_bytes, self.shard_size)
            if len(sizes) != header.block_count:
                self.inconsistent += 1
                return events
            frame = _Frame(header.frame_bytes, header.frame_flags, sizes, [None] * len(sizes))
            self._pending[index] = frame
            if len(self._pending) > MAX_PENDING_FRAMES:
                events += self._give_up_before(min(self._pending) + 1)
        if not self._add(frame, header, shard):
            return events
        if frame.ready_blocks == len(frame.blocks):
            events += self._give_up_before(index)
            events.append(self._complete(index, frame))
            self.next_index = index + 1
        return events

    def expire(self, before_index: int | None = None) -> list[Event]:
        """Give up every unresolved frame below `before_index` (all of them if None)."""
        if self.next_index is None:
            return []
        limit = before_index if before_index is not None else max(self._pending, default=-1) + 1
        return self._give_up_before(limit)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _add(self, frame: _Frame, h: DatagramHeader, shard: bytes) -> bool:
        if (
            h.frame_bytes != frame.frame_bytes
            or h.block_count != len(frame.blocks)
            or frame.sizes[h.block_index] != h.data_shards
        ):
            self.inconsistent += 1
            return False
        block = frame.blocks[h.block_index]
        if block is None:
            block = frame.blocks[h.block_index] = _Block(h.data_shards, h.parity_shards)
        elif block.m != h.parity_shards:
            self.inconsistent += 1
            return False
        if len(block.shards) >= block.k or h.shard_index in block.shards:
            return False  # already decodable, or a duplicate: nothing to add
        block.shards[h.shard_index] = shard
        if len(block.shards) == block.k:
            frame.ready_blocks += 1
        return True

    def _complete(self, index: int, frame: _Frame) -> FrameDone:
        del self._pending[index]
        parts: list[bytes] = []
        recovered = 0
        for block in frame.blocks:
            assert block is not None
            recovered += sum(1 for i in range(block.k) if i not in block.shards)
            parts.extend(recover_block(block.k, block.m, block.shards))
        self.fec_recovered += recovered
        self.frames_done += 1
        data = b"".join(parts)[: frame.frame_bytes]
        return FrameDone(index, data, frame.flags, recovered)

    def _give_up_before(self, limit: int) -> list[Event]:
        """Resolve every frame in [next_index, limit) as lost."""
        start = self.next_index
        if start is None or limit <= start:
            return []
        events: list[Event] = []
        if limit - start > MAX_REPORTED_GAP:
            for index in [i for i in self._pending if i < limit]:
                del self._pending[index]
            events.append(FrameLost(start, limit - start, "gap"))
        else:
            run_start = None  # first index of a run of frames with no datagram at all
            for index in range(start, limit):
                if self._pending.pop(index, None) is not None:
                    if run_start is not None:
                        events.append(FrameLost(run_start, index - run_start, "missing"))
                        run_start = None
                    events.append(FrameLost(index, 1, "incomplete"))
                elif run_start is None:
                    run_start = index
            if run_start is not None:
                events.append(FrameLost(run_start, limit - run_start, "missing"))
        self.frames_lost += sum(e.count for e in events if isinstance(e, FrameLost))
        self.next_index = limit
        return events
