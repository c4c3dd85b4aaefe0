#!/usr/bin/env python3
"""Benchmark the GameStream path: FEC per frame, host latency against native, fps.

- FEC (bench_fec's frames and timing; 1392-byte packets, 20 % FEC): encode time per
  frame of a 720p P-frame (10 Mb/s), a 1080p P-frame (20 Mb/s) and a 1080p IDR; the same
  1080p P-frame shards through zfec are the baseline (fec_ratio = ours / zfec).
- Host latency (capture start -> last datagram handed to the kernel, from the send
  ring) p50/p99 at 720p60 H.264 10 Mb/s, same synthetic source, same CPU encoder
  (libx264) and same FEC setting on both paths: a native session streaming to
  `punktfunk client`, then a GameStream session streaming to a real Moonlight client
  (scripts/moonlight_client.py, moonlight-common-c inside), each measured over the same
  window after the same warm-up. Rounds alternate the order (native first, then
  GameStream first, ...) so drifting machine load hits both alike; each path's records
  are pooled over the rounds. host_p50_ratio = pooled GameStream p50 / pooled native
  p50; the per-round ratios are printed too, as a measure of the noise.
- fps sustained by the GameStream session at 720p60 and at 1080p60 (20 Mb/s): frames the
  capture/encode process produced over the window, from the session's counters.

The per-stage p50/p99 of each path come from the same records (the paths' stage sets
differ: GameStream's `encode` includes the submit, its `send` excludes the packetizer).
A GameStream session also runs its audio process (Opus, a tone with the synthetic
picture), as every Moonlight session does; native sessions have none. CPU % of every
process of the session, of the client and of this process (both listeners) is printed.
Everything runs on loopback with a temporary config dir; the Moonlight client pairs with
a PIN handed to the host in-process. Targets: FEC <= 1 ms for the 1080p P-frame and
<= 5 ms for the IDR; host p50 ratio <= 1.1; 60 fps at 720p60 and 1080p60 on 2 cores.

Last line:
    gamestream: fec_p720_us=<f> fec_p1080_us=<f> fec_idr1080_us=<f> zfec_p1080_us=<f> \
fec_ratio=<f> gs_host_p50_ms_720p=<f> gs_host_p99_ms_720p=<f> native_host_p50_ms_720p=<f> \
native_host_p99_ms_720p=<f> host_p50_ratio=<f> gs_fps_720p=<f> gs_fps_1080p=<f>
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_fec
import numpy as np
import psutil
from session_window import (
    Edge,
    Records,
    RingFigures,
    SessionWatch,
    Window,
    finish,
    ring_figures,
    session_processes,
    stop,
    window_records,
)

from host.config import CONFIG_DIR_ENV
from host.gamestream.host import GameStreamHost
from host.native.server import NativeHost
from host.native.tls import load_or_create_identity
from host.pipeline.session import RING_CAPACITY, EncoderBackends, StreamSession
from host.pipeline.stages import PathSpec
from ipc import ControlBlock, Counter, FrameFlags
from mgmt.sessions import Sessions
from mgmt.settings import Settings, gamestream_settings, native_settings

MOONLIGHT_CLIENT = Path(__file__).resolve().parent / "moonlight_client.py"
MODE_720P = ("1280x720@60", 10_000)  # (mode, kb/s)
MODE_1080P = ("1920x1080@60", 20_000)
PAIR_TIMEOUT_S = 60.0


@dataclass
class Measured:
    """One path at one mode: its windows and their records, pooled over rounds."""

    label: str
    path: PathSpec | None = None
    windows: list[Window] = field(default_factory=list)
    frames: list[Records] = field(default_factory=list)
    sends: list[Records] = field(default_factory=list)
    clients: list[dict[str, Any]] = field(default_factory=list)
    setup: str = ""  # what the host made of the client's request

    def add(self, session: StreamSession, window: Window, frames: Records, sends: Records) -> None:
        self.path = session.path
        self.windows.append(window)
        in_window = window_records(frames, sends, window)
        self.frames.append(in_window[0])
        self.sends.append(in_window[1])
        p = session.params
        self.setup = f"{session.kind} {p.mode} {p.codec} ({session.encoder}) {p.bitrate_kbps} kb/s"

    @property
    def fps(self) -> float:
        return sum(w.frames for w in self.windows) / sum(w.seconds for w in self.windows)

    def frame_mix(self) -> str:
        """What the encoder and the packetizer made of the window's frames."""
        frames, sends = np.concatenate(self.frames), np.concatenate(self.sends)
        keyframes = int(np.count_nonzero(frames["flags"] & FrameFlags.KEYFRAME))
        return (
            f"{keyframes} keyframe(s), {frames['bytes'].mean() / 1000:.1f} KB/frame encoded, "
            f"{sends['bytes'].mean() / 1000:.1f} KB and {sends['datagrams'].mean():.1f} "
            f"datagrams/frame on the wire ({sends['parity_shards'].mean():.1f} parity)"
        )

    @property
    def dropped(self) -> int:
        return sum(w.delta(Counter.FRAMES_DROPPED) for w in self.windows)

    def cpu_pct(self) -> dict[str, float]:
        """Mean CPU % of each process over the windows."""
        per_window = [w.cpu_pct() for w in self.windows]
        return {name: float(np.mean([c[name] for c in per_window])) for name in per_window[0]}

    def figures(self) -> RingFigures:
        assert self.path is not None
        return ring_figures(self.path, np.concatenate(self.frames), np.concatenate(self.sends))

    def window_host_p50_ms(self) -> list[float]:
        assert self.path is not None
        return [
            ring_figures(self.path, frames, sends).host_ms[0]
            for frames, sends in zip(self.frames, self.sends, strict=True)
        ]


