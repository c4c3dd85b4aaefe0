"""The GameStream Reed-Solomon code: the field, nanors' Cauchy matrix, and byte-for-byte
agreement with nanors itself (encode and decode, both directions)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import zfec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.gamestream import fec
from tests.gamestream import nanors_ref

NANORS_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def slow_mul(a: int, b: int) -> int:
    """Shift-and-add multiplication modulo x^8 + x^4 + x^3 + x^2 + 1, independent of fec."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return product


def slow_inv(a: int) -> int:
    return next(b for b in range(1, 256) if slow_mul(a, b) == 1)


def slow_parity(data: list[bytes], parity_count: int) -> list[bytes]:
    """nanors' definition written out: parity j = sum_i inv((p + i) ^ j) * data_i."""
    size = len(data[0])
    parity = []
    for j in range(parity_count):
        row = bytearray(size)
        for i, shard in enumerate(data):
            coefficient = slow_inv((parity_count + i) ^ j)
            for position, byte in enumerate(shard):
                row[position] ^= slow_mul(coefficient, byte)
        parity.append(bytes(row))
    return parity


def random_shards(rng: random.Random, count: int, size: int) -> np.ndarray:
    return np.frombuffer(rng.randbytes(count * size), dtype=np.uint8).reshape(count, size)


# --- the field and the matrix ------------------------------------------------------------


def test_field_reduces_by_0x11d() -> None:
    assert fec.gf_mul(0x80, 2) == 0x1D
    assert fec.gf_mul(0x02, 0x8E) == 1
    assert all(fec.gf_mul(a, b) == slow_mul(a, b) for a in range(256) for b in (0, 1, 2, 0x53))


def test_every_nonzero_element_has_its_inverse() -> None:
    for a in range(1, 256):
        assert fec.gf_mul(a, fec.gf_inv(a)) == 1
    with pytest.raises(fec.FecError):
        fec.gf_inv(0)


@pytest.mark.parametrize(("data_count", "parity_count"), [(1, 1), (4, 2), (30, 6), (200, 55)])
def test_parity_matrix_is_nanors_cauchy_matrix(data_count: int, parity_count: int) -> None:
    matrix = fec.parity_matrix(data_count, parity_count)
    assert matrix.shape == (parity_count, data_count)
    for j in range(parity_count):
        for i in range(data_count):
            assert matrix[j, i] == slow_inv((parity_count + i) ^ j)


def test_parity_depends_on_the_parity_count() -> None:
    # inv((p + i) ^ j): a (k, p) code's first row is not the (k, p + 1) code's first row.
    assert not np.array_equal(fec.parity_matrix(10, 2)[0], fec.parity_matrix(10, 3)[0])


def test_encode_matches_the_written_out_definition() -> None:
    rng = random.Random(7)
    for data_count, parity_count, size in [(1, 1, 1), (3, 2, 13), (5, 4, 64), (12, 3, 9)]:
        data = random_shards(rng, data_count, size)
        expected = slow_parity([row.tobytes() for row in data], parity_count)
        assert [row.tobytes() for row in fec.encode(data, parity_count)] == expected


# --- byte-for-byte against nanors ---------------------------------------------------------


@st.composite
def code_shapes(draw: st.DrawFn) -> tuple[int, int, int]:
    data_count = draw(st.integers(1, 250))
    parity_count = draw(st.integers(1, min(64, 255 - data_count)))
    size = draw(st.one_of(st.integers(1, 70), st.integers(1, 1500), st.sampled_from([1408, 1024])))
    return data_count, parity_count, size


@NANORS_SETTINGS
@given(shape=code_shapes(), seed=st.integers(0, 2**32 - 1))
def test_parity_equals_nanors(
    nanors: nanors_ref.Nanors, shape: tuple[int, int, int], seed: int
) -> None:
    data_count, parity_count, size = shape
    data = random_shards(random.Random(seed), data_count, size)
    ours = [row.tobytes() for row in fec.encode(data, parity_count)]
    assert ours == nanors.encode([row.tobytes() for row in data], parity_count)


@pytest.mark.parametrize(
    ("data_count", "parity_count"), [(1, 254), (254, 1), (30, 6), (100, 20), (182, 37), (212, 43)]
)
def test_parity_equals_nanors_at_the_edges_and_video_sizes(
    nanors: nanors_ref.Nanors, data_count: int, parity_count: int
) -> None:
    data = random_shards(random.Random(data_count), data_count, 1408)
    ours = [row.tobytes() for row in fec.encode(data, parity_count)]
    assert ours == nanors.encode([row.tobytes() for row in data], parity_count)


