"""A real native host on loopback, run on its own event loop in a background thread so
tests can look at its sessions' rings and counters while a client process streams."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from host.native.server import NativeHost, NativeSettings
from host.native.session import NativeSession, TransportSettings
from host.native.tls import load_or_create_identity
from host.pipeline.session import SessionParams
from ipc import ControlBlock, Counter
from mgmt.sessions import Sessions
from tests.support.waiting import wait_for


def unstarted_session(control: ControlBlock) -> NativeSession:
    """A real 720p60 native session's shared memory, its processes not started: a test
    writes the records a capture and a send process would. Close it when done."""
    return NativeSession(
        1,
        SessionParams(1280, 720, 60, "h264", 10_000, "test"),
        ("127.0.0.1", 9),
        "synthetic",
        "libx264",
        TransportSettings(1200, 25, 8.0),
        control,
    )


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
        try:
            self.address: tuple[str, int] = self.call(self.host.start())
        except BaseException:
            self.close()
            raise

    def call(self, coro: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        """Close the host the way serve does, then leave nothing running on the loop:
        no task, no async generator, no executor thread."""
        if self.loop.is_closed():
            return
        try:
            self.call(self.host.close())
        finally:
            try:
                self.call(_finish_the_loop())
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self.thread.join(10)
                self.loop.close()
                self.control.close()


async def _finish_the_loop() -> None:
    """What asyncio.run does on the way out, for a loop driven from another thread."""
    loop = asyncio.get_running_loop()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def client_command(address: tuple[str, int], *args: str) -> list[str]:
    return [sys.executable, "-m", "mgmt", "client", f"{address[0]}:{address[1]}", *args]


class Client:
    """A `punktfunk client --json` process that streams until the test has seen what it
    waits for, then is stopped the way a person stops it (Ctrl-C) and reports."""

    def __init__(self, address: tuple[str, int], *args: str) -> None:
        self.process = subprocess.Popen(
            client_command(address, "--json", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            self.process.kill()
        self.process.communicate()  # reaps it and closes the pipes

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """`wait_for`, failing at once with the client's stderr if it exits meanwhile."""

        def ready() -> object:
            if self.process.poll() is not None:
                _, err = self.process.communicate()
                raise AssertionError(f"the client exited ({self.process.returncode}): {err}")
            return predicate()

        wait_for(ready, timeout, what, poll_s=0.02)

    def stop(self, timeout: float = 30) -> dict[str, Any]:
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        # Unclosed sockets and the like are ResourceWarnings, errors in the child, which
        # reports them on stderr on its way out.
        assert "Traceback" not in err, err
        assert "Exception ignored" not in err, err
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        assert report["ended_by"] == "interrupted", report
        return report


def stream_until(
    host: HostThread,
    done: Callable[[NativeSession], object],
    *args: str,
    timeout: float = 60,
    what: str = "the session to get far enough",
) -> dict[str, Any]:
    """Stream from `host` until `done(session)` holds for this client's session, then
    stop the client and return its report."""
    earlier = set(host.host.sessions)
    with Client(host.address, *args) as client:
        ours: list[NativeSession] = []

        def started() -> bool:
            ours.extend(s for i, s in dict(host.host.sessions).items() if i not in earlier)
            return bool(ours)

        client.wait_for(started, timeout, "the client's session")
        client.wait_for(lambda: done(ours[0]), timeout, what)
        return client.stop()
