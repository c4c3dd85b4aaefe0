"""The captures dir as it really is: foreign and broken files, a failing disk, listing cost."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

import mgmt.recorder
import mgmt.recordings_index
from mgmt.errors import RecordingCorruptError, RecordingNotFoundError, RecordingWriteError
from mgmt.models import Capture
from mgmt.recorder import StatsRecorder
from tests.mgmt.support import assert_envelope
from tests.support.samples import make_sample


def record(recorder: StatsRecorder, samples: int) -> str:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(samples):
        recorder.push_sample(sid, make_sample(i))
    meta = recorder.stop()
    assert meta is not None
    return meta.id


def good_bytes(recorder: StatsRecorder, samples: int = 3) -> bytes:
    """The bytes of a valid recording file (recorded, then removed from the dir)."""
    recording_id = record(recorder, samples)
    path = recorder.captures_dir / f"{recording_id}.json"
    data = path.read_bytes()
    recorder.delete(recording_id)
    return data


BROKEN_FILES: dict[str, bytes] = {
    "not-json": b"this is not json at all",
    "foreign-object": b'{"hello": "world"}',
    "foreign-array": b"[1, 2, 3]",
    "wrong-types": b'{"meta": {"id": 5}, "samples": []}',
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "nul-bytes": b"\x00" * 100,
}


@pytest.fixture
def broken_dir(recorder: StatsRecorder) -> Iterator[dict[str, str]]:
    """A captures dir with one good recording among broken ones; name -> what it is."""
    good = good_bytes(recorder, 5)
    for name, data in BROKEN_FILES.items():
        (recorder.captures_dir / f"{name}.json").write_bytes(data)
    (recorder.captures_dir / "truncated.json").write_bytes(good[: len(good) // 2])
    (recorder.captures_dir / "cut-in-meta.json").write_bytes(good[:40])
    samples_corrupt = good.replace(b'"stages":[', b'"stages":[[', 1)
    (recorder.captures_dir / "bad-sample.json").write_bytes(samples_corrupt)
    (recorder.captures_dir / "a-directory.json").mkdir()
    os.mkfifo(recorder.captures_dir / "a-fifo.json")
    (recorder.captures_dir / "leftover.json.tmp").write_bytes(good)
    # What a save cut short by a crash leaves: the atomic write's temp file.
    (recorder.captures_dir / ".good-one.json.k3j2h1g0.tmp").write_bytes(good[:100])
    (recorder.captures_dir / "notes.txt").write_text("hello")
    (recorder.captures_dir / "good-one.json").write_bytes(good)
    return {"good": "good-one"}


def test_list_skips_broken_files_and_lists_the_good_ones(
    recorder: StatsRecorder, broken_dir: dict[str, str]
) -> None:
    listed = [m.id for m in recorder.list()]
    # bad-sample.json has an intact meta and ending: listing does not read samples.
    assert sorted(listed) == ["bad-sample", "good-one"]
    assert "truncated" not in listed


def test_list_warns_once_per_broken_file(
    recorder: StatsRecorder, broken_dir: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mgmt.recordings_index"):
        recorder.list()
        first = len(caplog.records)
        recorder.list()
        recorder.list()
    assert first >= len(BROKEN_FILES) + 2
    assert len(caplog.records) == first, "no new warnings for files already reported"
    assert any("truncated.json" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", [*BROKEN_FILES, "truncated", "cut-in-meta", "bad-sample"], ids=str)
def test_loading_a_broken_file_names_it_and_says_what_is_wrong(
    recorder: StatsRecorder, broken_dir: dict[str, str], name: str
) -> None:
    with pytest.raises(RecordingCorruptError) as err:
        recorder.load(name)
    assert f"{name}.json" in err.value.message
    assert "not a valid capture file" in err.value.message


@pytest.mark.parametrize("name", ["a-directory", "a-fifo", "leftover.json", "notes"])
def test_things_that_are_not_recordings_are_not_found(
    recorder: StatsRecorder, broken_dir: dict[str, str], name: str
) -> None:
    with pytest.raises(RecordingNotFoundError):
        recorder.load(name)


def test_get_of_a_corrupt_recording_is_a_500_envelope_naming_the_file(
    recorder: StatsRecorder, broken_dir: dict[str, str], client: httpx.Client
) -> None:
    response = client.get("/api/v1/stats/recordings/truncated")
    message = assert_envelope(response, 500, "recording_corrupt")
    assert "truncated.json" in message
    listed = client.get("/api/v1/stats/recordings")
    assert listed.status_code == 200
    assert "good-one" in [m["id"] for m in listed.json()]
    assert client.get("/api/v1/stats/recordings/good-one").status_code == 200


def test_broken_files_can_be_deleted_through_the_api(
    recorder: StatsRecorder, broken_dir: dict[str, str], client: httpx.Client
) -> None:
    assert client.delete("/api/v1/stats/recordings/not-json").status_code == 204
    assert not (recorder.captures_dir / "not-json.json").exists()


def test_a_copied_recording_is_listed_under_its_file_name(recorder: StatsRecorder) -> None:
    good = good_bytes(recorder)
    (recorder.captures_dir / "my-copy.json").write_bytes(good)
    assert [m.id for m in recorder.list()] == ["my-copy"]
    assert recorder.load("my-copy").meta.id == "my-copy"
    assert msgspec.json.decode(recorder.load_json("my-copy"), type=Capture).meta.id == "my-copy"


def test_a_pretty_printed_recording_is_still_read(recorder: StatsRecorder) -> None:
    good = msgspec.json.decode(good_bytes(recorder))
    pretty = msgspec.json.format(msgspec.json.encode(good), indent=2)
    (recorder.captures_dir / "pretty.json").write_bytes(pretty)
    assert [m.id for m in recorder.list()] == ["pretty"]
    assert len(recorder.load("pretty").samples) == 3


def test_files_added_by_others_appear_and_removed_ones_disappear(
    recorder: StatsRecorder,
) -> None:
    good = good_bytes(recorder)
    assert recorder.list() == []
    (recorder.captures_dir / "dropped-in.json").write_bytes(good)
    assert [m.id for m in recorder.list()] == ["dropped-in"]
    (recorder.captures_dir / "dropped-in.json").unlink()
    assert recorder.list() == []


def test_a_broken_file_that_gets_fixed_is_listed(recorder: StatsRecorder) -> None:
    good = good_bytes(recorder)
    path = recorder.captures_dir / "later.json"
    path.write_bytes(good[:10])
    assert recorder.list() == []
    with path.open("wb") as f:  # rewritten in place: the directory itself does not change
        f.write(good)
    assert [m.id for m in recorder.list()] == ["later"]


def test_listing_reads_each_file_once(
    recorder: StatsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        record(recorder, 2)
    reads: list[int] = []
    real_read_meta = mgmt.recordings_index._read_meta

    def counting_read_meta(fd: int, st: os.stat_result) -> object:
        reads.append(fd)
        return real_read_meta(fd, st)

    monkeypatch.setattr(mgmt.recordings_index, "_read_meta", counting_read_meta)
    fresh = StatsRecorder(recorder.captures_dir)
    assert len(fresh.list()) == 3
    assert len(reads) == 3
    for _ in range(5):
        assert len(fresh.list()) == 3
        fresh.list_json()
    assert len(reads) == 3, "an unchanged dir is listed from memory"
    record(fresh, 1)
    assert len(fresh.list()) == 4
    assert len(reads) == 3, "our own new recording is indexed without reading it back"


def test_list_json_is_the_encoded_list(recorder: StatsRecorder) -> None:
    record(recorder, 1)
    record(recorder, 1)
    assert recorder.list_json() == msgspec.json.encode(recorder.list())


def test_missing_captures_dir_lists_empty(recorder: StatsRecorder) -> None:
    record(recorder, 1)
    shutil.rmtree(recorder.captures_dir)
    assert recorder.list() == []


def test_stop_recreates_a_deleted_captures_dir(recorder: StatsRecorder) -> None:
    shutil.rmtree(recorder.captures_dir)
    recording_id = record(recorder, 2)
    assert (recorder.captures_dir / f"{recording_id}.json").is_file()


# -- a failing disk -------------------------------------------------------------------


def break_captures_dir(captures_dir: Path) -> Path:
    """Make writing into `captures_dir` fail for real (ENOTDIR), even as root."""
    aside = captures_dir.with_name("captures-aside")
    captures_dir.rename(aside)
    captures_dir.write_bytes(b"not a directory")
    return aside


def repair_captures_dir(captures_dir: Path, aside: Path) -> None:
    captures_dir.unlink()
    aside.rename(captures_dir)


def test_failed_stop_keeps_the_capture_and_a_second_stop_saves_everything(
    recorder: StatsRecorder,
) -> None:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(4):
        recorder.push_sample(sid, make_sample(bitrate_kbps=i))
    aside = break_captures_dir(recorder.captures_dir)

    with pytest.raises(RecordingWriteError) as err:
        recorder.stop()
    assert str(recorder.captures_dir) in err.value.message
    assert "stop again" in err.value.message
    assert recorder.is_armed()
    assert recorder.status().sample_count == 4
    assert recorder.list() == []  # an unreadable dir lists empty rather than failing

    recorder.push_sample(sid, make_sample(bitrate_kbps=4))
    repair_captures_dir(recorder.captures_dir, aside)
    meta = recorder.stop()
    assert meta is not None
    assert meta.sample_count == 5
    saved = recorder.load(meta.id)
    assert [s.bitrate_kbps for s in saved.samples] == [0, 1, 2, 3, 4]
    assert [p.name for p in recorder.captures_dir.iterdir()] == [f"{meta.id}.json"]


def test_failing_disk_on_stop_is_a_500_and_nothing_is_lost(
    recorder: StatsRecorder, client: httpx.Client
) -> None:
    assert client.post("/api/v1/stats/capture/start").status_code == 200
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(6):
        recorder.push_sample(sid, make_sample(bitrate_kbps=i))
    aside = break_captures_dir(recorder.captures_dir)

    message = assert_envelope(
        client.post("/api/v1/stats/capture/stop"), 500, "recording_write_failed"
    )
    assert str(recorder.captures_dir) in message
    assert "Not a directory" in message
    status = client.get("/api/v1/stats/capture/status").json()
    assert status["armed"] is True
    assert status["sample_count"] == 6
    live = client.get("/api/v1/stats/capture/live").json()
    assert [s["bitrate_kbps"] for s in live["samples"]] == list(range(6))

    repair_captures_dir(recorder.captures_dir, aside)
    saved = client.post("/api/v1/stats/capture/stop")
    assert saved.status_code == 200
    recording_id = saved.json()["id"]
    assert saved.json()["sample_count"] == 6
    got = client.get(f"/api/v1/stats/recordings/{recording_id}").json()
    assert [s["bitrate_kbps"] for s in got["samples"]] == list(range(6))
    assert not list(recorder.captures_dir.glob("*.tmp"))
    assert client.get("/api/v1/stats/capture/status").json()["armed"] is False


# Runs in its own process: a file-size limit applies to the whole process.
WRITE_PAST_A_SIZE_LIMIT = """
import resource, signal, sys
from pathlib import Path
from mgmt.errors import RecordingWriteError
from mgmt.recordings import RecordingStore
from tests.support.samples import make_capture
store = RecordingStore(Path(sys.argv[1]))
store.write("kept", make_capture("kept", 2))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
try:
    store.write("kept", make_capture("kept", 400))
