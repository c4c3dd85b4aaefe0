"""The aggregator: every window, each live session's rings and counters become one sample.

Per session and window (the path's own: native 2 s, gamestream 1 s) it reads the new
records of the session's rings (validated copies, see `ipc.ring`) and the deltas of its
counters, and builds a `StatsSample`: p50/p99 per stage in the path's order, new and
repeated frames per second, goodput, counter deltas (null where the path cannot measure
them), the host latency of each frame (capture start -> last datagram sent) and the
client's decode time.

The sample then goes where it is wanted: to the StatsRecorder while a capture is armed
(the session registers with each capture on its first sample) and to stdout as one perf
line when PUNKTFUNK_PERF=1; /metrics reads the latest one, and the window's records are
counted into its latency histograms (`mgmt.histograms`). Stage timings exist only while
producers measure (`perf or armed`, or always with `measure = always`); counters-based
fields always do. Sessions are seen only through `StreamSession`: the stage map and
window length are the path's own declaration (`host.pipeline.stages`), so nothing here
knows a protocol.

Nothing here runs per frame: a window is a handful of numpy operations over at most a
few hundred records.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import msgspec
import numpy as np

from host.pipeline.session import StreamSession
from host.pipeline.stages import PathSpec
from ipc import Counter, RingReader
from ipc.window import column_percentiles, percentiles
from mgmt.histograms import LatencyHistograms
from mgmt.models import StageTiming, StatsSample
from mgmt.recorder import StatsRecorder
from mgmt.telemetry import Telemetry

log = logging.getLogger(__name__)

TICK_S = 0.1


@dataclass
class _Tracked:
    session: StreamSession
    frames: RingReader
    sends: RingReader
    counters: dict[Counter, int]
    window_start: float
    due: float
    capture_seq: int = 0  # the capture this session registered with
    aligned_seq: int = 0  # the capture this session's window clock was restarted for
    recorder_session_id: int = 0
    last_sample: StatsSample | None = field(default=None)
    audio: RingReader | None = None


class Aggregator:
    def __init__(
        self,
        recorder: StatsRecorder | None = None,
        *,
        perf: bool = False,
        perf_out: TextIO | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.recorder = recorder
        self.perf = perf
        self.perf_out = perf_out or sys.stdout
        self.telemetry = telemetry
        self.histograms = LatencyHistograms()
        self._tracked: dict[int, _Tracked] = {}
        self._lock = threading.Lock()  # session_ending arrives from a worker thread

    # -- SessionObserver -------------------------------------------------------------

    def session_started(self, session: StreamSession) -> None:
        now = time.monotonic()
        if self.telemetry is not None:
            self.telemetry.session_started(session.pids)
        with self._lock:
            self._tracked[session.session_id] = _Tracked(
                session,
                session.frame_ring.reader(),
                session.send_ring.reader(),
                session.counters.snapshot(),
                now,
                now + session.window_s,
                aligned_seq=self.recorder.capture_seq if self.recorder else 0,
                audio=session.audio_ring.reader() if session.audio_ring is not None else None,
            )

    def session_ending(self, session: StreamSession) -> None:
        """The processes have stopped; take the last (partial) window, then forget it."""
        with self._lock:
            tracked = self._tracked.pop(session.session_id, None)
            if tracked is not None and time.monotonic() - tracked.window_start >= 0.2:
                self._window(tracked, time.monotonic())
        if self.telemetry is not None:
            self.telemetry.session_ended(session.pids)

    # -- the window clock ------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        recorder = self.recorder
        new_capture = recorder.capture_seq if recorder and recorder.is_armed() else 0
        with self._lock:
            for tracked in list(self._tracked.values()):
                if new_capture and tracked.aligned_seq != new_capture:
                    # A capture was just armed: its first sample should cover a whole
                    # window from now, not the tail of one that began before the arm.
                    tracked.aligned_seq = new_capture
                    self._restart_window(tracked, now)
                    continue
                if now >= tracked.due:
                    try:
                        self._window(tracked, now)
                    except Exception:
                        # One bad window must not stop the clock for every session.
                        log.exception("window of session %d failed", tracked.session.session_id)
                    window = tracked.session.window_s
                    # If the loop was held up, start afresh rather than firing a burst.
                    tracked.due = max(tracked.due + window, now + window / 2)

    def _restart_window(self, tracked: _Tracked, now: float) -> None:
        # What was measured before now belongs to no window; the histograms count it.
        records = {"frames": tracked.frames.read(), "sends": tracked.sends.read()}
        self.histograms.observe(tracked.session.path, records)
        if tracked.audio is not None:
            tracked.audio.read()
        tracked.counters = tracked.session.counters.snapshot()
        tracked.window_start = now
        tracked.due = now + tracked.session.window_s

    def latest(self) -> list[tuple[StreamSession, StatsSample]]:
        with self._lock:
            return [(t.session, t.last_sample) for t in self._tracked.values() if t.last_sample]

    # -- one window ------------------------------------------------------------------

    def _window(self, tracked: _Tracked, now: float) -> None:
        session = tracked.session
        try:
            counters = session.counters.snapshot()
        except ValueError:  # released under us (session torn down concurrently)
            return
        records = {"frames": tracked.frames.read(), "sends": tracked.sends.read()}
        self.histograms.observe(session.path, records)
        if tracked.audio is not None:
            records["audio"] = tracked.audio.read()
        sample = build_sample(
            session.path,
            session.session_id,
            session.params.bitrate_kbps,
            records,
            tracked.counters,
            counters,
            now - tracked.window_start,
        )
        if self.telemetry is not None:
            try:
                sample = msgspec.structs.replace(sample, **self.telemetry.read(session.pids))
            except Exception:
                log.exception("telemetry for session %d failed", session.session_id)
        tracked.counters = counters
        tracked.window_start = now
        tracked.last_sample = sample
        self._record(tracked, sample)
        if self.perf:
            print(perf_line(session.path, sample), file=self.perf_out, flush=True)

    def _record(self, tracked: _Tracked, sample: StatsSample) -> None:
        recorder = self.recorder
        if recorder is None or not recorder.is_armed():
            return
        if tracked.capture_seq != recorder.capture_seq:
            p = tracked.session.params
            tracked.recorder_session_id = recorder.register_session(
                tracked.session.kind,
                p.width,
                p.height,
                p.fps,
                p.codec,
                tracked.session.encoder,
                p.client,
                gpu=self.telemetry.gpu.name if self.telemetry is not None else "",
            )
            tracked.capture_seq = recorder.capture_seq
        recorder.push_sample(tracked.recorder_session_id, sample)


def _delta(before: dict[Counter, int], after: dict[Counter, int], counter: Counter) -> int:
    # Counters only grow; a smaller value means a client restarted its own count.
    return max(after[counter] - before[counter], 0)


def stage_timings(path: PathSpec, records: dict[str, np.ndarray[Any, Any]]) -> list[StageTiming]:
    """p50/p99 of each of the path's stages over `records`, in the path's order; empty
    unless every stage has records (a partial stack would mislead)."""
    stages: list[StageTiming] = []
    for stage in path.stages:
        rows = records[stage.ring]
        if not len(rows):
            return []
        if len(stage.fields) == 1:
            ((p50, p99),) = percentiles(rows, stage.fields).round(1).tolist()  # plain floats
        else:  # a stage made of several fields: the percentiles of their per-frame sum
            total = np.zeros((1, len(rows)), dtype=np.float64)
            for name in stage.fields:
                total[0] += rows[name]
            ((p50, p99),) = column_percentiles(total).round(1).tolist()
        stages.append(StageTiming(name=stage.name, p50_us=p50, p99_us=p99))
    return stages


def build_sample(
    path: PathSpec,
    session_id: int,
    bitrate_kbps: int,
    records: dict[str, np.ndarray[Any, Any]],
    before: dict[Counter, int],
    after: dict[Counter, int],
    seconds: float,
) -> StatsSample:
    """One window of one session of `path`: `records` holds the new ring records
    ("frames", "sends", and "audio" where the path has sound), `before`/`after` the
    counters at the window's edges."""
    seconds = max(seconds, 1e-3)
    stages = stage_timings(path, records)
    host_p50 = host_p99 = None
    sends = records["sends"]
    if len(sends):
        latency_ns = sends["done_ts_ns"].astype(np.int64) - sends["capture_ts_ns"].astype(np.int64)
        host_us = (latency_ns / 1e3).reshape(1, -1)
        ((host_p50, host_p99),) = column_percentiles(host_us).round(1).tolist()

    reported = after[Counter.FEEDBACK_REPORTS] > 0  # loss is only known from feedback
    decoded = _delta(before, after, Counter.FRAMES_DECODED)
    return StatsSample(
        t_ms=0,
        session_id=session_id,
        stages=stages,
        fps=round(_delta(before, after, Counter.FRAMES_NEW) / seconds, 2),
        repeat_fps=round(_delta(before, after, Counter.FRAMES_REPEAT) / seconds, 2),
        mbps=round(_delta(before, after, Counter.PAYLOAD_BYTES_SENT) * 8 / seconds / 1e6, 3),
        bitrate_kbps=bitrate_kbps,
        frames_dropped=_delta(before, after, Counter.FRAMES_DROPPED),
        packets_dropped=_delta(before, after, Counter.PACKETS_LOST) if reported else None,
        send_dropped=_delta(before, after, Counter.SEND_DROPPED),
        fec_recovered=_delta(before, after, Counter.FEC_RECOVERED) if reported else None,
        host_p50_us=host_p50,
        host_p99_us=host_p99,
        client_decode_us=(
            round(_delta(before, after, Counter.DECODE_US_TOTAL) / decoded, 1)
            if reported and decoded
            else None
        ),
        rtt_us=float(after[Counter.RTT_US]) if after[Counter.RTT_US] else None,
        **_audio_and_input(path, records, before, after),
    )


