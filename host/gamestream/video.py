"""The GameStream video wire format: an encoded frame <-> RTP datagrams with FEC (sans-I/O).

What Moonlight (moonlight-common-c `VideoStream.c`, `RtpVideoQueue.c`,
`VideoDepacketizer.c`, `Video.h`) expects of a host in Sunshine mode (appversion
7.1.431.-1), and how `VideoPacketizer` meets it:

- Every datagram is exactly `packet_size + 16` bytes (`packet_size` is the client's
  `x-nv-video[0].packetSize`): RTP header (12 bytes, big-endian: 0x90 = version 2 with the
  extension bit, payload type 0, sequence number, 90 kHz timestamp, SSRC), 4 reserved zero
  bytes, the 16-byte little-endian NV video header, then `packet_size - 16` payload bytes.
  The client checks the size of every packet but a block's last data shard, and rebuilds
  lost shards with Reed-Solomon over the whole datagram (nanors, see `fec`).
- NV video header: stream packet index << 8 (the client keeps 24 bits and wants it to grow
  by one from packet to packet within a block), frame index, flags (1 picture data,
  2 = last data shard of a block, 4 = first data shard of a block), a reserved byte,
  multi-FEC flags (0x10), multi-FEC blocks (block number << 4 | last block number << 6)
  and fecInfo (shard index << 12 | data shards << 22 | FEC percent << 4).
- A frame is the 8-byte frame header (0x01, host processing latency in 0.1 ms LE16, frame
  type 1 P / 2 IDR / 5 P after reference invalidation, LE16 length of the last shard's
  payload, 2 zero bytes) followed by the Annex B access unit, cut into payload-sized data
  shards; the last is zero-padded and sent full size (as Sunshine does), its real length
  is in the frame header.
- Shards form 1..4 FEC blocks; a block is its data shards then its parity shards, with
  consecutive sequence numbers (the client derives the block's first sequence number from
  the shard index). The client computes a block's parity count as
  ceil(data shards * percent / 100), so that is exactly how many we send; when the minimum
  parity count raises it, the percent in the header is raised to match. A frame too big
  for four blocks of at most 255 shards goes without FEC (up to 1023 data shards a block).
- Parity covers the payload and the header fields a client keeps from a rebuilt shard
  (stream packet index, flags, multi-FEC flags); the routing fields (RTP header, frame
  index, multi-FEC blocks, fecInfo) are written into every shard after encoding, and the
  client overwrites them in a rebuilt shard.

`VideoDepacketizer` is the receiving side for our own tests and tools: datagrams in any
order, some lost, in; whole frames out.
"""

from __future__ import annotations

import enum
import math
import struct
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from host.gamestream import fec

DEFAULT_PACKET_SIZE = 1392
RTP_HEADER_SIZE = 16  # 12 bytes of RTP plus 4 reserved (the client's MAX_RTP_HEADER_SIZE)
NV_HEADER_SIZE = 16
HEADER_SIZE = RTP_HEADER_SIZE + NV_HEADER_SIZE
FRAME_HEADER_SIZE = 8
MIN_PACKET_SIZE = NV_HEADER_SIZE + FRAME_HEADER_SIZE + 1
MAX_PACKET_SIZE = 65507 - RTP_HEADER_SIZE  # one UDP datagram

RTP_VERSION_2 = 0x80
RTP_EXTENSION = 0x10
FLAG_PICTURE_DATA = 0x1
FLAG_END_OF_BLOCK = 0x2
FLAG_START_OF_BLOCK = 0x4
MULTI_FEC_FLAGS = 0x10
FRAME_HEADER_TYPE = 0x01

MAX_FEC_BLOCKS = 4  # two bits of block number
MAX_FEC_PERCENT = 255  # eight bits in fecInfo
MAX_SHARDS_WITHOUT_FEC = 1023  # ten bits of shard index and data-shard count
RTP_CLOCK_HZ = 90_000

_RTP = struct.Struct(">BBHII")
_NV = struct.Struct("<IIBBBBI")
_FRAME_HEADER = struct.Struct("<BHBHH")

