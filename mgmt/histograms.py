"""Latency histograms for Prometheus: every measured frame counted into fixed buckets.

Window percentiles cannot be combined across hosts; bucket counts can
(`histogram_quantile(0.99, sum by (le, stage) (rate(..._bucket[5m])))`). At each window
the aggregator hands `LatencyHistograms.observe` the window's ring records, and each
stage's per-frame durations (a stage of several fields: their per-frame sum, as in the
samples) and each frame's host latency (capture start -> last datagram sent) are counted
with one `np.searchsorted` + `np.bincount` per series. Counts are cumulative for the life
of the process and kept per path and stage, so a series exists from the first scrape and
never goes backwards while the process lives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from host.pipeline.stages import PATHS, PathSpec

# Upper bounds (le) in microseconds: fine around a 60-240 fps frame budget, coarse
# beyond it. Integers, so that a frame exactly on a bound is counted without rounding.
BUCKETS_US = (
    50, 100, 250, 500, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 6_500, 8_000, 10_000,
    12_500, 15_000, 20_000, 25_000, 33_000, 50_000, 75_000, 100_000, 250_000, 500_000,
    1_000_000,
)  # fmt: skip
HOST = "host"  # the series key of the host latency (capture start -> last datagram sent)


@dataclass(frozen=True)
class Histogram:
    """One series' counts: `buckets` are cumulative (le, count) pairs ending with +Inf."""

    buckets: list[tuple[str, float]]
    sum_s: float

    @property
    def count(self) -> float:
        return self.buckets[-1][1]


class _Series:
    __slots__ = ("counts", "sum_us")

    def __init__(self, n_buckets: int) -> None:
        self.counts = np.zeros(n_buckets + 1, dtype=np.int64)  # the last one: +Inf
        self.sum_us = 0.0


class LatencyHistograms:
    """Per path: one histogram per stage and one of host latency."""

    def __init__(
        self, paths: Iterable[PathSpec] = PATHS.values(), bounds_us: tuple[int, ...] = BUCKETS_US
    ) -> None:
        if list(bounds_us) != sorted(set(bounds_us)) or not bounds_us or bounds_us[0] <= 0:
            raise ValueError("bucket bounds must be positive and strictly increasing")
        self.bounds_us = np.asarray(bounds_us, dtype=np.float64)
        self.les = [_le(us) for us in bounds_us] + ["+Inf"]
        self._lock = threading.Lock()  # observe() on the window clock, snapshots on scrapes
        self._series = {
            (path.kind, name): _Series(len(bounds_us))
            for path in paths
            for name in (*path.stage_names, HOST)
        }

    def observe(self, path: PathSpec, records: dict[str, np.ndarray[Any, Any]]) -> None:
        """Count one window's records ("frames", "sends", as the aggregator reads them)."""
        durations: list[tuple[str, np.ndarray[Any, Any]]] = []
        for stage in path.stages:
            rows = records[stage.ring]
            if not len(rows):
                continue
            values = rows[stage.fields[0]].astype(np.float64)
            for name in stage.fields[1:]:
                values += rows[name]
            durations.append((stage.name, values))
        sends = records["sends"]
        if len(sends):
            latency_ns = sends["done_ts_ns"].astype(np.int64) - sends["capture_ts_ns"].astype(
                np.int64
            )
            durations.append((HOST, np.maximum(latency_ns, 0) / 1e3))
        counted = [
            (name, np.bincount(np.searchsorted(self.bounds_us, values), minlength=len(self.les)))
            for name, values in durations
        ]
        with self._lock:
            for (name, counts), (_, values) in zip(counted, durations, strict=True):
                series = self._series[(path.kind, name)]
                series.counts += counts
                series.sum_us += float(values.sum())

    def snapshot(self) -> dict[tuple[str, str], Histogram]:
        """(path, stage or `HOST`) -> its histogram so far."""
        with self._lock:
            raw = {key: (s.counts.copy(), s.sum_us) for key, s in self._series.items()}
        return {
            key: Histogram(
                list(zip(self.les, np.cumsum(counts).tolist(), strict=True)), sum_us / 1e6
            )
            for key, (counts, sum_us) in raw.items()
        }


def _le(us: int) -> str:
    """A bound in seconds as Prometheus clients write it (`0.0005`, `1.0`)."""
    return repr(us / 1e6)
