"""The metrics ring: cross-process stress, and a model for wrap-around and partial reads."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ipc import FRAME_RECORD, SEND_RECORD, Ring

MASK32 = 0xFFFF_FFFF


def derived_fields(seq: int) -> tuple[int, ...]:
    """Every payload field is a different function of seq, so a record stitched
    together from two writes cannot pass the check."""
    return (
        (seq * 2654435761) & MASK32,  # session_id
        (seq * 7 + 3) & MASK32,  # flags
        seq * 3,  # frame_index
        seq ^ 0x0123_4567_89AB_CDEF,  # capture_ts_ns
        (seq * 13) & MASK32,  # capture_us
        (seq + 17) & MASK32,  # submit_us
        (seq * 31 + 5) & MASK32,  # encode_us
        (~seq) & MASK32,  # bytes
    )


def expected_columns(seq: np.ndarray) -> dict[str, np.ndarray]:
    s = seq.astype(np.uint64)
    m = np.uint64(MASK32)
    return {
        "session_id": (s * np.uint64(2654435761)) & m,
        "flags": (s * np.uint64(7) + np.uint64(3)) & m,
        "frame_index": s * np.uint64(3),
        "capture_ts_ns": s ^ np.uint64(0x0123_4567_89AB_CDEF),
        "capture_us": (s * np.uint64(13)) & m,
        "submit_us": (s + np.uint64(17)) & m,
        "encode_us": (s * np.uint64(31) + np.uint64(5)) & m,
        "bytes": (~s) & m,
    }


def _produce(name: str, total: int, started: mp.synchronize.Event) -> None:
    ring = Ring.attach(name, FRAME_RECORD)
    write = ring.writer().write
    started.set()
    for seq in range(total):
        write(*derived_fields(seq))
    ring.close()


def test_reader_never_accepts_torn_or_missequenced_records_across_processes() -> None:
    total = 1_200_000
    ring = Ring.create(FRAME_RECORD, capacity=64)  # small, so the producer laps the reader
    reader = ring.reader()
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    producer = ctx.Process(target=_produce, args=(ring.name, total, started))
    producer.start()
    try:
        assert started.wait(30)
        accepted, last_seq = 0, -1
        deadline = time.monotonic() + 120
        while reader.tail < total:
            assert time.monotonic() < deadline, "producer stalled"
            batch = reader.read()
            if len(batch) == 0:
                continue
            seqs = batch["seq"]
            assert seqs[0] > last_seq
            assert np.all(np.diff(seqs.astype(np.int64)) > 0)
            for column, expected in expected_columns(seqs).items():
                assert np.array_equal(batch[column], expected), f"torn record in {column}"
            last_seq = int(seqs[-1])
            accepted += len(batch)
        producer.join(30)
        assert producer.exitcode == 0
        assert accepted > 0
        # Every record is either accepted intact or counted as lost, never both.
        assert accepted + reader.overruns == total
    finally:
        if producer.is_alive():
            producer.kill()
        ring.close()


def test_send_records_round_trip_every_field() -> None:
    with Ring.create(SEND_RECORD, capacity=8) as ring:
        writer, reader = ring.writer(), ring.reader()
        writer.write(7, 2, 42, 1_000, 9_000, 120, 310, 3_400, 25_000, 21, 4)
        (record,) = reader.read()
        assert record["seq"] == 0
        assert [int(record[n]) for n in SEND_RECORD.payload_names] == [
            7,
            2,
            42,
            1_000,
            9_000,
            120,
            310,
            3_400,
            25_000,
            21,
            4,
        ]


operations = st.lists(
    st.one_of(st.integers(min_value=1, max_value=200), st.just("read")), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(capacity_log2=st.integers(min_value=0, max_value=6), ops=operations)
def test_wraparound_and_partial_reads_match_a_model(capacity_log2: int, ops: list) -> None:
    capacity = 1 << capacity_log2
    with Ring.create(FRAME_RECORD, capacity=capacity) as ring:
        writer, reader = ring.writer(), ring.reader()
        head = tail = lost = 0
        for op in [*ops, "read"]:
            if op == "read":
                got = reader.read()["seq"].tolist()
                # With the producer idle at `head`, the slot of record head - capacity is
                # the one it would overwrite next, so that record is never trusted.
                first = max(tail, head - capacity + 1)
                assert got == list(range(first, head))
                lost += first - tail if head > tail else 0
                tail = max(tail, head)
                assert reader.overruns == lost
            else:
                for _ in range(op):
                    writer.write(*derived_fields(head))
                    head += 1
        assert ring.head == head


def test_late_reader_starts_at_the_current_head_unless_asked_to_replay() -> None:
    with Ring.create(FRAME_RECORD, capacity=16) as ring:
        writer = ring.writer()
        for seq in range(5):
            writer.write(*derived_fields(seq))
        assert len(ring.reader().read()) == 0
        assert ring.reader(from_start=True).read()["seq"].tolist() == [0, 1, 2, 3, 4]


def test_writer_attached_later_continues_from_the_published_head() -> None:
    with Ring.create(FRAME_RECORD, capacity=16) as ring:
        reader = ring.reader()
        first = ring.writer()
        first.write(*derived_fields(0))
        with Ring.attach(ring.name, FRAME_RECORD) as again:
            again.writer().write(*derived_fields(1))
        assert reader.read()["seq"].tolist() == [0, 1]


def test_capacity_must_be_a_power_of_two() -> None:
    import pytest

    with pytest.raises(ValueError, match="power of two"):
        Ring.create(FRAME_RECORD, capacity=48)
