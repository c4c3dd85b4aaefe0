#!/usr/bin/env python3
"""Benchmark the console's charts in headless Chromium against a real `punktfunk serve`.

- detail_5400_ms: navigation → every chart of the recording detail drawn, for a full
  5400-sample recording (3 h at 2 s; 5 native stages, throughput, health, host and GPU
  telemetry: 7 charts) written into the captures dir of the running host, loaded in a
  fresh browser context each time (no HTTP cache, no compiled-code cache: the worst
  case). The time is the app's own mark (`window.__pfPerf.detailDrawn`,
  `performance.now()` when the last chart's draw hook ran), so it includes loading the
  page, fetching and parsing the recording, building the columns and drawing.
  Also printed: the same with a warm browser (repeat navigations in one context) and an
  in-app navigation (the View link in the recordings table → every chart drawn).
- baseline: the same page for a 10-sample recording, measured in the same run.
- live_update_ms: one live update of a capture holding 5400 samples: the new sample in
  hand → every live chart redrawn (the app's `__pfPerf.liveUpdates`, in-place appends
  only). The host cannot be made to hold a 3 h capture in a benchmark, so the live
  endpoints are answered from a growing synthetic capture at the browser's network layer
  (Playwright routing); everything in the page is the real app.
- live baseline: the same measurement against the real demo stream (a capture of a few
  samples, through the real API).

- uplot_floor_5400_ms: the same seven charts drawn from the same columns by uPlot alone
  on a bare page (no app, no framework), in a fresh context: the floor this machine sets.

Medians over several runs; the last line is machine-readable:
    console: detail_5400_ms=<float> live_update_ms=<float> in_app_5400_ms=<float>
    uplot_floor_5400_ms=<float>
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
from playwright.sync_api import Browser, Page, Route, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared sample factory
from mgmt.columns import to_columns
from mgmt.models import Capture, json_encoder
from tests.support.samples import (
    BASE_UNIX_MS,
    make_capture,
    make_meta,
    make_samples,
    write_recording,
)

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "console" / "dist"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY = re.compile(r"^mgmt listening on (http://\S+)$")
BIG_ID = "2026-01-01T00-00-00Z_1920x1080"
SMALL_ID = "2026-01-01T04-00-00Z_1920x1080"
BIG_SAMPLES = 5400
LIVE_START_MS = 1_767_240_000_000


# -- the host ------------------------------------------------------------------------------


class Host:
    """`punktfunk serve` in a subprocess with its own config dir."""

    def __init__(self, work: Path, *, demo: bool) -> None:
        self.config = work / "config"
        self.captures = work / "captures"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUNKTFUNK_")}
        env["PUNKTFUNK_CONFIG_DIR"] = str(self.config)
        argv = [sys.executable, "-m", "mgmt", "serve", "--bind", "127.0.0.1:0"]
        argv += ["--native", "127.0.0.1:0", "--captures-dir", str(self.captures)]
        argv += ["--console-dir", str(DIST), "--no-gamestream"]  # the native demo is enough
        argv += ["--demo", "--demo-mode", "640x360@30"] if demo else ["--no-demo"]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line.rstrip())
                lines.put(line.rstrip())
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise RuntimeError("serve did not get ready:\n" + "\n".join(self.log)) from None
            if line is None:
                raise RuntimeError("serve exited:\n" + "\n".join(self.log))
            match = READY.match(line)
            if match:
                self.url = match.group(1)
                break
        self.token = (self.config / "token").read_text(encoding="ascii").strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- measuring -----------------------------------------------------------------------------


def open_page(browser: Browser, host: Host) -> Page:
    """A fresh context (empty cache) already holding the token."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB")
    context.add_init_script(f"localStorage.setItem('punktfunk.token', {json.dumps(host.token)})")
    return context.new_page()


DRAWN = "() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0"


def drawn_at(page: Page) -> float:
    at: float = page.evaluate("() => window.__pfPerf.detailDrawn[0].at")
    return at