class Bench:
    """Both listeners of one host (one registry, one control block, one encoder choice),
    and the temporary config dir they and the clients use."""

    def __init__(self, config: Path, args: argparse.Namespace) -> None:
        self.config = config
        self.args = args
        self.moonlight_dir = config / "moonlight"
        settings = Settings(
            native="127.0.0.1:0", encoder="cpu", gamestream_port=0, mdns=False, source="synthetic"
        )
        self.control = ControlBlock.create(perf=True)
        self.sessions = Sessions(4)
        self.backends = EncoderBackends(settings.encoder)
        self.native = NativeHost(
            native_settings(settings),
            self.control,
            load_or_create_identity(config),
            self.sessions,
            self.backends,
        )
        self.gamestream = GameStreamHost(
            gamestream_settings(settings), self.control, self.sessions, self.backends, config
        )
        self.native_address = ""
        self.gamestream_port = 0
        self.env = {**os.environ, CONFIG_DIR_ENV: str(config)}

    async def start(self) -> None:
        host, port = await self.native.start()
        self.native_address = f"{host}:{port}"
        self.gamestream_port = await self.gamestream.start()

    async def close(self) -> None:
        await self.gamestream.close()
        await self.native.close()
        self.control.close()

    def _moonlight(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            str(MOONLIGHT_CLIENT),
            "127.0.0.1",
            "--port",
            str(self.gamestream_port),
            "--config",
            str(self.moonlight_dir),
            *extra,
        ]

    async def pair(self) -> None:
        """Pair the Moonlight client as an operator would: the client shows a PIN, the
        host is handed the same PIN."""
        service = self.gamestream.service
        assert service is not None
        pin = f"{secrets.randbelow(10_000):04d}"
        client = await asyncio.create_subprocess_exec(
            *self._moonlight("--pin", pin, "--pair-only"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        try:
            async with asyncio.timeout(PAIR_TIMEOUT_S):
                while not service.pairing_status().waiting and client.returncode is None:
                    await asyncio.sleep(0.05)
                if client.returncode is None:
                    service.submit_pin(pin, "bench (Moonlight)")
                _, stderr = await client.communicate()
        finally:
            await stop(client)
        if client.returncode != 0:
            raise RuntimeError(f"pairing failed: {stderr.decode().strip()}")

    async def native_case(self, into: Measured, mode: str, bitrate_kbps: int) -> None:
        a = self.args
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mgmt", "client", self.native_address,
            "--mode", mode, "--codec", "h264", "--bitrate", str(bitrate_kbps),
            # Its clock starts at the host's welcome, a little after the session did.
            "--seconds", str(a.warmup + a.seconds + 2), "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )  # fmt: skip
        await self._measure(into, client, end_client=False)

    async def gamestream_case(self, into: Measured, mode: str, bitrate_kbps: int) -> None:
        client = await asyncio.create_subprocess_exec(
            *self._moonlight(
                "--mode", mode, "--codec", "h264", "--bitrate", str(bitrate_kbps),
                # Decoding as frames come, like the native client (without --forever it
                # decodes after the stream). Ended by SIGTERM after the window: it then
                # quits the app and reports.
                "--forever", "--json",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )  # fmt: skip
        await self._measure(into, client, end_client=True)

    async def _measure(
        self, into: Measured, client: asyncio.subprocess.Process, end_client: bool
    ) -> None:
        watch = SessionWatch()
        self.sessions.observers = [watch]
        try:
            session = await watch.started(client)
            # "host": this process, where both listeners' event loops run.
            procs = session_processes(session, client) | {"host": psutil.Process()}
            await asyncio.sleep(self.args.warmup)
            start = Edge.take(session, procs)
            await asyncio.sleep(self.args.seconds)
            if watch.frames is not None:  # its counters are gone with it
                stdout, stderr = await finish(client)
                raise RuntimeError(
                    f"{into.label}: the session ended before the measured window did; "
                    + _client_said(client, stdout, stderr)
                )
            window = Window(start, Edge.take(session, procs))
            if end_client:
                client.terminate()
            stdout, stderr = await finish(client)
            frames, sends = await watch.ended()
        except BaseException:
            await stop(client)
            raise
        finally:
            self.sessions.observers = []
        if client.returncode != 0:
            raise RuntimeError(f"{into.label}: " + _client_said(client, stdout, stderr))
        into.add(session, window, frames, sends)
        into.clients.append(json.loads(stdout.decode().strip().splitlines()[-1]))


def _client_said(client: asyncio.subprocess.Process, stdout: bytes, stderr: bytes) -> str:
    out = stdout.decode().strip().splitlines()
    err = stderr.decode().strip().splitlines()
    return (
        f"the client exited with {client.returncode}; its last words: "
        f"{err[-1] if err else '-'} / {out[-1] if out else '-'}"
    )


def fec_figures(quick: bool) -> dict[str, float]:
    results = bench_fec.run(rounds=3, repeats=20) if quick else bench_fec.run()
    for name, size in bench_fec.FRAMES.items():
        layout = " + ".join(f"{b.data.shape[0]}+{b.parity}" for b in bench_fec.frame_blocks(size))
        print(
            f"fec {name:8} {size / 1000:6.1f} KB  blocks {layout:10}  "
            f"ours {results[f'{name}_us']:7.1f} us  zfec {results[f'zfec_{name}_us']:7.1f} us"
        )
    print(bench_fec.summary_line(results))
    return results


def report(m: Measured) -> None:
    figures = m.figures()
    cpu = "  ".join(f"{n} {v:5.1f}%" for n, v in m.cpu_pct().items())
    print(
        f"{m.label:<24} {m.setup}\n{'':<24} fps={m.fps:6.2f} dropped={m.dropped} "
        f"records={figures.records} over {len(m.windows)} window(s)  cpu: {cpu}"
    )
    print(f"{'':<24} {m.frame_mix()}")
    stages = "  ".join(f"{n} {a:.0f}/{b:.0f}" for n, (a, b) in figures.stages_us.items())
    print(
        f"{'':<24} host p50/p99 {figures.host_ms[0]:.2f}/{figures.host_ms[1]:.2f} ms   "
        f"stages p50/p99 us: {stages}"
    )
    for c in m.clients:
        if "latency_us_p50" in c:  # the Moonlight client
            print(
                f"{'':<24} client: {c['frames']} frames, {c['decoded']} decoded of "
                f"{c['expected']} sent; frame-header host latency p50 "
                f"{(c['latency_us_p50'] or 0) / 1000:.1f} ms (capture -> send process)"
            )
        else:
            print(
                f"{'':<24} client: {c['frames_decoded']} decoded, "
                f"{c['frames_unrecoverable']} unrecoverable"
            )


async def main(args: argparse.Namespace) -> None:
    # SIGTERM unwinds like Ctrl-C: clients stopped, sessions ended, shared memory freed.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    fec = fec_figures(args.quick)
    native_720 = Measured("native 720p60")
    gs_720 = Measured("gamestream 720p60")
    gs_1080 = Measured("gamestream 1080p60")
    with tempfile.TemporaryDirectory(prefix="punktfunk-bench-") as tmp:
        bench = Bench(Path(tmp), args)
        try:
            await bench.start()
            t0 = time.monotonic()
            await bench.pair()
            print(f"moonlight client paired in {time.monotonic() - t0:.1f} s")
            for n in range(args.rounds):
                cases = [(bench.native_case, native_720), (bench.gamestream_case, gs_720)]
                for case, into in cases if n % 2 == 0 else reversed(cases):
                    await case(into, *MODE_720P)
            await bench.gamestream_case(gs_1080, *MODE_1080P)
        finally:
            await bench.close()
    for measured in (native_720, gs_720, gs_1080):
        report(measured)

    gs_host, native_host = gs_720.figures().host_ms, native_720.figures().host_ms
    ratio = gs_host[0] / native_host[0]
    per_round = [
        gs / native
        for gs, native in zip(
            gs_720.window_host_p50_ms(), native_720.window_host_p50_ms(), strict=True
        )
    ]
    print(
        "host p50 GameStream/native per round: "
        + " ".join(f"{r:.3f}" for r in per_round)
        + f" (median {float(np.median(per_round)):.3f})"
    )
    print(
        f"host p50 GameStream/native at 720p60: {ratio:.3f} (target <= 1.1); "
        f"fps 720p {gs_720.fps:.2f}, 1080p {gs_1080.fps:.2f} (target 60)"
    )
    figures = {
        "fec_p720_us": fec["p720_us"],
        "fec_p1080_us": fec["p1080_us"],
        "fec_idr1080_us": fec["idr1080_us"],
        "zfec_p1080_us": fec["zfec_p1080_us"],
        "fec_ratio": fec["ratio"],
        "gs_host_p50_ms_720p": gs_host[0],
        "gs_host_p99_ms_720p": gs_host[1],
        "native_host_p50_ms_720p": native_host[0],
        "native_host_p99_ms_720p": native_host[1],
        "host_p50_ratio": ratio,
        "gs_fps_720p": gs_720.fps,
        "gs_fps_1080p": gs_1080.fps,
    }
    print("gamestream: " + " ".join(f"{k}={v:.2f}" for k, v in figures.items()))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, shorter windows")
    parser.add_argument("--seconds", type=float, default=None, help="measured window (5; 4)")
    parser.add_argument("--warmup", type=float, default=None, help="before each window (1.5)")
    parser.add_argument("--rounds", type=int, default=None, help="native/GameStream pairs (4; 1)")
    args = parser.parse_args()
    quick = args.quick
    if args.seconds is None:
        args.seconds = 4.0 if quick else 5.0
    if args.warmup is None:
        args.warmup = 1.5
    if args.rounds is None:
        args.rounds = 1 if quick else 4
    # The rings are read when a session ends; they hold RING_CAPACITY frames.
    longest = (RING_CAPACITY / 60) - 3
    if args.seconds <= 0 or args.warmup < 0 or args.seconds + args.warmup > longest:
        parser.error(f"need seconds > 0, warmup >= 0 and warmup + seconds <= {longest:.0f}")
    if args.rounds < 1:
        parser.error("need rounds >= 1")
    if importlib.util.find_spec("moonlight_python") is None:
        parser.error("needs moonlight-python (the dev or demo extra) for the Moonlight client")
    return args


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("bench_gamestream: interrupted")
