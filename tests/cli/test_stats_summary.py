"""A recording's summary (mgmt.summary, what `punktfunk stats show` prints)."""

from __future__ import annotations

import pytest

from mgmt.models import Capture, CaptureMeta, StageTiming, StatsSample
from mgmt.stats_render import render_recording, render_summary
from mgmt.summary import CounterTotal, stage_order, summarize, summarize_latency


def sample(
    t_ms: int = 0,
    *,
    session_id: int = 1,
    stages: dict[str, tuple[float, float]] | None = None,
    fps: float = 60.0,
    mbps: float = 8.0,
    bitrate_kbps: int = 10_000,
    frames_dropped: int | None = 0,
    packets_dropped: int | None = None,
    send_dropped: int | None = 0,
    fec_recovered: int | None = None,
    host: tuple[float, float] | None = (5000.0, 7000.0),
) -> StatsSample:
    stages = {"capture": (500.0, 900.0)} if stages is None else stages
    return StatsSample(
        t_ms=t_ms,
        session_id=session_id,
        stages=[StageTiming(name, p50, p99) for name, (p50, p99) in stages.items()],
        fps=fps,
        repeat_fps=0.0,
        mbps=mbps,
        bitrate_kbps=bitrate_kbps,
        frames_dropped=frames_dropped,
        packets_dropped=packets_dropped,
        send_dropped=send_dropped,
        fec_recovered=fec_recovered,
        host_p50_us=None if host is None else host[0],
        host_p99_us=None if host is None else host[1],
    )


def capture(samples: list[StatsSample], *, kind: str = "native", **meta: object) -> Capture:
    fields: dict[str, object] = {
        "id": "2026-06-26T20-14-03Z_1280x720",
        "started_unix_ms": 1_782_504_843_000,
        "duration_ms": 2000 * len(samples),
        "kind": kind,
        "width": 1280,
        "height": 720,
        "fps": 60,
        "codec": "h264",
        "encoder": "libx264",
        "client": "demo",
        "sample_count": len(samples),
        "sessions": len({s.session_id for s in samples}),
        **meta,
    }
    return Capture(meta=CaptureMeta(**fields), samples=samples)  # type: ignore[arg-type]


def counter(result: Capture, name: str) -> CounterTotal:
    return next(c for c in summarize(result).counters if c.name == name)


def test_p50_is_the_median_of_window_p50s_and_p99_the_median_and_max_of_window_p99s() -> None:
    windows = [(100.0, 200.0), (300.0, 900.0), (200.0, 400.0), (250.0, 5000.0)]
    summary = summarize_latency("encode", windows)
    assert summary is not None
    assert summary.windows == 4
    assert summary.p50_us == 225.0  # median of 100, 200, 250, 300
    assert summary.p99_us == 650.0  # median of 200, 400, 900, 5000
    assert summary.max_p99_us == 5000.0  # the worst window


def test_no_windows_is_no_latency_summary() -> None:
    assert summarize_latency("encode", []) is None


def test_stages_come_in_pipeline_order_whatever_order_the_samples_list_them() -> None:
    shuffled = {name: (1.0, 2.0) for name in ("send", "encode", "capture", "handoff", "submit")}
    assert [s.name for s in summarize(capture([sample(stages=shuffled)])).stages] == [
        "capture",
        "submit",
        "encode",
        "handoff",
        "send",
    ]


def test_stages_outside_the_pipeline_follow_it_in_first_seen_order() -> None:
    samples = [sample(stages={"extra": (1, 2), "send": (1, 2), "capture": (1, 2)})]
    assert stage_order("native", samples) == ["capture", "send", "extra"]
    assert stage_order("", samples) == ["extra", "send", "capture"]  # unknown path


def test_a_stage_missing_from_some_windows_is_summarised_over_the_others() -> None:
    samples = [
        sample(stages={"capture": (100, 200), "encode": (1000, 2000)}),
        sample(stages={"capture": (300, 400)}),
    ]
    encode = next(s for s in summarize(capture(samples)).stages if s.name == "encode")
    assert (encode.windows, encode.p50_us, encode.max_p99_us) == (1, 1000, 2000)


