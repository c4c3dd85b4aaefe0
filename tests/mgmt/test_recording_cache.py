"""Saved recordings are validated once per file identity (mgmt.recording_cache).

The store serves a recording it validated before without reading or decoding it again,
and never a stale one: a file rewritten (even to the same size), replaced or renamed
over is read afresh, a deleted one is not found, a corrupt one stays a clear 500.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from mgmt.api import create_app
from mgmt.asgi_server import ServerThread
from mgmt.errors import RecordingCorruptError, RecordingNotFoundError
from mgmt.models import Capture, CaptureColumns, json_encoder
from mgmt.recorder import StatsRecorder
from mgmt.recording_cache import FileIdentity, RecordingCache, ValidRecording
from mgmt.recordings import RecordingStore
from tests.mgmt.support import AUTH, TOKEN, assert_envelope
from tests.support.samples import make_capture, write_recording

SETTLED = 0  # settle_ns for tests: trust a file's stamps at once (no 2 s wait)


def store_in(directory: Path, **cache_args: int) -> RecordingStore:
    return RecordingStore(directory, RecordingCache(**{"settle_ns": SETTLED, **cache_args}))


def rewrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Change the file's bytes without a new inode, to exactly the same size, and give it
    a different mtime (so the change shows even within one clock tick)."""
    data = path.read_bytes()
    assert data.count(old) >= 1
    changed = data.replace(old, new)
    assert len(changed) == len(data)
    before = path.stat()
    with path.open("r+b") as f:
        f.write(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_007))
    after = path.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)


