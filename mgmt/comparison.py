"""Comparing recordings: every comparable summary figure side by side, with its verdict.

The first recording is the baseline. For each metric a row holds each recording's summary
figure (`mgmt.summary`: a stage's p50/p99 is the median of its windows', fps and Mb/s the
mean) and, for every other recording, the relative change against the baseline, the
Mann-Whitney U p-value over the two recordings' per-window values of that metric, and the
verdict of `mgmt.significance` (better/worse only when > 5 % and p < 0.05).

Counters are compared per window (the mean over the windows that measured them), not as
totals: a total grows with the recording's length, which is no difference in quality.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta, Struct

from mgmt.models import Capture, CaptureMeta, StatsSample
from mgmt.significance import (
    ALPHA,
    THRESHOLD,
    Better,
    Verdict,
    mann_whitney_u,
    relative_change,
    verdict,
)
from mgmt.summary import COUNTER_LABELS, stage_order

MIN_RECORDINGS = 2
MAX_RECORDINGS = 8
TEST = "Mann-Whitney U, two-sided, over the per-window values of each recording"


class MetricDelta(Struct, frozen=True):
    """One recording against the baseline on one metric."""

    change: Annotated[
        float | None,
        Meta(
            description="relative change of the value vs the baseline's ((v - b) / b; "
            "-0.21 is 21 % lower); null when either is null or the baseline is 0"
        ),
    ]
    p_value: Annotated[
        float | None,
        Meta(
            description="two-sided Mann-Whitney U p-value over the two recordings' "
            "per-window values; null when either has no measured window"
        ),
    ]
    verdict: Annotated[
        Verdict,
        Meta(
            description='"better"/"worse" only when |change| > threshold and p_value < '
            'alpha ("changed" for a metric without a better direction); '
            '"no_clear_difference" otherwise; "n/a" when either side was not measured'
        ),
    ]


class ComparisonRow(Struct, frozen=True):
    """One metric across the recordings."""

    metric: Annotated[
        str,
        Meta(
            description='stable key: "stage:<name>:p50", "stage:<name>:p99", "host:p50", '
            '"host:p99", "fps", "repeat_fps", "mbps", "client_decode", "rtt", '
            '"audio_encode:p50", "audio_encode:p99", "counter:<StatsSample field>"'
        ),
    ]
    label: Annotated[str, Meta(description='for people, e.g. "capture p99"')]
    unit: Annotated[str, Meta(description='"us", "fps", "Mb/s" or "per window"')]
    better: Annotated[Better, Meta(description='which direction is better; "neutral": neither is')]
    values: Annotated[
        list[float | None],
        Meta(description="each recording's figure, in `ids` order; null: never measured"),
    ]
    windows: Annotated[
        list[int], Meta(description="each recording's windows that measured the metric")
    ]
    deltas: Annotated[
        list[MetricDelta],
        Meta(description="deltas[k]: recording ids[k + 1] against the baseline ids[0]"),
    ]


class Comparison(Struct, frozen=True):
    """Recordings side by side; the first is the baseline."""

    ids: list[str]
    recordings: Annotated[list[CaptureMeta], Meta(description="each recording's meta")]
    threshold: Annotated[
        float, Meta(description="a change must be larger than this (relative) to count")
    ]
    alpha: Annotated[float, Meta(description="... and its p-value smaller than this")]
    test: str
    rows: Annotated[
        list[ComparisonRow],
        Meta(description="every metric some recording measured; stages in pipeline order"),
    ]


@dataclass(frozen=True)
class _Metric:
    key: str
    label: str
    unit: str
    better: Better
    windows: Callable[[StatsSample], float | None]  # a window's value, None if unmeasured
    figure: Callable[[list[float]], float]  # the recording's summary figure


def _stage_value(name: str, which: str) -> Callable[[StatsSample], float | None]:
    def value(sample: StatsSample) -> float | None:
        for timing in sample.stages:
            if timing.name == name:
                return timing.p50_us if which == "p50" else timing.p99_us
        return None

    return value


def _field(name: str) -> Callable[[StatsSample], float | None]:
    def value(sample: StatsSample) -> float | None:
        v: float | None = getattr(sample, name)
        return v

    return value


def _metrics(stage_names: Sequence[str]) -> list[_Metric]:
    median, mean = statistics.median, statistics.fmean
    metrics = [
        _Metric(f"stage:{name}:{p}", f"{name} {p}", "us", "lower", _stage_value(name, p), median)
        for name in stage_names
        for p in ("p50", "p99")
    ]
    metrics += [
        _Metric("host:p50", "host total p50", "us", "lower", _field("host_p50_us"), median),
        _Metric("host:p99", "host total p99", "us", "lower", _field("host_p99_us"), median),
        _Metric("fps", "fps", "fps", "higher", _field("fps"), mean),
        _Metric("repeat_fps", "repeats", "fps", "neutral", _field("repeat_fps"), mean),
        _Metric("mbps", "bitrate", "Mb/s", "neutral", _field("mbps"), mean),
        _Metric("client_decode", "client decode", "us", "lower", _field("client_decode_us"), mean),
        _Metric("rtt", "network RTT", "us", "lower", _field("rtt_us"), median),
        _Metric(
            "audio_encode:p50",
            "audio encode p50",
            "us",
            "lower",
            _field("audio_encode_p50_us"),
            median,
        ),
        _Metric(
            "audio_encode:p99",
            "audio encode p99",
            "us",
            "lower",
            _field("audio_encode_p99_us"),
            median,
        ),
    ]
    counter_better: dict[str, Better] = {
        "frames_dropped": "lower",
        "packets_dropped": "lower",
        "send_dropped": "lower",
        "fec_recovered": "neutral",  # more recovered: more loss, and also less lost
        "audio_packets": "neutral",
        "input_events": "neutral",
    }
    metrics += [
        _Metric(
            f"counter:{name}",
            f"{COUNTER_LABELS[name]} per window",
            "per window",
            better,
            _field(name),
            mean,
        )
        for name, better in counter_better.items()
    ]
    return metrics


def _stage_names(captures: Sequence[Capture]) -> list[str]:
    names: dict[str, None] = {}
    for capture in captures:
        for name in stage_order(capture.meta.kind, capture.samples):
            names.setdefault(name, None)
    return list(names)


def compare(captures: Sequence[Capture]) -> Comparison:
    """`captures[0]` (the baseline) against each of the others."""
    if not MIN_RECORDINGS <= len(captures) <= MAX_RECORDINGS:
        raise ValueError(f"compare takes {MIN_RECORDINGS} to {MAX_RECORDINGS} recordings")
    rows = []
    for metric in _metrics(_stage_names(captures)):
        per_window = [
            [v for s in capture.samples if (v := metric.windows(s)) is not None]
            for capture in captures
        ]
        if not any(per_window):
            continue  # no recording measured it
        values = [metric.figure(w) if w else None for w in per_window]
        base_windows, base_value = per_window[0], values[0]
        deltas = []
        for windows, value in zip(per_window[1:], values[1:], strict=True):
            p_value = mann_whitney_u(base_windows, windows)
            deltas.append(
                MetricDelta(
                    change=relative_change(value, base_value),
                    p_value=p_value,
                    verdict=verdict(value, base_value, p_value, metric.better),
                )
            )
        rows.append(
            ComparisonRow(
                metric=metric.key,
                label=metric.label,
                unit=metric.unit,
                better=metric.better,
                values=values,
                windows=[len(w) for w in per_window],
                deltas=deltas,
            )
        )
    return Comparison(
        ids=[c.meta.id for c in captures],
        recordings=[c.meta for c in captures],
        threshold=THRESHOLD,
        alpha=ALPHA,
        test=TEST,
        rows=rows,
    )
