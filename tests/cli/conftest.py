"""One real `punktfunk serve --demo` for the whole of tests/cli, and a runner that calls
`punktfunk stats` as a real subprocess against it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.conftest import Serve


@pytest.fixture(scope="package")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    config = tmp_path_factory.mktemp("cli") / "config"
    host = Serve(config, "--demo", env={"PUNKTFUNK_PERF": "0"})
    yield host
    host.stop()


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any PUNKTFUNK_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNKTFUNK_")}
    return {**env, **extra}


def run_stats(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "host", "stats", *args],
        capture_output=True,
        text=True,
        env=clean_env() if env is None else env,
        timeout=timeout,
        check=False,
    )


class Cli:
    """`punktfunk stats ...` against the package's serve: --url and --token by default."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve

    def argv(self, *args: str, url: bool = True, token: bool = True) -> list[str]:
        return [
            *args,
            *(["--url", self.serve.url] if url else []),
            *(["--token", self.serve.token] if token else []),
        ]

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(PUNKTFUNK_CONFIG_DIR=str(self.serve.config), **extra)

    def __call__(
        self, *args: str, url: bool = True, token: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        env = kwargs.pop("env", None) or self.env()
        return run_stats(*self.argv(*args, url=url, token=token), env=env, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout


@pytest.fixture
def cli(serve: Serve) -> Iterator[Cli]:
    yield Cli(serve)
    # Leave the host idle for the next test, whatever this one did.
    if serve.api("GET", "/stats/capture/status").json()["armed"]:
        serve.api("POST", "/stats/capture/stop")


@pytest.fixture(scope="package")
def recording(serve: Serve) -> dict[str, Any]:
    """A saved recording of the demo stream with at least two samples (made over the API)."""
    assert serve.api("POST", "/stats/capture/start").status_code == 200
    serve.wait_for_samples(2)
    stopped = serve.api("POST", "/stats/capture/stop")
    assert stopped.status_code == 200, stopped.text
    got = serve.api("GET", f"/stats/recordings/{stopped.json()['id']}")
    capture: dict[str, Any] = got.json()
    return capture


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure contract: non-zero exit, exactly one stderr line, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    return lines[0]


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
