"""StatsRecorder: the capture in progress, and the mgmt process's one way to its recordings.

One recorder lives in the mgmt process. The aggregator asks `is_armed()` (lock-free),
registers each session and pushes one `StatsSample` per window; the REST API starts,
stops, lists, loads and deletes. A lock guards the capture in progress: its samples stay
in memory (at most `max_samples`; later ones set `truncated`) until `stop()` saves them
through the file store (`mgmt.recordings`) and tells the directory index
(`mgmt.recordings_index`). Disk I/O is the caller's to keep off the event loop (the API
runs `stop`, `list`, `load` and `delete` in a worker thread).

Nothing is lost on a crash: every session and sample also goes to the capture's journal
(`mgmt.journal`, one small append per window) as it arrives, and `stop()` removes the
journal once the recording is saved. On start the recorder finishes saves a crash
interrupted and turns each journal left behind into a recording marked `recovered`.
"""

from __future__ import annotations

import builtins
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from host.config import write_private_file
from mgmt.comparison import compare
from mgmt.errors import RecordingWriteError
from mgmt.journal import (
    FSYNC_INTERVAL_S,
    CaptureJournal,
    JournalContents,
    JournalInUseError,
    JournalUnreadableError,
    SessionLine,
    find_journals,
    open_journal,
    read_journal,
)
from mgmt.models import Capture, CaptureMeta, StatsSample, StatsStatus, json_encoder
from mgmt.recordings import Body, RecordingStore, View
from mgmt.recordings_index import RecordingIndex

log = logging.getLogger(__name__)

MAX_SAMPLES = 5400
"""≈ 3 h at one sample per 2 s; on overflow the oldest are kept and `truncated` is set."""

LIVE_ID = "live"  # the meta id of the capture in progress

_sample_decoder = msgspec.json.Decoder(StatsSample)


