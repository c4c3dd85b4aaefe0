"""The capture journal: the capture in progress on disk, one JSON line per event.

While a capture is armed, `CaptureJournal` appends to `<captures_dir>/capture-<ms>.journal`
a `start` line, one `session` line per session that records into it, one `sample` line
per window as it arrives and a `truncated` line when the sample cap is hit. Each event is
one `os.write` (the page cache has it at once, so a SIGKILL of the service loses only the
window in progress); a background thread fdatasyncs the file at most every
`FSYNC_INTERVAL_S`, so a power cut loses at most that much more. The writer holds an
exclusive `flock` on the file while it lives, so a second process can tell a crashed
capture's journal from a live one.

`read_journal` turns a journal back into what it held; a torn last line (the write a
crash cut short) is dropped, and so is any other line that does not decode, each one
counted. Turning a journal into a recording is the recorder's job (`StatsRecorder`).

Write errors (a full disk, a file-size limit, a removed directory) never reach the
caller: the first is logged, the lines are kept in memory and written, in order, by the
next append that succeeds. A failed write is cut back to the last whole line, so the
file always holds whole lines.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from host.files import fsync_dir
from mgmt.models import StatsSample

log = logging.getLogger(__name__)

SUFFIX = ".journal"
JOURNAL_NAME = re.compile(r"capture-(?P<ms>[0-9]{1,19})(-[0-9]{1,3})?\.journal")
VERSION = 1
FSYNC_INTERVAL_S = 2.0
"""Measured on a virtual ext4 disk: an fdatasync of a journal takes ≈ 0.2-0.5 ms (p99 ≈ 5 ms)
in the background thread; every 2 s that is < 0.05 % of a core, and a power cut loses at
most 2 s beyond the window in progress."""
MAX_JOURNAL_BYTES = 256 * 1024 * 1024  # ≈ 50 times a full 5400-sample capture
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
_READ_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class StartLine(msgspec.Struct, tag="start"):
    version: int
    started_unix_ms: int


class SessionLine(msgspec.Struct, tag="session"):
    """A session that records into the capture; the first one describes the capture."""

    kind: str
    width: int
    height: int
    fps: int
    codec: str
    encoder: str
    client: str
    gpu: str = ""


class SampleLine(msgspec.Struct, tag="sample"):
    sample: StatsSample


class TruncatedLine(msgspec.Struct, tag="truncated"):
    pass


Line = StartLine | SessionLine | SampleLine | TruncatedLine

_encoder = msgspec.json.Encoder()
_line_decoder = msgspec.json.Decoder(Line)


class JournalInUseError(Exception):
    """Another live process holds the journal: it is not a crashed capture's."""


class JournalUnreadableError(Exception):
    """The file is not a journal this host wrote (or holds no start line)."""


def journal_path(directory: Path, started_unix_ms: int) -> Path:
    return directory / f"capture-{started_unix_ms}{SUFFIX}"


def find_journals(directory: Path) -> list[Path]:
    """The journal files in `directory`, oldest start first (links and non-files skipped)."""
    found: list[tuple[int, str, Path]] = []
    with os.scandir(directory) as it:
        for de in it:
            match = JOURNAL_NAME.fullmatch(de.name)
            if match and de.is_file(follow_symlinks=False):
                found.append((int(match["ms"]), de.name, Path(de.path)))
    return [path for _, _, path in sorted(found)]


