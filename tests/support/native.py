"""A real native host on loopback, run on its own event loop in a background thread so
tests can look at its sessions' rings and counters while a client process streams."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from host.native.server import NativeHost, NativeSettings
from host.native.session import NativeSession
from host.native.tls import load_or_create_identity
from ipc import ControlBlock, Counter
from mgmt.sessions import Sessions


class Recorder:
    """A session observer that remembers what it saw."""

    def __init__(self) -> None:
        self.started: list[NativeSession] = []
        self.ended: list[tuple[NativeSession, dict[Counter, int]]] = []
        self.on_ending: Callable[[NativeSession], None] | None = None

    def session_started(self, session: NativeSession) -> None:
        self.started.append(session)

    def session_ending(self, session: NativeSession) -> None:
        if self.on_ending:
            self.on_ending(session)
        self.ended.append((session, session.counters.snapshot()))


class HostThread:
    def __init__(
        self, settings: NativeSettings, config: Path, *, perf: bool = True, max_sessions: int = 4
    ) -> None:
        self.control = ControlBlock.create(perf=perf)
        self.observer = Recorder()
        self.sessions = Sessions(max_sessions, [self.observer])
        self.host = NativeHost(
            settings, self.control, load_or_create_identity(config), self.sessions
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.address = self.call(self.host.start())

    def call(self, coro: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.call(self.host.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.control.close()


def client_command(address: tuple[str, int], *args: str) -> list[str]:
    return [sys.executable, "-m", "mgmt", "client", f"{address[0]}:{address[1]}", *args]


def run_client(address: tuple[str, int], *args: str, timeout: float = 60) -> dict[str, Any]:
    result = subprocess.run(
        client_command(address, "--json", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report