def _audio_and_input(
    path: PathSpec,
    records: dict[str, np.ndarray[Any, Any]],
    before: dict[Counter, int],
    after: dict[Counter, int],
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if path.audio:
        fields["audio_packets"] = _delta(before, after, Counter.AUDIO_PACKETS_SENT)
        audio = records.get("audio")
        if audio is not None and len(audio):
            ((p50, p99),) = percentiles(audio, ("encode_us",)).round(1).tolist()
            fields["audio_encode_p50_us"], fields["audio_encode_p99_us"] = p50, p99
    if path.input:
        fields["input_events"] = _delta(before, after, Counter.INPUT_EVENTS)
    return fields


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def perf_line(path: PathSpec, sample: StatsSample) -> str:
    """The PUNKTFUNK_PERF=1 line: one per session per window, `key=value` pairs.

    perf native session=1 fps=60.0 repeat_fps=0.0 mbps=9.81 target_kbps=10000
    capture=480/546us submit=6/8us encode=1901/2434us handoff=88/168us send=2122/2362us
    host=4580/5330us frames_dropped=0 send_dropped=0 packets_dropped=3 fec_recovered=12 rtt=-us
    (one line; stage values are p50/p99 in microseconds; "-" means not measured)
    """
    parts = [
        f"perf {path.kind}",
        f"session={sample.session_id}",
        f"fps={sample.fps:.1f}",
        f"repeat_fps={sample.repeat_fps:.1f}",
        f"mbps={sample.mbps:.2f}",
        f"target_kbps={sample.bitrate_kbps}",
    ]
    timed = {stage.name: stage for stage in sample.stages}
    for name in path.stage_names:
        stage = timed.get(name)
        p50, p99 = (stage.p50_us, stage.p99_us) if stage else (None, None)
        parts.append(f"{name}={_us(p50)}/{_us(p99)}us")
    parts += [
        f"host={_us(sample.host_p50_us)}/{_us(sample.host_p99_us)}us",
        f"frames_dropped={_count(sample.frames_dropped)}",
        f"send_dropped={_count(sample.send_dropped)}",
        f"packets_dropped={_count(sample.packets_dropped)}",
        f"fec_recovered={_count(sample.fec_recovered)}",
        f"rtt={_us(sample.rtt_us)}us",
    ]
    return " ".join(parts)