class CaptureJournal:
    """The journal of one capture in progress. Not thread-safe for appends: the recorder
    calls it under its own lock; the fsync thread only syncs."""

    def __init__(
        self, directory: Path, started_unix_ms: int, *, fsync_interval_s: float = FSYNC_INTERVAL_S
    ) -> None:
        self.directory = directory
        self.path = journal_path(directory, started_unix_ms)
        self.fsync_interval_s = fsync_interval_s
        self.failed_writes = 0
        self._pending: list[bytes] = [_encoder.encode(StartLine(VERSION, started_unix_ms)) + b"\n"]
        self._fd: int | None = None
        self._size = 0  # bytes of whole lines in the file
        self._dirty = False  # written since the last fdatasync
        self._dir_synced = False
        self._sync_warned = False
        self._failing = False
        self._closed = False
        self._lock = threading.Lock()  # the fd and the dirty flag, against the fsync thread
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self._write()

    # -- appends (the recorder's lock held) ----------------------------------------------

    def session(self, line: SessionLine) -> None:
        self._append(_encoder.encode(line))

    def sample(self, sample: StatsSample) -> None:
        self._append(_encoder.encode(SampleLine(sample)))

    def truncated(self) -> None:
        self._append(_encoder.encode(TruncatedLine()))

    @property
    def behind(self) -> int:
        """Lines not yet in the file (non-zero only while writes fail)."""
        return len(self._pending)

    def _append(self, encoded: bytes) -> None:
        if self._closed:
            return
        self._pending.append(encoded + b"\n")
        self._write()

    def _write(self) -> None:
        data = b"".join(self._pending)
        with self._lock:
            try:
                if self._fd is None:
                    self._open()
                fd = self._fd
                assert fd is not None
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as err:
                self._failed(err)
                return
            self._size += len(data)
            self._dirty = True
        self._pending.clear()
        if self._failing:
            self._failing = False
            log.info("capture journal %s: writing again, caught up", self.path)

    def _open(self) -> None:
        path = self.path
        for n in range(2, 100):
            try:
                fd = os.open(path, _OPEN_FLAGS, 0o600)
            except FileExistsError:  # a journal that could not be recovered: keep it
                path = self.path.with_name(f"{self.path.stem}-{n}{SUFFIX}")
                continue
            break
        else:
            raise OSError(errno.EEXIST, "too many journals with this start time", str(path))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self.path = path
        self._fd = fd
        self._syncer = threading.Thread(target=self._sync_loop, name="capture-journal", daemon=True)
        self._syncer.start()

    def _failed(self, err: OSError) -> None:
        self.failed_writes += 1
        if self._fd is not None:
            # Cut a partial line off so the file holds whole lines only.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
        if not self._failing:
            self._failing = True
            if self.failed_writes == 1:
                log.error(
                    "capture journal %s: %s. The capture goes on in memory; until the "
                    "journal can be written, a crash would lose it (free disk space)",
                    self.path,
                    err.strerror or err,
                )

    # -- durability ----------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.sync()

    def sync(self) -> None:
        """fdatasync what was written since the last sync (and, once, the directory)."""
        with self._lock:
            fd = self._fd if self._dirty else None
            self._dirty = False
        if fd is None:
            return
        try:
            os.fdatasync(fd)  # the fd stays open until close() has joined this thread
            if not self._dir_synced:
                fsync_dir(self.directory)  # the journal's name, so it survives a power cut
                self._dir_synced = True
        except OSError as err:
            with self._lock:
                self._dirty = True
            if not self._sync_warned:
                self._sync_warned = True
                log.warning("capture journal %s: sync failed: %s", self.path, err.strerror)

    def close(self, *, remove: bool) -> None:
        """Stop journaling; `remove` deletes the file (the recording is saved), otherwise
        it is synced and kept for the next start to recover."""
        self._closed = True
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        if not remove:
            with self._lock:
                self._dirty = self._fd is not None
            self.sync()
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            if remove:
                try:
                    self.path.unlink(missing_ok=True)
                except OSError as err:  # the next start sees its recording and removes it
                    log.warning("could not remove capture journal %s: %s", self.path, err)
            os.close(fd)


# -- reading a journal back ------------------------------------------------------------------


@dataclass
class JournalContents:
    """What a journal held."""

    started_unix_ms: int
    sessions: list[SessionLine] = field(default_factory=list)
    samples: list[StatsSample] = field(default_factory=list)
    truncated: bool = False
    dropped_lines: int = 0  # lines that did not decode (a torn last line among them)
    torn_tail: bool = False


def read_journal(path: Path, fd: int) -> JournalContents:
    """Decode the journal open as `fd` (see `open_journal`)."""
    size = os.fstat(fd).st_size
    if size > MAX_JOURNAL_BYTES:
        raise JournalUnreadableError(f"{size} bytes, larger than any journal this host writes")
    data = b""
    while len(data) < size:
        chunk = os.pread(fd, size - len(data), len(data))
        if not chunk:
            break
        data += chunk
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()  # the file ends with a newline, as a whole last line does
    contents: JournalContents | None = None
    dropped = 0
    torn_tail = False
    for number, raw in enumerate(lines, 1):
        try:
            line = _line_decoder.decode(raw)
        except msgspec.DecodeError:
            dropped += 1
            torn_tail = number == len(lines)  # the write a crash cut short
            continue
        if contents is None:
            if not isinstance(line, StartLine):
                raise JournalUnreadableError("it does not begin with a start line")
            contents = JournalContents(line.started_unix_ms)
        elif isinstance(line, SampleLine):
            contents.samples.append(line.sample)
        elif isinstance(line, SessionLine):
            contents.sessions.append(line)
        elif isinstance(line, TruncatedLine):
            contents.truncated = True
        # a second start line: not ours to interpret; ignored
    if contents is None:
        raise JournalUnreadableError("no start line (empty, or cut short at once)")
    contents.dropped_lines = dropped
    contents.torn_tail = torn_tail
    return contents


def open_journal(path: Path) -> int:
    """Open a journal for recovery and lock it; `JournalInUseError` while a live capture
    (of another process on the same captures dir) holds it."""
    fd = os.open(path, _READ_FLAGS)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalInUseError(f"{path} is held by a running capture") from None
    except OSError:
        os.close(fd)
        raise
    return fd
