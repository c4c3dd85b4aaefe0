"""One real `punktfunk serve --demo` for the whole of tests/cli, a runner that calls
`punktfunk stats` as a real subprocess against it, and a relay in front of it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cli import Cli, Relay
from tests.support.serve import Serve


@pytest.fixture(scope="package")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    config = tmp_path_factory.mktemp("cli") / "config"
    host = Serve(config, "--demo", env={"PUNKTFUNK_PERF": "0"})
    yield host
    host.stop()


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


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def relay(serve: Serve) -> Iterator[Relay]:
    """An HTTP relay in front of serve, to act at an exact request of a client's run."""
    through = Relay(serve.url)
    yield through
    through.close()
