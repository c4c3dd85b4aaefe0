"""Fixtures of tests/native: a native host on its own thread per test."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mgmt.settings import Settings, native_settings
from tests.support.native import HostThread


@pytest.fixture
def native_host(isolated_config: Path) -> Iterator[Callable[..., HostThread]]:
    hosts: list[HostThread] = []

    def start(**settings: Any) -> HostThread:
        port = settings.pop("port", 0)
        perf = settings.pop("perf", True)
        # Protocol constants are not operator settings; a test may still shorten them.
        protocol = {k: settings.pop(k) for k in ("feedback_timeout_s",) if k in settings}
        native = native_settings(Settings(native=f"127.0.0.1:{port}", **settings))
        native = dataclasses.replace(native, **protocol)
        host = HostThread(native, isolated_config, perf=perf)
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.close()