# The 32 header bytes of a datagram as numpy fields, so one assignment sets a field in
# every shard of a frame.
_HEADER_FIELDS: list[tuple[str, str]] = [
    ("rtp_flags", "u1"),
    ("payload_type", "u1"),
    ("sequence", ">u2"),
    ("timestamp", ">u4"),
    ("ssrc", ">u4"),
    ("reserved", "V4"),
    ("stream_packet_index", "<u4"),
    ("frame_index", "<u4"),
    ("flags", "u1"),
    ("nv_reserved", "u1"),
    ("multi_fec_flags", "u1"),
    ("multi_fec_blocks", "u1"),
    ("fec_info", "<u4"),
]

_U8Array = npt.NDArray[np.uint8]


class VideoWireError(ValueError):
    """A frame the wire format cannot carry, or a datagram that is not one of ours."""


class FrameTooLargeError(VideoWireError):
    """More data shards than four FEC blocks can number."""


class FrameType(enum.IntEnum):
    """The frame header's frame type byte."""

    P = 1
    IDR = 2
    P_AFTER_INVALIDATION = 5


@dataclass(frozen=True)
class FecBlock:
    """One FEC block of a frame: its data and parity shard counts and the header percent."""

    data_shards: int
    parity_shards: int
    fec_percent: int

    @property
    def shards(self) -> int:
        return self.data_shards + self.parity_shards


def client_parity_count(data_shards: int, fec_percent: int) -> int:
    """The parity count a client derives from fecInfo: ceil(data * percent / 100)."""
    return (data_shards * fec_percent + 99) // 100


