"""The human text of `punktfunk stats` (mgmt.stats_render), its progress line, and how
an export is written to a file."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from mgmt.api_client import CliError
from mgmt.models import CaptureMeta, StatsStatus
from mgmt.stats_cli import Progress, save_export
from mgmt.stats_render import (
    format_count,
    format_duration,
    format_local_time,
    format_size,
    format_table,
    render_list,
    render_progress,
    render_status,
)


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0s"),
        (999, "0s"),
        (7_000, "7s"),
        (59_999, "59s"),
        (60_000, "1m 0s"),
        (83_000, "1m 23s"),
        (3_600_000, "1h 0m 0s"),
        (3 * 3_600_000 + 5_000, "3h 0m 5s"),
        (-5, "0s"),
    ],
)
def test_durations_read_like_a_person_says_them(ms: int, shown: str) -> None:
    assert format_duration(ms) == shown


def test_times_are_shown_in_the_given_time_zone() -> None:
    unix_ms = 1_782_504_843_000  # 2026-06-26T20:14:03Z
    assert format_local_time(unix_ms, dt.UTC) == "2026-06-26 20:14:03"
    assert format_local_time(unix_ms, dt.timezone(dt.timedelta(hours=2))) == "2026-06-26 22:14:03"
    assert format_local_time(0) == "-"


@pytest.mark.parametrize(
    ("n", "shown"), [(0, "0 B"), (999, "999 B"), (1_800, "1.8 kB"), (5_200_000, "5.2 MB")]
)
def test_sizes_use_decimal_units(n: int, shown: str) -> None:
    assert format_size(n) == shown


def test_counts_agree_with_their_noun() -> None:
    assert [format_count(n, "sample") for n in (0, 1, 2)] == ["0 samples", "1 sample", "2 samples"]


def test_tables_align_columns_and_right_align_numbers() -> None:
    table = format_table(["name", "n"], [["a", "1"], ["longer", "123"]], right=" >")
    assert table.splitlines() == ["name      n", "a         1", "longer  123"]


def test_the_recordings_table_marks_truncated_ones() -> None:
    meta = CaptureMeta(
        id="x",
        started_unix_ms=1_782_504_843_000,
        duration_ms=83_000,
        kind="native",
        width=1920,
        height=1080,
        fps=60,
        codec="hevc",
        encoder="hevc_nvenc",
        client="c",
        sample_count=5400,
        truncated=True,
    )
    lines = [" ".join(line.split()) for line in render_list([meta]).splitlines()]
    assert lines[0] == "started (local) kind mode codec encoder duration samples id"
    assert lines[1].endswith(" native 1920x1080@60 hevc hevc_nvenc 1m 23s 5400* x")
    assert lines[2].startswith("* truncated")
    assert render_list([]).startswith("no recordings yet")


def test_status_shows_elapsed_and_samples_while_recording() -> None:
    status = StatsStatus(
        armed=True,
        sample_count=41,
        started_unix_ms=1_782_504_843_000,
        kind="native",
        elapsed_ms=83_000,
    )
    text = render_status(status)
    assert "elapsed    1m 23s" in text
    assert "samples    41" in text
    assert render_status(StatsStatus(False, 0, 0, "", 0)).startswith("not recording")


def test_progress_is_one_redrawn_line_on_a_terminal(tmp_path: Path) -> None:
    with (tmp_path / "tty").open("w+", newline="") as stream:
        progress = Progress(stream, tty=True)
        progress.update(render_progress(2_000, 60_000, 1))
        progress.update(render_progress(4_000, 60_000, 2))
        progress.close()
        stream.seek(0)
        assert stream.read() == (
            "\r\x1b[Krecording 2s of 1m 0s, 1 sample (Ctrl-C stops and saves)"
            "\r\x1b[Krecording 4s of 1m 0s, 2 samples (Ctrl-C stops and saves)"
            "\r\x1b[K"
        )


def test_progress_off_a_terminal_is_a_plain_line_now_and_then(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w+", newline="") as stream:
        progress = Progress(stream, tty=False, every_s=0)
        progress.update("one")
        progress.update("two")
        progress.close()
        quiet = Progress(stream, tty=False, every_s=3600)
        quiet.update("never shown")
        quiet.close()
        stream.seek(0)
        assert stream.read() == "one\ntwo\n"


def test_an_export_refuses_to_replace_a_file_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    save_export(target, b"first", force=False)
    assert target.read_bytes() == b"first"
    with pytest.raises(CliError, match="pass --force to overwrite it"):
        save_export(target, b"second", force=False)
    assert target.read_bytes() == b"first"
    save_export(target, b"third", force=True)
    assert target.read_bytes() == b"third"
    assert os.listdir(tmp_path) == ["out.json"]  # no temp files left


def test_an_export_gets_the_usual_mode_for_a_new_file(tmp_path: Path) -> None:
    # Not the private 0600 of the config files: an export is meant to be shared.
    mask = os.umask(0o022)
    try:
        save_export(tmp_path / "out.csv", b"t_ms\n", force=False)
    finally:
        os.umask(mask)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_an_export_into_a_missing_directory_is_one_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.json"
    with pytest.raises(CliError, match=f"cannot write {target}: No such file or directory"):
        save_export(target, b"{}", force=False)
