"""Shared by the console browser tests: the real host process, the browser, canvas checks.

The host is `punktfunk serve --demo` in a subprocess with its own config dir: the same
program an operator runs, streaming a synthetic source to a local demo client, so a
capture fills with real samples (one per 2 s window).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import msgspec
from playwright.sync_api import Browser, BrowserContext, Page, expect

from mgmt.models import (
    GAMESTREAM_STAGES,
    NATIVE_STAGES,
    Capture,
    CaptureMeta,
    StageTiming,
    StatsSample,
    json_encoder,
)
from tests.support.serve import Serve

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


class Host(Serve):
    """`punktfunk serve --demo` serving the built console, with a small demo mode; with
    `demo=False` no demo client streams (nor pairs itself)."""

    def __init__(self, work: Path, console_dir: Path, *, demo: bool = True) -> None:
        self.captures_dir = work / "captures"
        super().__init__(
            work / "config",
            *(("--demo", "--demo-mode", "640x360@30") if demo else ()),
            "--captures-dir",
            str(self.captures_dir),
            "--console-dir",
            str(console_dir),
        )

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
        return "".join(self.stderr_lines[-lines:])

    def gamestream_status(self) -> dict[str, Any]:
        response = self.api("GET", "/gamestream/status")
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        return status

    def paired_clients(self) -> list[dict[str, Any]]:
        response = self.api("GET", "/gamestream/clients")
        assert response.status_code == 200, response.text
        clients: list[dict[str, Any]] = response.json()
        return clients


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


def native_and_gamestream() -> list[StatsSample]:
    """Session 1 (native, no RTT) and session 2 (gamestream, RTT measured but for one
    window) at the same time."""
    out = [synthetic_sample(i, 1, t_ms=i * 2000) for i in range(8)]
    out += [
        msgspec.structs.replace(
            synthetic_sample(i, 2, stages=GAMESTREAM_STAGES, t_ms=i * 1000 + 500),
            rtt_us=None if i == 6 else 1500.0 + 150 * (i % 4),
        )
        for i in range(14)
    ]
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


def sign_in(page: Page, host: Host, *, label: str = "API token", button: str = "Sign in") -> None:
    page.goto(host.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label(label).fill(host.token)
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(host.url + "/")


def new_context(browser: Browser, **options: object) -> BrowserContext:
    defaults: dict[str, object] = {
        "viewport": {"width": 1280, "height": 900},
        "locale": "en-GB",
        "color_scheme": "light",
        "accept_downloads": True,
    }
    context = browser.new_context(**{**defaults, **options})  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    return context
