"""The recordings on disk: writing, reading and deleting one saved capture.

A recording is `<captures_dir>/<id>.json`: one compact JSON `Capture`, `meta` first (so
the index can list a file from its head). `RecordingStore` writes a recording whole or
not at all (`host.files.write_atomically`), reads one back validated, and deletes one;
listing the directory is `mgmt.recordings_index`'s job. Every method does disk I/O: the
caller keeps it off the event loop.

Reading is served from `mgmt.recording_cache` when the file is the very one validated
before (same identity): its body and its views (columns, summary, their gzip) are then
not made again. Every check runs on every read all the same: a valid id, no link, a
regular file directly in the captures dir, not too large.

A save that a crash interrupted leaves its temp file, `.<id>.json.<random>.tmp`;
`finish_interrupted_saves` (run on start) completes one that holds a whole recording
and removes the rest, saying so in the log.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from host.config import ensure_private_dir
from host.files import TMP_SUFFIX, fsync_dir, write_atomically
from mgmt.columns import to_columns
from mgmt.compression import MIN_BYTES as GZIP_MIN_BYTES
from mgmt.compression import gzip_body
from mgmt.errors import (
    RecordingCorruptError,
    RecordingNotFoundError,
    RecordingWriteError,
)
from mgmt.models import Capture, json_encoder
from mgmt.recording_cache import FileIdentity, RecordingCache, ValidRecording
from mgmt.recording_ids import is_valid_id
from mgmt.summary import summarize

log = logging.getLogger(__name__)

SUFFIX = ".json"
MAX_RECORDING_BYTES = 64 * 1024 * 1024  # a full 5400-sample capture is ≈ 5 MB
# Recordings are never links, and a FIFO planted in the dir must not block a reader.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

capture_decoder = msgspec.json.Decoder(Capture)

View = Literal["json", "columns", "summary"]
VIEWS: tuple[View, ...] = ("json", "columns", "summary")
"""A recording as a `Capture`, as `CaptureColumns`, as its `RecordingSummary`."""


@dataclass(frozen=True)
class Body:
    """A view's bytes as they go out."""

    data: bytes
    gzipped: bool
    compressible: bool  # large enough to be gzipped for a client that accepts it


# `host.files.write_atomically`'s temp name: `.<name>.<8 chars of tempfile's alphabet>.tmp`.
_INTERRUPTED_SAVE = re.compile(
    r"\.(?P<id>[A-Za-z0-9._-]+)" + re.escape(SUFFIX) + r"\.[a-z0-9_]{8}" + re.escape(TMP_SUFFIX)
)


def not_found(recording_id: str) -> RecordingNotFoundError:
    shown = recording_id if len(recording_id) <= 80 else recording_id[:80] + "…"
    return RecordingNotFoundError(
        f"no recording with id {shown!r}; list them with GET /api/v1/stats/recordings"
    )


