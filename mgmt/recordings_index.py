"""The listing of the captures dir, kept in memory so it stays fast with thousands of files.

`RecordingIndex` maps id -> meta for the recording files in one directory. It reads only
the head of each file (the meta comes first), once, and then answers from memory until
the directory changes; a file that is not a readable recording (foreign, truncated, a
directory, a FIFO) is skipped with one warning, not one per listing. Timestamps are
coarse, so entries whose stamps were too young to reveal a later change are re-checked
on each listing until they settle. Whoever writes or deletes through the store tells the
index (`add`, `remove`), so its own changes need no read back.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from mgmt.models import CaptureMeta, json_encoder
from mgmt.recording_ids import is_valid_id
from mgmt.recordings import MAX_RECORDING_BYTES, OPEN_FLAGS, SUFFIX, capture_decoder, read_all

log = logging.getLogger(__name__)

_HEAD_BYTES = 4096
_MAX_HEAD_BYTES = 64 * 1024
_META_PREFIX = b'{"meta":'
_SAMPLES_MARKER = b',"samples":['
# A directory or file stamp younger than this is not trusted to reveal a later change:
# timestamps are coarse (a kernel tick), so a change in the same tick keeps the stamp.
_RACY_NS = 2_000_000_000
_UNREADABLE = -1  # the dir stamp recorded while the captures dir cannot be read

_meta_decoder = msgspec.json.Decoder(CaptureMeta)


@dataclass(frozen=True)
class _Stamp:
    """Which version of a file an index entry describes."""

    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Stamp:
        return cls(st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Entry:
    stamp: _Stamp
    meta: CaptureMeta | None  # None: not a readable recording (warned about once)
    settled: bool  # its stamp was old enough to reveal later changes when read


class _BadFileError(Exception):
    pass


class RecordingIndex:
    """id -> meta for the files in the captures dir, refreshed only when the dir changes."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._dir_mtime_ns: int | None = None  # None: rescan on the next listing
        self._suspects: set[str] = set()  # entries to re-check on every listing
        self._listing: list[CaptureMeta] | None = None
        self._listing_json: bytes | None = None
        self._ignored_names: set[str] = set()

    def add(self, recording_id: str, meta: CaptureMeta, st: os.stat_result) -> None:
        """Recording `recording_id` was just written (`st` is its file's stat): no need to
        read it back."""
        with self._lock:
            self._entries[recording_id] = _Entry(_Stamp.of(st), meta, settled=True)
            self._suspects.discard(recording_id)
            self._dir_mtime_ns = None
            self._listing = self._listing_json = None

    def remove(self, recording_id: str) -> None:
        """Recording `recording_id` was deleted, or a delete failed: look again next time."""
        with self._lock:
            if self._entries.pop(recording_id, None) is not None:
                self._listing = self._listing_json = None
            self._suspects.discard(recording_id)
            self._dir_mtime_ns = None

    def listing(self) -> list[CaptureMeta]:
        """The readable recordings, newest first."""
        with self._lock:
            return list(self._refreshed_listing())

    def listing_json(self) -> bytes:
        """`listing()` encoded as JSON; cached until the directory changes."""
        with self._lock:
            listing = self._refreshed_listing()
            if self._listing_json is None:
                self._listing_json = json_encoder.encode(listing)
            return self._listing_json

    # -- refresh (called with the lock held) ---------------------------------------------

    def _refreshed_listing(self) -> list[CaptureMeta]:
        self._refresh()
        if self._listing is None:
            metas = [e.meta for e in self._entries.values() if e.meta is not None]
            metas.sort(key=lambda m: (m.started_unix_ms, m.id), reverse=True)
            self._listing = metas
            self._listing_json = None
        return self._listing

    def _refresh(self) -> None:
        try:
            dir_mtime_ns = os.stat(self._dir).st_mtime_ns
            if dir_mtime_ns == self._dir_mtime_ns:
                if self._suspects:
                    self._recheck_suspects()
                return
            self._rescan(dir_mtime_ns)
        except OSError as err:
            # The dir is gone or not a dir: nothing to list; say so once, not per request.
            if self._dir_mtime_ns != _UNREADABLE:
                log.warning("cannot read the captures dir %s: %s", self._dir, err.strerror)
            self._entries.clear()
            self._suspects.clear()
            self._dir_mtime_ns = _UNREADABLE
            self._listing = self._listing_json = None

    def _rescan(self, dir_mtime_ns: int) -> None:
        now_ns = time.time_ns()
        old = self._entries
        fresh: dict[str, _Entry] = {}
        ignored: set[str] = set()
        with os.scandir(self._dir) as it:
            for de in it:
                name = de.name
                if not name.endswith(SUFFIX):
                    continue  # the store's temp files and anything else that is not a recording
                recording_id = name[: -len(SUFFIX)]
                if not is_valid_id(recording_id) or not de.is_file(follow_symlinks=False):
                    ignored.add(name)
                    if name not in self._ignored_names:
                        log.warning(
                            "ignoring %s in %s: not a recording file name or not a regular file",
                            name,
                            self._dir,
                        )
                    continue
                previous = old.get(recording_id)
                if (
                    previous is None
                    or previous.stamp.inode != de.inode()
                    or recording_id in self._suspects
                ):
                    fresh[recording_id] = self._read(recording_id, previous, now_ns)
                else:
                    fresh[recording_id] = previous
        self._entries = fresh
        self._ignored_names = ignored
        self._suspects = {i for i, e in fresh.items() if e.meta is None or not e.settled}
        self._listing = self._listing_json = None
        # A stamp from the last moments may not show a change made in the same tick.
        racy = abs(now_ns - dir_mtime_ns) < _RACY_NS
        self._dir_mtime_ns = None if racy else dir_mtime_ns

    def _recheck_suspects(self) -> None:
        now_ns = time.time_ns()
        for recording_id in list(self._suspects):
            entry = self._entries[recording_id]
            try:
                st = os.lstat(self._dir / f"{recording_id}{SUFFIX}")
            except OSError:
                self._dir_mtime_ns = None  # gone: let a rescan sort it out
                self._refresh()
                return
            if _Stamp.of(st) != entry.stamp:
                entry = self._read(recording_id, entry, now_ns)
                self._entries[recording_id] = entry
                self._listing = self._listing_json = None
            elif entry.meta is not None and now_ns - entry.stamp.mtime_ns >= _RACY_NS:
                entry.settled = True
            if entry.meta is not None and entry.settled:
                self._suspects.discard(recording_id)

    def _read(self, recording_id: str, previous: _Entry | None, now_ns: int) -> _Entry:
        path = self._dir / f"{recording_id}{SUFFIX}"
        stamp = _Stamp(0, 0, 0)
        try:
            fd = os.open(path, OPEN_FLAGS)
            try:
                st = os.fstat(fd)
                stamp = _Stamp.of(st)
                if previous is not None and previous.stamp == stamp:
                    return previous
                meta = _read_meta(fd, st)
            finally:
                os.close(fd)
        except (OSError, _BadFileError) as err:
            if previous is None or previous.stamp != stamp or previous.meta is not None:
                reason = err.strerror if isinstance(err, OSError) else str(err)
                log.warning("skipping %s: not a readable recording (%s)", path, reason)
            return _Entry(stamp, None, settled=False)
        if meta.id != recording_id:  # a copied or renamed file: the file name wins
            meta = msgspec.structs.replace(meta, id=recording_id)
        return _Entry(stamp, meta, settled=now_ns - stamp.mtime_ns >= _RACY_NS)


