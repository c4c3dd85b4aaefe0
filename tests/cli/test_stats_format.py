"""The formatting helpers and the rules for finding the server."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from mgmt.models import CaptureMeta, StatsStatus
from mgmt.stats_cli import (
    CliError,
    Progress,
    format_count,
    format_duration,
    format_local_time,
    format_size,
    format_table,
    normalize_url,
    render_list,
    render_progress,
    render_status,
    resolve_endpoint,
    url_from_bind,
    write_file_atomically,
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


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:47900", "http://127.0.0.1:47900"),
        ("http://host:1/", "http://host:1"),
        ("https://host/api/v1/", "https://host"),
    ],
)
def test_urls_are_normalised(given: str, url: str) -> None:
    assert normalize_url(given) == url


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:47900", "http://127.0.0.1:47900"),
        ("0.0.0.0:47900", "http://127.0.0.1:47900"),
        ("[::]:47900", "http://127.0.0.1:47900"),
        (":47900", "http://127.0.0.1:47900"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("192.168.1.5:80", "http://192.168.1.5:80"),
    ],
)
def test_a_wildcard_bind_is_reached_on_loopback(bind: str, url: str) -> None:
    assert url_from_bind(bind) == url


def test_a_random_port_bind_cannot_be_found_and_says_to_pass_url() -> None:
    with pytest.raises(CliError, match="--url"):
        url_from_bind("127.0.0.1:0")


def config_with(tmp_path: Path, *, stored: str | None = "from-file", toml: str = "") -> Path:
    """A config dir holding `stored` as its token file (none if None) and `toml`."""
    tmp_path.mkdir(exist_ok=True)
    if stored is not None:
        (tmp_path / "token").write_text(stored + "\n")
    if toml:
        (tmp_path / "config.toml").write_text(toml)
    return tmp_path


def test_without_overrides_url_and_token_come_from_the_config_dir(tmp_path: Path) -> None:
    directory = config_with(tmp_path, toml='bind = "0.0.0.0:48000"\n')
    endpoint = resolve_endpoint(None, None, {}, directory)
    assert (endpoint.url, endpoint.token) == ("http://127.0.0.1:48000", "from-file")
    assert endpoint.token_source == str(directory / "token")
    assert endpoint.url_source == "the bind setting"
    assert resolve_endpoint(None, None, {}, config_with(tmp_path / "d")).url == (
        "http://127.0.0.1:47900"  # the default bind
    )


def test_the_environment_wins_over_the_config_dir(tmp_path: Path) -> None:
    directory = config_with(tmp_path, toml='bind = "127.0.0.1:48000"\n')
    env = {"PUNKTFUNK_BIND": "127.0.0.1:48001"}
    assert resolve_endpoint(None, None, env, directory).url == "http://127.0.0.1:48001"
    env |= {"PUNKTFUNK_URL": "http://h:1", "PUNKTFUNK_TOKEN": "from-env"}
    endpoint = resolve_endpoint(None, None, env, directory)
    assert (endpoint.url, endpoint.token, endpoint.token_source) == (
        "http://h:1",
        "from-env",
        "PUNKTFUNK_TOKEN",
    )


def test_flags_win_over_everything(tmp_path: Path) -> None:
    env = {"PUNKTFUNK_URL": "http://h:1", "PUNKTFUNK_TOKEN": "from-env"}
    endpoint = resolve_endpoint("http://flag:2", "from-flag", env, config_with(tmp_path))
    assert (endpoint.url, endpoint.token) == ("http://flag:2", "from-flag")
    assert (endpoint.url_source, endpoint.token_source) == ("--url", "--token")


def test_a_missing_token_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    directory = config_with(tmp_path, stored=None)
    with pytest.raises(CliError, match="punktfunk token"):
        resolve_endpoint("http://h:1", None, {}, directory)
    assert not (directory / "token").exists()


def test_a_bad_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    directory = config_with(tmp_path, toml="bind = 5\n")
    with pytest.raises(CliError, match="bind must be str"):
        resolve_endpoint(None, None, {}, directory)


def test_writing_a_file_refuses_to_replace_one_unless_told(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_file_atomically(target, b"first", overwrite=False)
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError):
        write_file_atomically(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first"
    write_file_atomically(target, b"third", overwrite=True)
    assert target.read_bytes() == b"third"
    assert os.listdir(tmp_path) == ["out.json"]  # no temp files left
