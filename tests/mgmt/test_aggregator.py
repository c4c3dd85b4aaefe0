"""The aggregator's window: ring records and counter deltas -> one StatsSample."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from host.pipeline.stages import GAMESTREAM, NATIVE
from ipc import FRAME_RECORD, SEND_RECORD, ControlBlock, Counter
from mgmt.aggregator import Aggregator, build_sample, perf_line
from mgmt.models import NATIVE_STAGES, StageTiming, StatsSample
from mgmt.recorder import StatsRecorder
from tests.support.native import unstarted_session


def records(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = np.zeros(n, dtype=FRAME_RECORD.dtype)
    sends = np.zeros(n, dtype=SEND_RECORD.dtype)
    frames["capture_us"] = rng.integers(300, 900, n)
    frames["submit_us"] = rng.integers(1, 20, n)
    frames["encode_us"] = rng.integers(1000, 6000, n)
    sends["handoff_us"] = rng.integers(20, 300, n)
    sends["packetize_us"] = rng.integers(100, 400, n)
    sends["send_us"] = rng.integers(1500, 2500, n)
    sends["capture_ts_ns"] = np.arange(n, dtype=np.uint64) * 16_666_667 + 10**12
    sends["done_ts_ns"] = sends["capture_ts_ns"] + rng.integers(3_000_000, 9_000_000, n).astype(
        np.uint64
    )
    return {"frames": frames, "sends": sends}


def counters(**values: int) -> dict[Counter, int]:
    base = dict.fromkeys(Counter, 0)
    base.update({Counter[k.upper()]: v for k, v in values.items()})
    return base


def test_stage_percentiles_follow_the_native_pipeline_order_and_match_numpy() -> None:
    recs = records(120)
    sample = build_sample(NATIVE, 3, 10_000, recs, counters(), counters(frames_new=120), 2.0)
    assert [s.name for s in sample.stages] == list(NATIVE_STAGES)
    for stage, spec in zip(sample.stages, NATIVE.stages, strict=True):
        per_frame = sum(recs[spec.ring][f].astype(float) for f in spec.fields)
        expected = np.percentile(per_frame, [50, 99])
        assert stage.name == spec.name
        assert stage.p50_us == pytest.approx(expected[0], abs=0.05)
        assert stage.p99_us == pytest.approx(expected[1], abs=0.05)
    host_us = (
        recs["sends"]["done_ts_ns"].astype(np.int64)
        - recs["sends"]["capture_ts_ns"].astype(np.int64)
    ) / 1e3
    assert sample.host_p50_us == pytest.approx(np.percentile(host_us, 50), abs=0.05)
    assert sample.host_p99_us == pytest.approx(np.percentile(host_us, 99), abs=0.05)


def test_a_stage_of_several_fields_is_the_percentile_of_their_per_frame_sum() -> None:
    recs = records(200, seed=3)
    sample = build_sample(GAMESTREAM, 1, 20_000, recs, counters(), counters(), 1.0)
    assert [s.name for s in sample.stages] == list(GAMESTREAM.stage_names)
    encode = next(s for s in sample.stages if s.name == "encode")
    per_frame = recs["frames"]["submit_us"].astype(float) + recs["frames"]["encode_us"]
    assert encode.p99_us == pytest.approx(np.percentile(per_frame, 99), abs=0.05)
    # Not the sum of the fields' own percentiles: that would overstate a p99.
    separate = np.percentile(recs["frames"]["submit_us"], 99) + np.percentile(
        recs["frames"]["encode_us"], 99
    )
    assert encode.p99_us < separate


def test_samples_hold_plain_python_numbers_that_encode_to_json() -> None:
    import msgspec

    sample = build_sample(NATIVE, 1, 1, records(50), counters(), counters(frames_new=50), 2.0)
    values = [v for s in sample.stages for v in (s.p50_us, s.p99_us)]
    values += [sample.host_p50_us, sample.host_p99_us, sample.fps]
    assert all(type(v) is float for v in values)
    msgspec.json.encode(sample)


def test_rates_are_counter_deltas_over_the_window() -> None:
    before = counters(frames_new=100, frames_repeat=10, payload_bytes_sent=1_000_000)
    after = counters(
        frames_new=220, frames_repeat=70, payload_bytes_sent=3_500_000, frames_dropped=4
    )
    sample = build_sample(NATIVE, 1, 10_000, records(0), before, after, 2.0)
    assert sample.fps == 60.0
    assert sample.repeat_fps == 30.0
    assert sample.mbps == 10.0  # 2.5 MB in 2 s
    assert sample.frames_dropped == 4
    assert sample.send_dropped == 0
    assert sample.bitrate_kbps == 10_000


def test_loss_counters_are_null_until_the_client_reports_and_zero_means_none_happened() -> None:
    silent = build_sample(NATIVE, 1, 1, records(0), counters(), counters(), 2.0)
    assert silent.packets_dropped is None
    assert silent.fec_recovered is None
    assert silent.client_decode_us is None
    reporting = build_sample(
        NATIVE,
        1,
        1,
        records(0),
        counters(feedback_reports=1, frames_decoded=10, decode_us_total=5_000),
        counters(feedback_reports=3, frames_decoded=130, decode_us_total=89_000),
        2.0,
    )
    assert reporting.packets_dropped == 0
    assert reporting.fec_recovered == 0
    assert reporting.client_decode_us == 700.0


def test_a_window_with_one_ring_empty_has_no_partial_stack() -> None:
    recs = records(10)
    recs["sends"] = recs["sends"][:0]
    sample = build_sample(NATIVE, 1, 1, recs, counters(), counters(), 2.0)
    assert sample.stages == []
    assert sample.host_p50_us is None


def test_the_perf_line_format_is_stable() -> None:
    sample = StatsSample(
        t_ms=0,
        session_id=1,
        stages=[
            StageTiming(name=n, p50_us=p50, p99_us=p99)
            for n, p50, p99 in [
                ("capture", 480.2, 546.0),
                ("submit", 6.0, 8.4),
                ("encode", 1901.0, 2434.0),
                ("handoff", 88.0, 168.0),
                ("send", 2122.0, 2362.0),
            ]
        ],
        fps=60.0,
        repeat_fps=0.0,
        mbps=9.8123,
        bitrate_kbps=10000,
        frames_dropped=0,
        packets_dropped=None,
        send_dropped=0,
        fec_recovered=None,
        host_p50_us=4580.0,
        host_p99_us=5330.4,
    )
    assert perf_line(NATIVE, sample) == (
        "perf native session=1 fps=60.0 repeat_fps=0.0 mbps=9.81 target_kbps=10000 "
        "capture=480/546us submit=6/8us encode=1901/2434us handoff=88/168us "
        "send=2122/2362us host=4580/5330us frames_dropped=0 send_dropped=0 "
        "packets_dropped=- fec_recovered=- rtt=-us"
    )


def test_arming_restarts_each_sessions_window_so_the_first_sample_is_whole(
    tmp_path: Path,
) -> None:
    """A real session's shared memory (its processes are not started: the test writes
    the records a capture process would), a real recorder, the aggregator's clock."""
    control = ControlBlock.create()
    recorder = StatsRecorder(tmp_path, on_armed_change=control.set_armed)
    session = unstarted_session(control)
    aggregator = Aggregator(recorder)
    try:
        t0 = time.monotonic()
        aggregator.session_started(session)
        aggregator.tick(t0 + 1.5)  # half-way through the first window: nothing yet
        recorder.start()
        aggregator.tick(t0 + 1.6)  # sees the new capture: the window restarts here
        aggregator.tick(t0 + 2.1)  # the old schedule would have fired here
        assert recorder.status().sample_count == 0
        aggregator.tick(t0 + 3.7)  # a whole window after the arm
        assert recorder.status().sample_count == 1
    finally:
        recorder.stop()
        session.close()
        control.close()


