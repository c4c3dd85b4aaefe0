"""Reed-Solomon erasure code of the GameStream streams, byte-compatible with nanors.

Moonlight rebuilds lost video and audio shards with nanors (`rs.c`): Reed-Solomon over
GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D, generator 2) and a
systematic Cauchy matrix. For `k` data and `p` parity shards, parity shard `j` is the sum
over data shards `i` of `inv((p + i) XOR j) * data[i]`: the coefficient depends on `p`, so
a (k, p) code is not a prefix of a (k, p + 1) code. zfec (Vandermonde) produces other
parity and cannot stand in.

The encoder works on whole rows at once. Multiplying a shard by a constant is linear over
GF(2), so `c * d = (c & 0x0F) * d XOR (c >> 4) * (16 * d)`; for every data shard we build
the 16 + 16 products with the nibble values (doubling tables, eight bytes per uint64 lane),
and a parity row is then the XOR of 2k gathered table rows. That is 32 table rows per data
shard plus two gathered rows per (parity, data) pair, all in numpy calls over whole rows.
The decoder inverts the k x k submatrix of the shards that arrived (Gauss-Jordan over the
field) and applies the same row kernel to rebuild only the missing data shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

GF_POLYNOMIAL = 0x11D
MAX_SHARDS = 255  # data + parity, nanors' DATA_SHARDS_MAX

U8Array = npt.NDArray[np.uint8]
_U64Array = npt.NDArray[np.uint64]
_IndexArray = npt.NDArray[np.intp]

# Gathered temporary kept under this many bytes per step, so it stays in the caches.
_GATHER_BUDGET_BYTES = 1 << 21


class FecError(ValueError):
    """A shard layout the code cannot handle (counts, sizes, too few shards to rebuild)."""


def _build_field() -> tuple[U8Array, U8Array, U8Array]:
    """exp (doubled, 510 entries), log and inverse tables of GF(2^8) / 0x11D."""
    exp = np.zeros(510, dtype=np.uint8)
    log = np.zeros(256, dtype=np.uint8)
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= GF_POLYNOMIAL
    exp[255:510] = exp[:255]
    inverse = np.zeros(256, dtype=np.uint8)
    inverse[1:] = exp[(255 - log[1:].astype(np.intp)) % 255]
    return exp, log, inverse


_EXP, _LOG, _INV = _build_field()


def _build_multiplication() -> U8Array:
    logs = _LOG.astype(np.intp)
    table: U8Array = _EXP[logs[:, None] + logs[None, :]]
    table[0, :] = 0
    table[:, 0] = 0
    return table


_MUL = _build_multiplication()  # 64 KiB; the decoder's row operations use it


def gf_mul(a: int, b: int) -> int:
    """Product of two field elements."""
    return int(_MUL[a, b])


def gf_inv(a: int) -> int:
    """Multiplicative inverse of a non-zero field element."""
    if not 0 < a < 256:
        raise FecError(f"{a} has no inverse in GF(2^8)")
    return int(_INV[a])


def _check_counts(data_count: int, parity_count: int) -> None:
    if data_count < 1:
        raise FecError(f"need at least one data shard, got {data_count}")
    if parity_count < 0:
        raise FecError(f"parity count must not be negative, got {parity_count}")
    if data_count + parity_count > MAX_SHARDS:
        raise FecError(
            f"{data_count} data + {parity_count} parity shards exceed {MAX_SHARDS} per block"
        )


@lru_cache(maxsize=256)
def parity_matrix(data_count: int, parity_count: int) -> U8Array:
    """The (parity_count, data_count) Cauchy coefficients nanors uses (read-only)."""
    _check_counts(data_count, parity_count)
    rows = np.arange(parity_count, dtype=np.intp)[:, None]
    columns = np.arange(data_count, dtype=np.intp)[None, :]
    matrix: U8Array = _INV[(parity_count + columns) ^ rows]
    matrix.setflags(write=False)
    return matrix


def _gather_index(matrix: U8Array) -> _IndexArray:
    """Row numbers into the nibble tables: entry 2i (low nibble) and 2i + 1 (high nibble)
    of column r name the table rows whose XOR is output row r's share of data shard i."""
    rows, count = matrix.shape
    coefficients = matrix.astype(np.intp)
    shard = np.arange(count, dtype=np.intp)
    index = np.empty((2 * count, rows), dtype=np.intp)
    index[0::2] = ((coefficients & 0x0F) * count + shard).T
    index[1::2] = ((16 + (coefficients >> 4)) * count + shard).T
    index.setflags(write=False)
    return index


@lru_cache(maxsize=256)
def _encode_index(data_count: int, parity_count: int) -> _IndexArray:
    return _gather_index(parity_matrix(data_count, parity_count))


