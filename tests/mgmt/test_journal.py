"""The capture journal: nothing recorded is lost when the host dies, or when the disk fills.

Crashes are real (a child process that SIGKILLs itself while armed), and so are the disk
faults: a file-size limit (RLIMIT_FSIZE) in a child process and, where this machine lets
us mount one, a full tmpfs.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import mgmt.recorder
from mgmt.errors import RecordingWriteError
from mgmt.journal import (
    JournalUnreadableError,
    find_journals,
    read_journal,
)
from mgmt.models import Capture, StatsSample, json_encoder
from mgmt.recorder import StatsRecorder
from mgmt.stats_render import render_list, render_meta
from tests.mgmt.support import make_sample

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> Any:
    """What the journal at `path` holds (read without its lock, as a live capture holds it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_journal(path, fd)
    finally:
        os.close(fd)


def the_journal(captures: Path) -> Path:
    (journal,) = find_journals(captures)
    return journal


def armed_with_samples(recorder: StatsRecorder, n: int) -> list[StatsSample]:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "demo")
    for i in range(n):
        assert recorder.push_sample(sid, make_sample(i))
    live = recorder.live_snapshot()
    assert live is not None
    return live.samples


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# A capture that dies armed: its process is SIGKILLed after pushing argv[2] samples.
KILLED_WHILE_ARMED = """
    import os, signal, sys
    from pathlib import Path
    from mgmt.models import json_encoder
    from mgmt.recorder import StatsRecorder
    from tests.support.samples import make_sample
    recorder = StatsRecorder(Path(sys.argv[1]), max_samples=int(sys.argv[3]))
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "demo")
    for i in range(int(sys.argv[2])):
        recorder.push_sample(sid, make_sample(i))
    sys.stdout.write(json_encoder.encode(recorder.live_snapshot()).decode() + "\\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_while_armed(captures: Path, samples: int, max_samples: int = 5400) -> Capture:
    """Record `samples` in a child process that is then SIGKILLed; what it had recorded."""
    done = run_child(KILLED_WHILE_ARMED, str(captures), str(samples), str(max_samples))
    assert done.returncode == -9, done.stderr
    return msgspec.json.decode(done.stdout, type=Capture)


# -- the journal follows the capture -------------------------------------------------------


def test_every_sample_is_in_the_journal_as_soon_as_it_is_pushed(recorder: StatsRecorder) -> None:
    samples = armed_with_samples(recorder, 3)
    contents = read(the_journal(recorder.captures_dir))
    assert contents.samples == samples
    assert [s.client for s in contents.sessions] == ["demo"]
    assert contents.dropped_lines == 0
    assert not contents.truncated
    recorder.stop()


def test_the_journal_is_private_and_is_not_listed_as_a_recording(
    recorder: StatsRecorder,
) -> None:
    armed_with_samples(recorder, 1)
    journal = the_journal(recorder.captures_dir)
    assert journal.name.startswith("capture-")
    assert journal.suffix == ".journal"
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    assert recorder.list() == []
    recorder.stop()


def test_stop_saves_the_recording_and_removes_the_journal(recorder: StatsRecorder) -> None:
    samples = armed_with_samples(recorder, 4)
    meta = recorder.stop()
    assert meta is not None
    assert not meta.recovered
    assert recorder.load(meta.id).samples == samples
    assert find_journals(recorder.captures_dir) == []


def test_each_capture_has_its_own_journal(recorder: StatsRecorder) -> None:
    for n in (1, 2, 3):
        armed_with_samples(recorder, n)
        assert len(read(the_journal(recorder.captures_dir)).samples) == n
        recorder.stop()
    assert find_journals(recorder.captures_dir) == []


def test_a_full_capture_journals_its_truncation_once(captures_dir: Path) -> None:
    recorder = StatsRecorder(captures_dir, max_samples=2)
    armed_with_samples(recorder, 2)
    sid = recorder.register_session("native", 1, 1, 1, "h264", "x", "")
    for i in range(3):
        assert not recorder.push_sample(sid, make_sample(i))
    journal = the_journal(captures_dir)
    contents = read(journal)
    assert contents.truncated
    assert len(contents.samples) == 2
    assert journal.read_bytes().count(b'"type":"truncated"') == 1
    recorder.stop()


def test_a_journal_held_by_a_running_capture_is_left_alone(
    recorder: StatsRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    samples = armed_with_samples(recorder, 2)
    with caplog.at_level(logging.WARNING):
        second = StatsRecorder(recorder.captures_dir)  # a second process on the same dir
    assert second.recovered == []
    assert "a capture of another process writes it" in caplog.text
    assert read(the_journal(recorder.captures_dir)).samples == samples
    meta = recorder.stop()
    assert meta is not None
    assert not meta.recovered


# -- a crash while armed -------------------------------------------------------------------


def test_a_capture_killed_while_armed_is_recovered_on_start(
    captures_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = kill_while_armed(captures_dir, 7)
    assert len(find_journals(captures_dir)) == 1
    with caplog.at_level(logging.INFO):
        recorder = StatsRecorder(captures_dir)
    (meta,) = recorder.list()
    assert [m.id for m in recorder.recovered] == [meta.id]
    assert meta.recovered is True
    assert meta.id.endswith("_1280x720")
    assert (meta.kind, meta.codec, meta.encoder, meta.client) == (
        "native",
        "h264",
        "libx264",
        "demo",
    )
    assert (meta.sample_count, meta.sessions) == (7, 1)
    assert meta.started_unix_ms == before.meta.started_unix_ms
    assert meta.duration_ms == before.samples[-1].t_ms
    assert recorder.load(meta.id).samples == before.samples
    assert find_journals(captures_dir) == []
    assert f"recovered capture {meta.id}" in caplog.text
    # A second start finds nothing more to do.
    assert StatsRecorder(captures_dir).recovered == []
    assert [m.id for m in StatsRecorder(captures_dir).list()] == [meta.id]


def test_a_recovered_recording_is_badged_in_the_api_and_in_stats_ls(captures_dir: Path) -> None:
    kill_while_armed(captures_dir, 2)
    recorder = StatsRecorder(captures_dir)
    listed = json.loads(recorder.list_json())
    assert listed[0]["recovered"] is True
    (meta,) = recorder.list()
    table = render_list([meta])
    assert table.splitlines()[1].split()[-2] == "2!"
    assert table.splitlines()[-1].startswith("! recovered: rebuilt from its journal")
    assert "recovered  yes: rebuilt from its journal" in render_meta(meta)
    assert "!" not in render_list([msgspec.structs.replace(meta, recovered=False)])


def test_a_capture_killed_at_its_sample_cap_is_recovered_truncated(captures_dir: Path) -> None:
    kill_while_armed(captures_dir, 5, max_samples=3)
    (meta,) = StatsRecorder(captures_dir).recovered
    assert (meta.sample_count, meta.truncated, meta.recovered) == (3, True, True)


def test_a_capture_killed_before_any_session_is_recovered_empty(captures_dir: Path) -> None:
    kill_while_armed(captures_dir, 0)
    (meta,) = StatsRecorder(captures_dir).recovered
    # The session registered; no window had closed yet.
    assert (meta.sample_count, meta.sessions, meta.kind, meta.recovered) == (0, 1, "native", True)


def test_a_torn_last_line_is_dropped_and_the_rest_recovered(
    captures_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = kill_while_armed(captures_dir, 5)
    journal = the_journal(captures_dir)
    # What a write cut short by a power cut leaves: part of a line, no newline.
    with journal.open("ab") as f:
        f.write(b'{"type":"sample","sample":{"t_ms":10000,"session_id":1,"stag')
    contents = read(journal)
    assert (contents.torn_tail, contents.dropped_lines) == (True, 1)
    with caplog.at_level(logging.WARNING):
        (meta,) = StatsRecorder(captures_dir).recovered
    assert meta.sample_count == 5
    assert StatsRecorder(captures_dir).load(meta.id).samples == before.samples
    assert "1 unreadable line(s) dropped" in caplog.text


@pytest.mark.parametrize(
    "garbage",
    [b"\x00" * 64 + b"\n", b"not json\n", b'{"type":"sample","sample":{"t_ms":-5}}\n', b"[]\n"],
    ids=["nul-bytes", "not-json", "invalid-sample", "not-a-line"],
)
def test_unreadable_lines_inside_a_journal_are_skipped_and_counted(
    captures_dir: Path, garbage: bytes
) -> None:
    kill_while_armed(captures_dir, 2)
    journal = the_journal(captures_dir)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:3], garbage, *lines[3:]]))
    contents = read(journal)
    assert (len(contents.samples), contents.dropped_lines, contents.torn_tail) == (2, 1, False)


def test_a_journal_whose_recording_was_saved_is_removed_without_a_duplicate(
    recorder: StatsRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    armed_with_samples(recorder, 3)
    journal = the_journal(recorder.captures_dir)
    held = journal.read_bytes()
    meta = recorder.stop()
    assert meta is not None
    # A crash between the save and the journal's removal leaves both.
    journal.write_bytes(held)
    with caplog.at_level(logging.INFO):
        again = StatsRecorder(recorder.captures_dir)
    assert again.recovered == []
    assert [m.id for m in again.list()] == [meta.id]
    assert find_journals(recorder.captures_dir) == []
    assert f"its capture was saved as {meta.id}" in caplog.text


def test_an_empty_journal_is_removed_and_a_foreign_one_kept(
    captures_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    captures_dir.mkdir(parents=True)
    (captures_dir / "capture-1.journal").write_bytes(b"")
    (captures_dir / "capture-2.journal").write_bytes(b"hello\nworld\n")
    (captures_dir / "capture-3.journal").symlink_to(captures_dir / "capture-2.journal")
    (captures_dir / "capture-4.journal").mkdir()
    with caplog.at_level(logging.WARNING):
        recorder = StatsRecorder(captures_dir)
    assert recorder.recovered == []
    assert recorder.list() == []
    assert not (captures_dir / "capture-1.journal").exists()
    assert (captures_dir / "capture-2.journal").read_bytes() == b"hello\nworld\n"
    assert "not a capture journal" in caplog.text
    with pytest.raises(JournalUnreadableError):
        read(captures_dir / "capture-2.journal")


# -- saves a crash interrupted -------------------------------------------------------------


def test_interrupted_saves_are_completed_or_removed_on_start(
    recorder: StatsRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    armed_with_samples(recorder, 3)
    meta = recorder.stop()
    assert meta is not None
    d = recorder.captures_dir
    whole = (d / f"{meta.id}.json").read_bytes()
    (d / f"{meta.id}.json").rename(d / f".{meta.id}.json.abcd_123.tmp")  # only the rename missed
    (d / ".cut-short.json.k3j2h1g0.tmp").write_bytes(whole[: len(whole) // 2])
    (d / ".saved-since.json.zzzzzzzz.tmp").write_bytes(whole[:100])
    (d / "saved-since.json").write_bytes(whole)
    (d / "leftover.json.tmp").write_bytes(whole)  # not a name the store writes: left alone
    with caplog.at_level(logging.INFO):
        again = StatsRecorder(d)
    assert sorted(p.name for p in d.iterdir()) == [
        f"{meta.id}.json",
        "leftover.json.tmp",
        "saved-since.json",
    ]
    assert again.load(meta.id).samples == recorder.load(meta.id).samples
    text = caplog.text
    assert f"completed the save of {meta.id}" in text
    assert "removed .cut-short.json.k3j2h1g0.tmp" in text
    assert "removed .saved-since.json.zzzzzzzz.tmp" in text


# -- disk faults ---------------------------------------------------------------------------

# In its own process: a file-size limit applies to the whole process. Journals 5 samples,
# then lets the journal grow by about two lines, records on, stops over the API (fails),
# lifts the limit ("frees space"), records one more and stops again.
FILE_SIZE_LIMIT = """
    import json, logging, os, resource, signal, sys
    from pathlib import Path
    import httpx
    from mgmt.api import create_app
    from mgmt.asgi_server import ServerThread
    from mgmt.journal import find_journals, read_journal
    from mgmt.recorder import StatsRecorder
    from tests.support.samples import make_sample

    errors = []
    class Keep(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())
    logging.getLogger("mgmt").addHandler(Keep())

    def journaled():
        (path,) = find_journals(captures)
        fd = os.open(path, os.O_RDONLY)
        try:
            c = read_journal(path, fd)
        finally:
            os.close(fd)
        return len(c.samples), c.dropped_lines

    captures = Path(sys.argv[1])
    recorder = StatsRecorder(captures, fsync_interval_s=0.05)
    out = {}
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    with ServerThread(create_app(recorder, "t" * 24)) as server, httpx.Client(
        base_url=server.url, headers={"Authorization": "Bearer " + "t" * 24}, timeout=30
    ) as api:
        api.post("/api/v1/stats/capture/start")
        sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
        for i in range(5):
            recorder.push_sample(sid, make_sample(i))
        (journal,) = find_journals(captures)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (journal.stat().st_size + 2000, hard))
        for i in range(5, 25):
            recorder.push_sample(sid, make_sample(i))
        out["journaled_while_limited"] = journaled()
        stop = api.post("/api/v1/stats/capture/stop")
        out["stop"] = [stop.status_code, stop.json()]
        out["status"] = api.get("/api/v1/stats/capture/status").json()
        out["errors_while_limited"] = list(errors)
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        recorder.push_sample(sid, make_sample(25))
        out["journaled_after"] = journaled()
        live = api.get("/api/v1/stats/capture/live").json()
        stop = api.post("/api/v1/stats/capture/stop")
        out["retry"] = [stop.status_code, stop.json()]
        saved = api.get(f"/api/v1/stats/recordings/{stop.json()['id']}").json()
        out["saved_equals_live"] = saved["samples"] == live["samples"]
        out["files"] = sorted(p.name for p in captures.iterdir())
    print(json.dumps(out))
