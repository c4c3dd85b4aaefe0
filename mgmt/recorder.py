"""StatsRecorder: the capture in progress and the recordings saved on disk.

One recorder lives in the mgmt process. The aggregator asks `is_armed()` (lock-free),
registers each session and pushes one `StatsSample` per window; the REST API starts,
stops, lists, loads and deletes. A lock guards the capture in progress; disk I/O is the
caller's to keep off the event loop (the API runs `stop`, `list`, `load` and `delete`
in a worker thread).

On disk a recording is `<captures_dir>/<id>.json`: one compact JSON `Capture`, `meta`
first, written `<id>.json.tmp` -> fsync -> rename -> fsync(dir). Listing reads only the
head of each file (the meta) once and then answers from memory until the directory
changes, so it stays fast with thousands of recordings.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from host.config import ensure_private_dir, write_private_file
from mgmt.errors import (
    RecordingCorruptError,
    RecordingNotFoundError,
    RecordingWriteError,
)
from mgmt.models import Capture, CaptureMeta, StatsSample, StatsStatus, json_encoder

log = logging.getLogger(__name__)

MAX_SAMPLES = 5400
"""≈ 3 h at one sample per 2 s; on overflow the oldest are kept and `truncated` is set."""

ID_CHARS = re.compile(r"[A-Za-z0-9._-]+")
MAX_ID_LENGTH = 200  # `<id>.json.tmp` must stay a valid file name (255 bytes)
MAX_RECORDING_BYTES = 64 * 1024 * 1024  # a full 5400-sample capture is ≈ 5 MB
LIVE_ID = "live"

_SUFFIX = ".json"
_HEAD_BYTES = 4096
_MAX_HEAD_BYTES = 64 * 1024
_META_PREFIX = b'{"meta":'
_SAMPLES_MARKER = b',"samples":['
# A directory or file stamp younger than this is not trusted to reveal a later change:
# timestamps are coarse (a kernel tick), so a change in the same tick keeps the stamp.
_RACY_NS = 2_000_000_000
_UNREADABLE = -1  # the dir stamp recorded while the captures dir cannot be read
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

_capture_decoder = msgspec.json.Decoder(Capture)
_meta_decoder = msgspec.json.Decoder(CaptureMeta)
_sample_decoder = msgspec.json.Decoder(StatsSample)


def is_valid_id(recording_id: str) -> bool:
    """Whether `recording_id` may name a file in the captures dir (no path tricks)."""
    return (
        0 < len(recording_id) <= MAX_ID_LENGTH
        and recording_id not in (".", "..")
        and ID_CHARS.fullmatch(recording_id) is not None
    )


def _not_found(recording_id: str) -> RecordingNotFoundError:
    shown = recording_id if len(recording_id) <= 80 else recording_id[:80] + "…"
    return RecordingNotFoundError(
        f"no recording with id {shown!r}; list them with GET /api/v1/stats/recordings"
    )


def _monotonic_ms_since(start_ns: int) -> int:
    return max(0, (time.monotonic_ns() - start_ns) // 1_000_000)


@dataclass
class _Live:
    """The capture in progress."""

    started_ns: int  # time.monotonic_ns() at start
    started_unix_ms: int
    samples: list[StatsSample] = field(default_factory=list)
    truncated: bool = False
    refused: int = 0  # invalid samples refused by push_sample
    sessions: int = 0
    kind: str = ""
    width: int = 0
    height: int = 0
    fps: int = 0
    codec: str = ""
    encoder: str = ""
    client: str = ""
    gpu: str = ""

    def meta(self, recording_id: str) -> CaptureMeta:
        return CaptureMeta(
            id=recording_id,
            started_unix_ms=self.started_unix_ms,
            duration_ms=_monotonic_ms_since(self.started_ns),
            kind=self.kind,
            width=self.width,
            height=self.height,
            fps=self.fps,
            codec=self.codec,
            encoder=self.encoder,
            client=self.client,
            sample_count=len(self.samples),
            truncated=self.truncated,
            gpu=self.gpu,
            sessions=self.sessions,
        )

    def id_stem(self) -> str:
        when = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(self.started_unix_ms // 1000))
        return f"{when}_{self.width}x{self.height}" if self.sessions else f"{when}_nosession"


class StatsRecorder:
    def __init__(
        self,
        captures_dir: Path,
        *,
        max_samples: int = MAX_SAMPLES,
        on_armed_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.captures_dir = ensure_private_dir(captures_dir.absolute())
        self.max_samples = max_samples
        self._on_armed_change = on_armed_change
        self._lock = threading.Lock()  # the capture in progress
        self._stop_lock = threading.Lock()  # one save at a time
        self._live: _Live | None = None
        self._armed = False
        self._capture_seq = 0
        self._last_session_id = 0
        self._index = _RecordingIndex(self.captures_dir)

    # -- the capture in progress -------------------------------------------------------

    def is_armed(self) -> bool:
        return self._armed

    @property
    def capture_seq(self) -> int:
        """Bumped by every start that arms a new capture."""
        return self._capture_seq

    def start(self) -> StatsStatus:
        with self._lock:
            if self._live is None:
                if self._on_armed_change is not None:
                    self._on_armed_change(True)
                self._live = _Live(
                    started_ns=time.monotonic_ns(), started_unix_ms=time.time_ns() // 1_000_000
                )
                self._armed = True
                self._capture_seq += 1
            return self._status_locked()

    def register_session(
        self,
        kind: str,
        width: int,
        height: int,
        fps: int,
        codec: str,
        encoder: str,
        client: str,
        *,
        gpu: str = "",
    ) -> int:
        """Announce a session; the first one of a capture describes it (kind, mode, codec)."""
        with self._lock:
            self._last_session_id += 1
            live = self._live
            if live is not None:
                if live.sessions == 0:
                    live.kind, live.width, live.height, live.fps = kind, width, height, fps
                    live.codec, live.encoder, live.client, live.gpu = codec, encoder, client, gpu
                live.sessions += 1
            return self._last_session_id

    def push_sample(self, session_id: int, sample: StatsSample) -> bool:
        """Append one window; False when idle, at the sample cap, or for an invalid sample.

        The sample is stored as it will load back from disk: a NaN in an optional field
        becomes null, and a sample that could not load back (NaN or a negative latency in
        a required field) is refused here rather than making the whole recording unreadable.
        """
        if not self._armed:
            return False
        try:
            stored = _sample_decoder.decode(json_encoder.encode(sample))  # also a private copy
        except (msgspec.ValidationError, TypeError) as err:  # TypeError: not encodable
            problem: str | None = str(err)
        else:
            problem = None
        with self._lock:
            live = self._live
            if live is None:
                return False
            if problem is not None:
                if not live.refused:
                    log.warning("refusing a sample that would not load back: %s", problem)
                live.refused += 1
                return False
            if len(live.samples) >= self.max_samples:
                live.truncated = True
                return False
            stored.t_ms = _monotonic_ms_since(live.started_ns)
            stored.session_id = session_id
            live.samples.append(stored)
            return True

    def stop(self) -> CaptureMeta | None:
        """Save the capture and disarm; None when idle.

        On a write failure this raises `RecordingWriteError` and the capture stays armed
        with every sample, so a later stop can still save it.
        """
        with self._stop_lock:
            with self._lock:
                live = self._live
                if live is None:
                    return None
                recording_id = self._new_id(live)
                meta = live.meta(recording_id)
                samples = live.samples[:]
            # Encode and write outside the lock: the aggregator keeps pushing meanwhile.
            stamp = self._write(recording_id, Capture(meta=meta, samples=samples))
            with self._lock:
                if len(live.samples) != meta.sample_count or live.truncated != meta.truncated:
                    # Samples arrived while writing: write again, under the lock this time.
                    meta = live.meta(recording_id)
                    try:
                        stamp = self._write(recording_id, Capture(meta=meta, samples=live.samples))
                    except RecordingWriteError:
                        # Don't leave a partial recording next to the one still armed.
                        (self.captures_dir / f"{recording_id}{_SUFFIX}").unlink(missing_ok=True)
                        raise
                self._live = None
                self._armed = False
                self._notify_armed(False)
            self._index.add(recording_id, meta, stamp)
            log.info("saved capture %s (%d samples)", recording_id, meta.sample_count)
            return meta

    def shutdown(self) -> CaptureMeta | None:
        """Save an armed capture on the way out; if the captures dir fails, save it elsewhere."""
        try:
            return self.stop()
        except RecordingWriteError as err:
            with self._stop_lock, self._lock:
                live = self._live
                if live is None:
                    raise
                recording_id = live.id_stem()
                meta = live.meta(recording_id)
                rescue = Path(tempfile.gettempdir()) / f"punktfunk-unsaved-{recording_id}.json"
                try:
                    write_private_file(rescue, json_encoder.encode(Capture(meta, live.samples)))
                except OSError:
                    log.exception("could not save the capture to %s either", rescue)
                    raise err from None
                log.error(
                    "%s; saved it to %s instead: move it into %s to see it in the console",
                    err.message,
                    rescue,
                    self.captures_dir,
                )
                self._live = None
                self._armed = False
                self._notify_armed(False)
                return meta

    def status(self) -> StatsStatus:
        with self._lock:
            return self._status_locked()

    def live_snapshot(self, offset: int = 0) -> Capture | None:
        """The capture in progress from sample `offset` on (for incremental polling)."""
        if offset < 0:
            raise ValueError("offset must be >= 0")
        with self._lock:
            live = self._live
            if live is None:
                return None
            return Capture(meta=live.meta(LIVE_ID), samples=live.samples[offset:])

    # -- saved recordings --------------------------------------------------------------

    def load(self, recording_id: str) -> Capture:
        capture, _ = self._load(recording_id)
        return capture

    def load_json(self, recording_id: str) -> bytes:
        """The recording as JSON, validated; the file's own bytes when they are canonical."""
        capture, data = self._load(recording_id)
        if data is not None and data.startswith(
            b'{"meta":{"id":' + json_encoder.encode(recording_id) + b","
        ):
            return data
        return json_encoder.encode(capture)

    def delete(self, recording_id: str) -> None:
        path = self._path_for(recording_id)
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                raise _not_found(recording_id)
            path.unlink()
        except (FileNotFoundError, NotADirectoryError) as err:
            raise _not_found(recording_id) from err
        finally:
            self._index.invalidate()
        self._index.remove(recording_id)
        log.info("deleted recording %s", recording_id)

    def list_json(self) -> bytes:
        """`list()` encoded as JSON; cached until the captures dir changes."""
        return self._index.listing_json()

    def list(self) -> builtins.list[CaptureMeta]:
        """Saved recordings, newest first."""
        return self._index.listing()

    # -- internals ---------------------------------------------------------------------

    def _status_locked(self) -> StatsStatus:
        live = self._live
        if live is None:
            return StatsStatus(
                armed=False, sample_count=0, started_unix_ms=0, kind="", elapsed_ms=0
            )
        return StatsStatus(
            armed=True,
            sample_count=len(live.samples),
            started_unix_ms=live.started_unix_ms,
            kind=live.kind,
            elapsed_ms=_monotonic_ms_since(live.started_ns),
            truncated=live.truncated,
        )

    def _notify_armed(self, armed: bool) -> None:
        if self._on_armed_change is None:
            return
        try:
            self._on_armed_change(armed)
        except Exception:
            log.exception("on_armed_change(%s) failed", armed)

    def _new_id(self, live: _Live) -> str:
        stem = live.id_stem()
        candidate, n = stem, 1
        while os.path.lexists(self.captures_dir / f"{candidate}{_SUFFIX}"):
            n += 1
            candidate = f"{stem}-{n}"
        return candidate

    def _write(self, recording_id: str, capture: Capture) -> _Stamp:
        final = self.captures_dir / f"{recording_id}{_SUFFIX}"
        tmp = self.captures_dir / f"{recording_id}{_SUFFIX}.tmp"
        data = json_encoder.encode(capture)
        try:
            with contextlib.suppress(FileExistsError):  # not a dir: the open below says so
                self.captures_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                    st = os.fstat(f.fileno())
                os.rename(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as err:
            reason = err.strerror or str(err)
            raise RecordingWriteError(
                f"could not save the capture to {final}: {reason}. It is still recording and "
                f"kept in memory: free disk space or repair {self.captures_dir} "
                "(it must be a writable directory), then stop again"
            ) from err
        try:
            dir_fd = os.open(self.captures_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            log.warning("could not fsync %s after saving %s", self.captures_dir, final.name)
        return _Stamp(st.st_ino, st.st_mtime_ns, st.st_size)

    def _path_for(self, recording_id: str) -> Path:
        if not is_valid_id(recording_id):
            raise _not_found(recording_id)
        path = self.captures_dir / f"{recording_id}{_SUFFIX}"
        # Defence in depth: whatever the id, the file must sit directly in the captures dir.
        if path.parent != self.captures_dir or path.resolve().parent != self._index.real_dir():
            raise _not_found(recording_id)
        return path

    def _load(self, recording_id: str) -> tuple[Capture, bytes | None]:
        """The decoded recording, and its file's bytes when they say the same id."""
        path = self._path_for(recording_id)
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
            raise _not_found(recording_id) from err
        except OSError as err:
            if err.errno == errno.ELOOP:  # a symlink; recordings are never links
                raise _not_found(recording_id) from err
            raise RecordingCorruptError(
                f"could not read recording {recording_id} ({path}): {err.strerror}"
            ) from err
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _not_found(recording_id)
            if st.st_size > MAX_RECORDING_BYTES:
                raise RecordingCorruptError(
                    f"recording {recording_id} ({path}) is {st.st_size} bytes, larger than "
                    f"any capture this host writes ({MAX_RECORDING_BYTES}); move it out of "
                    f"{self.captures_dir}"
                )
            data = _read_all(fd, st.st_size)
        finally:
            os.close(fd)
        try:
            capture = _capture_decoder.decode(data)
        except msgspec.DecodeError as err:
            raise RecordingCorruptError(
                f"recording {recording_id} ({path}) is not a valid capture file: {err}. "
                f"Delete it or move it out of {self.captures_dir}"
            ) from err
        if capture.meta.id != recording_id:  # a copied or renamed file: the file name wins
            capture.meta = msgspec.structs.replace(capture.meta, id=recording_id)
            return capture, None
        return capture, data


# -- the index of saved recordings ----------------------------------------------------


@dataclass(frozen=True)
class _Stamp:
    """Which version of a file an index entry describes."""

    inode: int
    mtime_ns: int
    size: int


@dataclass
class _Entry:
    stamp: _Stamp
    meta: CaptureMeta | None  # None: not a readable recording (warned about once)
    settled: bool  # its stamp was old enough to reveal later changes when read


class _BadFileError(Exception):
    pass


class _RecordingIndex:
    """id -> meta for the files in the captures dir, refreshed only when the dir changes."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._real_dir = directory.resolve()
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._dir_mtime_ns: int | None = None  # None: rescan on the next listing
        self._suspects: set[str] = set()  # entries to re-check on every listing
        self._listing: list[CaptureMeta] | None = None
        self._listing_json: bytes | None = None
        self._ignored_names: set[str] = set()

    def real_dir(self) -> Path:
        return self._real_dir

    def invalidate(self) -> None:
        with self._lock:
            self._dir_mtime_ns = None

    def add(self, recording_id: str, meta: CaptureMeta, stamp: _Stamp) -> None:
        with self._lock:
            self._entries[recording_id] = _Entry(stamp, meta, settled=True)
            self._suspects.discard(recording_id)
            self._dir_mtime_ns = None
            self._listing = self._listing_json = None

    def remove(self, recording_id: str) -> None:
        with self._lock:
            if self._entries.pop(recording_id, None) is not None:
                self._listing = self._listing_json = None
            self._suspects.discard(recording_id)
            self._dir_mtime_ns = None

    def listing(self) -> list[CaptureMeta]:
        with self._lock:
            return list(self._refreshed_listing())

    def listing_json(self) -> bytes:
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
                if not name.endswith(_SUFFIX):
                    continue  # *.json.tmp and anything else that is not a recording
                recording_id = name[: -len(_SUFFIX)]
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
                st = os.lstat(self._dir / f"{recording_id}{_SUFFIX}")
            except OSError:
                self._dir_mtime_ns = None  # gone: let a rescan sort it out
                self._refresh()
                return
            if _Stamp(st.st_ino, st.st_mtime_ns, st.st_size) != entry.stamp:
                entry = self._read(recording_id, entry, now_ns)
                self._entries[recording_id] = entry
                self._listing = self._listing_json = None
            elif entry.meta is not None and now_ns - entry.stamp.mtime_ns >= _RACY_NS:
                entry.settled = True
            if entry.meta is not None and entry.settled:
                self._suspects.discard(recording_id)

    def _read(self, recording_id: str, previous: _Entry | None, now_ns: int) -> _Entry:
        path = self._dir / f"{recording_id}{_SUFFIX}"
        stamp = _Stamp(0, 0, 0)
        try:
            fd = os.open(path, _OPEN_FLAGS)
            try:
                st = os.fstat(fd)
                stamp = _Stamp(st.st_ino, st.st_mtime_ns, st.st_size)
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
    data = head if size <= len(head) else _read_all(fd, size)
    try:
        return _capture_decoder.decode(data).meta
    except msgspec.DecodeError as err:
        raise _BadFileError(str(err)) from err


def _read_all(fd: int, size: int) -> bytes:
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
