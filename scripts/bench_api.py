#!/usr/bin/env python3
"""Benchmark the REST API on a live Hypercorn server against a trivial endpoint of the same app.

- list_1k_ms / list_10k_ms: GET /api/v1/stats/recordings with 1 000 / 10 000 recordings on
  disk, warm (the cold first listing after a fresh server start is printed as information)
- get_5400_ms:  GET /api/v1/stats/recordings/{id} of a full 5400-sample recording
                (5 stages, every field set), warm (the file was validated before)
- get_columns_5400_ms: GET .../{id}/columns of the same recording, warm
  (the cold first get and first columns after a fresh start are printed as information,
  with the body sizes: JSON, columns, and each gzipped)
- live_poll_ms: GET /api/v1/stats/capture/live?offset=N-2 on an armed capture of N samples
- baseline:     GET /bench/ping, a public plain-text route behind the same middleware

Figures are server-side medians read from `Server-Timing` (request in -> response headers
out); client round trips are printed alongside. The server runs in a child process so the
client does not compete with it for the GIL. The last line is machine-readable:
    api: list_1k_ms=<float> list_10k_ms=<float> get_5400_ms=<float> live_poll_ms=<float>
         get_columns_5400_ms=<float>     (one line)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared sample factory
from tests.support.samples import (
    BASE_UNIX_MS,
    make_capture,
    make_sample,
    write_recording,
)

TOKEN = "bench-token"  # noqa: S105 -- a throwaway token for a loopback server
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SETTLE_S = 2.2  # the listing cache distrusts directory stamps younger than 2 s
BIG_ID = "2026-01-01T00-00-00Z_2560x1440"
LIVE_SAMPLES = 1800


# -- data -------------------------------------------------------------------------------


def populate(captures: Path, start: int, stop: int, samples_each: int = 3) -> None:
    """Recordings number `start`..`stop-1`, one minute apart, a few samples each."""
    for i in range(start, stop):
        started = BASE_UNIX_MS + (i + 1) * 60_000
        stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(started // 1000))
        capture = make_capture(
            f"{stamp}_1920x1080", samples_each, started_unix_ms=started, variant=i
        )
        write_recording(captures, capture)


def write_big(captures: Path) -> None:
    write_recording(captures, make_capture(BIG_ID, 5400, variant=2))


# -- the server (child process) ------------------------------------------------------------


def serve(captures: Path, live_samples: int) -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from mgmt.api import create_app
    from mgmt.asgi_server import bind_socket, serve_on_socket
    from mgmt.recorder import StatsRecorder

    recorder = StatsRecorder(captures)
    recorder.start()
    sid = recorder.register_session("native", 2560, 1440, 60, "h264", "h264_nvenc", "bench")
    for i in range(live_samples):
        recorder.push_sample(sid, make_sample(i, session_id=1, every_field=True))

    async def ping(request: Request) -> Response:
        return PlainTextResponse("pong")

    app = create_app(recorder, TOKEN, extra_routes=[Route("/bench/ping", ping)])
    sock = bind_socket("127.0.0.1", 0)
    print(f"PORT {sock.getsockname()[1]}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await serve_on_socket(app, sock, shutdown_trigger=stop.wait)

    asyncio.run(main())
    # The live capture is the benchmark's, not a crash to recover: drop its journal so
    # the next server of this run lists exactly the recordings the benchmark wrote.
    for journal in captures.glob("*.journal"):
        journal.unlink()


class Server:
    def __init__(self, captures: Path, live_samples: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(captures), "--live", str(live_samples)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)


# -- measuring -------------------------------------------------------------------------------


def server_ms(response: httpx.Response) -> float:
    timing = response.headers["server-timing"]  # app;dur=<ms>
    return float(timing.split("dur=", 1)[1])


def measure(
    client: httpx.Client, path: str, rounds: int, *, headers: dict[str, str] | None = None
) -> tuple[float, float]:
    """Median server-side and client round-trip ms of `rounds` sequential requests."""
    server, round_trip = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        response = client.get(path, headers=headers)
        round_trip.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        server.append(server_ms(response))
    return statistics.median(server), statistics.median(round_trip)


def timed_first(client: httpx.Client, path: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    response = client.get(path, headers=AUTH)
    response.raise_for_status()
    return server_ms(response), (time.perf_counter() - t0) * 1000


def body_bytes(client: httpx.Client, path: str, encoding: str) -> int:
    """The size of a response body as sent with Accept-Encoding `encoding`."""
    with client.stream("GET", path, headers={**AUTH, "Accept-Encoding": encoding}) as response:
        response.raise_for_status()
        sent = response.headers.get("content-encoding", "identity")
        assert sent == encoding, (sent, encoding)
        return sum(len(chunk) for chunk in response.iter_raw())


def settle(since: float, say: Callable[[str], None]) -> None:
    wait = SETTLE_S - (time.monotonic() - since)
    if wait > 0:
        say(f"  (waiting {wait:.1f} s for the directory stamp to settle)")
        time.sleep(wait)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--live", type=int, default=LIVE_SAMPLES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.live)
        return

    def say(line: str) -> None:
        print(line, flush=True)

    rounds = args.rounds
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        captures = Path(tmp) / "captures"
        captures.mkdir(mode=0o700)
        t0 = time.perf_counter()
        write_big(captures)
        populate(captures, 0, 999)
        populated = time.monotonic()
        big_bytes = (captures / f"{BIG_ID}.json").stat().st_size
        say(
            f"populated 1000 recordings in {time.perf_counter() - t0:.2f} s "
            f"(one of 5400 samples, {big_bytes / 1e6:.1f} MB); cpus={os.cpu_count()}"
        )

        server = Server(captures, args.live)
        # Its live capture's journal is a change to the directory like any other: listings
        # rescan until the directory's stamp is old enough to trust.
        settle(time.monotonic(), say)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                cold_1k = timed_first(c, "/api/v1/stats/recordings")
                settle(populated, say)
                get_path = f"/api/v1/stats/recordings/{BIG_ID}"
                columns_path = f"{get_path}/columns"
                cold_get = timed_first(c, get_path)
                cold_columns = timed_first(c, columns_path)
                sizes = {
                    name: (body_bytes(c, path, "identity"), body_bytes(c, path, "gzip"))
                    for name, path in (("json", get_path), ("columns", columns_path))
                }
                measure(c, "/bench/ping", 20)
                ping = measure(c, "/bench/ping", rounds)
                list_1k = measure(c, "/api/v1/stats/recordings", rounds, headers=AUTH)
                count = len(c.get("/api/v1/stats/recordings", headers=AUTH).json())
                assert count == 1000, count
                measure(c, get_path, 3, headers=AUTH)
                get_5400 = measure(c, get_path, max(10, rounds // 3), headers=AUTH)
                assert len(c.get(get_path, headers=AUTH).json()["samples"]) == 5400
                measure(c, columns_path, 3, headers=AUTH)
                columns_5400 = measure(c, columns_path, max(10, rounds // 3), headers=AUTH)
                assert len(c.get(columns_path, headers=AUTH).json()["t_ms"]) == 5400
                live_path = f"/api/v1/stats/capture/live?offset={args.live - 2}"
                live = measure(c, live_path, rounds, headers=AUTH)
                assert len(c.get(live_path, headers=AUTH).json()["samples"]) == 2
        finally:
            server.close()

        t0 = time.perf_counter()
        populate(captures, 999, 9999)
        populated = time.monotonic()
        say(f"populated 9000 more recordings in {time.perf_counter() - t0:.2f} s")
        settle(populated, say)
        server = Server(captures, args.live)
        # Its live capture's journal is a change to the directory like any other: listings
        # rescan until the directory's stamp is old enough to trust.
        settle(time.monotonic(), say)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                cold_10k = timed_first(c, "/api/v1/stats/recordings")
                measure(c, "/api/v1/stats/recordings", 5, headers=AUTH)
                list_10k = measure(c, "/api/v1/stats/recordings", rounds, headers=AUTH)
                count = len(c.get("/api/v1/stats/recordings", headers=AUTH).json())
                assert count == 10_000, count
                ping_10k = measure(c, "/bench/ping", rounds)
                # After a change (a stop or a delete) the next listing rescans the directory
                # (names and inodes only; unchanged files are not read again).
                after_change = []
                for victim in c.get("/api/v1/stats/recordings", headers=AUTH).json()[-5:]:
                    path = f"/api/v1/stats/recordings/{victim['id']}"
                    c.delete(path, headers=AUTH).raise_for_status()
                    after_change.append(timed_first(c, "/api/v1/stats/recordings")[0])
        finally:
            server.close()

    def row(name: str, figure: tuple[float, float], base: float) -> str:
        server_side, round_trip = figure
        return (
            f"{name:<34} server {server_side:8.3f} ms  round trip {round_trip:8.3f} ms"
            f"  = {server_side / base:7.1f}x baseline"
        )

    base = ping[0]
    say(f"median of {rounds} sequential requests (get: {max(10, rounds // 3)}), keep-alive:")
    say(row("baseline GET /bench/ping", ping, base))
    say(row("list, 1 000 recordings", list_1k, base))
    say(row("list, 10 000 recordings", list_10k, ping_10k[0]))
    say(row("get, 5400 samples", get_5400, base))
    say(row("get columns, 5400 samples", columns_5400, base))
    say(row("live poll, offset N-2", live, base))
    say(
        f"info: cold first get after a fresh start: {cold_get[0]:.1f} ms server "
        f"({cold_get[1]:.1f} ms round trip); first columns: {cold_columns[0]:.1f} ms server "
        f"({cold_columns[1]:.1f} ms round trip)"
    )
    say(
        "info: body sizes, 5400 samples: "
        + ", ".join(
            f"{name} {plain / 1e6:.2f} MB (gzip {packed / 1e6:.2f} MB)"
            for name, (plain, packed) in sizes.items()
        )
    )
    say(
        f"info: cold first list after a fresh start: 1k {cold_1k[0]:.1f} ms server "
        f"({cold_1k[1]:.1f} ms round trip), 10k {cold_10k[0]:.1f} ms server "
        f"({cold_10k[1]:.1f} ms round trip)"
    )
    say(
        f"info: first list after a delete, 10k recordings (directory rescan): "
        f"{statistics.median(after_change):.1f} ms server (median of {len(after_change)})"
    )
    say(
        f"info: baseline in the 10k server: {ping_10k[0]:.3f} ms server, "
        f"{ping_10k[1]:.3f} ms round trip"
    )
    say(
        f"api: list_1k_ms={list_1k[0]:.3f} list_10k_ms={list_10k[0]:.3f} "
        f"get_5400_ms={get_5400[0]:.3f} live_poll_ms={live[0]:.3f} "
        f"get_columns_5400_ms={columns_5400[0]:.3f}"
    )


if __name__ == "__main__":
    main()
