"""Fixtures of tests/serve: a `punktfunk serve` process per test."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.serve import Serve


@pytest.fixture
def start_serve(isolated_config: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Serve:
        serve = Serve(isolated_config, *args, env=env)
        started.append(serve)
        return serve

    yield start
    for serve in started:
        if serve.proc.poll() is None:
            serve.stop(signal.SIGKILL)
        serve.stop()  # idempotent: closes the pipes and the client
