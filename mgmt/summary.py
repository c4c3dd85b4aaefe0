"""The summary of a recording: whole-recording figures from its per-window samples.

A stage's p50 and p99 over a recording are the medians of its windows' p50s and p99s
(a typical window), and `max_p99_us` is the worst window's p99, an upper bound on the
recording's p99 (within each window at most 1 % of the frames exceed that window's p99).
Counters are summed over the windows; one that no window measured (all null) stays None,
never 0. Pure functions over the models; `punktfunk stats show` renders them, and the
structs here are also the API's summary schema (GET /api/v1/stats/recordings/{id}/summary).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Annotated

from msgspec import Meta, Struct

from mgmt.models import STAGES_BY_KIND, Capture, CaptureMeta, StatsSample


class LatencySummary(Struct, frozen=True):
    """One stage (or the host total) over a recording; microseconds."""

    name: Annotated[str, Meta(description='stage name, "host" or "audio encode"')]
    windows: Annotated[int, Meta(description="windows that measured it")]
    p50_us: Annotated[float, Meta(description="median of the window p50s")]
    p99_us: Annotated[float, Meta(description="median of the window p99s")]
    max_p99_us: Annotated[
        float, Meta(description="the worst window's p99: an upper bound on the recording's p99")
    ]


class CounterTotal(Struct, frozen=True):
    """A counter summed over the windows that measured it."""

    name: Annotated[str, Meta(description='the StatsSample field, e.g. "frames_dropped"')]
    total: Annotated[int | None, Meta(description="the sum; null: no window measured it")]
    measured: Annotated[int, Meta(description="windows that measured it")]
    windows: Annotated[int, Meta(description="windows in the recording")]


class SessionSummary(Struct, frozen=True):
    """One session of a recording (a capture can span several)."""

    session_id: int
    windows: int
    first_t_ms: int
    last_t_ms: int
    fps_mean: float
    mbps_mean: float
    host: LatencySummary | None


class RecordingSummary(Struct, frozen=True):
    """Whole-recording figures; means and medians are null when there are no windows."""

    id: Annotated[str, Meta(description="the recording's id (meta.id)")]
    meta: CaptureMeta
    windows: Annotated[int, Meta(description="samples (windows) summarised")]
    stages: Annotated[list[LatencySummary], Meta(description="pipeline order")]
    host: Annotated[LatencySummary | None, Meta(description="capture start -> last datagram sent")]
    fps_mean: float | None
    repeat_fps_mean: float | None
    mbps_mean: float | None
    target_mbps_mean: Annotated[float | None, Meta(description="mean configured bitrate, Mb/s")]
    client_decode_us_mean: float | None
    rtt_us_median: Annotated[
        float | None, Meta(description="the control channel's round trip, where measured")
    ]
    audio: Annotated[
        LatencySummary | None,
        Meta(description="Opus encode time per packet (paths with sound)"),
    ]
    counters: list[CounterTotal]
    sessions: Annotated[list[SessionSummary], Meta(description="first-seen order")]


COUNTERS = (
    "frames_dropped",
    "packets_dropped",
    "send_dropped",
    "fec_recovered",
    "audio_packets",
    "input_events",
)
# Counters only some paths have: left out of a summary where no window measured them.
OPTIONAL_COUNTERS = frozenset({"audio_packets", "input_events"})
COUNTER_LABELS = {
    "frames_dropped": "frames dropped",
    "packets_dropped": "packets dropped",
    "send_dropped": "send dropped",
    "fec_recovered": "FEC recovered",
    "audio_packets": "audio packets",
    "input_events": "input events",
}


def stage_order(kind: str, samples: Sequence[StatsSample]) -> list[str]:
    """The path's pipeline order, then any other stage in first-seen order."""
    seen: dict[str, None] = {}
    for sample in samples:
        for stage in sample.stages:
            seen.setdefault(stage.name, None)
    pipeline = [name for name in STAGES_BY_KIND.get(kind, ()) if name in seen]
    return pipeline + [name for name in seen if name not in pipeline]


def summarize_latency(name: str, pairs: Iterable[tuple[float, float]]) -> LatencySummary | None:
    """Whole-recording figures from per-window (p50, p99) pairs; None when there are none."""
    p50s, p99s = [], []
    for p50, p99 in pairs:
        p50s.append(p50)
        p99s.append(p99)
    if not p50s:
        return None
    return LatencySummary(
        name, len(p50s), statistics.median(p50s), statistics.median(p99s), max(p99s)
    )


def _host_pairs(samples: Iterable[StatsSample]) -> list[tuple[float, float]]:
    return [
        (s.host_p50_us, s.host_p99_us)
        for s in samples
        if s.host_p50_us is not None and s.host_p99_us is not None
    ]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(capture: Capture) -> RecordingSummary:
    samples = capture.samples
    stages = []
    for name in stage_order(capture.meta.kind, samples):
        pairs = [(t.p50_us, t.p99_us) for s in samples for t in s.stages if t.name == name]
        summary = summarize_latency(name, pairs)
        if summary is not None:
            stages.append(summary)
    counters = []
    for name in COUNTERS:
        measured = [v for s in samples if (v := getattr(s, name)) is not None]
        counters.append(
            CounterTotal(name, sum(measured) if measured else None, len(measured), len(samples))
        )
    by_session: dict[int, list[StatsSample]] = {}
    for sample in samples:
        by_session.setdefault(sample.session_id, []).append(sample)
    sessions = [
        SessionSummary(
            session_id=session_id,
            windows=len(group),
            first_t_ms=group[0].t_ms,
            last_t_ms=group[-1].t_ms,
            fps_mean=statistics.fmean(s.fps for s in group),
            mbps_mean=statistics.fmean(s.mbps for s in group),
            host=summarize_latency("host", _host_pairs(group)),
        )
        for session_id, group in by_session.items()
    ]
    return RecordingSummary(
        id=capture.meta.id,
        meta=capture.meta,
        windows=len(samples),
        stages=stages,
        host=summarize_latency("host", _host_pairs(samples)),
        fps_mean=_mean([s.fps for s in samples]),
        repeat_fps_mean=_mean([s.repeat_fps for s in samples]),
        mbps_mean=_mean([s.mbps for s in samples]),
        target_mbps_mean=_mean([s.bitrate_kbps / 1000 for s in samples]),
        client_decode_us_mean=_mean(
            [s.client_decode_us for s in samples if s.client_decode_us is not None]
        ),
        rtt_us_median=_median([s.rtt_us for s in samples if s.rtt_us is not None]),
        audio=summarize_latency(
            "audio encode",
            [
                (s.audio_encode_p50_us, s.audio_encode_p99_us)
                for s in samples
                if s.audio_encode_p50_us is not None and s.audio_encode_p99_us is not None
            ],
        ),
        counters=counters,
        sessions=sessions,
    )