# Where a cold load's time goes: ms since navigation at each step (medians are printed).
PHASES_JS = """() => {
  const at = (name) => performance.getEntriesByName(name).at(-1);
  const columns = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/columns'));
  const bundle = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.js'));
  const measures = (prefix) =>
    performance.getEntriesByType('measure').filter((e) => e.name.startsWith(prefix));
  const creates = measures('pf:chart-create:');
  const draws = measures('pf:chart-draw:');
  const timeline = at('pf:detail-timeline');
  return {
    'app bundle loaded': bundle ? bundle.responseEnd : null,
    'recording loaded': columns ? columns.responseEnd : null,
    'timeline built from': timeline ? timeline.startTime : null,
    'timeline built': timeline ? timeline.startTime + timeline.duration : null,
    'charts created from': creates.length ? Math.min(...creates.map((e) => e.startTime)) : null,
    'charts drawn from': draws.length ? Math.min(...draws.map((e) => e.startTime)) : null,
    'all charts drawn': window.__pfPerf.detailDrawn[0].at,
    'recording bytes': columns ? columns.encodedBodySize : null,
  };
}"""


def detail_cold(
    browser: Browser, host: Host, recording_id: str, runs: int
) -> tuple[float, dict[str, float]]:
    """Median navigation → drawn, each load in a fresh context (empty caches), and the
    median time of each step of the load."""
    times = []
    phases: dict[str, list[float]] = {}
    for i in range(runs + 1):
        page = open_page(browser, host)
        try:
            page.goto(f"{host.url}/recordings/{recording_id}")
            page.wait_for_function(DRAWN, timeout=60_000)
            if i > 0:  # the first load warms the host's file cache
                times.append(drawn_at(page))
                for name, value in page.evaluate(PHASES_JS).items():
                    if value is not None:
                        phases.setdefault(name, []).append(value)
        finally:
            page.context.close()
    return statistics.median(times), {k: statistics.median(v) for k, v in phases.items()}


def detail_warm(browser: Browser, host: Host, recording_id: str, runs: int) -> tuple[float, float]:
    """Median navigation → drawn in one context (cached bundle), and in-app View → drawn."""
    page = open_page(browser, host)
    try:
        warm = []
        for i in range(runs + 2):
            page.goto(f"{host.url}/recordings/{recording_id}")
            page.wait_for_function(DRAWN, timeout=60_000)
            if i >= 2:  # Chromium caches compiled code from the second load on
                warm.append(drawn_at(page))
        in_app = []
        row = page.locator(f'tr[data-recording-id="{recording_id}"]')
        for _ in range(runs):
            page.goto(f"{host.url}/")
            row.get_by_role("link", name=re.compile("^View")).click()
            page.wait_for_function(DRAWN, timeout=60_000)
            in_app.append(
                page.evaluate(
                    "() => window.__pfPerf.detailDrawn[0].at"
                    " - performance.getEntriesByName('pf:navigate').at(-1).startTime"
                )
            )
        return statistics.median(warm), statistics.median(in_app)
    finally:
        page.context.close()


class GrowingLiveCapture:
    """Answers status and live polls as a host with a long capture would: one more window
    every poll, samples from `offset` on."""

    def __init__(self, start_samples: int) -> None:
        self.count = start_samples
        self.encode = msgspec.json.Encoder().encode

    def status(self, route: Route) -> None:
        body = {
            "armed": True,
            "sample_count": self.count,
            "started_unix_ms": LIVE_START_MS,
            "kind": "native",
            "elapsed_ms": self.count * 2000,
            "truncated": False,
        }
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def live(self, route: Route) -> None:
        match = re.search(r"[?&]offset=(\d+)", route.request.url)
        offset = int(match.group(1)) if match else 0
        if offset > 0:  # a follow-up poll: one window closed since the last one
            self.count += 1
        capture = Capture(
            make_meta("live", self.count, started_unix_ms=LIVE_START_MS),
            make_samples(self.count, start=offset),
        )
        route.fulfill(status=200, content_type="application/json", body=self.encode(capture))