class RecordingStore:
    """The recording files in one captures dir (created private if missing)."""

    def __init__(self, directory: Path, cache: RecordingCache | None = None) -> None:
        self.directory = ensure_private_dir(directory.absolute())
        self._real_dir = self.directory.resolve()
        self._cache = RecordingCache() if cache is None else cache

    def path_of(self, recording_id: str) -> Path:
        """Where recording `recording_id` lives; the id is not checked (see `is_valid_id`)."""
        return self.directory / f"{recording_id}{SUFFIX}"

    def new_id(self, stem: str) -> str:
        """`stem`, or `stem-2`, `stem-3`, … : the first that names no file yet."""
        candidate, n = stem, 1
        while os.path.lexists(self.path_of(candidate)):
            n += 1
            candidate = f"{stem}-{n}"
        return candidate

    def write(self, recording_id: str, capture: Capture) -> os.stat_result:
        """Save `capture` as `recording_id` (replacing it) and return the new file's stat."""
        final = self.path_of(recording_id)
        data = json_encoder.encode(capture)
        try:
            with contextlib.suppress(FileExistsError):  # not a dir: the write says so
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            return write_atomically(final, data, mode=0o600)
        except OSError as err:
            reason = err.strerror or str(err)
            raise RecordingWriteError(
                f"could not save the capture to {final}: {reason}. It is still recording and "
                f"kept in memory: free disk space or repair {self.directory} "
                "(it must be a writable directory), then stop again"
            ) from err

    def load(self, recording_id: str) -> Capture:
        """The recording, validated (a fresh object: the caller may change it)."""
        entry, capture = self._validated(recording_id)
        return capture if capture is not None else capture_decoder.decode(entry.body)

    def load_json(self, recording_id: str) -> bytes:
        """The recording as JSON, validated; the file's own bytes when they are canonical."""
        return self._validated(recording_id)[0].body

    def view(self, recording_id: str, name: View, *, gzip: bool = False) -> Body:
        """One view of the recording (`VIEWS`), made once per file identity; gzipped (and
        that kept too) with `gzip` when it is large enough to be worth it."""
        entry, capture = self._validated(recording_id)

        def make() -> bytes:
            decoded = capture if capture is not None else capture_decoder.decode(entry.body)
            return _make_view(recording_id, self.path_of(recording_id), name, decoded)

        data = entry.body if name == "json" else self._cache.view(recording_id, entry, name, make)
        compressible = len(data) >= GZIP_MIN_BYTES
        if not (gzip and compressible):
            return Body(data, gzipped=False, compressible=compressible)
        packed = self._cache.view(recording_id, entry, f"{name}.gz", lambda: gzip_body(data))
        return Body(packed, gzipped=True, compressible=True)

    def delete(self, recording_id: str) -> None:
        path = self._checked_path(recording_id)
        self._cache.discard(recording_id)
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                raise not_found(recording_id)
            path.unlink()
        except (FileNotFoundError, NotADirectoryError) as err:
            raise not_found(recording_id) from err
        log.info("deleted recording %s", recording_id)

    def finish_interrupted_saves(self) -> list[str]:
        """Complete or remove the temp files of saves a crash interrupted; the ids of the
        recordings completed. Only for start-up, before this process saves anything."""
        completed: list[str] = []
        with os.scandir(self.directory) as it:
            leftovers = [de for de in it if _INTERRUPTED_SAVE.fullmatch(de.name)]
        for de in leftovers:
            match = _INTERRUPTED_SAVE.fullmatch(de.name)
            assert match is not None
            recording_id = match["id"]
            tmp = Path(de.path)
            try:
                if not de.is_file(follow_symlinks=False) or not is_valid_id(recording_id):
                    log.warning("leaving %s alone: not a file this host writes", tmp)
                    continue
                final = self.path_of(recording_id)
                if os.path.lexists(final):
                    tmp.unlink()
                    log.info(
                        "removed %s: a save of %s that a crash interrupted; the "
                        "recording was saved again since",
                        tmp.name,
                        recording_id,
                    )
                elif self._holds_whole_recording(tmp):
                    os.rename(tmp, final)
                    fsync_dir(self.directory)
                    completed.append(recording_id)
                    log.warning(
                        "completed the save of %s that a crash interrupted (%s was "
                        "written whole, only its rename was missing)",
                        recording_id,
                        tmp.name,
                    )
                else:
                    tmp.unlink()
                    log.warning(
                        "removed %s: a save of %s that a crash cut short (its "
                        "capture's journal, if any, is recovered instead)",
                        tmp.name,
                        recording_id,
                    )
            except OSError as err:
                log.warning("could not clean up %s: %s", tmp, err.strerror or err)
        return completed

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _holds_whole_recording(path: Path) -> bool:
        try:
            fd = os.open(path, OPEN_FLAGS)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RECORDING_BYTES:
                return False
            capture_decoder.decode(read_all(fd, st.st_size))
        except msgspec.DecodeError:
            return False  # a prefix of a recording never decodes: it was cut short
        finally:
            os.close(fd)
        return True

    def _checked_path(self, recording_id: str) -> Path:
        if not is_valid_id(recording_id):
            raise not_found(recording_id)
        path = self.path_of(recording_id)
        # Defence in depth: whatever the id, the file must sit directly in the captures dir.
        if path.parent != self.directory or path.resolve().parent != self._real_dir:
            raise not_found(recording_id)
        return path

    def _validated(self, recording_id: str) -> tuple[ValidRecording, Capture | None]:
        """The valid recording `recording_id`, and its decoded capture when this call
        decoded it (None when the cache knew this very file)."""
        path = self._checked_path(recording_id)
        try:
            fd = os.open(path, OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
            self._cache.discard(recording_id)
            raise not_found(recording_id) from err
        except OSError as err:
            self._cache.discard(recording_id)
            if err.errno == errno.ELOOP:  # a symlink; recordings are never links
                raise not_found(recording_id) from err
            raise RecordingCorruptError(
                f"could not read recording {recording_id} ({path}): {err.strerror}"
            ) from err
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise not_found(recording_id)
            if st.st_size > MAX_RECORDING_BYTES:
                raise RecordingCorruptError(
                    f"recording {recording_id} ({path}) is {st.st_size} bytes, larger than "
                    f"any capture this host writes ({MAX_RECORDING_BYTES}); move it out of "
                    f"{self.directory}"
                )
            identity = FileIdentity.of(st)
            known = self._cache.get(recording_id, identity)
            if known is not None:
                return known, None
            data = read_all(fd, st.st_size)
        finally:
            os.close(fd)
        try:
            capture = capture_decoder.decode(data)
        except msgspec.DecodeError as err:
            raise RecordingCorruptError(
                f"recording {recording_id} ({path}) is not a valid capture file: {err}. "
                f"Delete it or move it out of {self.directory}"
            ) from err
        if capture.meta.id != recording_id:  # a copied or renamed file: the file name wins
            capture.meta = msgspec.structs.replace(capture.meta, id=recording_id)
        elif data.startswith(b'{"meta":{"id":' + json_encoder.encode(recording_id) + b","):
            entry = ValidRecording(identity, data)  # already canonical: serve its own bytes
            self._cache.put(recording_id, entry)
            return entry, capture
        entry = ValidRecording(identity, json_encoder.encode(capture))
        self._cache.put(recording_id, entry)
        return entry, capture


def _make_view(recording_id: str, path: Path, name: View, capture: Capture) -> bytes:
    if name == "summary":
        return json_encoder.encode(summarize(capture))
    if name == "columns":
        try:
            return json_encoder.encode(to_columns(capture))
        except ValueError as err:
            raise RecordingCorruptError(
                f"recording {recording_id} ({path}) cannot be shown column by column: {err}"
            ) from err
    return json_encoder.encode(capture)


def read_all(fd: int, size: int) -> bytes:
    """Up to `size` bytes of open file `fd` from its start (fewer if it shrank)."""
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
