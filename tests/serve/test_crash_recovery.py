"""`punktfunk serve` killed while a capture records (what an OOM kill, a watchdog or a
power cut does): after a restart the capture is a recording again, marked recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.support.serve import Serve
from tests.support.shm import our_segments


def wait_gone(serve_pid: int, descendants: list[psutil.Process]) -> None:
    """The killed serve's processes notice they are orphaned and exit; its resource
    tracker then unlinks the shared memory it was left with."""
    _, alive = psutil.wait_procs(descendants, timeout=30)
    for straggler in alive:  # started by this test's serve; not expected, never fatal
        straggler.kill()
    psutil.wait_procs(alive, timeout=10)
    mine = f"_{serve_pid}_"
    deadline = time.monotonic() + 30
    while any(mine in name for name in our_segments()):
        assert time.monotonic() < deadline, sorted(our_segments())
        time.sleep(0.2)


def test_sigkill_while_armed_loses_at_most_the_window_in_progress(
    start_serve: Callable[..., Serve], isolated_config: Path
) -> None:
    serve = start_serve("--demo")
    assert serve.api("POST", "/stats/capture/start").status_code == 200
    serve.wait_for_samples(3)
    seen = serve.api("GET", "/stats/capture/live").json()
    descendants = psutil.Process(serve.proc.pid).children(recursive=True)
    assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_gone(serve.proc.pid, descendants)
    captures = isolated_config / "captures"
    assert not list(captures.glob("*.json")), "nothing was saved before the restart"
    assert len(list(captures.glob("capture-*.journal"))) == 1

    again = start_serve()
    listed = again.api("GET", "/stats/recordings").json()
    assert len(listed) == 1
    meta = listed[0]
    assert meta["recovered"] is True
    assert meta["started_unix_ms"] == seen["meta"]["started_unix_ms"]
    for key in ("kind", "width", "height", "fps", "codec", "encoder", "client", "gpu"):
        assert meta[key] == seen["meta"][key], key
    assert meta["sessions"] >= seen["meta"]["sessions"] >= 1
    samples = again.api("GET", f"/stats/recordings/{meta['id']}").json()["samples"]
    # Every sample seen over the API, unchanged; after them only what arrived between the
    # last poll and the kill: at most one window per session.
    assert samples[: len(seen["samples"])] == seen["samples"]
    assert len(samples) - len(seen["samples"]) <= meta["sessions"]
    assert meta["sample_count"] == len(samples)
    assert meta["duration_ms"] == samples[-1]["t_ms"]
    assert not list(captures.glob("*.journal"))
    assert "recovered capture" in "".join(again.stderr_lines)

    # `punktfunk stats ls` badges it.
    ls = subprocess.run(
        [sys.executable, "-m", "mgmt", "stats", "ls", "--url", again.url, f"--token={again.token}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PUNKTFUNK_CONFIG_DIR": str(isolated_config)},
    )
    row = next(line for line in ls.stdout.splitlines() if line.endswith(meta["id"]))
    assert f"{len(samples)}!" in row.split()
    assert "! recovered: rebuilt from its journal" in ls.stdout

    # A second restart finds nothing left to recover.
    assert again.stop() == 0
    third = start_serve()
    assert [m["id"] for m in third.api("GET", "/stats/recordings").json()] == [meta["id"]]
    assert third.stop() == 0
