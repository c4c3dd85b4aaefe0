"""StatsRecorder: the capture in progress, and the mgmt process's one way to its recordings.

One recorder lives in the mgmt process. The aggregator asks `is_armed()` (lock-free),
registers each session and pushes one `StatsSample` per window; the REST API starts,
stops, lists, loads and deletes. A lock guards the capture in progress: its samples stay
in memory (at most `max_samples`; later ones set `truncated`) until `stop()` saves them
through the file store (`mgmt.recordings`) and tells the directory index
(`mgmt.recordings_index`). Disk I/O is the caller's to keep off the event loop (the API
runs `stop`, `list`, `load` and `delete` in a worker thread).
"""

from __future__ import annotations

import builtins
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from host.config import write_private_file
from mgmt.errors import RecordingWriteError
from mgmt.models import Capture, CaptureMeta, StatsSample, StatsStatus, json_encoder
from mgmt.recordings import RecordingStore
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

    # -- saved recordings: the file store, with the index kept in step --------------

    def load(self, recording_id: str) -> Capture:
        return self.recordings.load(recording_id)

    def load_json(self, recording_id: str) -> bytes:
        """The recording as JSON, validated; the file's own bytes when they are canonical."""
        return self.recordings.load_json(recording_id)

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
