"""Saved recordings already validated, remembered by file identity.

A saved recording never changes: the host writes a new file (a new inode) rather than
rewrite one. So once a file has decoded as a valid capture, its canonical JSON body, and
every view made from it (its columns, its summary, their gzip), can be served again for
as long as the file is the same one. "The same one" is its identity, from `fstat` on the
opened descriptor: device, inode, size, mtime and ctime. A file replaced, rewritten or
renamed over differs in at least one of these and is validated afresh; a deleted one is
not found before the cache is asked.

Timestamps are coarse (a kernel tick): a rewrite within the same tick as the write before
it could keep every stamp. So a file changed less than `SETTLE_NS` before it was read is
not remembered (it is validated again on each request until it has settled), as the
recordings index does with directory stamps.

The cache is bounded in bytes (bodies and views together), least recently used first out.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

CACHE_BYTES = 64 * 1024 * 1024
SETTLE_NS = 2_000_000_000


@dataclass(frozen=True)
class FileIdentity:
    """Which version of a file: any change to it changes one of these."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def settled(self, now_ns: int, settle_ns: int) -> bool:
        """Whether the file's last change is old enough that a later one would show."""
        return abs(now_ns - max(self.mtime_ns, self.ctime_ns)) >= settle_ns


@dataclass
class ValidRecording:
    """A recording file that decoded as a valid capture, and the views made from it."""

    identity: FileIdentity
    body: bytes  # the canonical JSON of its Capture
    views: dict[str, bytes] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.body) + sum(len(v) for v in self.views.values())


class RecordingCache:
    """`ValidRecording`s by recording id, at most `max_bytes` in total."""

    def __init__(self, max_bytes: int = CACHE_BYTES, settle_ns: int = SETTLE_NS) -> None:
        self.max_bytes = max_bytes
        self.settle_ns = settle_ns
        self._entries: OrderedDict[str, ValidRecording] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, recording_id: str, identity: FileIdentity) -> ValidRecording | None:
        """The remembered recording if it is of this very file; a stale one is dropped."""
        with self._lock:
            entry = self._entries.get(recording_id)
            if entry is None:
                return None
            if entry.identity != identity:
                self._drop(recording_id)
                return None
            self._entries.move_to_end(recording_id)
            return entry

    def put(self, recording_id: str, entry: ValidRecording) -> None:
        """Remember `entry` if its file has settled (see the module docstring)."""
        if not entry.identity.settled(time.time_ns(), self.settle_ns):
            return
        with self._lock:
            if recording_id in self._entries:
                self._drop(recording_id)
            self._entries[recording_id] = entry
            self._size += entry.nbytes
            self._evict()

    def view(
        self, recording_id: str, entry: ValidRecording, name: str, make: Callable[[], bytes]
    ) -> bytes:
        """`entry`'s view `name`, made by `make` the first time it is asked for."""
        made = entry.views.get(name)
        if made is not None:
            return made
        made = make()  # outside the lock: two threads may both make it, one result is kept
        with self._lock:
            kept = entry.views.setdefault(name, made)
            if kept is made and self._entries.get(recording_id) is entry:
                self._size += len(made)
                self._entries.move_to_end(recording_id)
                self._evict()
        return kept

    def discard(self, recording_id: str) -> None:
        with self._lock:
            if recording_id in self._entries:
                self._drop(recording_id)

    @property
    def size(self) -> int:
        """Bytes held (bodies and views)."""
        with self._lock:
            return self._size

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, recording_id: object) -> bool:
        with self._lock:
            return recording_id in self._entries

    # -- under the lock ----------------------------------------------------------------

    def _drop(self, recording_id: str) -> None:
        self._size -= self._entries.pop(recording_id).nbytes

    def _evict(self) -> None:
        while self._size > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))