"""


def test_a_file_size_limit_while_journaling_and_saving_loses_nothing(tmp_path: Path) -> None:
    captures = tmp_path / "captures"
    done = run_child(FILE_SIZE_LIMIT, str(captures))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # The journal kept whole lines: the two that fit, none cut in half.
    assert out["journaled_while_limited"] == [7, 0]
    status, body = out["stop"]
    assert status == 500
    assert body["error"]["code"] == "recording_write_failed"
    message = body["error"]["message"]
    assert "File too large" in message
    assert "free disk space" in message
    assert "stop again" in message
    assert out["status"]["armed"] is True
    assert out["status"]["sample_count"] == 25
    journal_errors = [e for e in out["errors_while_limited"] if "capture journal" in e]
    assert len(journal_errors) == 1, out["errors_while_limited"]  # logged once, not per window
    assert "goes on in memory" in journal_errors[0]
    # Space came back: the journal caught up, and the retry saved everything.
    assert out["journaled_after"] == [26, 0]
    status, meta = out["retry"]
    assert status == 200
    assert meta["sample_count"] == 26
    assert out["saved_equals_live"] is True
    assert out["files"] == [f"{meta['id']}.json"]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a disk that really fills up. Skipped where mounting is not allowed."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    where = tmp_path / "small-disk"
    where.mkdir()
    if mount is None or umount is None:
        pytest.skip("no mount(8) here")
    tried = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {tried.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run([umount, str(where)], check=True)


def fill(path: Path) -> None:
    """Write `path` until the disk is full."""
    chunk = b"\xff" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                return
    finally:
        os.close(fd)


def test_a_full_disk_while_journaling_and_saving_loses_nothing(
    small_tmpfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    captures = small_tmpfs / "captures"
    recorder = StatsRecorder(captures)
    armed_with_samples(recorder, 5)
    fill(small_tmpfs / "ballast")
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    with caplog.at_level(logging.INFO, logger="mgmt"):
        for i in range(5, 30):
            assert recorder.push_sample(sid, make_sample(i)), "the capture goes on in memory"
        assert read(the_journal(captures)).dropped_lines == 0
        with pytest.raises(RecordingWriteError) as err:
            recorder.stop()
        assert "No space left on device" in err.value.message
        assert "free disk space" in err.value.message
        assert recorder.status().armed
        assert recorder.status().sample_count == 30
        journal_errors = [
            r for r in caplog.records if r.name == "mgmt.journal" and r.levelno >= logging.ERROR
        ]
        assert len(journal_errors) == 1
        assert [p.name for p in captures.iterdir()] == [the_journal(captures).name]

        (small_tmpfs / "ballast").unlink()  # the operator frees space
        assert recorder.push_sample(sid, make_sample(30))
        assert len(read(the_journal(captures)).samples) == 31  # caught up
        assert "writing again, caught up" in caplog.text
        live = recorder.live_snapshot()
        assert live is not None
        meta = recorder.stop()
    assert meta is not None
    assert meta.sample_count == 31
    assert recorder.load(meta.id).samples == live.samples
    assert sorted(p.name for p in captures.iterdir()) == [f"{meta.id}.json"]


def test_a_full_disk_at_start_still_records_and_journals_once_space_returns(
    small_tmpfs: Path,
) -> None:
    captures = small_tmpfs / "captures"
    recorder = StatsRecorder(captures)
    fill(small_tmpfs / "ballast")
    # The journal's file is created, but not even its first line fits.
    samples = armed_with_samples(recorder, 3)
    assert len(samples) == 3
    (small_tmpfs / "ballast").unlink()
    sid = recorder.register_session("native", 1, 1, 1, "h264", "x", "")
    assert recorder.push_sample(sid, make_sample(3))
    contents = read(the_journal(captures))
    assert len(contents.samples) == 4
    assert len(contents.sessions) == 2
    meta = recorder.stop()
    assert meta is not None
    assert meta.sample_count == 4


def test_a_journal_removed_under_a_capture_does_not_fail_its_stop(
    recorder: StatsRecorder,
) -> None:
    armed_with_samples(recorder, 1)
    the_journal(recorder.captures_dir).unlink()  # removed under us: stop still saves
    meta = recorder.stop()
    assert meta is not None
    assert meta.sample_count == 1
    assert json_encoder.encode(recorder.load(meta.id).meta) == json_encoder.encode(meta)


def test_a_shutdown_that_cannot_save_keeps_the_journal_for_the_next_start(
    recorder: StatsRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rescue = tmp_path / "rescue"
    rescue.mkdir()
    monkeypatch.setattr(mgmt.recorder.tempfile, "gettempdir", lambda: str(rescue))
    samples = armed_with_samples(recorder, 3)
    captures = recorder.captures_dir
    aside = captures.with_name("captures-aside")
    captures.rename(aside)
    captures.write_bytes(b"not a directory")  # saving fails for real (ENOTDIR), even as root
    meta = recorder.shutdown()
    assert meta is not None
    assert len(list(rescue.glob("punktfunk-unsaved-*.json"))) == 1
    captures.unlink()
    aside.rename(captures)  # the operator repairs the dir
    (recovered,) = StatsRecorder(captures).recovered
    assert StatsRecorder(captures).load(recovered.id).samples == samples
