"""A saved recording's columns, summary and comparison, over a real Hypercorn server."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import msgspec
import pytest

from mgmt.columns import from_columns
from mgmt.comparison import MAX_RECORDINGS, compare
from mgmt.models import Capture, CaptureColumns, StageTiming, json_encoder
from mgmt.recorder import StatsRecorder
from mgmt.summary import RecordingSummary, summarize
from tests.mgmt.support import assert_envelope
from tests.mgmt.test_compression import raw_get
from tests.support.samples import make_capture, make_meta, make_sample, write_recording

RECORDINGS = "/api/v1/stats/recordings"


def with_capture_p99(recording_id: str, p99s: list[float]) -> Capture:
    """A recording whose windows' capture p99s are `p99s` (everything else alike)."""
    samples = [make_sample(i) for i in range(len(p99s))]
    for sample, p99 in zip(samples, p99s, strict=True):
        sample.stages[0] = StageTiming("capture", p50_us=p99 / 2, p99_us=p99)
    return Capture(make_meta(recording_id, len(samples)), samples)


def row(comparison: dict[str, object], metric: str) -> dict[str, object]:
    rows = comparison["rows"]
    assert isinstance(rows, list)
    return next(r for r in rows if r["metric"] == metric)


# -- columns ------------------------------------------------------------------------------


def test_columns_turn_back_into_the_recordings_samples(
    client: httpx.Client, recorder: StatsRecorder, captures_dir: Path
) -> None:
    samples = [make_sample(i, session_id=0) for i in range(3)]
    samples += [make_sample(i, session_id=1, every_field=True) for i in range(3, 6)]
    samples[1].stages.pop(1)
    write_recording(captures_dir, Capture(make_meta("two-sessions", 6), samples))
    response = client.get(f"{RECORDINGS}/two-sessions/columns")
    assert response.status_code == 200
    columns = msgspec.json.decode(response.content, type=CaptureColumns)
    assert from_columns(columns) == recorder.load("two-sessions")
    assert columns.session_id == [0, 0, 0, 1, 1, 1]
    submit = next(s for s in columns.stages if s.name == "submit")
    assert submit.p50_us[1] is None


def test_large_columns_are_gzipped_for_clients_that_accept_it(
    server: object, captures_dir: Path, client: httpx.Client
) -> None:
    write_recording(captures_dir, make_capture("big", 2000))
    url = str(client.base_url)
    path = f"{RECORDINGS}/big/columns"
    status, headers, packed = raw_get(
        url, path, Authorization=client.headers["authorization"], **{"Accept-Encoding": "gzip"}
    )
    assert (status, headers["content-encoding"], headers["vary"]) == (
        200,
        "gzip",
        "Accept-Encoding",
    )
    status, headers, plain = raw_get(url, path, Authorization=client.headers["authorization"])
    assert status == 200
    assert "content-encoding" not in headers
    assert headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(packed) == plain
    assert len(plain) < len(client.get(f"{RECORDINGS}/big").content) / 3


# -- summary ------------------------------------------------------------------------------


def test_summary_is_what_stats_show_summarises(
    client: httpx.Client, recorder: StatsRecorder, captures_dir: Path
) -> None:
    write_recording(captures_dir, make_capture("rec", 40))
    response = client.get(f"{RECORDINGS}/rec/summary")
    assert response.status_code == 200
    summary = msgspec.json.decode(response.content, type=RecordingSummary)
    assert summary == summarize(recorder.load("rec"))
    assert summary.id == summary.meta.id == "rec"
    body = response.json()
    assert [s["name"] for s in body["stages"]] == [
        "capture",
        "submit",
        "encode",
        "handoff",
        "send",
    ]
    assert body["stages"][0]["p99_us"] > 100  # microseconds, as the samples carry them


def test_summary_says_null_for_what_was_never_measured(
    client: httpx.Client, captures_dir: Path
) -> None:
    write_recording(
        captures_dir, Capture(make_meta("plain", 3), [make_sample(i) for i in range(3)])
    )
    counters = {c["name"]: c for c in client.get(f"{RECORDINGS}/plain/summary").json()["counters"]}
    assert counters["packets_dropped"] == {
        "name": "packets_dropped",
        "total": None,
        "measured": 0,
        "windows": 3,
    }
    assert counters["frames_dropped"]["total"] == 0 + 1 + 2


# -- compare ------------------------------------------------------------------------------


def test_two_three_window_recordings_21_percent_apart_are_no_clear_difference(
    client: httpx.Client, captures_dir: Path
) -> None:
    write_recording(captures_dir, with_capture_p99("before", [1000, 1010, 1020]))
    write_recording(captures_dir, with_capture_p99("after", [790, 798, 806]))
    response = client.get("/api/v1/stats/compare", params=[("id", "before"), ("id", "after")])
    assert response.status_code == 200
    body = response.json()
    assert (body["ids"], body["threshold"], body["alpha"]) == (["before", "after"], 0.05, 0.05)
    capture_p99 = row(body, "stage:capture:p99")
    assert capture_p99["values"] == [1010.0, 798.0]
    assert capture_p99["better"] == "lower"
    [delta] = capture_p99["deltas"]
    assert delta["change"] == pytest.approx(-0.2099, abs=1e-4)
    assert delta["p_value"] == pytest.approx(0.1, rel=1e-9)
    assert delta["verdict"] == "no_clear_difference"


