"""StatsRecorder: arming, sessions, the sample cap, saving, listing, loading, deleting."""

from __future__ import annotations

import math
import stat
import time
from pathlib import Path

import msgspec
import pytest

from mgmt.errors import RecordingNotFoundError
from mgmt.models import Capture, CaptureMeta
from mgmt.recorder import MAX_SAMPLES, StatsRecorder
from tests.support.samples import make_sample


def record(recorder: StatsRecorder, samples: int, *, width: int = 1280) -> CaptureMeta:
    recorder.start()
    sid = recorder.register_session("native", width, 720, 60, "h264", "libx264", "client-a")
    for i in range(samples):
        assert recorder.push_sample(sid, make_sample(i))
    meta = recorder.stop()
    assert meta is not None
    return meta


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_captures_dir_is_created_private(tmp_path: Path) -> None:
    recorder = StatsRecorder(tmp_path / "deep" / "captures")
    assert recorder.captures_dir.is_dir()
    assert stat.S_IMODE(recorder.captures_dir.stat().st_mode) == 0o700


def test_idle_recorder_reports_idle_and_records_nothing(recorder: StatsRecorder) -> None:
    assert not recorder.is_armed()
    assert recorder.status().armed is False
    assert recorder.status().started_unix_ms == 0
    assert recorder.live_snapshot() is None
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    assert isinstance(sid, int)
    assert recorder.push_sample(sid, make_sample()) is False
    assert recorder.stop() is None
    assert recorder.list() == []


def test_start_is_idempotent_while_armed(recorder: StatsRecorder) -> None:
    first = recorder.start()
    assert first.armed
    assert recorder.capture_seq == 1
    time.sleep(0.01)
    again = recorder.start()
    assert again.armed
    assert again.started_unix_ms == first.started_unix_ms
    assert recorder.capture_seq == 1, "an idempotent start is not a new capture"
    recorder.stop()
    recorder.start()
    assert recorder.capture_seq == 2


def test_on_armed_change_sees_every_flip(captures_dir: Path) -> None:
    flips: list[bool] = []
    recorder = StatsRecorder(captures_dir, on_armed_change=flips.append)
    recorder.start()
    recorder.start()
    recorder.stop()
    recorder.stop()
    recorder.start()
    assert flips == [True, False, True]


def test_first_registration_seeds_the_meta(recorder: StatsRecorder) -> None:
    recorder.start()
    first = recorder.register_session("gamestream", 1920, 1080, 60, "hevc", "hevc_nvenc", "moon")
    second = recorder.register_session("native", 640, 480, 30, "av1", "libaom", "other")
    assert first != second
    recorder.push_sample(first, make_sample())
    recorder.push_sample(second, make_sample())
    status = recorder.status()
    assert status.kind == "gamestream"
    meta = recorder.stop()
    assert meta is not None
    assert (meta.kind, meta.width, meta.height, meta.fps) == ("gamestream", 1920, 1080, 60)
    assert (meta.codec, meta.encoder, meta.client) == ("hevc", "hevc_nvenc", "moon")
    assert meta.sessions == 2
    assert meta.id.endswith("_1920x1080")


def test_push_stamps_time_and_session(recorder: StatsRecorder) -> None:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    sample = make_sample()
    sample.t_ms, sample.session_id = 999_999, 12345
    time.sleep(0.02)
    recorder.push_sample(sid, sample)
    live = recorder.live_snapshot()
    assert live is not None
    stored = live.samples[0]
    assert stored.session_id == sid
    assert 20 <= stored.t_ms < 5_000
    assert (sample.t_ms, sample.session_id) == (999_999, 12345), "the caller's sample is untouched"