_LOW7 = np.uint64(0x7F7F_7F7F_7F7F_7F7F)
_LOW_BITS = np.uint64(0x0101_0101_0101_0101)
_REDUCTION = np.uint64(GF_POLYNOMIAL & 0xFF)


def _times_x(source: _U64Array, target: _U64Array, scratch: _U64Array) -> None:
    """target = 2 * source in every byte lane (shift, then fold the carry with 0x1D)."""
    np.right_shift(source, 7, out=scratch)
    scratch &= _LOW_BITS
    scratch *= _REDUCTION  # 0 or 0x1D per byte: no carry into the next lane
    np.bitwise_and(source, _LOW7, out=target)
    target <<= 1
    target ^= scratch


def _nibble_tables(data: _U64Array) -> _U64Array:
    """(32 * k, words) rows: row v*k + i = v * data[i] for v < 16, and row (16 + v)*k + i =
    (16 v) * data[i]. Entry-major, so every step below is one contiguous numpy call."""
    count, words = data.shape
    tables = np.empty((32, count, words), dtype=np.uint64)
    scratch = np.empty((count, words), dtype=np.uint64)
    tables[0] = 0
    tables[16] = 0
    tables[1] = data
    # Powers of two first: 2, 4, 8 times the data, then 16, 32, 64, 128 times.
    _times_x(tables[1], tables[2], scratch)
    _times_x(tables[2], tables[4], scratch)
    _times_x(tables[4], tables[8], scratch)
    _times_x(tables[8], tables[17], scratch)
    _times_x(tables[17], tables[18], scratch)
    _times_x(tables[18], tables[20], scratch)
    _times_x(tables[20], tables[24], scratch)
    # Then every other nibble value as the XOR of one power of two and a smaller value.
    for base in (0, 16):
        for step in (2, 4, 8):
            np.bitwise_xor(
                tables[base + step][None],
                tables[base + 1 : base + step],
                out=tables[base + step + 1 : base + 2 * step],
            )
    return tables.reshape(32 * count, words)


