"""Prometheus `/metrics`: latency histograms and the latest window of every live session.

A collector builds the families at scrape time. Latency is exposed as histograms
(`punktfunk_stage_latency_seconds{path,stage}`, `punktfunk_host_latency_seconds{path}`):
every measured frame counted into fixed buckets since the process started
(`mgmt.histograms`), so quantiles combine across sessions and hosts. Rates and counters
come from the aggregator's latest sample per session and the sessions' cumulative
counters, labelled by session id, path and codec, so a session that ended disappears
from the next scrape instead of leaving stale series behind. Units are Prometheus base
units (seconds, bytes per second); `promtool check metrics` accepts the exposition.

`/metrics` needs the API's bearer token (the API's auth middleware guards it, see
`serve`) unless the operator sets `metrics_open` for a scraper on a trusted network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ipc import Counter
from mgmt.aggregator import Aggregator
from mgmt.histograms import HOST
from mgmt.recorder import StatsRecorder

METRICS_PATH = "/metrics"
SESSION_LABELS = ("session", "path", "codec")


@dataclass(frozen=True)
class _CounterSpec:
    name: str  # prometheus_client adds the _total suffix
    sources: tuple[Counter, ...]  # summed
    help: str
    from_feedback: bool = False  # known only once the client reports; absent before


COUNTERS = (
    _CounterSpec(
        "punktfunk_frames_sent",
        (Counter.FRAMES_NEW, Counter.FRAMES_REPEAT),
        "frames encoded and handed to the sender",
    ),
    _CounterSpec(
        "punktfunk_frames_dropped",
        (Counter.FRAMES_DROPPED,),
        "frame slots skipped because encoding fell behind",
    ),
    _CounterSpec("punktfunk_send_dropped", (Counter.SEND_DROPPED,), "datagrams the kernel refused"),
    _CounterSpec(
        "punktfunk_packets_dropped",
        (Counter.PACKETS_LOST,),
        "datagrams the client never received",
        from_feedback=True,
    ),
    _CounterSpec(
        "punktfunk_fec_recovered",
        (Counter.FEC_RECOVERED,),
        "data shards the client rebuilt from parity",
        from_feedback=True,
    ),
    _CounterSpec(
        "punktfunk_bytes_sent",
        (Counter.BYTES_SENT,),
        "bytes handed to the kernel, headers and parity included",
    ),
)


class StatsCollector:
    def __init__(self, aggregator: Aggregator, recorder: StatsRecorder) -> None:
        self.aggregator = aggregator
        self.recorder = recorder

    def describe(self) -> Iterable[Metric]:
        return []  # collect() at registration would scrape for nothing

    def collect(self) -> Iterable[Metric]:
        stage = HistogramMetricFamily(
            "punktfunk_stage_latency_seconds",
            "per-stage latency of every measured frame",
            labels=["path", "stage"],
        )
        host = HistogramMetricFamily(
            "punktfunk_host_latency_seconds",
            "capture start to last datagram sent, of every measured frame",
            labels=["path"],
        )
        for (kind, name), histogram in self.aggregator.histograms.snapshot().items():
            if name == HOST:
                host.add_metric([kind], histogram.buckets, histogram.sum_s)
            else:
                stage.add_metric([kind, name], histogram.buckets, histogram.sum_s)
        gauges = {
            "fps": GaugeMetricFamily(
                "punktfunk_fps", "new frames per second from the source", labels=SESSION_LABELS
            ),
            "repeat_fps": GaugeMetricFamily(
                "punktfunk_repeat_fps", "re-encoded repeats per second", labels=SESSION_LABELS
            ),
            "mbps": GaugeMetricFamily(
                "punktfunk_goodput_bytes_per_second",
                "transmitted goodput over the latest window",
                labels=SESSION_LABELS,
            ),
            "bitrate_kbps": GaugeMetricFamily(
                "punktfunk_target_bytes_per_second",
                "configured target bitrate",
                labels=SESSION_LABELS,
            ),
        }
        # Base units: the samples' Mb/s and kb/s become bytes per second.
        scale = {"fps": 1.0, "repeat_fps": 1.0, "mbps": 1e6 / 8, "bitrate_kbps": 1e3 / 8}
        counters = {
            spec.name: CounterMetricFamily(spec.name, spec.help, labels=SESSION_LABELS)
            for spec in COUNTERS
        }
        sessions = 0
        for session, sample in self.aggregator.latest():
            sessions += 1
            labels = [str(session.session_id), session.kind, session.params.codec]
            for field, family in gauges.items():
                family.add_metric(labels, getattr(sample, field) * scale[field])
            try:
                snapshot = session.counters.snapshot()
            except ValueError:  # the session is being torn down right now
                continue
            reported = snapshot[Counter.FEEDBACK_REPORTS] > 0
            for spec in COUNTERS:
                if spec.from_feedback and not reported:
                    continue  # unmeasured: absent, not 0
                counters[spec.name].add_metric(labels, sum(snapshot[c] for c in spec.sources))

        status = self.recorder.status()
        yield GaugeMetricFamily(
            "punktfunk_capture_armed", "1 while a stats capture is recording", value=status.armed
        )
        yield GaugeMetricFamily(
            "punktfunk_capture_samples",
            "samples in the capture in progress",
            value=status.sample_count,
        )
        yield GaugeMetricFamily("punktfunk_sessions", "live streaming sessions", value=sessions)
        yield stage
        yield host
        yield from gauges.values()
        yield from counters.values()


def metrics_route(aggregator: Aggregator, recorder: StatsRecorder) -> Route:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(aggregator, recorder))

    async def metrics(request: Request) -> Response:
        body: Any = generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, metrics, methods=["GET"])
