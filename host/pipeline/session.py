"""A streaming session of any path: its shared memory, its two processes, its registry.

Every path runs the same shape: the capture/encode process (`capture_process`) writes a
FrameRecord per frame and hands each access unit over a pipe to the path's own send
process, which writes a SendRecord per frame. `StreamSession` owns what is common —
the frame ring, the send ring, the counters block, both processes, stopping and
releasing them — and a path's session subclass names its send process. Everything
above the paths (the aggregator, /metrics, telemetry, the perf line) sees only the
attributes of `StreamSession`, never a protocol's types.

The session's owner creates the segments; processes come from a forkserver, quick to
start and safe from a parent that runs an event loop and threads.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.synchronize import Event
from typing import Any, Protocol

from host.pipeline import capture_process
from host.pipeline.encoder import CODECS, EncoderSettings, choose_backend, opens
from host.pipeline.stages import PathSpec
from ipc import FRAME_RECORD, SEND_RECORD, ControlBlock, Counter, CountersBlock, Ring

log = logging.getLogger(__name__)

RING_CAPACITY = 1024  # 17 s at 60 fps: the aggregator reads every 1-2 s

# A send process's entry point: (its config, access units in, stop flag, errors out).
SendEntry = Callable[[Any, Connection, Event, Connection], None]
# A side process's entry point (a path's sound): (its config, stop flag, errors out).
SideEntry = Callable[[Any, Event, Connection], None]

_PRELOAD = ["host.pipeline.capture_process", "numpy", "av"]
_context: ForkServerContext | None = None


def preload(module: str) -> None:
    """Have forked processes start with `module` imported (a path's send process).
    Must run before the first session starts; paths call it when imported."""
    if module not in _PRELOAD:
        if _context is not None:
            log.warning("%s registered after the forkserver started; not preloaded", module)
        _PRELOAD.append(module)


def process_context() -> ForkServerContext:
    global _context  # noqa: PLW0603 - one forkserver per host process
    if _context is None:
        ctx = mp.get_context("forkserver")
        # Children fork from a server that already imported PyAV, numpy and the rest.
        ctx.set_forkserver_preload(list(_PRELOAD))
        _context = ctx
    return _context


@dataclass(frozen=True)
class SessionParams:
    width: int
    height: int
    fps: int
    codec: str
    bitrate_kbps: int
    client: str  # the label the client goes by (a device name, a --label)

    @property
    def mode(self) -> str:
        return f"{self.width}x{self.height}@{self.fps}"


class HostBusyError(RuntimeError):
    """Every session slot of the host is taken."""


class SessionRegistry(Protocol):
    """Hands out session ids unique across all paths and owns the session limit; hears
    of sessions starting and ending (mgmt's registry passes that on to the aggregator
    and telemetry). Called from worker threads."""

    def reserve(self, kind: str) -> int:
        """A fresh session id; raises HostBusyError when no slot is free."""
        ...

    def started(self, session: StreamSession) -> None: ...

    def ending(self, session: StreamSession) -> None:
        """The processes have stopped; the shared memory is still readable. Frees the slot."""
        ...

    def abandon(self, session_id: int) -> None:
        """A reserved id whose session never started; frees the slot."""
        ...


class EncoderBackends:
    """The encoder backend per codec, probed once: opening NVENC to find out costs time
    and a log line, so every session of a host shares the answer."""

    def __init__(self, prefer: str) -> None:
        self.prefer = prefer
        self._chosen: dict[str, str] = {}
        self._available: list[str] | None = None
        self._lock = threading.Lock()

    def __call__(self, codec: str) -> str:
        with self._lock:
            if codec not in self._chosen:
                self._chosen[codec] = choose_backend(codec, self.prefer)
            return self._chosen[codec]

    def available(self) -> list[str]:
        """The codecs whose chosen backend really opens here, in CODECS order (slow: it
        opens an encoder per codec the first time)."""
        with self._lock:
            if self._available is None:
                found = []
                for codec in CODECS:
                    backend = self._chosen.get(codec) or choose_backend(codec, self.prefer)
                    if opens(codec, backend):
                        self._chosen[codec] = backend
                        found.append(codec)
                self._available = found
            return list(self._available)


class StreamSession:
    """One session's segments and processes. Subclasses set `path` and implement
    `send_entry()`; the base class starts, watches, stops and releases everything."""

    path: PathSpec

    def __init__(
        self,
        session_id: int,
        params: SessionParams,
        source: str,
        backend: str,
        control: ControlBlock,
    ) -> None:
        self.session_id = session_id
        self.params = params
        self.source = source
        self.encoder = backend
        self.control = control
        self.started_monotonic = time.monotonic()
        self.frame_ring = Ring.create(FRAME_RECORD, RING_CAPACITY)
        self.send_ring = Ring.create(SEND_RECORD, RING_CAPACITY)
        self.counters = CountersBlock.create()
        self.audio_ring: Ring | None = None  # paths with sound create one
        self.final_counters: dict[Counter, int] | None = None
        self.pids: dict[str, int] = {}
        self._stopped = False
        self._closed = False
        self._started = False

    # -- what the stats side reads ------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.path.kind

    @property
    def window_s(self) -> float:
        return self.path.window_s

    def describe(self, client: str, address: str) -> str:
        """The log line of a session that started: who, from where, and what it streams."""
        p = self.params
        return (
            f"{self.kind} session {self.session_id}: {client} from {address}, "
            f"{p.width}x{p.height}@{p.fps} {p.codec} ({self.encoder}) {p.bitrate_kbps} kb/s"
        )

    # -- what a path supplies -------------------------------------------------------------

    def send_entry(self) -> tuple[SendEntry, Any]:
        """The path's send process: its entry point and its (picklable) config."""
        raise NotImplementedError

    def side_processes(self) -> list[tuple[str, SideEntry, Any]]:
        """Processes beside the two that carry frames, as (role, entry, config): a path's
        sound. They stop with the session; their failure alone does not end it."""
        return []

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        """Start both processes. On failure everything is released again."""
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        ctx = process_context()
        self._stop = ctx.Event()
        au_in, au_out = ctx.Pipe(duplex=False)
        self._errors, errors_out = ctx.Pipe(duplex=False)
        p = self.params
        capture = capture_process.CaptureConfig(
            self.session_id,
            self.source,
            EncoderSettings(p.codec, p.width, p.height, p.fps, p.bitrate_kbps),
            self.encoder,
            self.control.name,
            self.counters.name,
            self.frame_ring.name,
        )
        send_target, send_config = self.send_entry()
        self.side = {
            role: ctx.Process(
                target=target,
                args=(config, self._stop, errors_out),
                name=f"pf-{role}-{self.session_id}",
                daemon=True,
            )
            for role, target, config in self.side_processes()
        }
        self.capture_process = ctx.Process(
            target=capture_process.run,
            args=(capture, au_out, self._stop, errors_out),
            name=f"pf-capture-{self.session_id}",
            daemon=True,
        )
        self.send_process = ctx.Process(
            target=send_target,
            args=(send_config, au_in, self._stop, errors_out),
            name=f"pf-send-{self.session_id}",
            daemon=True,
        )
        self._started = True
        try:
            self.send_process.start()
            self.capture_process.start()
            for process in self.side.values():
                process.start()
        finally:
            # The children hold their own ends; ours must go, or EOF never propagates.
            for end in (au_in, au_out, errors_out):
                end.close()
        self.pids = {
            "capture": self.capture_process.pid or 0,
            "send": self.send_process.pid or 0,
        } | {role: process.pid or 0 for role, process in self.side.items()}

    @property
    def alive(self) -> bool:
        return (
            self._started
            and not self._stopped
            and self.capture_process.is_alive()
            and self.send_process.is_alive()
        )

    def failure(self) -> str | None:
        """Why a streaming process gave up, if one said so before exiting."""
        if not self._started:
            return None
        try:
            if self._errors.poll():
                reason: str = self._errors.recv()
                return reason
        except (EOFError, OSError):
            pass
        return None

    def stop(self, timeout: float = 3.0) -> None:
        """End both processes (politely, then by force). Idempotent. The shared memory
        stays readable until `close()`, so a last window can still be aggregated."""
        if self._stopped:
            return
        self._stopped = True
        if self._started:
            self._stop.set()
            deadline = time.monotonic() + timeout
            for process in (self.capture_process, self.send_process, *self.side.values()):
                if process.pid is None:
                    continue
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    log.warning("session %d: %s hangs, killing it", self.session_id, process.name)
                    process.kill()
                    process.join(2)
                process.close()
        self.final_counters = self.counters.snapshot()

    def close(self) -> None:
        """Stop if needed, then unlink the session's shared memory. Idempotent."""
        self.stop()
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._errors.close()
        self.frame_ring.close()
        self.send_ring.close()
        if self.audio_ring is not None:
            self.audio_ring.close()
        self.counters.close()
