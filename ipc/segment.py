"""Shared-memory segments with a self-describing header.

A segment is created (and later unlinked) by exactly one owner process; other processes
attach by name. Every segment starts with a 64-byte header naming what it holds, so an
attach to the wrong segment, an old layout or a foreign one fails with a clear error
instead of misreading memory.
"""

from __future__ import annotations

import os
import secrets
import struct
import sys
import threading
from enum import IntEnum
from multiprocessing import resource_tracker, shared_memory

MAGIC = b"PUNKTFNK"
VERSION = 2  # 2: SendRecord gained packetize_us
HEADER_SIZE = 64
NAME_PREFIX = "pf_"
# Optional tag in every segment name this process tree creates; a test run sets it so
# that its leak check looks at its own segments only.
TAG_ENV = "PUNKTFUNK_SHM_TAG"

# magic, version, kind, record_size, capacity, payload_size, owner_pid
_HEADER = struct.Struct("<8sHHIIQI")


class SegmentKind(IntEnum):
    FRAME_RING = 1
    SEND_RING = 2
    CONTROL = 3
    COUNTERS = 4
    AUDIO_RING = 5


class SegmentError(RuntimeError):
    """A segment is missing, foreign, or of another layout than the caller expects."""


class SegmentNotFoundError(SegmentError):
    pass


_register_lock = threading.Lock()


def _buf(shm: shared_memory.SharedMemory) -> memoryview:
    buf = shm.buf
    if buf is None:  # only after close()
        raise SegmentError(f"segment {shm.name!r} is closed")
    return buf


def _attach_untracked(name: str) -> shared_memory.SharedMemory:
    """Attach without registering with this process's resource tracker.

    Only the owner registers its segments, so that a crashed owner's segments are still
    reclaimed. An attaching process must not: on Python < 3.13 it would let its own
    tracker unlink a segment the owner still uses (bpo-39959).
    """
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg,unused-ignore]
    with _register_lock:
        original = resource_tracker.register
        resource_tracker.register = lambda name, rtype: None
        try:
            return shared_memory.SharedMemory(name=name)
        finally:
            resource_tracker.register = original


class Segment:
    """One shared-memory segment: header + payload.

    `payload` is a memoryview of everything after the header. Views derived from it
    must be released before `close()`; the classes built on segments (rings, control
    and counters blocks) do that in their own `close()`.
    """

    def __init__(
        self,
        shm: shared_memory.SharedMemory,
        kind: SegmentKind,
        record_size: int,
        capacity: int,
        payload_size: int,
        owner: bool,
    ) -> None:
        self._shm = shm
        self.name = shm.name.lstrip("/")
        self.kind = kind
        self.record_size = record_size
        self.capacity = capacity
        self.payload_size = payload_size
        self.owner = owner
        self._closed = False
        self.payload: memoryview = _buf(shm)[HEADER_SIZE : HEADER_SIZE + payload_size]

    @classmethod
    def create(
        cls,
        kind: SegmentKind,
        payload_size: int,
        *,
        record_size: int = 0,
        capacity: int = 0,
        name: str | None = None,
    ) -> Segment:
        if payload_size <= 0:
            raise ValueError("payload_size must be positive")
        tag = os.environ.get(TAG_ENV, "")
        name = name or (
            f"{NAME_PREFIX}{tag}{os.getpid()}_{secrets.token_hex(4)}_{kind.name.lower()}"
        )
        shm = shared_memory.SharedMemory(name=name, create=True, size=HEADER_SIZE + payload_size)
        _HEADER.pack_into(
            _buf(shm), 0, MAGIC, VERSION, kind, record_size, capacity, payload_size, os.getpid()
        )
        return cls(shm, kind, record_size, capacity, payload_size, owner=True)

    @classmethod
    def attach(
        cls,
        name: str,
        kind: SegmentKind,
        *,
        record_size: int | None = None,
    ) -> Segment:
        try:
            shm = _attach_untracked(name)
        except FileNotFoundError:
            raise SegmentNotFoundError(f"shared-memory segment {name!r} does not exist") from None
        try:
            if shm.size < HEADER_SIZE:
                raise SegmentError(f"segment {name!r} is too small to be a punktfunk segment")
            magic, version, got_kind, rsize, capacity, payload_size, _pid = _HEADER.unpack_from(
                _buf(shm), 0
            )
            if magic != MAGIC:
                raise SegmentError(f"segment {name!r} is not a punktfunk segment (bad magic)")
            if version != VERSION:
                raise SegmentError(
                    f"segment {name!r} has layout version {version}, this build reads {VERSION}"
                )
            if got_kind != kind:
                raise SegmentError(
                    f"segment {name!r} holds {_kind_name(got_kind)}, expected {kind.name}"
                )
            if record_size is not None and rsize != record_size:
                raise SegmentError(
                    f"segment {name!r} has {rsize}-byte records, expected {record_size}"
                )
            if HEADER_SIZE + payload_size > shm.size:
                raise SegmentError(f"segment {name!r} is shorter than its header claims")
        except BaseException:
            shm.close()
            raise
        return cls(shm, SegmentKind(got_kind), rsize, capacity, payload_size, owner=False)

    def close(self) -> None:
        """Unmap (and, for the owner, unlink) the segment. Idempotent.

        The owner unlinks first: the name must disappear even if a caller still holds a
        view that keeps the mapping alive.
        """
        if self._closed:
            return
        self._closed = True
        if self.owner:
            try:
                self._shm.unlink()
            except FileNotFoundError:
                # Someone removed it behind our back; forget it in the tracker anyway.
                resource_tracker.unregister(self._shm._name, "shared_memory")  # type: ignore[attr-defined]
        try:
            self.payload.release()
            self._shm.close()
        except BufferError as exc:
            raise SegmentError(
                f"segment {self.name!r} still has live views; release them before close()"
            ) from exc

    def __enter__(self) -> Segment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kind_name(kind: int) -> str:
    try:
        return SegmentKind(kind).name
    except ValueError:
        return f"unknown kind {kind}"