def block_fec(data_shards: int, fec_percent: int, min_parity: int) -> FecBlock:
    """The FEC of one block: `fec_percent`, raised when it would give fewer than `min_parity`
    parity shards (the field is 8 bits, so a block of k data shards can announce at most
    ceil(2.55 k) parity shards); FEC percent 0 means no parity at all."""
    if fec_percent == 0:
        return FecBlock(data_shards, 0, 0)
    percent = fec_percent
    if client_parity_count(data_shards, percent) < min_parity:
        # The smallest percent whose ceil(k * percent / 100) reaches the minimum.
        percent = min(MAX_FEC_PERCENT, 100 * (min_parity - 1) // data_shards + 1)
    return FecBlock(data_shards, client_parity_count(data_shards, percent), percent)


@lru_cache(maxsize=64)
def max_data_shards_per_block(fec_percent: int, min_parity: int) -> int:
    """The most data shards a block can hold so that data + parity <= 255."""
    for data_shards in range(fec.MAX_SHARDS, 0, -1):
        if block_fec(data_shards, fec_percent, min_parity).shards <= fec.MAX_SHARDS:
            return data_shards
    raise VideoWireError(f"no block fits FEC {fec_percent}% with {min_parity} parity shards")


def plan_blocks(data_shards: int, fec_percent: int, min_parity: int) -> tuple[FecBlock, ...]:
    """How a frame of `data_shards` shards splits into FEC blocks (as even as possible)."""
    per_block = max_data_shards_per_block(fec_percent, min_parity)
    count = -(-data_shards // per_block)
    if count > MAX_FEC_BLOCKS:
        # Like Sunshine: a frame too big for four FEC blocks goes without FEC.
        fec_percent = 0
        count = -(-data_shards // MAX_SHARDS_WITHOUT_FEC)
        if count > MAX_FEC_BLOCKS:
            raise FrameTooLargeError(
                f"a frame of {data_shards} shards exceeds {MAX_FEC_BLOCKS} blocks of "
                f"{MAX_SHARDS_WITHOUT_FEC}; raise the packet size or lower the bitrate"
            )
    base, extra = divmod(data_shards, count)
    return tuple(
        block_fec(base + (1 if block < extra else 0), fec_percent, min_parity)
        for block in range(count)
    )


def host_latency_field(host_latency_us: int) -> int:
    """Host processing latency in the frame header's 0.1 ms units (rounded, saturating)."""
    return min(0xFFFF, max(0, (host_latency_us + 50) // 100))


def rtp_timestamp(capture_ns: int, epoch_ns: int) -> int:
    """The 90 kHz RTP timestamp of a frame captured at `capture_ns` (same clock as epoch)."""
    return round((capture_ns - epoch_ns) * RTP_CLOCK_HZ / 1_000_000_000) & 0xFFFF_FFFF


@dataclass(frozen=True)
class PacketizedFrame:
    """All datagrams of one frame, back to back in one buffer, in send order."""

    buffer: _U8Array  # (datagrams, datagram_size) uint8
    first_sequence: int
    blocks: tuple[FecBlock, ...]

    @property
    def datagram_size(self) -> int:
        return int(self.buffer.shape[1])

    @property
    def parity_shards(self) -> int:
        return sum(block.parity_shards for block in self.blocks)

    def __len__(self) -> int:
        return int(self.buffer.shape[0])

    def __getitem__(self, index: int) -> bytes:
        row: _U8Array = self.buffer[index]
        return row.tobytes()

    def datagrams(self) -> list[bytes]:
        return [row.tobytes() for row in self.buffer]

    def contiguous(self) -> memoryview:
        """Every datagram, equally sized, in one buffer (for UDP segmentation offload)."""
        return self.buffer.data.cast("B")


class VideoPacketizer:
    """Turns access units into GameStream video datagrams; owns the sequence counters."""

    def __init__(
        self,
        packet_size: int = DEFAULT_PACKET_SIZE,
        fec_percent: int = 20,
        min_fec_packets: int = 0,
        ssrc: int = 0,
        first_sequence: int = 0,
    ) -> None:
        if not MIN_PACKET_SIZE <= packet_size <= MAX_PACKET_SIZE:
            raise VideoWireError(
                f"packet size {packet_size} outside {MIN_PACKET_SIZE}..{MAX_PACKET_SIZE}"
            )
        if not 0 <= fec_percent <= MAX_FEC_PERCENT:
            raise VideoWireError(f"FEC percent {fec_percent} outside 0..{MAX_FEC_PERCENT}")
        if not 0 <= min_fec_packets < fec.MAX_SHARDS:
            raise VideoWireError(f"minimum FEC packets {min_fec_packets} outside 0..254")
        self.packet_size = packet_size
        self.fec_percent = fec_percent
        self.min_fec_packets = min_fec_packets
        self.ssrc = ssrc & 0xFFFF_FFFF
        # One counter for both: the RTP sequence number is its low 16 bits and the stream
        # packet index its low 24, so both stay consecutive across frames and wraps.
        self._packet_counter = first_sequence & 0xFFFF
        self._row_dtype = np.dtype([*_HEADER_FIELDS, ("payload", f"V{self.payload_size}")])

    @property
    def payload_size(self) -> int:
        """Frame bytes per datagram."""
        return self.packet_size - NV_HEADER_SIZE

    @property
    def datagram_size(self) -> int:
        return self.packet_size + RTP_HEADER_SIZE

    @property
    def next_sequence(self) -> int:
        return self._packet_counter & 0xFFFF

    def packetize(
        self,
        access_unit: bytes | bytearray | memoryview,
        *,
        frame_index: int,
        is_idr: bool,
        host_latency_us: int,
        timestamp_90khz: int,
        ref_invalidated: bool = False,
    ) -> list[bytes]:
        """The datagrams of one frame, in send order (see `packetize_frame`)."""
        return self.packetize_frame(
            access_unit,
            frame_index=frame_index,
            is_idr=is_idr,
            host_latency_us=host_latency_us,
            timestamp_90khz=timestamp_90khz,
            ref_invalidated=ref_invalidated,
        ).datagrams()

    def packetize_frame(
        self,
        access_unit: bytes | bytearray | memoryview,
        *,
        frame_index: int,
        is_idr: bool,
        host_latency_us: int,
        timestamp_90khz: int,
        ref_invalidated: bool = False,
    ) -> PacketizedFrame:
        """Cut one Annex B access unit into datagrams, add parity, fill every header.

        `frame_index` is the client's frame number (the client starts at 1; u32),
        `host_latency_us` the capture-to-send time the client shows as host processing
        latency, `timestamp_90khz` the RTP timestamp (see `rtp_timestamp`). A P-frame that
        follows a reference-frame invalidation is marked with `ref_invalidated`.
        """
        unit = np.frombuffer(access_unit, dtype=np.uint8)
        if unit.size == 0:
            raise VideoWireError("an access unit must not be empty")
        payload = self.payload_size
        stream_size = FRAME_HEADER_SIZE + unit.size
        data_shards = -(-stream_size // payload)
        blocks = plan_blocks(data_shards, self.fec_percent, self.min_fec_packets)
        last_payload = stream_size - (data_shards - 1) * payload
        if is_idr:
            frame_type = FrameType.IDR
        elif ref_invalidated:
            frame_type = FrameType.P_AFTER_INVALIDATION
        else:
            frame_type = FrameType.P

        stream = np.zeros(data_shards * payload, dtype=np.uint8)
        stream[:FRAME_HEADER_SIZE] = np.frombuffer(
            _FRAME_HEADER.pack(
                FRAME_HEADER_TYPE,
                host_latency_field(host_latency_us),
                frame_type,
                last_payload,
                0,
            ),
            dtype=np.uint8,
        )
        stream[FRAME_HEADER_SIZE:stream_size] = unit

        total = sum(block.shards for block in blocks)
        buffer = np.zeros((total, self.datagram_size), dtype=np.uint8)
        rows = buffer.view(self._row_dtype)[:, 0]
        counter = self._packet_counter

        # Per block: which shard of the block, its data-shard count and percent, by row.
        shard_index = np.empty(total, dtype=np.uint32)
        block_data = np.empty(total, dtype=np.uint32)
        block_percent = np.empty(total, dtype=np.uint32)
        block_number = np.empty(total, dtype=np.uint8)
        row = 0
        shard = 0
        for number, block in enumerate(blocks):
            data_rows = slice(row, row + block.data_shards)
            buffer[data_rows, HEADER_SIZE:] = stream[
                shard * payload : (shard + block.data_shards) * payload
            ].reshape(block.data_shards, payload)
            # Fields a client keeps from a rebuilt shard: set before the parity covers them.
            rows["stream_packet_index"][data_rows] = (
                (counter + row + np.arange(block.data_shards, dtype=np.uint32)) & 0xFFFFFF
            ) << 8
            flags = np.full(block.data_shards, FLAG_PICTURE_DATA, dtype=np.uint8)
            flags[0] |= FLAG_START_OF_BLOCK
            flags[-1] |= FLAG_END_OF_BLOCK
            rows["flags"][data_rows] = flags
            rows["multi_fec_flags"][data_rows] = MULTI_FEC_FLAGS
            if block.parity_shards:
                fec.encode(
                    buffer[data_rows],
                    block.parity_shards,
                    out=buffer[row + block.data_shards : row + block.shards],
                )
            block_rows = slice(row, row + block.shards)
            shard_index[block_rows] = np.arange(block.shards, dtype=np.uint32)
            block_data[block_rows] = block.data_shards
            block_percent[block_rows] = block.fec_percent
            block_number[block_rows] = number
            row += block.shards
            shard += block.data_shards

        # Routing fields, data and parity alike (they overwrite parity bytes, as in Sunshine).
        rows["rtp_flags"] = RTP_VERSION_2 | RTP_EXTENSION
        rows["payload_type"] = 0
        rows["sequence"] = (counter + np.arange(total, dtype=np.uint32)) & 0xFFFF
        rows["timestamp"] = timestamp_90khz & 0xFFFF_FFFF
        rows["ssrc"] = self.ssrc
        rows["frame_index"] = frame_index & 0xFFFF_FFFF
        rows["multi_fec_blocks"] = (block_number << 4) | ((len(blocks) - 1) << 6)
        rows["fec_info"] = (shard_index << 12) | (block_data << 22) | (block_percent << 4)

        self._packet_counter = (counter + total) & 0xFFFF_FFFF
        return PacketizedFrame(buffer=buffer, first_sequence=counter & 0xFFFF, blocks=blocks)


# --- the receiving side (tests and tools) ----------------------------------------------------


@dataclass(frozen=True)
class VideoHeader:
    """The header fields of one video datagram."""

    rtp_flags: int
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    stream_packet_index: int  # the 24 bits the client keeps
    frame_index: int
    flags: int
    multi_fec_flags: int
    block_number: int
    last_block_number: int
    shard_index: int
    data_shards: int
    fec_percent: int

    @property
    def parity_shards(self) -> int:
        return client_parity_count(self.data_shards, self.fec_percent)

    @property
    def is_parity(self) -> bool:
        return self.shard_index >= self.data_shards


def parse_header(datagram: bytes | bytearray | memoryview) -> VideoHeader:
    """The headers of a datagram, checked the way the client checks them."""
    if len(datagram) < HEADER_SIZE:
        raise VideoWireError(f"datagram of {len(datagram)} bytes is shorter than its headers")
    rtp_flags, payload_type, sequence, timestamp, ssrc = _RTP.unpack_from(datagram, 0)
    index, frame_index, flags, _, multi_fec_flags, blocks, fec_info = _NV.unpack_from(
        datagram, RTP_HEADER_SIZE
    )
    if rtp_flags & 0xC0 != RTP_VERSION_2 or not rtp_flags & RTP_EXTENSION:
        raise VideoWireError(f"not an RTP v2 video datagram with extension (0x{rtp_flags:02x})")
    header = VideoHeader(
        rtp_flags=rtp_flags,
        payload_type=payload_type,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        stream_packet_index=(index >> 8) & 0xFFFFFF,
        frame_index=frame_index,
        flags=flags,
        multi_fec_flags=multi_fec_flags,
        block_number=(blocks >> 4) & 0x3,
        last_block_number=(blocks >> 6) & 0x3,
        shard_index=(fec_info >> 12) & 0x3FF,
        data_shards=(fec_info >> 22) & 0x3FF,
        fec_percent=(fec_info >> 4) & 0xFF,
    )
    if header.data_shards == 0:
        raise VideoWireError("fecInfo announces a block without data shards")
    if header.block_number > header.last_block_number:
        raise VideoWireError(
            f"block {header.block_number} of a frame whose last block is {header.last_block_number}"
        )
    if header.shard_index >= header.data_shards + header.parity_shards:
        raise VideoWireError(
            f"shard {header.shard_index} outside a block of {header.data_shards} + "
            f"{header.parity_shards}"
        )
    if not header.is_parity and flags & ~(
        FLAG_PICTURE_DATA | FLAG_START_OF_BLOCK | FLAG_END_OF_BLOCK
    ):
        raise VideoWireError(f"unknown flags 0x{flags:02x} on a data shard")
    return header


@dataclass(frozen=True)
class FrameHeader:
    """The 8-byte header that starts a frame's payload."""

    host_latency_field: int  # 0.1 ms units
    frame_type: int
    last_payload_length: int

    @property
    def host_latency_us(self) -> int:
        return self.host_latency_field * 100


def parse_frame_header(payload: bytes | bytearray | memoryview) -> FrameHeader:
    header_type, latency, frame_type, last_length, _ = _FRAME_HEADER.unpack_from(payload, 0)
    if header_type != FRAME_HEADER_TYPE:
        raise VideoWireError(f"frame header type 0x{header_type:02x}, expected 0x01")
    return FrameHeader(latency, frame_type, last_length)


@dataclass(frozen=True)
class ReceivedFrame:
    """A frame put back together: the access unit and what its headers said."""

    frame_index: int
    frame_type: int
    host_latency_us: int
    timestamp_90khz: int
    access_unit: bytes
    datagrams: int
    recovered_shards: int


class _Block:
    def __init__(self, header: VideoHeader) -> None:
        self.data_shards = header.data_shards
        self.parity_shards = header.parity_shards
        self.fec_percent = header.fec_percent
        self.shards: list[bytes | None] = [None] * (self.data_shards + self.parity_shards)
        self.received = 0
        self.data: list[bytes] | None = None
        self.recovered = 0

    def add(self, header: VideoHeader, datagram: bytes) -> None:
        if (header.data_shards, header.fec_percent) != (self.data_shards, self.fec_percent):
            raise VideoWireError("datagrams of one FEC block disagree on its shape")
        if self.data is not None or self.shards[header.shard_index] is not None:
            return  # already complete, or a duplicate
        self.shards[header.shard_index] = datagram
        self.received += 1
        if self.received < self.data_shards:
            return
        data = self.shards[: self.data_shards]
        missing = sum(shard is None for shard in data)
        if missing == 0:
            # Also the path of blocks without FEC, which may exceed the code's 255 shards.
            self.data = [shard for shard in data if shard is not None]
        else:
            self.data = fec.decode(self.shards, self.data_shards, self.parity_shards)
            self.recovered = missing


class _Frame:
    def __init__(self, header: VideoHeader) -> None:
        self.block_count = header.last_block_number + 1
        self.timestamp = header.timestamp
        self.blocks: dict[int, _Block] = {}
        self.datagrams = 0

    def complete(self) -> bool:
        return len(self.blocks) == self.block_count and all(
            block.data is not None for block in self.blocks.values()
        )


class VideoDepacketizer:
    """Reassembles frames from video datagrams in any order, rebuilding lost shards.

    `receive` returns a `ReceivedFrame` when a datagram completes its frame, else None;
    it raises VideoWireError for a datagram that is not a well-formed video datagram.
    At most `max_pending_frames` incomplete frames are kept (the oldest is dropped).
    """

    def __init__(self, packet_size: int = DEFAULT_PACKET_SIZE, max_pending_frames: int = 8):
        self.datagram_size = packet_size + RTP_HEADER_SIZE
        self.payload_size = packet_size - NV_HEADER_SIZE
        self.max_pending_frames = max_pending_frames
        self._pending: OrderedDict[int, _Frame] = OrderedDict()
        self._done: OrderedDict[int, None] = OrderedDict()
        self.frames_dropped = 0

    def receive(self, datagram: bytes | bytearray | memoryview) -> ReceivedFrame | None:
        if len(datagram) > self.datagram_size:
            raise VideoWireError(f"datagram of {len(datagram)} bytes exceeds {self.datagram_size}")
        header = parse_header(datagram)
        if header.frame_index in self._done:
            return None
        frame = self._pending.get(header.frame_index)
        if frame is None:
            frame = self._pending[header.frame_index] = _Frame(header)
            while len(self._pending) > self.max_pending_frames:
                self._pending.popitem(last=False)
                self.frames_dropped += 1
        if header.last_block_number + 1 != frame.block_count:
            raise VideoWireError("datagrams of one frame disagree on its block count")
        block = frame.blocks.get(header.block_number)
        if block is None:
            block = frame.blocks[header.block_number] = _Block(header)
        # The client zero-pads a short datagram to full size before rebuilding, as do we.
        block.add(header, bytes(datagram).ljust(self.datagram_size, b"\0"))
        frame.datagrams += 1
        if not frame.complete():
            return None
        del self._pending[header.frame_index]
        self._done[header.frame_index] = None
        if len(self._done) > 4 * self.max_pending_frames:
            self._done.popitem(last=False)
        return self._assemble(header.frame_index, frame)

    def _assemble(self, frame_index: int, frame: _Frame) -> ReceivedFrame:
        shards: list[bytes] = []
        for number in range(frame.block_count):
            data = frame.blocks[number].data
            assert data is not None
            shards.extend(data)
        stream = b"".join(shard[HEADER_SIZE:] for shard in shards)
        header = parse_frame_header(stream)
        if not 0 < header.last_payload_length <= self.payload_size:
            raise VideoWireError(f"last payload length {header.last_payload_length} invalid")
        end = (len(shards) - 1) * self.payload_size + header.last_payload_length
        if end < FRAME_HEADER_SIZE:
            raise VideoWireError("frame shorter than its header")
        return ReceivedFrame(
            frame_index=frame_index,
            frame_type=header.frame_type,
            host_latency_us=header.host_latency_us,
            timestamp_90khz=frame.timestamp,
            access_unit=stream[FRAME_HEADER_SIZE:end],
            datagrams=frame.datagrams,
            recovered_shards=sum(block.recovered for block in frame.blocks.values()),
        )


def shard_count(access_unit_bytes: int, packet_size: int = DEFAULT_PACKET_SIZE) -> int:
    """Data shards an access unit of this size needs."""
    return math.ceil((FRAME_HEADER_SIZE + access_unit_bytes) / (packet_size - NV_HEADER_SIZE))