def live_updates(page: Page, want: int, timeout_s: float) -> list[dict[str, Any]]:
    """Wait for `want` in-place live updates (not rebuilds) and return them."""
    page.wait_for_function(
        f"() => (window.__pfPerf?.liveUpdates ?? []).filter((u) => !u.rebuilt).length >= {want}",
        timeout=timeout_s * 1000,
        polling=250,
    )
    updates: list[dict[str, Any]] = page.evaluate("() => window.__pfPerf.liveUpdates")
    creations: dict[str, int] = page.evaluate("() => window.__pfPerf.chartCreations")
    assert all(n == 1 for n in creations.values()), f"appends re-created charts: {creations}"
    return [u for u in updates if not u["rebuilt"]]


def live_big(browser: Browser, host: Host, updates: int) -> tuple[float, float, int]:
    page = open_page(browser, host)
    try:
        capture = GrowingLiveCapture(BIG_SAMPLES - updates - 1)
        page.route("**/api/v1/stats/capture/status", capture.status)
        page.route("**/api/v1/stats/capture/live*", capture.live)
        page.goto(f"{host.url}/")
        got = live_updates(page, updates, timeout_s=updates * 2 + 30)
        first = page.evaluate("() => window.__pfPerf.liveUpdates.find((u) => u.rebuilt)")
        return (statistics.median(u["ms"] for u in got), first["ms"], got[-1]["total"])
    finally:
        page.context.close()


def live_demo(browser: Browser, host: Host, updates: int) -> tuple[float, int]:
    page = open_page(browser, host)
    try:
        page.goto(f"{host.url}/")
        page.get_by_role("button", name="Start").click()
        got = live_updates(page, updates, timeout_s=updates * 2 + 30)
        page.get_by_role("button", name="Stop & save").click()
        page.get_by_text("Idle").wait_for()
        return statistics.median(u["ms"] for u in got), got[-1]["total"]
    finally:
        page.context.close()


# -- the floor: uPlot alone -----------------------------------------------------------------

