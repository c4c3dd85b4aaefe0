"""The host's one session registry: ids unique across every path, one session limit.

Each path's listener asks it for a session id before starting a session, and tells it
when the session started and when it is ending (processes stopped, shared memory still
readable). Observers — the aggregator, through which telemetry, /metrics and the perf
line see sessions — hear the same, in that order. Listeners call from worker threads.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Protocol

from host.pipeline.session import HostBusyError, StreamSession

log = logging.getLogger(__name__)


class SessionObserver(Protocol):
    def session_started(self, session: StreamSession) -> None: ...

    def session_ending(self, session: StreamSession) -> None: ...


class Sessions:
    """Implements `host.pipeline.session.SessionRegistry` for every listener of a host."""

    def __init__(self, max_sessions: int, observers: list[SessionObserver] | None = None) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self.observers = list(observers or [])
        self._ids = itertools.count(1)
        self._reserved: dict[int, str] = {}  # session id -> path kind
        self._live: dict[int, StreamSession] = {}
        self._lock = threading.Lock()

    def reserve(self, kind: str) -> int:
        with self._lock:
            if len(self._reserved) >= self.max_sessions:
                raise HostBusyError(f"host busy: {self.max_sessions} sessions running")
            session_id = next(self._ids)
            self._reserved[session_id] = kind
            return session_id

    def started(self, session: StreamSession) -> None:
        with self._lock:
            self._live[session.session_id] = session
        for observer in self.observers:
            try:
                observer.session_started(session)
            except Exception:
                log.exception("session observer failed")

    def ending(self, session: StreamSession) -> None:
        try:
            for observer in self.observers:
                try:
                    observer.session_ending(session)
                except Exception:
                    log.exception("session observer failed")
        finally:
            with self._lock:
                self._live.pop(session.session_id, None)
                self._reserved.pop(session.session_id, None)

    def abandon(self, session_id: int) -> None:
        with self._lock:
            self._reserved.pop(session_id, None)

    def live(self) -> list[StreamSession]:
        """The running sessions of every path, oldest first."""
        with self._lock:
            return list(self._live.values())