def test_a_validated_recording_is_served_without_reading_it_again(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    write_recording(tmp_path, make_capture("rec", 20))
    first = store.load_json("rec")
    assert store.load_json("rec") is first  # the very bytes: not read, not decoded again
    assert msgspec.json.decode(first, type=Capture) == make_capture("rec", 20)


def test_each_view_is_made_once_per_file(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    write_recording(tmp_path, make_capture("rec", 1000))
    for name in ("json", "columns", "summary"):
        assert store.view("rec", name).data is store.view("rec", name).data
    packed = store.view("rec", "columns", gzip=True)
    assert packed.gzipped
    assert store.view("rec", "columns", gzip=True).data is packed.data
    assert gzip.decompress(packed.data) == store.view("rec", "columns").data


def test_a_recording_rewritten_to_the_same_size_is_read_again(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    write_recording(tmp_path, make_capture("rec", 5))
    assert store.load("rec").meta.client == "client-00"
    columns_before = store.view("rec", "columns").data
    rewrite_in_place(tmp_path / "rec.json", b"client-00", b"client-99")
    assert store.load("rec").meta.client == "client-99"
    assert b"client-99" in store.load_json("rec")
    assert store.view("rec", "columns").data != columns_before


def test_a_file_changed_moments_ago_is_not_trusted_to_show_a_change(tmp_path: Path) -> None:
    # Default settling: a rewrite in the same clock tick keeps every stamp, so a file
    # changed in the last 2 s is validated on every read.
    store = RecordingStore(tmp_path, RecordingCache())
    write_recording(tmp_path, make_capture("rec", 5))
    assert store.load("rec").meta.client == "client-00"
    path = tmp_path / "rec.json"
    data = path.read_bytes()
    with path.open("r+b") as f:  # same inode, same size, no utime: possibly the same stamps
        f.write(data.replace(b"client-00", b"client-77"))
    assert store.load("rec").meta.client == "client-77"


def test_a_recording_renamed_over_is_read_again(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    write_recording(tmp_path, make_capture("rec", 5))
    assert store.load("rec").meta.client == "client-00"
    other = make_capture("rec", 5, variant=1)
    (tmp_path / "incoming.tmp").write_bytes(json_encoder.encode(other))
    os.replace(tmp_path / "incoming.tmp", tmp_path / "rec.json")
    assert store.load("rec").meta.client == "client-01"


def test_a_deleted_recording_is_not_found_and_forgotten(tmp_path: Path) -> None:
    cache = RecordingCache(settle_ns=SETTLED)
    store = RecordingStore(tmp_path, cache)
    write_recording(tmp_path, make_capture("rec", 5))
    store.load_json("rec")
    assert "rec" in cache
    (tmp_path / "rec.json").unlink()
    with pytest.raises(RecordingNotFoundError):
        store.load_json("rec")
    with pytest.raises(RecordingNotFoundError):
        store.view("rec", "summary")
    assert "rec" not in cache


def test_a_corrupt_recording_stays_a_clear_error_and_is_read_once_fixed(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    path = tmp_path / "rec.json"
    path.write_bytes(b'{"meta": {"id": "rec"}, "samples": [')
    for _ in range(2):
        with pytest.raises(RecordingCorruptError, match=r"rec \(.*rec.json\) is not a valid"):
            store.view("rec", "columns")
    write_recording(tmp_path, make_capture("rec", 3))
    assert len(store.load("rec").samples) == 3


def test_a_symlink_is_refused_even_when_its_target_was_validated(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    write_recording(tmp_path, make_capture("rec", 3))
    store.load_json("rec")
    os.symlink(tmp_path / "rec.json", tmp_path / "alias.json")
    with pytest.raises(RecordingNotFoundError):
        store.load_json("alias")


def test_an_oversized_file_is_refused_before_the_cache_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_in(tmp_path)
    size = write_recording(tmp_path, make_capture("rec", 3))
    store.load_json("rec")
    monkeypatch.setattr("mgmt.recordings.MAX_RECORDING_BYTES", size - 1)
    with pytest.raises(RecordingCorruptError, match="larger than any capture"):
        store.load_json("rec")


# -- the bound ---------------------------------------------------------------------------


def identity(n: int) -> FileIdentity:
    return FileIdentity(device=1, inode=n, size=100, mtime_ns=1, ctime_ns=1)


def test_the_cache_keeps_at_most_its_bytes_dropping_the_least_recently_used() -> None:
    cache = RecordingCache(max_bytes=250, settle_ns=SETTLED)
    for n in range(3):
        cache.put(f"r{n}", ValidRecording(identity(n), b"x" * 100))
    assert (len(cache), cache.size) == (2, 200)
    assert "r0" not in cache
    assert cache.get("r1", identity(1)) is not None  # r1 used: r2 is now the oldest
    cache.put("r3", ValidRecording(identity(3), b"x" * 100))
    assert ("r1" in cache, "r2" in cache, "r3" in cache) == (True, False, True)


def test_views_count_towards_the_bound() -> None:
    cache = RecordingCache(max_bytes=250, settle_ns=SETTLED)
    first, second = ValidRecording(identity(1), b"a" * 100), ValidRecording(identity(2), b"b" * 100)
    cache.put("r1", first)
    cache.put("r2", second)
    assert cache.view("r2", second, "columns", lambda: b"c" * 60) == b"c" * 60
    assert cache.size <= 250
    assert "r1" not in cache  # the oldest made room
    assert cache.size == 160


def test_a_recording_larger_than_the_cache_is_served_but_not_kept(tmp_path: Path) -> None:
    cache = RecordingCache(max_bytes=1000, settle_ns=SETTLED)
    store = RecordingStore(tmp_path, cache)
    write_recording(tmp_path, make_capture("big", 30))
    assert len(store.load("big").samples) == 30
    assert (len(cache), cache.size) == (0, 0)


def test_a_stale_entry_is_dropped_when_its_file_changed() -> None:
    cache = RecordingCache(max_bytes=1000, settle_ns=SETTLED)
    cache.put("r", ValidRecording(identity(1), b"x" * 100))
    assert cache.get("r", identity(2)) is None
    assert (len(cache), cache.size) == (0, 0)


def test_a_file_changed_within_the_settle_time_is_not_kept() -> None:
    cache = RecordingCache(max_bytes=1000)  # the default 2 s
    fresh = FileIdentity(device=1, inode=1, size=1, mtime_ns=1, ctime_ns=time.time_ns())
    cache.put("r", ValidRecording(fresh, b"x"))
    assert "r" not in cache


def test_many_recordings_keep_a_small_store_bounded(tmp_path: Path) -> None:
    cache = RecordingCache(max_bytes=60_000, settle_ns=SETTLED)
    store = RecordingStore(tmp_path, cache)
    for n in range(12):
        write_recording(tmp_path, make_capture(f"r{n}", 10, variant=n))
    for n in range(12):
        store.view(f"r{n}", "columns", gzip=True)
        store.view(f"r{n}", "summary")
        assert cache.size <= 60_000
    assert 0 < len(cache) < 12


# -- over HTTP ---------------------------------------------------------------------------


def test_the_api_serves_a_rewritten_recording_fresh_and_a_deleted_one_404(
    tmp_path: Path,
) -> None:
    captures = tmp_path / "captures"
    write_recording(captures, make_capture("rec", 400))
    recorder = StatsRecorder(captures)
    cache = RecordingCache(settle_ns=SETTLED)
    recorder.recordings = RecordingStore(captures, cache)  # trusting stamps at once
    with (
        ServerThread(create_app(recorder, TOKEN)) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c,
    ):
        for _ in range(2):
            got = c.get("/api/v1/stats/recordings/rec")
            assert got.headers["content-encoding"] == "gzip"
            assert got.json()["meta"]["client"] == "client-00"
            columns = msgspec.json.decode(
                c.get("/api/v1/stats/recordings/rec/columns").content, type=CaptureColumns
            )
            assert columns.meta.client == "client-00"
        assert "rec" in cache
        rewrite_in_place(captures / "rec.json", b"client-00", b"client-42")
        assert c.get("/api/v1/stats/recordings/rec").json()["meta"]["client"] == "client-42"
        assert c.get("/api/v1/stats/recordings/rec/summary").json()["meta"]["client"] == "client-42"
        (captures / "rec.json").write_bytes(b"{not json")
        message = assert_envelope(
            c.get("/api/v1/stats/recordings/rec/columns"), 500, "recording_corrupt"
        )
        assert "rec.json" in message
        (captures / "rec.json").unlink()
        for path in ("", "/columns", "/summary", "/export"):
            assert_envelope(
                c.get(f"/api/v1/stats/recordings/rec{path}"), 404, "recording_not_found"
            )
