"""`punktfunk token` and `punktfunk openapi`."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mgmt import auth
from mgmt.auth import load_or_create_token
from mgmt.cli import main
from mgmt.openapi import render_document


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`main()` points the root logger at this test's captured stderr; put it back, or a
    later test's log line goes to a closed stream ("Logging error")."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_is_created_private_and_printed(
    isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40
    token_file = isolated_config / "token"
    assert token_file.read_text().strip() == token
    assert mode(token_file) == 0o600
    assert mode(isolated_config) == 0o700


def test_token_is_stable_across_calls(
    isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["token"])
    first = capsys.readouterr().out
    main(["token"])
    assert capsys.readouterr().out == first
    assert load_or_create_token(isolated_config) == first.strip()


def test_a_token_file_readable_by_others_is_restricted(isolated_config: Path) -> None:
    token = load_or_create_token(isolated_config)
    (isolated_config / "token").chmod(0o644)
    assert load_or_create_token(isolated_config) == token
    assert mode(isolated_config / "token") == 0o600


def test_an_empty_token_file_gets_a_new_token(isolated_config: Path) -> None:
    isolated_config.mkdir(mode=0o700)
    (isolated_config / "token").write_text("\n")
    token = load_or_create_token(isolated_config)
    assert len(token) >= 40
    assert (isolated_config / "token").read_text().strip() == token


def test_a_new_token_never_starts_with_a_dash(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--token -abc` would be read by argparse as a missing value: a drawn token that
    starts with `-` is drawn again."""
    draws = iter(["-starts-with-a-dash", "-again", "fine-token"])
    monkeypatch.setattr(auth.secrets, "token_urlsafe", lambda _n: next(draws))
    assert load_or_create_token(isolated_config) == "fine-token"
    assert (isolated_config / "token").read_text() == "fine-token\n"


def test_a_garbled_token_file_is_reported_not_used(
    isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolated_config.mkdir(mode=0o700)
    (isolated_config / "token").write_bytes(b"two words\n")
    assert main(["token"]) == 1
    assert "delete it to generate a new one" in capsys.readouterr().err


def test_openapi_prints_the_generated_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi"]) == 0
    out = capsys.readouterr().out
    assert out == render_document()
    assert out.endswith("\n")
    assert json.loads(out)["openapi"] == "3.1.0"


def test_commands_run_as_a_real_process(isolated_config: Path) -> None:
    cli = [sys.executable, "-c", "from mgmt.cli import main; raise SystemExit(main())"]
    token = subprocess.run([*cli, "token"], capture_output=True, text=True, check=True)
    assert token.stdout.strip() == (isolated_config / "token").read_text().strip()
    document = subprocess.run([*cli, "openapi"], capture_output=True, text=True, check=True)
    assert document.stdout == render_document()