def _read_meta(fd: int, st: os.stat_result) -> CaptureMeta:
    """The meta of an open recording file, reading as little of it as possible."""
    if not stat.S_ISREG(st.st_mode):
        raise _BadFileError("not a regular file")
    size = st.st_size
    if size == 0:
        raise _BadFileError("empty file")
    if size > MAX_RECORDING_BYTES:
        raise _BadFileError(f"{size} bytes, larger than any recording")
    # Our own layout: `{"meta":{...},"samples":[...]}`. `,"samples":[` cannot occur inside
    # a JSON string (its quote would have to be escaped), so the first one ends the meta.
    # A file cut short never ends in `]}`, so the tail check catches truncation.
    head = os.pread(fd, _HEAD_BYTES, 0)
    if head.startswith(_META_PREFIX):
        end = head.find(_SAMPLES_MARKER)
        if end < 0 and size > _HEAD_BYTES:
            head = os.pread(fd, _MAX_HEAD_BYTES, 0)
            end = head.find(_SAMPLES_MARKER)
        if end > 0 and os.pread(fd, 16, max(0, size - 16)).rstrip().endswith(b"]}"):
            try:
                return _meta_decoder.decode(head[len(_META_PREFIX) : end])
            except msgspec.DecodeError:
                pass  # not our layout after all: parse the whole file below
    data = head if size <= len(head) else read_all(fd, size)
    try:
        return capture_decoder.decode(data).meta
    except msgspec.DecodeError as err:
        raise _BadFileError(str(err)) from err
