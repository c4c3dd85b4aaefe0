"""Segment ownership and lifecycle: who unlinks, what attaching validates."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing import shared_memory
from pathlib import Path

import pytest

from ipc import (
    FRAME_RECORD,
    SEND_RECORD,
    ControlBlock,
    CountersBlock,
    Ring,
    Segment,
    SegmentError,
    SegmentKind,
    SegmentNotFoundError,
)
from tests.ipc.test_ring import derived_fields
from tests.support.shm import SHM_DIR


def exists(name: str) -> bool:
    return (SHM_DIR / name).exists()


def test_owner_close_unlinks_the_segment() -> None:
    ring = Ring.create(FRAME_RECORD, capacity=8)
    name = ring.name
    assert exists(name)
    ring.close()
    assert not exists(name)
    with pytest.raises(SegmentNotFoundError, match=name):
        Ring.attach(name, FRAME_RECORD)


def test_attacher_close_leaves_the_segment_to_its_owner() -> None:
    with Ring.create(FRAME_RECORD, capacity=8) as ring:
        Ring.attach(ring.name, FRAME_RECORD).close()
        assert exists(ring.name)


def test_close_is_idempotent_and_also_closes_the_writer_and_reader() -> None:
    ring = Ring.create(FRAME_RECORD, capacity=8)
    writer, reader = ring.writer(), ring.reader()
    ring.close()
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(*derived_fields(0))
    with pytest.raises(ValueError, match="closed"):
        reader.read()


def test_attaching_a_missing_segment_names_it() -> None:
    with pytest.raises(SegmentNotFoundError, match="pf_does_not_exist"):
        Ring.attach("pf_does_not_exist", FRAME_RECORD)


def test_attaching_a_foreign_segment_is_refused() -> None:
    foreign = shared_memory.SharedMemory(name="pf_test_foreign", create=True, size=4096)
    try:
        foreign.buf[:16] = b"definitely-not-u"
        with pytest.raises(SegmentError, match="not a punktfunk segment"):
            Ring.attach("pf_test_foreign", FRAME_RECORD)
    finally:
        foreign.close()
        foreign.unlink()


def test_attaching_a_tiny_foreign_segment_is_refused() -> None:
    foreign = shared_memory.SharedMemory(name="pf_test_tiny", create=True, size=8)
    try:
        with pytest.raises(SegmentError, match=r"too small|not a punktfunk"):
            ControlBlock.attach("pf_test_tiny")
    finally:
        foreign.close()
        foreign.unlink()


def test_attaching_with_the_wrong_layout_is_refused() -> None:
    with Ring.create(FRAME_RECORD, capacity=8) as ring:
        with pytest.raises(SegmentError, match="holds FRAME_RING, expected SEND_RING"):
            Ring.attach(ring.name, SEND_RECORD)
        with pytest.raises(SegmentError, match="expected COUNTERS"):
            CountersBlock.attach(ring.name)


def test_attaching_a_segment_of_another_layout_version_is_refused() -> None:
    segment = Segment.create(SegmentKind.CONTROL, 64)
    try:
        segment._shm.buf[8:10] = (99).to_bytes(2, "little")
        with pytest.raises(SegmentError, match="layout version 99"):
            ControlBlock.attach(segment.name)
    finally:
        segment.close()


def _write_forever(name: str, ready: mp.synchronize.Event) -> None:
    ring = Ring.attach(name, FRAME_RECORD)
    write = ring.writer().write
    seq = 0
    ready.set()
    while True:
        write(*derived_fields(seq))
        seq += 1


def test_a_producer_killed_mid_write_never_corrupts_the_reader() -> None:
    ring = Ring.create(FRAME_RECORD, capacity=32)
    name = ring.name
    reader = ring.reader()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    producer = ctx.Process(target=_write_forever, args=(name, ready))
    producer.start()
    assert ready.wait(30)
    time.sleep(0.2)
    assert producer.pid is not None
    os.kill(producer.pid, signal.SIGKILL)
    producer.join(10)
    assert producer.exitcode == -signal.SIGKILL
    batch = reader.read()
    seqs = batch["seq"]
    assert len(seqs) > 0
    assert batch["frame_index"].tolist() == [s * 3 for s in seqs.tolist()]
    ring.close()
    assert not exists(name)


RESOURCE_TRACKER_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp
    from ipc import FRAME_RECORD, Ring, ControlBlock, CountersBlock, Counter

    def child(ring_name, ctl_name, ctr_name):
        ring = Ring.attach(ring_name, FRAME_RECORD)
        ring.writer().write(1, 0, 0, 0, 0, 0, 0, 0)
        ring.close()
        ctl = ControlBlock.attach(ctl_name)
        assert ctl.measuring()
        ctl.close()
        ctr = CountersBlock.attach(ctr_name)
        ctr.add(Counter.BYTES_SENT, 5)
        ctr.close()

    if __name__ == "__main__":
        ring = Ring.create(FRAME_RECORD, 8)
        ctl = ControlBlock.create(perf=True)
        ctr = CountersBlock.create()
        p = mp.get_context("spawn").Process(target=child, args=(ring.name, ctl.name, ctr.name))
        p.start(); p.join()
        assert p.exitcode == 0
        assert ctr.get(Counter.BYTES_SENT) == 5
        ring.close(); ctl.close(); ctr.close()
        print("done")
    """
)


def test_a_full_owner_and_child_lifecycle_prints_no_resource_tracker_warnings(
    tmp_path: Path,
) -> None:
    script = tmp_path / "lifecycle.py"
    script.write_text(RESOURCE_TRACKER_SCRIPT)
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert "resource_tracker" not in result.stderr
    assert "leaked" not in result.stderr


def test_an_unrelated_process_attaching_does_not_unlink_the_owners_segment() -> None:
    # bpo-39959: on Python < 3.13 a plain attach registers with the attacher's own
    # resource tracker, which unlinks the segment when that process exits.
    ctl = ControlBlock.create(perf=True)
    try:
        code = (
            "from ipc import ControlBlock\n"
            f"c = ControlBlock.attach({ctl.name!r})\n"
            "print(c.perf)\n"
            "c.close()\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "True"
        assert "resource_tracker" not in result.stderr
        assert exists(ctl.name)
    finally:
        ctl.close()


def test_segments_created_by_this_run_carry_its_tag() -> None:
    from tests.support.shm import RUN_TAG

    control = ControlBlock.create()
    try:
        assert control.name.startswith(f"pf_{RUN_TAG}")
    finally:
        control.close()