except RecordingWriteError as err:
    print(err.message)
"""


def test_a_save_cut_short_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    captures = tmp_path / "captures"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", WRITE_PAST_A_SIZE_LIMIT, str(captures)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    message = done.stdout.strip()
    assert message.startswith(f"could not save the capture to {captures / 'kept.json'}: ")
    assert "stop again" in message
    assert sorted(p.name for p in captures.iterdir()) == ["kept.json"]
    kept = msgspec.json.decode((captures / "kept.json").read_bytes(), type=Capture)
    assert len(kept.samples) == 2


def test_shutdown_with_a_broken_captures_dir_saves_elsewhere(
    recorder: StatsRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rescue_dir = tmp_path / "rescue"
    rescue_dir.mkdir()
    monkeypatch.setattr(mgmt.recorder.tempfile, "gettempdir", lambda: str(rescue_dir))
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(3):
        recorder.push_sample(sid, make_sample(i))
    break_captures_dir(recorder.captures_dir)
    meta = recorder.shutdown()
    assert meta is not None
    rescued = list(rescue_dir.glob("punktfunk-unsaved-*.json"))
    assert len(rescued) == 1
    assert len(msgspec.json.decode(rescued[0].read_bytes(), type=Capture).samples) == 3
    assert not recorder.is_armed()
