"""Every failure of `punktfunk stats` is a non-zero exit and one actionable stderr line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Cli, clean_env, one_error_line, run_stats


def test_server_down_names_the_url_and_suggests_serve(closed_port_url: str) -> None:
    line = one_error_line(run_stats("status", "--url", closed_port_url, "--token", "t"))
    assert line.startswith("punktfunk stats status: cannot connect to ")
    assert closed_port_url in line
    assert "punktfunk serve" in line


def test_server_down_at_the_default_address_names_where_the_url_came_from(
    closed_port_url: str, tmp_path: Path
) -> None:
    port = closed_port_url.rsplit(":", 1)[1]
    env = clean_env(
        PUNKTFUNK_CONFIG_DIR=str(tmp_path), PUNKTFUNK_BIND=f"127.0.0.1:{port}", PUNKTFUNK_TOKEN="t"
    )
    line = one_error_line(run_stats("ls", env=env))
    assert closed_port_url in line
    assert "the bind setting" in line


def test_a_wrong_token_says_how_to_get_the_right_one(cli: Cli) -> None:
    line = one_error_line(cli("ls", "--token", "wrong", token=False))
    assert "refused the token from --token" in line
    assert "`punktfunk token`" in line


def test_a_wrong_token_from_the_environment_is_named(cli: Cli) -> None:
    line = one_error_line(cli("ls", env=cli.env(PUNKTFUNK_TOKEN="wrong"), token=False))
    assert "refused the token from PUNKTFUNK_TOKEN" in line


def test_no_token_anywhere_says_where_it_looked(tmp_path: Path, closed_port_url: str) -> None:
    env = clean_env(PUNKTFUNK_CONFIG_DIR=str(tmp_path))
    line = one_error_line(run_stats("ls", "--url", closed_port_url, env=env))
    assert str(tmp_path / "token") in line
    assert "punktfunk token" in line


@pytest.mark.parametrize(
    "args",
    [
        ("show", "no-such-recording"),
        ("rm", "no-such-recording"),
        ("export", "no-such-recording"),
        ("export", "no-such-recording", "--csv"),
        ("show", "../../etc/passwd"),
    ],
)
def test_an_unknown_id_is_one_line_naming_it(cli: Cli, args: tuple[str, ...]) -> None:
    line = one_error_line(cli(*args))
    assert line.startswith(f"punktfunk stats {args[0]}: no recording with id {args[1]!r}")


def test_export_into_a_missing_directory_fails_cleanly(cli: Cli, tmp_path: Path) -> None:
    cli.serve.api("POST", "/stats/capture/start")
    recording_id = cli.serve.api("POST", "/stats/capture/stop").json()["id"]
    target = tmp_path / "missing" / "out.json"
    line = one_error_line(cli("export", recording_id, "-o", str(target)))
    assert f"cannot write {target}" in line


def test_a_url_that_is_no_url_is_one_line(cli: Cli) -> None:
    line = one_error_line(cli("status", "--url", "http://[::1", url=False))
    assert "invalid URL" in line


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("show",),
        ("rm",),
        ("export", "--csv"),
        ("start", "--for", "0"),
        ("start", "--for", "soon"),
        ("frobnicate",),
    ],
)
def test_bad_arguments_exit_2_without_a_traceback(args: tuple[str, ...]) -> None:
    result = run_stats(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage: punktfunk stats" in result.stderr
