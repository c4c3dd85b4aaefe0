"""Concurrent start/stop (threads and HTTP) while samples stream in: one consistent story.

Every accepted sample must end up exactly once: in one saved recording, or in the capture
still armed at the end. Every stop that returned a meta has exactly one file with that
many samples; no `.tmp` file is left; the status agrees with what is on disk.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import msgspec

from mgmt.asgi_server import ServerThread
from mgmt.models import Capture, CaptureMeta
from mgmt.recorder import StatsRecorder
from tests.mgmt.support import AUTH, make_sample


class Pusher(threading.Thread):
    """Pushes numbered samples (numbers in bitrate_kbps) until stopped; remembers accepted ones."""

    def __init__(self, recorder: StatsRecorder) -> None:
        super().__init__(daemon=True)
        self.recorder = recorder
        self.accepted: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            sid = self.recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
            if self.recorder.push_sample(sid, make_sample(bitrate_kbps=n)):
                self.accepted.append(n)
            n += 1
            time.sleep(0.0002)  # a busy aggregator, without starving the operators of the GIL


def saved_recordings(captures_dir: Path) -> dict[str, Capture]:
    assert not list(captures_dir.glob("*.tmp")), "a temporary file was left behind"
    return {
        p.stem: msgspec.json.decode(p.read_bytes(), type=Capture)
        for p in captures_dir.glob("*.json")
    }


def assert_consistent(
    recorder: StatsRecorder, accepted: list[int], stopped: list[CaptureMeta]
) -> None:
    saved = saved_recordings(recorder.captures_dir)
    assert sorted(saved) == sorted(m.id for m in stopped), "one file per successful stop"
    for meta in stopped:
        capture = saved[meta.id]
        assert capture.meta == meta
        assert len(capture.samples) == meta.sample_count
    live = recorder.live_snapshot()
    assert recorder.status().armed == (live is not None) == recorder.is_armed()
    in_files = [s.bitrate_kbps for c in saved.values() for s in c.samples]
    in_live = [] if live is None else [s.bitrate_kbps for s in live.samples]
    everywhere = Counter(in_files + in_live)
    assert sorted(everywhere) == sorted(accepted), "every accepted sample is kept"
    assert set(everywhere.values()) <= {1}, "and kept once"
    assert [m.id for m in recorder.list()] == [
        m.id for m in sorted(stopped, key=lambda m: (m.started_unix_ms, m.id), reverse=True)
    ]


def test_concurrent_start_stop_threads_keep_every_sample_once(recorder: StatsRecorder) -> None:
    pusher = Pusher(recorder)
    stopped: list[CaptureMeta] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def operator(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(30):
                if rng.random() < 0.5:
                    recorder.start()
                else:
                    meta = recorder.stop()
                    if meta is not None:
                        with lock:
                            stopped.append(meta)
        except BaseException as err:
            errors.append(err)

    pusher.start()
    operators = [threading.Thread(target=operator, args=(seed,)) for seed in range(8)]
    for t in operators:
        t.start()
    for t in operators:
        t.join(30)
    pusher.done.set()
    pusher.join(10)

    assert errors == []
    assert stopped, "the mix of starts and stops saved something"
    assert_consistent(recorder, pusher.accepted, stopped)
    # The capture still armed (if any) is saved by one last stop, and nothing is lost.
    final = recorder.stop()
    if final is not None:
        stopped.append(final)
    assert not recorder.is_armed()
    assert_consistent(recorder, pusher.accepted, stopped)


def test_concurrent_start_stop_requests_leave_one_consistent_state(
    recorder: StatsRecorder, server: ServerThread
) -> None:
    pusher = Pusher(recorder)

    async def storm() -> list[httpx.Response]:
        rng = random.Random(7)
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as c:
            requests = [
                c.post(f"/api/v1/stats/capture/{rng.choice(['start', 'stop'])}") for _ in range(120)
            ]
            return await asyncio.gather(*requests)

    pusher.start()
    responses = asyncio.run(storm())
    pusher.done.set()
    pusher.join(10)

    assert {r.status_code for r in responses} <= {200, 204}
    stopped = [
        msgspec.json.decode(r.content, type=CaptureMeta)
        for r in responses
        if r.status_code == 200 and r.url.path.endswith("/stop")
    ]
    assert len({m.id for m in stopped}) == len(stopped), "no two stops saved the same capture"
    assert_consistent(recorder, pusher.accepted, stopped)
    with httpx.Client(base_url=server.url, headers=AUTH) as c:
        status = c.get("/api/v1/stats/capture/status").json()
        assert status["armed"] == recorder.is_armed()
        listed = c.get("/api/v1/stats/recordings").json()
        assert sorted(m["id"] for m in listed) == sorted(m.id for m in stopped)
