"""Fixtures for the mgmt tests: a recorder on a private captures dir and a live API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mgmt.api import create_app
from mgmt.asgi_server import ServerThread
from mgmt.recorder import StatsRecorder
from tests.mgmt.support import AUTH, TOKEN


@pytest.fixture
def captures_dir(isolated_config: Path) -> Path:
    return isolated_config / "captures"


@pytest.fixture
def recorder(captures_dir: Path) -> StatsRecorder:
    return StatsRecorder(captures_dir)


@pytest.fixture
def server(recorder: StatsRecorder) -> Iterator[ServerThread]:
    """The API on a real Hypercorn server on 127.0.0.1 (a free port)."""
    with ServerThread(create_app(recorder, TOKEN)) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    """An HTTP client for `server` that sends the bearer token."""
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c:
        yield c


@pytest.fixture
def anonymous(server: ServerThread) -> Iterator[httpx.Client]:
    """An HTTP client for `server` without credentials."""
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c