@NANORS_SETTINGS
@given(shape=code_shapes(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_each_decoder_rebuilds_what_the_other_encoded(
    nanors: nanors_ref.Nanors, shape: tuple[int, int, int], seed: int, data: st.DataObject
) -> None:
    data_count, parity_count, size = shape
    total = data_count + parity_count
    source_rows = random_shards(random.Random(seed), data_count, size)
    source = [row.tobytes() for row in source_rows]
    lost = data.draw(st.sets(st.integers(0, total - 1), max_size=parity_count), label="lost")

    def drop(shards: list[bytes]) -> list[bytes | None]:
        return [None if i in lost else shard for i, shard in enumerate(shards)]

    # nanors encodes, we decode
    from_nanors = source + nanors.encode(source, parity_count)
    assert fec.decode(drop(from_nanors), data_count, parity_count) == source
    # we encode, nanors decodes
    ours = source + [row.tobytes() for row in fec.encode(source_rows, parity_count)]
    assert nanors.decode(drop(ours), data_count, parity_count) == source


# --- our own encode / decode contract ------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(shape=code_shapes(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_decode_rebuilds_any_loss_up_to_the_parity_count(
    shape: tuple[int, int, int], seed: int, data: st.DataObject
) -> None:
    data_count, parity_count, size = shape
    total = data_count + parity_count
    source = random_shards(random.Random(seed), data_count, size)
    shards: list[bytes | None] = [row.tobytes() for row in source]
    shards += [row.tobytes() for row in fec.encode(source, parity_count)]
    lost = data.draw(st.sets(st.integers(0, total - 1), max_size=parity_count), label="lost")
    for i in lost:
        shards[i] = None
    assert fec.decode(shards, data_count, parity_count) == [row.tobytes() for row in source]


def test_decode_with_one_shard_too_few_says_how_many_are_needed() -> None:
    source = random_shards(random.Random(1), 4, 32)
    shards: list[bytes | None] = [row.tobytes() for row in source]
    shards += [row.tobytes() for row in fec.encode(source, 2)]
    shards[0] = shards[2] = shards[5] = None
    with pytest.raises(fec.FecError, match="3 shards arrived, 4 needed"):
        fec.decode(shards, 4, 2)


def test_decode_rejects_unequal_lengths_and_wrong_slot_counts() -> None:
    with pytest.raises(fec.FecError, match="equally long"):
        fec.decode([b"ab", b"abc", None], 2, 1)
    with pytest.raises(fec.FecError, match="expected 3 shard slots"):
        fec.decode([b"ab", b"ab"], 2, 1)


@pytest.mark.parametrize(
    ("data_count", "parity_count", "message"),
    [(0, 1, "at least one data shard"), (200, 56, "exceed 255"), (3, -1, "negative")],
)
def test_encode_rejects_impossible_codes(data_count: int, parity_count: int, message: str) -> None:
    with pytest.raises(fec.FecError, match=message):
        fec.encode(np.zeros((max(data_count, 0), 8), dtype=np.uint8), parity_count)


def test_encode_rejects_anything_but_rows_of_bytes() -> None:
    with pytest.raises(fec.FecError, match="2-D uint8"):
        fec.encode(np.zeros((4, 8), dtype=np.uint16), 2)
    with pytest.raises(fec.FecError, match="2-D uint8"):
        fec.encode(np.zeros(8, dtype=np.uint8), 2)
    with pytest.raises(fec.FecError, match="shape"):
        fec.encode(np.zeros((4, 8), dtype=np.uint8), 2, out=np.zeros((2, 9), dtype=np.uint8))


def test_zero_parity_is_an_empty_result() -> None:
    assert fec.encode(np.ones((5, 40), dtype=np.uint8), 0).shape == (0, 40)


def test_encode_writes_into_the_given_buffer_and_accepts_strided_rows() -> None:
    rng = random.Random(3)
    block = random_shards(rng, 12, 1408).copy()
    frame = np.zeros((12 + 3, 1408), dtype=np.uint8)
    frame[:12] = block
    returned = fec.encode(frame[:12], 3, out=frame[12:])
    assert returned is frame[12:] or np.shares_memory(returned, frame)
    assert np.array_equal(frame[12:], fec.encode(block, 3))
    # A column slice is not contiguous: same parity as its copy.
    strided = block[:, 100:403]
    assert np.array_equal(fec.encode(strided, 3), fec.encode(strided.copy(), 3))


def test_zfec_parity_is_not_compatible() -> None:
    source_rows = random_shards(random.Random(5), 10, 64)
    zfec_parity = zfec.Encoder(10, 12).encode([row.tobytes() for row in source_rows])[10:]
    ours = [row.tobytes() for row in fec.encode(source_rows, 2)]
    assert zfec_parity != ours


def test_a_custom_parity_matrix_must_fit_the_code() -> None:
    data = np.zeros((4, 16), dtype=np.uint8)
    with pytest.raises(fec.FecError, match=r"shape \(2, 4\)"):
        fec.encode(data, 2, matrix=np.zeros((4, 2), dtype=np.uint8))
    with pytest.raises(fec.FecError, match=r"shape \(2, 4\)"):
        fec.decode([bytes(16)] * 6, 4, 2, matrix=np.zeros((2, 4), dtype=np.int64))


def test_a_singular_custom_matrix_says_the_shards_cannot_rebuild() -> None:
    ones = np.ones((2, 4), dtype=np.uint8)  # both parity rows alike: two losses are fatal
    data = random_shards(random.Random(2), 4, 16)
    shards: list[bytes | None] = [row.tobytes() for row in data]
    shards += [row.tobytes() for row in fec.encode(data, 2, matrix=ones)]
    shards[0] = shards[1] = None
    with pytest.raises(fec.FecError, match="singular"):
        fec.decode(shards, 4, 2, matrix=ones)