def _apply(index: _IndexArray, data: _U64Array, out: _U64Array) -> None:
    """out[r] = XOR over the gathered nibble-table rows of column r of `index`."""
    pairs, rows = index.shape
    words = data.shape[1]
    tables = _nibble_tables(data)
    # Fancy indexing beats np.take(out=...) here: numpy copies whole contiguous rows.
    step = max(2, _GATHER_BUDGET_BYTES // max(1, rows * words * 8)) & ~1
    if step >= pairs:
        np.bitwise_xor.reduce(tables[index], axis=0, out=out)
        return
    partial = np.empty_like(out)
    np.bitwise_xor.reduce(tables[index[:step]], axis=0, out=out)
    for start in range(step, pairs, step):
        np.bitwise_xor.reduce(tables[index[start : start + step]], axis=0, out=partial)
        out ^= partial


def _as_words(shards: U8Array) -> tuple[_U64Array, int]:
    """A C-contiguous uint64 view of the rows, zero-padded to whole words (copying only
    when the layout or the length needs it), and the original row length."""
    count, size = shards.shape
    words = -(-size // 8)
    if size == words * 8 and shards.flags.c_contiguous:
        return shards.view(np.uint64), size
    padded = np.zeros((count, words * 8), dtype=np.uint8)
    padded[:, :size] = shards
    return padded.view(np.uint64), size


@lru_cache(maxsize=16)
def _custom_index(matrix_bytes: bytes, parity_count: int, data_count: int) -> _IndexArray:
    matrix = np.frombuffer(matrix_bytes, dtype=np.uint8).reshape(parity_count, data_count)
    return _gather_index(matrix)


def _custom_matrix(matrix: U8Array | None, data_count: int, parity_count: int) -> bytes | None:
    """The bytes of a caller's parity matrix (checked against the code's shape), or None."""
    if matrix is None:
        return None
    if matrix.shape != (parity_count, data_count) or matrix.dtype != np.uint8:
        raise FecError(f"parity matrix must be uint8 of shape {(parity_count, data_count)}")
    return matrix.tobytes()


def encode(
    data_shards: U8Array,
    parity_count: int,
    out: U8Array | None = None,
    matrix: U8Array | None = None,
) -> U8Array:
    """Parity shards for `data_shards` (k rows of equal length, uint8), as nanors makes them.

    Returns a (parity_count, size) uint8 array; with `out` (same shape, C-contiguous) the
    parity is written there and `out` is returned. `matrix` replaces the Cauchy
    coefficients (the audio stream uses a fixed 2 x 4 matrix of its own).
    """
    if data_shards.ndim != 2 or data_shards.dtype != np.uint8:
        raise FecError("data shards must be a 2-D uint8 array (one row per shard)")
    count, size = data_shards.shape
    _check_counts(count, parity_count)
    custom = _custom_matrix(matrix, count, parity_count)
    if out is None:
        out = np.empty((parity_count, size), dtype=np.uint8)
    elif out.shape != (parity_count, size) or out.dtype != np.uint8:
        raise FecError(f"parity buffer must be uint8 of shape {(parity_count, size)}")
    if parity_count == 0 or size == 0:
        return out
    words, _ = _as_words(data_shards)
    if custom is None:
        index = _encode_index(count, parity_count)
    else:
        index = _custom_index(custom, parity_count, count)
    if size % 8 == 0 and out.flags.c_contiguous:
        _apply(index, words, out.view(np.uint64))
    else:
        result = np.empty((parity_count, words.shape[1]), dtype=np.uint64)
        _apply(index, words, result)
        out[:] = result.view(np.uint8)[:, :size]
    return out


def _invert(matrix: U8Array) -> U8Array:
    """Inverse of a square matrix over GF(2^8) (Gauss-Jordan, rows as numpy vectors)."""
    size = matrix.shape[0]
    work = np.concatenate([matrix, np.eye(size, dtype=np.uint8)], axis=1)
    for column in range(size):
        pivots = np.nonzero(work[column:, column])[0]
        if pivots.size == 0:
            # Impossible for a Cauchy code; a caller's matrix may not be MDS.
            raise FecError("these shards cannot rebuild the block: their matrix is singular")
        pivot = column + int(pivots[0])
        if pivot != column:
            work[[column, pivot]] = work[[pivot, column]]
        work[column] = _MUL[_INV[work[column, column]], work[column]]
        factors = work[:, column].copy()
        factors[column] = 0
        others = np.nonzero(factors)[0]
        if others.size:
            work[others] ^= _MUL[factors[others][:, None], work[column][None, :]]
    return work[:, size:].copy()


@lru_cache(maxsize=64)
def _recovery(
    data_count: int, parity_count: int, present: tuple[int, ...], custom: bytes | None
) -> tuple[tuple[int, ...], tuple[int, ...], _IndexArray]:
    """For shards `present` (sorted, at least data_count of them): which shards feed the
    solve, which data shards are missing, and the gather index of their rebuild rows."""
    chosen = present[:data_count]
    missing = tuple(sorted(set(range(data_count)) - set(chosen)))
    if custom is None:
        parity = parity_matrix(data_count, parity_count)
    else:
        parity = np.frombuffer(custom, dtype=np.uint8).reshape(parity_count, data_count)
    full = np.concatenate([np.eye(data_count, dtype=np.uint8), parity])
    inverse = _invert(full[list(chosen)])
    return chosen, missing, _gather_index(inverse[list(missing)])


def decode(
    shards: Sequence[bytes | bytearray | memoryview | None],
    data_count: int,
    parity_count: int,
    matrix: U8Array | None = None,
) -> list[bytes]:
    """The `data_count` data shards, rebuilt from any `data_count` of the
    `data_count + parity_count` shards (None marks a lost one; all others equally long).
    `matrix`: the parity matrix the shards were encoded with, if not nanors' Cauchy one."""
    _check_counts(data_count, parity_count)
    custom = _custom_matrix(matrix, data_count, parity_count)
    if len(shards) != data_count + parity_count:
        raise FecError(f"expected {data_count + parity_count} shard slots, got {len(shards)}")
    present = tuple(i for i, shard in enumerate(shards) if shard is not None)
    if len(present) < data_count:
        raise FecError(f"{len(present)} shards arrived, {data_count} needed to rebuild the block")
    sizes = {len(shard) for shard in shards if shard is not None}
    if len(sizes) != 1:
        raise FecError(f"shards must be equally long, got lengths {sorted(sizes)}")
    size = sizes.pop()
    if all(shards[i] is not None for i in range(data_count)):
        return [bytes(shard) for shard in shards[:data_count] if shard is not None]
    chosen, missing, index = _recovery(data_count, parity_count, present, custom)
    stack = np.empty((data_count, -(-size // 8) * 8), dtype=np.uint8)
    stack[:, size:] = 0
    for row, shard_number in enumerate(chosen):
        shard = shards[shard_number]
        assert shard is not None
        stack[row, :size] = np.frombuffer(shard, dtype=np.uint8)
    rebuilt = np.empty((len(missing), stack.shape[1] // 8), dtype=np.uint64)
    _apply(index, stack.view(np.uint64), rebuilt)
    rebuilt_bytes = rebuilt.view(np.uint8)
    result: list[bytes] = []
    for i in range(data_count):
        shard = shards[i]
        if shard is None:
            result.append(rebuilt_bytes[missing.index(i), :size].tobytes())
        else:
            result.append(bytes(shard))
    return result