def test_a_clear_difference_over_many_windows_is_better_or_worse(
    client: httpx.Client, captures_dir: Path
) -> None:
    write_recording(captures_dir, with_capture_p99("slow", [1000.0 + i % 7 for i in range(40)]))
    write_recording(captures_dir, with_capture_p99("fast", [700.0 + i % 7 for i in range(40)]))
    forward = client.get("/api/v1/stats/compare?id=slow&id=fast").json()
    backward = client.get("/api/v1/stats/compare?id=fast&id=slow").json()
    assert row(forward, "stage:capture:p99")["deltas"][0]["verdict"] == "better"
    assert row(backward, "stage:capture:p99")["deltas"][0]["verdict"] == "worse"
    # Everything else is the same in both: no clear difference.
    assert row(forward, "stage:encode:p99")["deltas"][0]["verdict"] == "no_clear_difference"
    assert row(forward, "fps")["deltas"][0]["verdict"] == "no_clear_difference"


def test_compare_rows_cover_what_the_summary_shows(
    client: httpx.Client, captures_dir: Path
) -> None:
    write_recording(captures_dir, make_capture("a", 10))
    plain = Capture(make_meta("b", 10, variant=1), [make_sample(i) for i in range(10)])
    write_recording(captures_dir, plain)
    write_recording(captures_dir, make_capture("c", 5, variant=2))
    body = client.get("/api/v1/stats/compare?id=a&id=b&id=c").json()
    metrics = [r["metric"] for r in body["rows"]]
    for stage in ("capture", "submit", "encode", "handoff", "send"):
        assert f"stage:{stage}:p50" in metrics
        assert f"stage:{stage}:p99" in metrics
    for metric in ("host:p50", "host:p99", "fps", "mbps", "counter:frames_dropped"):
        assert metric in metrics
    assert "rtt" not in metrics  # nobody measured it
    packets = row(body, "counter:packets_dropped")
    assert packets["values"][1] is None  # b has no client feedback
    assert [d["verdict"] for d in packets["deltas"]] == ["n/a", "no_clear_difference"]
    assert all(len(r["values"]) == 3 and len(r["deltas"]) == 2 for r in body["rows"])
    assert body == msgspec.to_builtins(
        compare([make_capture("a", 10), plain, make_capture("c", 5, variant=2)])
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "compare takes 2 to 8 recordings (?id=BASELINE&id=OTHER...), got 0"),
        ("?id=a", "got 1"),
        ("?" + "&".join(f"id=r{n}" for n in range(MAX_RECORDINGS + 1)), "got 9"),
        ("?id=a&id=b&id=a", "recording 'a' is named twice; name each once"),
    ],
)
def test_compare_refuses_a_wrong_number_of_ids_or_repeats(
    client: httpx.Client, captures_dir: Path, query: str, message: str
) -> None:
    write_recording(captures_dir, make_capture("a", 3))
    write_recording(captures_dir, make_capture("b", 3))
    assert message in assert_envelope(
        client.get(f"/api/v1/stats/compare{query}"), 400, "invalid_parameter"
    )


@pytest.mark.parametrize("missing", ["nope", "..", "../a", "a/../a", "%2Fetc%2Fpasswd", "live"])
def test_compare_names_the_recording_it_cannot_find(
    client: httpx.Client, captures_dir: Path, missing: str
) -> None:
    write_recording(captures_dir, make_capture("a", 3))
    response = client.get("/api/v1/stats/compare", params=[("id", "a"), ("id", missing)])
    message = assert_envelope(response, 404, "recording_not_found")
    assert repr(missing.replace("%2F", "/")) in message or repr(missing) in message


def test_compare_with_a_corrupt_recording_names_its_file(
    client: httpx.Client, captures_dir: Path
) -> None:
    write_recording(captures_dir, make_capture("a", 3))
    (captures_dir / "bad.json").write_bytes(b"[1, 2")
    message = assert_envelope(
        client.get("/api/v1/stats/compare?id=a&id=bad"), 500, "recording_corrupt"
    )
    assert "bad.json" in message


def test_a_recording_with_a_stage_twice_in_a_window_is_a_clear_500_for_columns(
    client: httpx.Client, captures_dir: Path
) -> None:
    capture = make_capture("twice", 3)
    capture.samples[2].stages.append(StageTiming("send", 1.0, 2.0))
    (captures_dir / "twice.json").write_bytes(json_encoder.encode(capture))
    message = assert_envelope(client.get(f"{RECORDINGS}/twice/columns"), 500, "recording_corrupt")
    assert "sample 2 has stage 'send' twice" in message
    assert client.get(f"{RECORDINGS}/twice").status_code == 200  # the samples are still served