def test_sample_cap_keeps_the_oldest_and_sets_truncated(captures_dir: Path) -> None:
    recorder = StatsRecorder(captures_dir, max_samples=5)
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    accepted = [recorder.push_sample(sid, make_sample(bitrate_kbps=i)) for i in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert recorder.status().truncated
    meta = recorder.stop()
    assert meta is not None
    assert meta.truncated
    assert meta.sample_count == 5
    saved = recorder.load(meta.id)
    assert [s.bitrate_kbps for s in saved.samples] == [0, 1, 2, 3, 4]


def test_exactly_full_is_not_truncated(captures_dir: Path) -> None:
    recorder = StatsRecorder(captures_dir, max_samples=3)
    meta = record(recorder, 3)
    assert meta.sample_count == 3
    assert not meta.truncated


def test_real_cap_is_5400_samples(recorder: StatsRecorder) -> None:
    assert recorder.max_samples == MAX_SAMPLES == 5400
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(5400):
        assert recorder.push_sample(sid, make_sample(bitrate_kbps=i))
    assert recorder.push_sample(sid, make_sample(bitrate_kbps=5400)) is False
    meta = recorder.stop()
    assert meta is not None
    assert (meta.sample_count, meta.truncated) == (5400, True)
    saved = recorder.load(meta.id)
    assert saved.samples[0].bitrate_kbps == 0
    assert saved.samples[-1].bitrate_kbps == 5399


def test_stop_writes_one_json_file_atomically_and_returns_its_meta(
    recorder: StatsRecorder,
) -> None:
    meta = record(recorder, 4)
    assert files_in(recorder.captures_dir) == [f"{meta.id}.json"]
    path = recorder.captures_dir / f"{meta.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert raw.startswith(b'{"meta":{"id":'), "compact JSON with meta first"
    on_disk = msgspec.json.decode(raw, type=Capture)
    assert on_disk.meta == meta
    assert len(on_disk.samples) == meta.sample_count == 4
    assert not recorder.is_armed()
    assert recorder.live_snapshot() is None


def test_id_is_utc_start_time_and_resolution(recorder: StatsRecorder) -> None:
    meta = record(recorder, 1, width=2560)
    expected = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(meta.started_unix_ms // 1000))
    assert meta.id == f"{expected}_2560x720"


def test_capture_without_sessions_is_saved_as_nosession(recorder: StatsRecorder) -> None:
    recorder.start()
    meta = recorder.stop()
    assert meta is not None
    assert meta.id.endswith("_nosession")
    assert (meta.kind, meta.sample_count, meta.sessions) == ("", 0, 0)


def test_ids_are_unique_within_one_second(
    recorder: StatsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_ns = time.time_ns()
    monkeypatch.setattr(time, "time_ns", lambda: frozen_ns)
    ids = [record(recorder, 1).id for _ in range(3)]
    stem = ids[0]
    assert ids == [stem, f"{stem}-2", f"{stem}-3"]
    assert files_in(recorder.captures_dir) == sorted(f"{i}.json" for i in ids)


def test_id_skips_a_file_that_already_exists(recorder: StatsRecorder) -> None:
    recorder.start()
    stem = time.strftime(
        "%Y-%m-%dT%H-%M-%SZ", time.gmtime(recorder.status().started_unix_ms // 1000)
    )
    (recorder.captures_dir / f"{stem}_nosession.json").write_bytes(b"someone else's")
    meta = recorder.stop()
    assert meta is not None
    assert meta.id == f"{stem}_nosession-2"


def test_list_is_newest_first(recorder: StatsRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    base = time.time_ns()
    order = [5, 1, 9]  # start times in seconds after base, out of order
    ids = {}
    for offset_s in order:
        monkeypatch.setattr(time, "time_ns", lambda o=offset_s: base + o * 1_000_000_000)
        ids[offset_s] = record(recorder, 1).id
    monkeypatch.undo()
    assert [m.id for m in recorder.list()] == [ids[9], ids[5], ids[1]]
    # A fresh recorder (a restart) lists the same from disk.
    assert [m.id for m in StatsRecorder(recorder.captures_dir).list()] == [ids[9], ids[5], ids[1]]


def test_load_and_delete_round_trip(recorder: StatsRecorder) -> None:
    meta = record(recorder, 3)
    loaded = recorder.load(meta.id)
    assert loaded.meta == meta
    assert [s.frames_dropped for s in loaded.samples] == [0, 1, 2]
    assert recorder.list() == [meta]
    recorder.delete(meta.id)
    assert recorder.list() == []
    assert files_in(recorder.captures_dir) == []
    with pytest.raises(RecordingNotFoundError):
        recorder.load(meta.id)
    with pytest.raises(RecordingNotFoundError):
        recorder.delete(meta.id)


def test_recordings_survive_a_restart(recorder: StatsRecorder) -> None:
    meta = record(recorder, 2)
    again = StatsRecorder(recorder.captures_dir)
    assert again.list() == [meta]
    assert again.load(meta.id).meta == meta


def test_live_snapshot_is_incremental(recorder: StatsRecorder) -> None:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(5):
        recorder.push_sample(sid, make_sample(bitrate_kbps=i))
    live = recorder.live_snapshot(3)
    assert live is not None
    assert live.meta.id == "live"
    assert live.meta.sample_count == 5
    assert [s.bitrate_kbps for s in live.samples] == [3, 4]
    beyond = recorder.live_snapshot(50)
    assert beyond is not None
    assert beyond.samples == []
    with pytest.raises(ValueError, match="offset"):
        recorder.live_snapshot(-1)


def test_status_elapsed_comes_from_the_host_clock(recorder: StatsRecorder) -> None:
    recorder.start()
    time.sleep(0.05)
    status = recorder.status()
    assert status.armed
    assert 50 <= status.elapsed_ms < 5_000


def test_shutdown_saves_an_armed_capture(recorder: StatsRecorder) -> None:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(7):
        recorder.push_sample(sid, make_sample(i))
    meta = recorder.shutdown()
    assert meta is not None
    assert meta.sample_count == 7
    assert len(StatsRecorder(recorder.captures_dir).load(meta.id).samples) == 7


def test_shutdown_while_idle_does_nothing(recorder: StatsRecorder) -> None:
    assert recorder.shutdown() is None
    assert files_in(recorder.captures_dir) == []


def test_a_sample_that_could_not_load_back_is_refused(recorder: StatsRecorder) -> None:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    nan_fps = make_sample()
    nan_fps.fps = math.nan
    negative_latency = make_sample()
    negative_latency.stages[0].p50_us = -1.0
    nan_optional = make_sample()
    nan_optional.gpu_power_w = math.nan
    not_json = make_sample()
    not_json.mbps = object()  # type: ignore[assignment]  # e.g. a numpy scalar slipping in
    assert recorder.push_sample(sid, nan_fps) is False
    assert recorder.push_sample(sid, negative_latency) is False
    assert recorder.push_sample(sid, not_json) is False
    assert recorder.push_sample(sid, nan_optional) is True
    meta = recorder.stop()
    assert meta is not None
    saved = recorder.load(meta.id)
    assert len(saved.samples) == 1
    assert saved.samples[0].gpu_power_w is None, "an unmeasurable optional value is null"
