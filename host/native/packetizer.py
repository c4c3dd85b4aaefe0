"""Frame -> sealed datagrams (the send side of the FEC layout in `fec`)."""

from __future__ import annotations

from host.native.fec import MAX_FEC_PERCENT, block_sizes, encode_parity, parity_count
from host.native.wire import HEADER_SIZE, TAG_SIZE, Sealer

DEFAULT_SHARD_SIZE = 1200  # 32 header + 1200 + 16 tag + IP/UDP = 1276 bytes on a 1500 MTU


class Packetizer:
    def __init__(self, sealer: Sealer, shard_size: int, fec_percent: int) -> None:
        if not 64 <= shard_size <= 65000 - HEADER_SIZE - TAG_SIZE:
            raise ValueError(f"shard size {shard_size} out of range")
        if not 0 <= fec_percent <= MAX_FEC_PERCENT:
            raise ValueError(f"FEC percent {fec_percent} out of range 0..{MAX_FEC_PERCENT}")
        self.sealer = sealer
        self.shard_size = shard_size
        self.fec_percent = fec_percent

    def packetize(self, frame_index: int, frame_flags: int, data: bytes) -> tuple[list[bytes], int]:
        """All datagrams of one frame, block by block (data shards, then parity),
        and the number of parity shards among them."""
        size = self.shard_size
        total = len(data)
        sizes = block_sizes(total, size)
        count = len(sizes)
        seal = self.sealer.seal
        out: list[bytes] = []
        parity_total = 0
        offset = 0
        for block, k in enumerate(sizes):
            shards = []
            for _ in range(k):
                shard = data[offset : offset + size]
                if len(shard) < size:
                    shard = shard.ljust(size, b"\0")
                shards.append(shard)
                offset += size
            m = parity_count(k, self.fec_percent)
            for i, shard in enumerate(shards):
                out.append(seal(frame_flags, frame_index, total, block, count, i, k, m, shard))
            for j, shard in enumerate(encode_parity(tuple(shards), m)):
                out.append(seal(frame_flags, frame_index, total, block, count, k + j, k, m, shard))
            parity_total += m
        return out, parity_total