def _monotonic_ms_since(start_ns: int) -> int:
    return max(0, (time.monotonic_ns() - start_ns) // 1_000_000)


@dataclass
class _Live:
    """The capture in progress."""

    started_ns: int  # time.monotonic_ns() at start
    started_unix_ms: int
    journal: CaptureJournal | None = None  # None only for a capture rebuilt from one
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

    def meta(self, recording_id: str, *, recovered: bool = False) -> CaptureMeta:
        # A recovered capture ended, as far as anyone knows, with its last sample.
        last_t_ms = self.samples[-1].t_ms if self.samples else 0
        return CaptureMeta(
            id=recording_id,
            started_unix_ms=self.started_unix_ms,
            duration_ms=last_t_ms if recovered else _monotonic_ms_since(self.started_ns),
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
            recovered=recovered,
        )

    @classmethod
    def from_journal(cls, contents: JournalContents, max_samples: int) -> _Live:
        live = cls(
            started_ns=0,
            started_unix_ms=contents.started_unix_ms,
            samples=contents.samples[:max_samples],
            truncated=contents.truncated or len(contents.samples) > max_samples,
            sessions=len(contents.sessions),
        )
        if contents.sessions:
            first = contents.sessions[0]
            live.kind, live.width, live.height, live.fps = (
                first.kind,
                first.width,
                first.height,
                first.fps,
            )
            live.codec, live.encoder, live.client, live.gpu = (
                first.codec,
                first.encoder,
                first.client,
                first.gpu,
            )
        return live

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
        fsync_interval_s: float = FSYNC_INTERVAL_S,
    ) -> None:
        self.recordings = RecordingStore(captures_dir)
        self.captures_dir = self.recordings.directory
        self._index = RecordingIndex(self.captures_dir)
        self.max_samples = max_samples
        self._on_armed_change = on_armed_change
        self._lock = threading.Lock()  # the capture in progress
        self._stop_lock = threading.Lock()  # one save at a time
        self._live: _Live | None = None
        self._armed = False
        self._capture_seq = 0
        self._last_session_id = 0
        self._last_started_unix_ms = 0
        self.fsync_interval_s = fsync_interval_s
        self.recovered = self._recover()

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
                # Never the previous capture's start, so a journal's start names its one
                # recording (see `_recover`) even for a stop and start within a millisecond.
                started_unix_ms = time.time_ns() // 1_000_000
                if started_unix_ms == self._last_started_unix_ms:
                    started_unix_ms += 1
                self._last_started_unix_ms = started_unix_ms
                self._live = _Live(
                    started_ns=time.monotonic_ns(),
                    started_unix_ms=started_unix_ms,
                    journal=CaptureJournal(
                        self.captures_dir, started_unix_ms, fsync_interval_s=self.fsync_interval_s
                    ),
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
                if live.journal is not None:
                    live.journal.session(
                        SessionLine(kind, width, height, fps, codec, encoder, client, gpu)
                    )
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
                if not live.truncated and live.journal is not None:
                    live.journal.truncated()
                live.truncated = True
                return False
            stored.t_ms = _monotonic_ms_since(live.started_ns)
            stored.session_id = session_id
            live.samples.append(stored)
            if live.journal is not None:
                live.journal.sample(stored)  # never raises: a failing disk is logged once
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
                recording_id = self.recordings.new_id(live.id_stem())
                meta = live.meta(recording_id)
                samples = live.samples[:]
            # Encode and write outside the lock: the aggregator keeps pushing meanwhile.
            st = self.recordings.write(recording_id, Capture(meta=meta, samples=samples))
            with self._lock:
                if len(live.samples) != meta.sample_count or live.truncated != meta.truncated:
                    # Samples arrived while writing: write again, under the lock this time.
                    meta = live.meta(recording_id)
                    try:
                        st = self.recordings.write(
                            recording_id, Capture(meta=meta, samples=live.samples)
                        )
                    except RecordingWriteError:
                        # Don't leave the first, shorter save next to the capture still armed.
                        self.recordings.path_of(recording_id).unlink(missing_ok=True)
                        raise
                self._live = None
                self._armed = False
                self._notify_armed(False)
            self._index.add(recording_id, meta, st)
            if live.journal is not None:
                live.journal.close(remove=True)  # saved: the journal has done its job
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
                journal = live.journal
                if journal is not None:
                    journal.close(remove=False)
                log.error(
                    "%s; saved it to %s instead: move it into %s to see it in the console%s",
                    err.message,
                    rescue,
                    self.captures_dir,
                    f" (or let the next start recover it from {journal.path})"
                    if journal is not None and not journal.behind and journal.path.is_file()
                    else "",
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

    # -- saved recordings: the file store, with the index kept in step --------------

    def load(self, recording_id: str) -> Capture:
        return self.recordings.load(recording_id)

    def load_json(self, recording_id: str) -> bytes:
        """The recording as JSON, validated; the file's own bytes when they are canonical."""
        return self.recordings.load_json(recording_id)

    def view(self, recording_id: str, name: View, *, gzip: bool = False) -> Body:
        """A view of a saved recording as it goes out (`RecordingStore.view`)."""
        return self.recordings.view(recording_id, name, gzip=gzip)

    def compare_json(self, recording_ids: builtins.list[str]) -> bytes:
        """`mgmt.comparison.compare` of the recordings, the first the baseline."""
        return json_encoder.encode(compare([self.recordings.load(i) for i in recording_ids]))

    def delete(self, recording_id: str) -> None:
        try:
            self.recordings.delete(recording_id)
        finally:
            # Also when it failed: a recording the index knew may have gone meanwhile.
            self._index.remove(recording_id)

    def list_json(self) -> bytes:
        """`list()` encoded as JSON; cached until the captures dir changes."""
        return self._index.listing_json()

    def list(self) -> builtins.list[CaptureMeta]:
        """Saved recordings, newest first."""
        return self._index.listing()

    # -- recovery on start ---------------------------------------------------------------

    def _recover(self) -> builtins.list[CaptureMeta]:
        """Finish saves a crash interrupted, then turn every journal a crashed capture left
        into a recording marked `recovered`; the recordings recovered."""
        try:
            self.recordings.finish_interrupted_saves()
            journals = find_journals(self.captures_dir)
        except OSError as err:
            log.warning("could not look for unsaved captures in %s: %s", self.captures_dir, err)
            return []
        if not journals:
            return []
        saved = {m.started_unix_ms: m.id for m in self._index.listing()}
        recovered = []
        for path in journals:
            try:
                fd = open_journal(path)
            except JournalInUseError:
                log.warning("leaving %s alone: a capture of another process writes it", path)
                continue
            except OSError as err:
                log.warning("could not open capture journal %s: %s", path, err.strerror or err)
                continue
            try:
                meta = self._recover_journal(path, fd, saved)
            finally:
                os.close(fd)
            if meta is not None:
                recovered.append(meta)
        return recovered

    def _recover_journal(self, path: Path, fd: int, saved: dict[int, str]) -> CaptureMeta | None:
        if os.fstat(fd).st_size == 0:
            log.warning("removed %s: an empty capture journal (killed as it began)", path)
            path.unlink(missing_ok=True)
            return None
        try:
            contents = read_journal(path, fd)
        except JournalUnreadableError as err:
            log.warning("skipping %s: not a capture journal (%s); move it away", path, err)
            return None
        already = saved.get(contents.started_unix_ms)
        if already is not None:
            # The crash came after the save and before the journal was removed.
            log.info("removed %s: its capture was saved as %s", path, already)
            path.unlink(missing_ok=True)
            return None
        live = _Live.from_journal(contents, self.max_samples)
        recording_id = self.recordings.new_id(live.id_stem())
        meta = live.meta(recording_id, recovered=True)
        try:
            st = self.recordings.write(recording_id, Capture(meta=meta, samples=live.samples))
        except RecordingWriteError as err:
            log.error("could not recover the capture in %s, kept for the next start: %s", path, err)
            return None
        self._index.add(recording_id, meta, st)
        saved[contents.started_unix_ms] = recording_id
        try:
            path.unlink()
        except OSError as err:  # the next start finds the recording and removes it then
            log.warning("could not remove capture journal %s: %s", path, err.strerror)
        log.warning(
            "recovered capture %s from its journal %s: %d samples%s (the host stopped "
            "without saving it; the window in progress then is lost)",
            recording_id,
            path.name,
            meta.sample_count,
            f", {contents.dropped_lines} unreadable line(s) dropped"
            if contents.dropped_lines
            else "",
        )
        return meta

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