UPLOT_JS = ROOT / "console" / "node_modules" / "uplot" / "dist" / "uPlot.iife.min.js"
UPLOT_CSS = ROOT / "console" / "node_modules" / "uplot" / "dist" / "uPlot.min.css"
FLOOR_ORIGIN = "http://floor.invalid"
# The detail's seven charts as plain uPlot: which fields each draws (the latency chart's
# stages come from the recording).
FLOOR_CHARTS = [
    ["stages", "host_p50_us", "client_decode_us"],
    ["fps", "repeat_fps", "mbps", "bitrate_kbps"],
    ["frames_dropped", "packets_dropped", "send_dropped", "fec_recovered"],
    ["capture_cpu_pct", "send_cpu_pct"],
    ["capture_rss_mb", "send_rss_mb"],
    ["gpu_util_pct", "gpu_encoder_util_pct", "gpu_power_w"],
    ["gpu_encoder_fps", "gpu_encoder_latency_us", "gpu_graphics_clock_mhz"],
]
FLOOR_HTML = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/uPlot.min.css">
<script>window.__cols = fetch('/columns').then((r) => r.json());</script>
<script src="/uPlot.iife.min.js" defer></script>
<script defer>
addEventListener('DOMContentLoaded', async () => {
  const cols = await window.__cols;
  const x = cols.t_ms.map((t) => t / 1000);
  const charts = %s;
  let left = charts.length;
  for (const names of charts) {
    const data = [x];
    for (const name of names) {
      if (name === 'stages') for (const st of cols.stages) data.push(st.p50_us);
      else if (cols.fields[name]) data.push(cols.fields[name]);
    }
    const series = [{}, ...data.slice(1).map((_, i) => ({ label: 's' + i, stroke: '#0072b2' }))];
    const el = document.body.appendChild(document.createElement('div'));
    const done = () => { if (--left === 0) window.__drawn = performance.now(); };
    new uPlot({ width: 640, height: 220, series, hooks: { draw: [done] } }, data, el);
  }
});
</script></head><body></body></html>"""


def floor_cold(browser: Browser, columns: bytes, runs: int) -> float:
    """Navigation → the same seven charts drawn by uPlot alone from the same columns, on a
    bare page (no app, no framework), each load in a fresh context: what drawing this much
    costs on this machine before any of the console's own work."""
    assets = {
        "/": ("text/html", (FLOOR_HTML % json.dumps(FLOOR_CHARTS)).encode()),
        "/uPlot.iife.min.js": ("text/javascript", UPLOT_JS.read_bytes()),
        "/uPlot.min.css": ("text/css", UPLOT_CSS.read_bytes()),
        "/columns": ("application/json", columns),
    }

    def serve(route: Route) -> None:
        path = "/" + route.request.url.removeprefix(FLOOR_ORIGIN).lstrip("/")
        content_type, body = assets[path]
        route.fulfill(status=200, content_type=content_type, body=body)

    times = []
    for i in range(runs + 1):
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            page = context.new_page()
            page.route(f"{FLOOR_ORIGIN}/**", serve)
            page.goto(f"{FLOOR_ORIGIN}/")
            page.wait_for_function("() => window.__drawn !== undefined", timeout=60_000)
            if i > 0:
                times.append(page.evaluate("() => window.__drawn"))
        finally:
            context.close()
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="detail page loads per recording")
    parser.add_argument("--updates", type=int, default=6, help="live updates to time")
    args = parser.parse_args()
    if not (DIST / "index.html").is_file():
        print(f"{DIST}/index.html is missing: cd console && npm ci && npm run build")
        return 2

    with tempfile.TemporaryDirectory(prefix="pf-bench-console-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        work = Path(tmp)
        captures = work / "quiet" / "captures"
        big_bytes = write_recording(captures, make_capture(BIG_ID, BIG_SAMPLES))
        small_started = BASE_UNIX_MS + 4 * 3_600_000
        write_recording(captures, make_capture(SMALL_ID, 10, started_unix_ms=small_started))
        quiet = Host(work / "quiet", demo=False)
        try:
            print(f"host {quiet.url} (no demo); {BIG_ID}: {BIG_SAMPLES} samples, {big_bytes} bytes")
            small_cold, small_phases = detail_cold(browser, quiet, SMALL_ID, args.runs)
            small_warm, small_app = detail_warm(browser, quiet, SMALL_ID, args.runs)
            big_ms, big_phases = detail_cold(browser, quiet, BIG_ID, args.runs)
            columns = json_encoder.encode(to_columns(make_capture(BIG_ID, BIG_SAMPLES)))
            floor_ms = floor_cold(browser, columns, args.runs)
            big_warm, big_app = detail_warm(browser, quiet, BIG_ID, args.runs)
            print(f"recording detail, navigation → all charts drawn (median of {args.runs}):")
            print(f"  {'':24s} {'10 samples':>12s} {'5400 samples':>13s} {'ratio':>6s}")
            for label, small, big in (
                ("fresh browser context", small_cold, big_ms),
                ("warm browser (cached)", small_warm, big_warm),
                ("in-app (View link)", small_app, big_app),
            ):
                print(f"  {label:24s} {small:9.1f} ms {big:10.1f} ms {big / small:5.2f}x")
            print(
                f"  uPlot alone, same 7 charts   {'':12s} {floor_ms:10.1f} ms  "
                f"(the console takes {big_ms / floor_ms:.2f}x)"
            )
            print("a fresh-context load step by step (median ms since navigation):")
            for name, big_at in big_phases.items():
                unit = "" if name.endswith("bytes") else " ms"
                small_at = small_phases.get(name, float("nan"))
                print(f"  {name:30s} {small_at:9.1f}{unit:3s} {big_at:10.1f}{unit}")
            live_ms, first_ms, total = live_big(browser, quiet, args.updates)
            print(
                f"live update at {total} samples: {live_ms:.2f} ms (median of {args.updates}; "
                f"first draw of {total - args.updates} samples: {first_ms:.1f} ms)"
            )
        finally:
            quiet.close()

        demo = Host(work / "demo", demo=True)
        try:
            demo_ms, demo_total = live_demo(browser, demo, min(args.updates, 4))
            print(f"live update, real demo capture at {demo_total} samples: {demo_ms:.2f} ms")
            print(f"  live update ratio, 5400 samples to the demo's: {live_ms / demo_ms:.2f}x")
        finally:
            demo.close()
        browser.close()

    print(
        f"console: detail_5400_ms={big_ms:.1f} live_update_ms={live_ms:.2f} "
        f"in_app_5400_ms={big_app:.1f} uplot_floor_5400_ms={floor_ms:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
