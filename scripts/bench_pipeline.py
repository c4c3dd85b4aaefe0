#!/usr/bin/env python3
"""Benchmark the native streaming path on loopback.

For each mode, a real host (capture/encode and send processes) streams to a real
`punktfunk client` process. After a warm-up, one window is measured:

- achieved fps (frames sent / s) and frames dropped by the host,
- host latency p50/p99 (capture start -> last datagram handed to the kernel),
- per-stage p50/p99 from the metrics rings,
- CPU % of the capture/encode, send and client processes.

The overhead of measuring comes from one 720p session in which the control block's
`always` flag (the setting `measure = always`) is switched on and off every second, with
nothing armed, so it is what `always` costs over `armed` while no capture records
(interleaved within the same run, so content, encoder state and machine load hit both
alike). It is the difference in CPU time per frame of the two streaming processes (fps
is capped by the frame clock, so CPU is where a cost would show), read with nanosecond
resolution from /proc/<pid>/task/*/schedstat; achieved fps is compared too.

What mgmt adds per window is timed on that session's real records: counting a 2 s
window into the latency histograms (against building the window's sample, the baseline),
and appending a sample to a capture journal (encode + write) with the fdatasync that
follows at most every `mgmt.journal.FSYNC_INTERVAL_S`.

Last line:
    pipeline: fps_720p=<float> host_p50_ms_720p=<float> host_p99_ms_720p=<float> \
fps_1080p=<float> measure_overhead_pct=<float> histogram_us_per_window=<float> \
journal_append_us=<float> journal_fsync_ms_p50=<float>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from session_window import (
    Edge,
    SessionWatch,
    Window,
    cpu_ns,
    finish,
    ring_figures,
    session_processes,
    stop,
    window_records,
)

from host.native.server import NativeHost
from host.native.tls import load_or_create_identity
from host.pipeline.session import StreamSession
from host.pipeline.stages import NATIVE
from ipc import ControlBlock, Counter
from mgmt.aggregator import build_sample
from mgmt.histograms import LatencyHistograms
from mgmt.journal import FSYNC_INTERVAL_S, CaptureJournal
from mgmt.sessions import Sessions
from mgmt.settings import Settings, native_settings


@dataclass
class Result:
    label: str
    measure: bool
    fps: float = 0.0
    dropped: int = 0
    cpu_pct: dict[str, float] = field(default_factory=dict)
    cpu_us_per_frame: float = 0.0
    host_ms: tuple[float, float] = (float("nan"), float("nan"))
    stages_us: dict[str, tuple[float, float]] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    alternation: Alternation | None = None
    records: dict[str, Any] = field(default_factory=dict)  # the measured window's rings


@dataclass
class Alternation:
    """CPU ns and frames accumulated over the on- and off-intervals of one session."""

    cpu_ns: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    frames: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    seconds: dict[bool, float] = field(default_factory=lambda: {True: 0.0, False: 0.0})

    def cpu_us_per_frame(self, measure: bool) -> float:
        return self.cpu_ns[measure] / 1000 / max(self.frames[measure], 1)

    def fps(self, measure: bool) -> float:
        return self.frames[measure] / max(self.seconds[measure], 1e-9)


async def run_case(
    label: str,
    codec: str,
    mode: str,
    seconds: float,
    warmup: float,
    measure: bool,
    config: Path,
    alternate_every: float = 0.0,
) -> Result:
    control = ControlBlock.create(perf=measure)
    watch = SessionWatch()
    host = NativeHost(
        native_settings(Settings(native="127.0.0.1:0", encoder="cpu")),
        control,
        load_or_create_identity(config),
        Sessions(4, [watch]),
    )
    result = Result(label, measure)
    client = None
    try:
        address = await host.start()
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mgmt",
            "client",
            f"{address[0]}:{address[1]}",
            "--mode",
            mode,
            "--codec",
            codec,
            "--seconds",
            str(warmup + seconds + 0.5),
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PUNKTFUNK_CONFIG_DIR": str(config)},
        )
        session = await watch.started(client)
        procs = session_processes(session, client)
        await asyncio.sleep(warmup)
        start = Edge.take(session, procs)
        if alternate_every:
            result.alternation = await _alternate(session, control, seconds, alternate_every)
        else:
            await asyncio.sleep(seconds)
        window = Window(start, Edge.take(session, procs))
        stdout, _ = await finish(client)
        frames, sends = await watch.ended()
    finally:
        if client is not None:
            await stop(client)
        await host.close()
        control.close()

    result.fps = window.fps
    result.dropped = window.delta(Counter.FRAMES_DROPPED)
    result.cpu_pct = window.cpu_pct()
    streaming_cpu = sum(window.end.cpu_s[n] - window.start.cpu_s[n] for n in ("capture", "send"))
    result.cpu_us_per_frame = 1e6 * streaming_cpu / max(window.frames, 1)
    if stdout.strip():
        result.client = json.loads(stdout.decode().strip().splitlines()[-1])
    if measure:
        inside = window_records(frames, sends, window)
        figures = ring_figures(NATIVE, *inside)
        result.stages_us, result.host_ms = figures.stages_us, figures.host_ms
        result.records = {"frames": inside[0], "sends": inside[1]}
    return result


async def _alternate(
    session: StreamSession, control: ControlBlock, seconds: float, period: float
) -> Alternation:
    acc = Alternation()
    pids = (session.pids["capture"], session.pids["send"])

    def frames() -> int:
        return session.counters.get(Counter.FRAMES_NEW) + session.counters.get(
            Counter.FRAMES_REPEAT
        )

    control.set_perf(False)  # nothing else measures: `always` alone decides
    for k in range(max(2, round(seconds / period))):
        measure = k % 2 == 0
        control.set_measure_always(measure)
        t0, cpu0, f0 = time.monotonic(), sum(map(cpu_ns, pids)), frames()
        await asyncio.sleep(period)
        acc.cpu_ns[measure] += sum(map(cpu_ns, pids)) - cpu0
        acc.frames[measure] += frames() - f0
        acc.seconds[measure] += time.monotonic() - t0
    control.set_measure_always(True)
    return acc


def _median_us(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1000


def mgmt_per_window(records: dict[str, Any], directory: Path) -> dict[str, float]:
    """What mgmt spends per 2 s window on the histograms and per sample on the journal."""
    frames, sends = records["frames"], records["sends"]
    per_window = round(NATIVE.window_s * 60)
    window = {"frames": frames[:per_window], "sends": sends[:per_window]}
    counters = dict.fromkeys(Counter, 0)
    histograms = LatencyHistograms()
    figures = {
        "histogram_us": _median_us(lambda: histograms.observe(NATIVE, window), 2000),
        "sample_us": _median_us(
            lambda: build_sample(NATIVE, 1, 10_000, window, counters, counters, 2.0), 2000
        ),
    }
    sample = build_sample(NATIVE, 1, 10_000, window, counters, counters, 2.0)
    journal = CaptureJournal(directory, 1, fsync_interval_s=3600)  # syncs timed by hand
    syncs = []
    try:
        figures["journal_append_us"] = _median_us(lambda: journal.sample(sample), 500)
        for _ in range(100):
            journal.sample(sample)
            t0 = time.perf_counter_ns()
            journal.sync()
            syncs.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        journal.close(remove=True)
    figures["fsync_ms_p50"], figures["fsync_ms_p99"] = np.percentile(syncs, [50, 99]).tolist()
    return figures


def report(r: Result) -> None:
    cpu = "  ".join(f"{n} {v:5.1f}%" for n, v in r.cpu_pct.items())
    print(
        f"{r.label:<22} measure={'on ' if r.measure else 'off'} fps={r.fps:6.2f} "
        f"dropped={r.dropped:<3d} cpu/frame={r.cpu_us_per_frame:7.0f} us  cpu: {cpu}"
    )
    if r.stages_us:
        stages = "  ".join(f"{n} {a:.0f}/{b:.0f}" for n, (a, b) in r.stages_us.items())
        print(
            f"{'':<22} host p50/p99 {r.host_ms[0]:.2f}/{r.host_ms[1]:.2f} ms   "
            f"stages p50/p99 us: {stages}"
        )
    if r.client:
        print(
            f"{'':<22} client: {r.client['frames_decoded']} decoded, "
            f"{r.client['frames_unrecoverable']} unrecoverable, decode "
            f"{r.client['decode_ms_mean']:.2f} ms/frame"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp)
        hd = await run_case(
            "h264 1280x720@60", "h264", "1280x720@60", args.seconds, args.warmup, True, config
        )
        report(hd)
        alternating = await run_case(
            "h264 1280x720@60 on/off",
            "h264",
            "1280x720@60",
            args.alternate_seconds,
            args.warmup,
            True,
            config,
            alternate_every=1.0,
        )
        report(alternating)
        full_hd = await run_case(
            "h264 1920x1080@60", "h264", "1920x1080@60", args.seconds, args.warmup, True, config
        )
        report(full_hd)
        for codec in ("hevc", "av1"):
            report(
                await run_case(
                    f"{codec} 1280x720@60",
                    codec,
                    "1280x720@60",
                    args.short_seconds,
                    args.warmup,
                    True,
                    config,
                )
            )

        mgmt = mgmt_per_window(alternating.records, config)

    alt = alternating.alternation
    assert alt is not None
    cpu_on, cpu_off = alt.cpu_us_per_frame(True), alt.cpu_us_per_frame(False)
    fps_on, fps_off = alt.fps(True), alt.fps(False)
    overhead = 100 * (cpu_on - cpu_off) / cpu_off
    print(
        f"measure=always vs armed, nothing armed (same session, switched every 1 s): "
        f"cpu/frame on {cpu_on:.0f} us vs off {cpu_off:.0f} us (ratio {cpu_on / cpu_off:.4f}); "
        f"fps on {fps_on:.2f} vs off {fps_off:.2f} (ratio {fps_on / fps_off:.4f})"
    )
    print(
        f"mgmt per 2 s window: histograms {mgmt['histogram_us']:.1f} us vs building the "
        f"sample {mgmt['sample_us']:.1f} us (ratio {mgmt['histogram_us'] / mgmt['sample_us']:.3f})"
    )
    share = 100 * mgmt["fsync_ms_p50"] / 1000 / FSYNC_INTERVAL_S
    print(
        f"journal: append {mgmt['journal_append_us']:.1f} us per sample; fdatasync "
        f"p50 {mgmt['fsync_ms_p50']:.2f} ms p99 {mgmt['fsync_ms_p99']:.2f} ms, at most every "
        f"{FSYNC_INTERVAL_S:g} s ({share:.3f} % of a core, off the event loop)"
    )
    fps_720, (host_p50, host_p99) = hd.fps, hd.host_ms
    print(
        f"pipeline: fps_720p={fps_720:.2f} host_p50_ms_720p={host_p50:.2f} "
        f"host_p99_ms_720p={host_p99:.2f} fps_1080p={full_hd.fps:.2f} "
        f"measure_overhead_pct={overhead:.2f} histogram_us_per_window={mgmt['histogram_us']:.1f} "
        f"journal_append_us={mgmt['journal_append_us']:.1f} "
        f"journal_fsync_ms_p50={mgmt['fsync_ms_p50']:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured window per run")
    parser.add_argument("--short-seconds", type=float, default=3.0, help="for hevc and av1")
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument(
        "--alternate-seconds", type=float, default=20.0, help="on/off session length"
    )
    asyncio.run(main(parser.parse_args()))
