"""Shared by the console browser tests: the real host process, the browser, canvas checks.

The host is `punktfunk serve --demo` in a subprocess with its own config dir: the same
program an operator runs, streaming a synthetic source to a local demo client, so a
capture fills with real samples (one per 2 s window).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from mgmt.models import (
    GAMESTREAM_STAGES,
    NATIVE_STAGES,
    Capture,
    CaptureMeta,
    StageTiming,
    StatsSample,
    json_encoder,
)

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIST = Path(os.environ.get("PUNKTFUNK_CONSOLE_DIST", ROOT / "console" / "dist"))
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY = re.compile(r"^mgmt listening on (http://\S+)$")
READY_TIMEOUT_S = 60.0


@dataclass
class Host:
    """A running `punktfunk serve --demo`, its token, and a bearer-authed HTTP client."""

    url: str
    token: str
    config_dir: Path
    captures_dir: Path
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return client.request(method, f"/api/v1{path}", **kwargs)

    def record(self, samples: int, timeout_s: float = 30.0) -> dict[str, Any]:
        """A real capture through the REST API: start, wait for `samples` windows, stop."""
        assert self.api("POST", "/stats/capture/start").status_code == 200
        deadline = time.monotonic() + timeout_s
        while self.api("GET", "/stats/capture/status").json()["sample_count"] < samples:
            assert time.monotonic() < deadline, "the demo produced no samples: " + self.tail()
            time.sleep(0.25)
        stopped = self.api("POST", "/stats/capture/stop")
        assert stopped.status_code == 200, stopped.text
        meta: dict[str, Any] = stopped.json()
        return meta

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log[-lines:])


def start_host(work: Path, console_dir: Path) -> Host:
    config = work / "config"
    captures = work / "captures"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNKTFUNK_")}
    env["PUNKTFUNK_CONFIG_DIR"] = str(config)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "host",
            "serve",
            "--demo",
            "--demo-mode",
            "640x360@30",
            "--bind",
            "127.0.0.1:0",
            "--native",
            "127.0.0.1:0",
            "--captures-dir",
            str(captures),
            "--console-dir",
            str(console_dir),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip("\n"))
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, name="serve-log", daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stop_host(process)
            raise RuntimeError("punktfunk serve did not get ready:\n" + "\n".join(log)) from None
        if line is None:
            process.wait(10)
            raise RuntimeError(f"punktfunk serve exited ({process.returncode}):\n" + "\n".join(log))
        match = READY.match(line)
        if match:
            break
    token = (config / "token").read_text(encoding="ascii").strip()
    return Host(match.group(1), token, config, captures, process, log)


def stop_host(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


# -- recordings written like the recorder writes them -----------------------------------


def synthetic_sample(
    i: int, session_id: int = 1, *, stages: tuple[str, ...] = NATIVE_STAGES, t_ms: int | None = None
) -> StatsSample:
    return StatsSample(
        t_ms=i * 2000 if t_ms is None else t_ms,
        session_id=session_id,
        stages=[
            StageTiming(name, p50_us=400.0 * (n + 1) + (i * 37 % 50), p99_us=900.0 * (n + 1))
            for n, name in enumerate(stages)
        ],
        fps=59.9,
        repeat_fps=0.2,
        mbps=9.6 + (i % 5) / 10,
        bitrate_kbps=10_000,
        frames_dropped=i % 2,
        packets_dropped=None,
        send_dropped=0,
        fec_recovered=None,
        host_p50_us=7000.0,
        host_p99_us=12000.0,
        capture_cpu_pct=30.0,
        send_cpu_pct=5.0,
    )


def write_recording(
    captures_dir: Path,
    recording_id: str,
    samples: list[StatsSample],
    *,
    truncated: bool = False,
    started_unix_ms: int = 1_780_000_000_000,
    kind: str = "native",
) -> None:
    sessions = len({s.session_id for s in samples})
    meta = CaptureMeta(
        id=recording_id,
        started_unix_ms=started_unix_ms,
        duration_ms=(samples[-1].t_ms + 1000) if samples else 0,
        kind=kind,
        width=1280,
        height=720,
        fps=60,
        codec="h264",
        encoder="libx264",
        client="test",
        sample_count=len(samples),
        truncated=truncated,
        sessions=sessions,
    )
    captures_dir.mkdir(parents=True, exist_ok=True)
    path = captures_dir / f"{recording_id}.json"
    path.write_bytes(json_encoder.encode(Capture(meta=meta, samples=samples)))


def mixed_sessions() -> list[StatsSample]:
    """Session 1 (native) all along, session 2 (gamestream) alongside, then session 3."""
    out = [synthetic_sample(i, 1, t_ms=i * 2000) for i in range(10)]
    out += [synthetic_sample(i, 2, stages=GAMESTREAM_STAGES, t_ms=i * 2000 + 700) for i in range(4)]
    out += [synthetic_sample(i, 3, t_ms=30_000 + i * 2000) for i in range(5)]
    return sorted(out, key=lambda s: s.t_ms)


def decode_capture(data: bytes) -> Capture:
    return msgspec.json.decode(data, type=Capture)


# -- the page ------------------------------------------------------------------------------

COLORED_PIXELS_JS = """
(id) => {
  const fig = document.querySelector(`[data-chart="${id}"]`);
  const canvas = fig && fig.querySelector("canvas");
  if (!canvas || canvas.width === 0 || canvas.height === 0) return -1;
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  // Axes, grid and labels are grey; only drawn series are coloured.
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] < 32) continue;
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
  }
  return n;
}
"""

CHART_IDS_JS = """
() => [...document.querySelectorAll("figure.chart-card")]
  .filter((f) => f.querySelector("canvas"))
  .map((f) => f.dataset.chart)
"""
