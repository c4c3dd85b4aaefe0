"""Forward error correction layout: how a frame becomes blocks of shards, and back.

A frame of F bytes is cut into n = ceil(F / S) data shards of S bytes (the last one
zero-padded). Shards are grouped into ceil(n / MAX_DATA_SHARDS) blocks of nearly equal
size; each block of k data shards gets m parity shards, Reed-Solomon over GF(2^8)
(zfec): any k of its k + m shards rebuild the block.

m = ceil(k * fec_percent / 100), at least MIN_PARITY when FEC is on.
The layout is a pure function of (F, S), so a receiver derives it from any one header.
"""

from __future__ import annotations

import math
from functools import lru_cache

import zfec

MAX_DATA_SHARDS = 100
MIN_PARITY = 2
MAX_FEC_PERCENT = 100


def parity_count(k: int, fec_percent: int) -> int:
    if fec_percent <= 0:
        return 0
    return max(math.ceil(k * fec_percent / 100), MIN_PARITY)


def block_sizes(frame_bytes: int, shard_size: int) -> list[int]:
    """Data shards per block for a frame (first blocks take the remainder)."""
    n = max(1, math.ceil(frame_bytes / shard_size))
    blocks = math.ceil(n / MAX_DATA_SHARDS)
    base, extra = divmod(n, blocks)
    return [base + (1 if i < extra else 0) for i in range(blocks)]


@lru_cache(maxsize=256)
def _encoder(k: int, n: int) -> zfec.Encoder:
    return zfec.Encoder(k, n)


@lru_cache(maxsize=256)
def _decoder(k: int, n: int) -> zfec.Decoder:
    return zfec.Decoder(k, n)


def encode_parity(data_shards: tuple[bytes, ...], m: int) -> list[bytes]:
    """Parity shards m for equal-sized data shards."""
    if m == 0:
        return []
    k = len(data_shards)
    parity: list[bytes] = _encoder(k, k + m).encode(data_shards, tuple(range(k, k + m)))
    return parity


def recover_block(k: int, m: int, shards: dict[int, bytes]) -> list[bytes]:
    """The k data shards of a block from any k of its shards (index -> bytes)."""
    if all(i in shards for i in range(k)):
        return [shards[i] for i in range(k)]
    if len(shards) < k:
        raise ValueError(f"block needs {k} shards, has {len(shards)}")
    chosen = sorted(shards)[:k]
    # Tuples, not lists: zfec reorders a list argument in place.
    data: list[bytes] = _decoder(k, k + m).decode(tuple(shards[i] for i in chosen), tuple(chosen))
    return data
