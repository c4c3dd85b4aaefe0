"""One native streaming session: its shared memory and its two processes.

The session's owner (the process running the native host: mgmt under `serve`, or
`host-native`) creates the frame ring, the send ring and the counters block, starts the
capture/encode and send processes, and on `stop()` ends them (politely, then by force)
and unlinks the segments. Processes come from a forkserver: quick to start, and safe
from a parent that runs an event loop and threads.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext

from host.encoder import EncoderSettings
from host.native import capture_process, send_process
from host.native.wire import KEY_SIZE, SALT_SIZE
from ipc import FRAME_RECORD, SEND_RECORD, ControlBlock, Counter, CountersBlock, Ring

log = logging.getLogger(__name__)

RING_CAPACITY = 1024  # 17 s at 60 fps: the aggregator reads every 1-2 s
_context: ForkServerContext | None = None


def process_context() -> ForkServerContext:
    global _context  # noqa: PLW0603 - one forkserver per host process
    if _context is None:
        ctx = mp.get_context("forkserver")
        # Children fork from a server that already imported PyAV, numpy and the rest.
        ctx.set_forkserver_preload(
            ["host.native.capture_process", "host.native.send_process", "numpy", "av"]
        )
        _context = ctx
    return _context


@dataclass(frozen=True)
class SessionParams:
    width: int
    height: int
    fps: int
    codec: str
    bitrate_kbps: int
    client: str


@dataclass(frozen=True)
class TransportSettings:
    shard_size: int
    fec_percent: int
    pace_multiple: float


class NativeSession:
    kind = "native"

    def __init__(
        self,
        session_id: int,
        params: SessionParams,
        client_addr: tuple[str, int],
        source: str,
        backend: str,
        transport: TransportSettings,
        control: ControlBlock,
    ) -> None:
        self.session_id = session_id
        self.params = params
        self.client_addr = client_addr
        self.source = source
        self.encoder = backend
        self.transport = transport
        self.key = os.urandom(KEY_SIZE)
        self.salt = os.urandom(SALT_SIZE)
        self.started_monotonic = time.monotonic()
        self.frame_ring = Ring.create(FRAME_RECORD, RING_CAPACITY)
        self.send_ring = Ring.create(SEND_RECORD, RING_CAPACITY)
        self.counters = CountersBlock.create()
        self.final_counters: dict[Counter, int] | None = None
        ctx = process_context()
        self._stop = ctx.Event()
        au_in, au_out = ctx.Pipe(duplex=False)
        self._errors, errors_out = ctx.Pipe(duplex=False)
        encoder = EncoderSettings(
            params.codec, params.width, params.height, params.fps, params.bitrate_kbps
        )
        capture = capture_process.CaptureConfig(
            session_id,
            source,
            encoder,
            backend,
            control.name,
            self.counters.name,
            self.frame_ring.name,
        )
        send = send_process.SendConfig(
            session_id,
            client_addr,
            self.key,
            self.salt,
            transport.shard_size,
            transport.fec_percent,
            params.bitrate_kbps,
            params.fps,
            transport.pace_multiple,
            control.name,
            self.counters.name,
            self.send_ring.name,
        )
        self.capture_process = ctx.Process(
            target=capture_process.run,
            args=(capture, au_out, self._stop, errors_out),
            name=f"pf-capture-{session_id}",
            daemon=True,
        )
        self.send_process = ctx.Process(
            target=send_process.run,
            args=(send, au_in, self._stop, errors_out),
            name=f"pf-send-{session_id}",
            daemon=True,
        )
        self._pipe_ends = (au_in, au_out, errors_out)
        self.pids: dict[str, int] = {}
        self._stopped = False
        self._closed = False

    def start(self) -> None:
        self.send_process.start()
        self.capture_process.start()
        # The children hold their own ends; ours must go, or EOF never propagates.
        for end in self._pipe_ends:
            end.close()
        self.pids = {
            "capture": self.capture_process.pid or 0,
            "send": self.send_process.pid or 0,
        }

    @property
    def alive(self) -> bool:
        return (
            not self._stopped and self.capture_process.is_alive() and self.send_process.is_alive()
        )

    def failure(self) -> str | None:
        """Why a streaming process gave up, if one said so before exiting."""
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
        self._stop.set()
        deadline = time.monotonic() + timeout
        for process in (self.capture_process, self.send_process):
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
        self._errors.close()
        self.frame_ring.close()
        self.send_ring.close()
        self.counters.close()