def test_counters_are_summed_over_the_windows() -> None:
    result = capture([sample(frames_dropped=2), sample(frames_dropped=0), sample(frames_dropped=5)])
    assert counter(result, "frames_dropped") == CounterTotal("frames_dropped", 7, 3, 3)


def test_a_counter_null_in_every_window_is_na_not_zero() -> None:
    result = capture([sample(fec_recovered=None), sample(fec_recovered=None)])
    assert counter(result, "fec_recovered").total is None
    text = render_summary(summarize(result))
    assert "FEC recovered    n/a (not measured)" in text
    assert "send dropped     0" in text  # measured, and nothing happened


def test_a_counter_measured_in_some_windows_says_how_many() -> None:
    result = capture([sample(packets_dropped=None), sample(packets_dropped=3)])
    assert counter(result, "packets_dropped") == CounterTotal("packets_dropped", 3, 1, 2)
    assert "packets dropped  3 (measured in 1 of 2 windows)" in render_summary(summarize(result))


def test_rates_are_means_over_the_windows_with_the_target() -> None:
    result = capture(
        [sample(fps=60, mbps=6, bitrate_kbps=10_000), sample(fps=50, mbps=8, bitrate_kbps=10_000)]
    )
    summary = summarize(result)
    assert (summary.fps_mean, summary.mbps_mean, summary.target_mbps_mean) == (55, 7, 10)
    text = render_summary(summary)
    assert "fps              55.0 mean (repeats 0.0)" in text
    assert "bitrate          7.00 Mb/s mean, target 10.00 Mb/s (70 %)" in text


def test_host_latency_ignores_windows_without_it_and_is_absent_when_none_has_it() -> None:
    summary = summarize(capture([sample(host=(4000, 6000)), sample(host=None)]))
    assert summary.host is not None
    assert (summary.host.windows, summary.host.p50_us) == (1, 4000)
    assert summarize(capture([sample(host=None)])).host is None
    assert "host total" not in render_summary(summarize(capture([sample(host=None)])))


def test_each_session_is_summarised_on_its_own_when_there_are_several() -> None:
    samples = [
        sample(0, session_id=1, fps=60, host=(4000, 5000)),
        sample(2000, session_id=1, fps=58, host=(4200, 5200)),
        sample(4000, session_id=2, fps=30, mbps=3, host=(9000, 12000)),
    ]
    summary = summarize(capture(samples))
    assert [(s.session_id, s.windows, s.first_t_ms, s.last_t_ms) for s in summary.sessions] == [
        (1, 2, 0, 2000),
        (2, 1, 4000, 4000),
    ]
    assert summary.sessions[0].fps_mean == 59
    assert summary.sessions[1].host is not None
    assert summary.sessions[1].host.p50_us == 9000
    text = render_summary(summary)
    assert "session  windows  from  to" in text
    assert "host p50 ms" in text


def test_one_session_has_no_session_table() -> None:
    assert "session  windows" not in render_summary(summarize(capture([sample(), sample()])))


def test_a_recording_without_samples_says_so() -> None:
    empty = capture([], kind="", width=0, height=0, fps=0, codec="", encoder="", client="")
    text = render_recording(summarize(empty))
    assert "no samples" in text
    assert "kind       - (no session)" in text
    assert "mode       -" in text


def test_a_truncated_recording_says_the_summary_covers_the_kept_windows() -> None:
    text = render_recording(summarize(capture([sample(), sample()], truncated=True)))
    assert "truncated  yes: the sample cap was reached" in text
    assert "covers the 2 windows that were kept" in text
    assert "truncated  no" in render_recording(summarize(capture([sample()])))


def test_the_footnote_says_how_windows_were_aggregated() -> None:
    text = render_summary(summarize(capture([sample(), sample(), sample()])))
    assert "p50, p99: the median over the 3 windows of each window's p50 and p99" in text
    assert "max p99: the worst window's p99" in text


@pytest.mark.parametrize(
    ("p50_us", "shown"), [(484.0, "0.484"), (7.0, "0.007"), (12345.6, "12.346")]
)
def test_stage_latency_is_shown_in_milliseconds(p50_us: float, shown: str) -> None:
    text = render_summary(summarize(capture([sample(stages={"capture": (p50_us, p50_us)})])))
    row = next(line for line in text.splitlines() if line.startswith("capture"))
    assert row.split()[1:] == [shown, shown, shown]