def test_sound_and_input_are_counted_on_paths_that_have_them_and_null_elsewhere() -> None:
    from ipc import AUDIO_RECORD

    recs = records(60)
    audio = np.zeros(200, dtype=AUDIO_RECORD.dtype)
    audio["encode_us"] = np.arange(200) + 100
    before = counters(audio_packets_sent=1000, input_events=7)
    after = counters(audio_packets_sent=1200, input_events=19)
    gamestream = build_sample(GAMESTREAM, 2, 20_000, {**recs, "audio": audio}, before, after, 1.0)
    assert gamestream.audio_packets == 200
    assert gamestream.input_events == 12
    assert gamestream.audio_encode_p50_us == pytest.approx(np.percentile(audio["encode_us"], 50))
    assert gamestream.audio_encode_p99_us == pytest.approx(
        np.percentile(audio["encode_us"], 99), abs=0.05
    )
    native = build_sample(NATIVE, 1, 10_000, recs, before, after, 2.0)
    assert native.audio_packets is None
    assert native.input_events is None
    assert native.audio_encode_p50_us is None
    silent = build_sample(GAMESTREAM, 2, 20_000, recs, after, after, 1.0)
    assert silent.audio_packets == 0  # measured: no packet went out
    assert silent.audio_encode_p50_us is None  # nothing encoded, nothing to time
