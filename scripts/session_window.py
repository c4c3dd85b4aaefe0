"""Measuring one window of a real streaming session, for the streaming benchmarks.

A benchmark runs a real host (its own registry, observed by a `SessionWatch`) and a real
client process, waits for the session, lets it warm up, then takes an `Edge` (time,
counters, CPU time of the processes) at both ends of the window. When the session ends
the watch reads its rings; `window_records` keeps the frames captured inside the window
and `ring_figures` turns them into the path's per-stage p50/p99 and the host latency
(capture start -> last datagram handed to the kernel, from the send ring).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from host.pipeline.session import StreamSession
from host.pipeline.stages import PathSpec
from ipc import Counter
from mgmt.aggregator import stage_timings

Records = np.ndarray[Any, Any]


class SessionWatch:
    """A registry observer (`mgmt.sessions.SessionObserver`) that keeps the first session
    started after it was created and reads that session's rings while it ends (the
    processes have stopped; the shared memory is still there). Observers are called
    from the listeners' worker threads; the benchmark only polls the attributes."""

    def __init__(self) -> None:
        self.session: StreamSession | None = None
        self.frames: Records | None = None
        self.sends: Records | None = None

    def session_started(self, session: StreamSession) -> None:
        if self.session is None:
            self.session = session

    def session_ending(self, session: StreamSession) -> None:
        if session is self.session:
            self.frames = session.frame_ring.reader(from_start=True).read()
            self.sends = session.send_ring.reader(from_start=True).read()

    async def started(
        self, client: asyncio.subprocess.Process, timeout_s: float = 30.0
    ) -> StreamSession:
        """The session, once the host started it; fails early if `client` gave up."""
        deadline = time.monotonic() + timeout_s
        while self.session is None:
            if client.returncode is not None:
                raise RuntimeError(f"the client exited ({client.returncode}) before streaming")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no session started within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
        return self.session

    async def ended(self, timeout_s: float = 30.0) -> tuple[Records, Records]:
        """The session's frame and send records, once it ended."""
        deadline = time.monotonic() + timeout_s
        while self.frames is None or self.sends is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the session did not end within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
        return self.frames, self.sends


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def cpu_ns(pid: int) -> int:
    """CPU time of all threads of `pid`, in ns (Linux schedstat; no tick rounding)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def frames_sent(counters: dict[Counter, int]) -> int:
    """Frames the capture/encode process produced: new pictures plus repeats."""
    return counters[Counter.FRAMES_NEW] + counters[Counter.FRAMES_REPEAT]


def session_processes(
    session: StreamSession, client: asyncio.subprocess.Process
) -> dict[str, psutil.Process]:
    """Every process of the session (capture, send and a path's side processes, such as
    GameStream's audio) and the client's."""
    procs = {role: psutil.Process(pid) for role, pid in session.pids.items()}
    return procs | {"client": psutil.Process(client.pid)}


@dataclass(frozen=True)
class Edge:
    """One end of a measured window."""

    ns: int  # time.monotonic_ns(), the clock of the ring records
    counters: dict[Counter, int]
    cpu_s: dict[str, float]

    @classmethod
    def take(cls, session: StreamSession, procs: dict[str, psutil.Process]) -> Edge:
        return cls(
            time.monotonic_ns(),
            session.counters.snapshot(),
            {name: cpu_seconds(proc) for name, proc in procs.items()},
        )


@dataclass(frozen=True)
class Window:
    start: Edge
    end: Edge

    @property
    def seconds(self) -> float:
        return (self.end.ns - self.start.ns) / 1e9

    @property
    def frames(self) -> int:
        return frames_sent(self.end.counters) - frames_sent(self.start.counters)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    def delta(self, counter: Counter) -> int:
        return self.end.counters[counter] - self.start.counters[counter]

    def cpu_pct(self) -> dict[str, float]:
        return {
            name: 100 * (self.end.cpu_s[name] - self.start.cpu_s[name]) / self.seconds
            for name in self.start.cpu_s
        }


def window_records(frames: Records, sends: Records, window: Window) -> tuple[Records, Records]:
    """The frame and send records of the frames captured inside `window`."""

    def inside(rows: Records) -> Records:
        ts = rows["capture_ts_ns"]
        return rows[(ts >= window.start.ns) & (ts < window.end.ns)]

    return inside(frames), inside(sends)


@dataclass
class RingFigures:
    stages_us: dict[str, tuple[float, float]] = field(default_factory=dict)  # p50, p99
    host_ms: tuple[float, float] = (float("nan"), float("nan"))  # p50, p99
    records: int = 0  # send records the figures come from


def ring_figures(path: PathSpec, frames: Records, sends: Records) -> RingFigures:
    """The path's stage p50/p99 and the host latency p50/p99 of the given records."""
    figures = RingFigures(records=len(sends))
    for stage in stage_timings(path, {"frames": frames, "sends": sends}):
        figures.stages_us[stage.name] = (stage.p50_us, stage.p99_us)
    if len(sends):
        host_us = sends["done_ts_ns"].astype(np.int64) - sends["capture_ts_ns"].astype(np.int64)
        p50, p99 = np.percentile(host_us / 1e3, [50, 99])
        figures.host_ms = (float(p50) / 1000, float(p99) / 1000)
    return figures


async def finish(
    client: asyncio.subprocess.Process, timeout_s: float = 15.0
) -> tuple[bytes, bytes]:
    """The client's stdout and stderr (where piped) once it exits on its own; killed if it
    takes longer."""
    try:
        stdout, stderr = await asyncio.wait_for(client.communicate(), timeout_s)
    except TimeoutError:
        await stop(client)
        raise
    return stdout or b"", stderr or b""


async def stop(client: asyncio.subprocess.Process) -> None:
    """End a client process that is still running (politely, then by force)."""
    if client.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        client.terminate()
    try:
        await asyncio.wait_for(client.wait(), 5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            client.kill()
        await client.wait()
