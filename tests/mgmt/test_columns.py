"""A recording column by column (mgmt.columns): the same samples, turned around, and back."""

from __future__ import annotations

import msgspec
import pytest

from mgmt.columns import ALWAYS_PRESENT, from_columns, to_columns
from mgmt.models import (
    COLUMN_FIELDS,
    GAMESTREAM_STAGES,
    NATIVE_STAGES,
    Capture,
    CaptureColumns,
    StageColumn,
    StageTiming,
    StatsSample,
    json_encoder,
)
from tests.support.samples import make_capture, make_meta, make_sample


def through_json(columns: CaptureColumns) -> CaptureColumns:
    """As a client receives it."""
    return msgspec.json.decode(json_encoder.encode(columns), type=CaptureColumns)


def gamestream_sample(i: int, session_id: int) -> StatsSample:
    sample = make_sample(i, session_id=session_id)
    sample.stages = [
        StageTiming(name, p50_us=100.0 + n + i, p99_us=900.5 + n)
        for n, name in enumerate(GAMESTREAM_STAGES)
    ]
    sample.rtt_us = 1500.0 + i
    sample.audio_packets = 200 + i
    sample.input_events = 0
    sample.packets_dropped = i % 2
    return sample


def mixed_capture() -> Capture:
    """Two native sessions and a GameStream one, a sample without every stage, nulls."""
    samples = [make_sample(i, session_id=0) for i in range(4)]
    samples[2].stages = [t for t in samples[2].stages if t.name != "submit"]
    samples += [make_sample(i, session_id=1, every_field=True) for i in range(4, 7)]
    samples += [gamestream_sample(i, session_id=2) for i in range(7, 10)]
    samples[8].stages = []  # a window in which no stage reported
    return Capture(make_meta("mixed", len(samples)), samples)


def test_one_session_round_trips_exactly() -> None:
    capture = make_capture("one", 120)
    assert from_columns(through_json(to_columns(capture))) == capture


def test_sessions_paths_and_nulls_round_trip_exactly() -> None:
    capture = mixed_capture()
    back = from_columns(through_json(to_columns(capture)))
    assert back == capture
    assert [s.session_id for s in back.samples] == [0] * 4 + [1] * 3 + [2] * 3


def test_row_i_is_sample_i() -> None:
    capture = mixed_capture()
    cols = to_columns(capture)
    assert cols.t_ms == [s.t_ms for s in capture.samples]
    assert cols.session_id == [s.session_id for s in capture.samples]
    assert cols.fields["fps"] == [s.fps for s in capture.samples]
    assert cols.fields["packets_dropped"] == [s.packets_dropped for s in capture.samples]
    for i, sample in enumerate(capture.samples):
        for stage in cols.stages:
            timing = next((t for t in sample.stages if t.name == stage.name), None)
            assert stage.p50_us[i] == (timing.p50_us if timing else None)
            assert stage.p99_us[i] == (timing.p99_us if timing else None)


def test_stages_come_in_the_kinds_pipeline_order_then_first_seen() -> None:
    names = [s.name for s in to_columns(mixed_capture()).stages]
    assert names == [*NATIVE_STAGES, "packetize"]


def test_a_stage_is_null_where_a_sample_lacks_it() -> None:
    cols = to_columns(mixed_capture())
    submit = next(s for s in cols.stages if s.name == "submit")
    assert (submit.p50_us[2], submit.p99_us[2]) == (None, None)  # dropped from sample 2
    assert submit.p50_us[7:] == [None] * 3  # GameStream has no submit stage
    packetize = next(s for s in cols.stages if s.name == "packetize")
    assert packetize.p50_us[:7] == [None] * 7
    assert packetize.p50_us[8] is None  # the window with no stage at all


def test_a_field_no_sample_measured_is_left_out_and_the_rest_keep_stats_sample_order() -> None:
    plain = Capture(make_meta("plain", 5), [make_sample(i) for i in range(5)])
    cols = to_columns(plain)  # no GPU, no client feedback
    assert "gpu_power_w" not in cols.fields
    assert "client_decode_us" not in cols.fields
    assert "fec_recovered" not in cols.fields
    assert list(cols.fields) == [name for name in COLUMN_FIELDS if name in cols.fields]
    assert cols.fields["capture_cpu_pct"] == [41.5] * 5


def test_a_field_measured_in_some_samples_is_null_in_the_others() -> None:
    cols = to_columns(mixed_capture())
    assert cols.fields["gpu_power_w"][:4] == [None] * 4
    assert cols.fields["gpu_power_w"][4] is not None
    assert cols.fields["rtt_us"] == [None] * 7 + [1507.0, 1508.0, 1509.0]


def test_an_empty_recording_still_has_the_fields_every_sample_has() -> None:
    cols = to_columns(make_capture("empty", 0))
    assert set(cols.fields) == ALWAYS_PRESENT == {"fps", "repeat_fps", "mbps", "bitrate_kbps"}
    assert (cols.t_ms, cols.stages) == ([], [])
    assert from_columns(through_json(cols)).samples == []


def test_integers_stay_integers_in_json() -> None:
    text = json_encoder.encode(to_columns(make_capture("ints", 2)))
    assert b'"bitrate_kbps":[20000,20000]' in text
    assert b'"frames_dropped":[0,1]' in text


def test_a_sample_with_a_stage_twice_cannot_be_columns() -> None:
    capture = make_capture("twice", 3)
    capture.samples[1].stages.append(StageTiming("encode", 1.0, 2.0))
    with pytest.raises(ValueError, match="sample 1 has stage 'encode' twice"):
        to_columns(capture)


def broken(**changes: object) -> CaptureColumns:
    cols = to_columns(make_capture("broken", 3))
    return msgspec.structs.replace(cols, **changes)


@pytest.mark.parametrize(
    ("cols", "message"),
    [
        (broken(session_id=[0, 0]), "session_id has 2 rows, t_ms has 3"),
        (broken(t_ms=[0, 1, 2, 3]), "session_id has 3 rows, t_ms has 4"),
        (
            broken(stages=[StageColumn("capture", [1.0, 2.0, 3.0], [1.0, 2.0])]),
            r"stages\['capture'\].p99_us has 2 rows",
        ),
        (
            broken(stages=[StageColumn("capture", [1.0, None, 3.0], [1.0, 2.0, 3.0])]),
            "stage 'capture' in row 1: p50_us and p99_us must both be null",
        ),
        (
            broken(stages=[StageColumn("a", [None] * 3, [None] * 3)] * 2),
            "a stage name appears twice",
        ),
        (broken(fields={"fps": [1.0]}), "fields lacks bitrate_kbps, mbps, repeat_fps"),
        (
            broken(fields={**to_columns(make_capture("f", 3)).fields, "fps": [1.0, 2.0]}),
            r"fields\['fps'\] has 2 rows",
        ),
        (
            broken(fields={**to_columns(make_capture("f", 3)).fields, "volume": [1, 2, 3]}),
            "fields has unknown names: volume",
        ),
        (
            broken(fields={**to_columns(make_capture("f", 3)).fields, "fps": [1.0, None, 3.0]}),
            "the columns do not make valid samples",
        ),
        (
            broken(fields={**to_columns(make_capture("f", 3)).fields, "mbps": [1.0, -2.0, 3.0]}),
            "the columns do not make valid samples",
        ),
    ],
)
def test_columns_that_do_not_fit_are_a_clear_value_error(
    cols: CaptureColumns, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        from_columns(cols)
