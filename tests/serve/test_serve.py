"""`punktfunk serve --demo` end to end: a real mgmt process, real streaming processes,
a real demo client, the REST API over Hypercorn."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from mgmt.models import NATIVE_STAGES
from tests.support.serve import Serve

GRAFANA = Path(__file__).resolve().parents[2] / "scripts" / "grafana-dashboard.json"


def test_the_full_round_trip_from_start_to_delete(start_serve: Callable[..., Serve]) -> None:
    serve = start_serve("--demo")
    assert serve.api("POST", "/stats/capture/start").json()["armed"] is True
    live = serve.wait_for_samples(3)
    sample = live["samples"][0]
    assert [stage["name"] for stage in sample["stages"]] == list(NATIVE_STAGES)
    assert all(stage["p50_us"] > 0 for stage in sample["stages"] if stage["name"] != "submit")
    assert sample["fps"] > 30
    assert sample["host_p50_us"] > 0
    assert sample["packets_dropped"] is not None  # the demo client reports feedback
    assert live["meta"]["kind"] == "native"
    assert live["meta"]["client"] == "demo"
    assert live["meta"]["encoder"] in {"libx264", "h264_nvenc"}

    # Incremental polling: only what came after the offset.
    tail = serve.api("GET", "/stats/capture/live", params={"offset": 2}).json()
    assert tail["samples"] == live["samples"][2:] + tail["samples"][len(live["samples"]) - 2 :]

    stopped = serve.api("POST", "/stats/capture/stop")
    assert stopped.status_code == 200
    meta = stopped.json()
    assert meta["sample_count"] >= 3
    path = serve.config / "captures" / f"{meta['id']}.json"
    assert path.exists()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    on_disk = json.loads(path.read_text())
    assert on_disk["meta"]["id"] == meta["id"]
    assert len(on_disk["samples"]) == meta["sample_count"]

    assert [m["id"] for m in serve.api("GET", "/stats/recordings").json()] == [meta["id"]]
    got = serve.api("GET", f"/stats/recordings/{meta['id']}").json()
    assert got == on_disk
    exported = serve.api("GET", f"/stats/recordings/{meta['id']}/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == meta["sample_count"]
    assert float(rows[0]["encode_p50_us"]) == on_disk["samples"][0]["stages"][2]["p50_us"]
    assert serve.api("DELETE", f"/stats/recordings/{meta['id']}").status_code == 204
    assert not path.exists()
    assert serve.api("GET", f"/stats/recordings/{meta['id']}").status_code == 404
    assert serve.stop() == 0


def test_sigterm_while_armed_saves_every_sample(start_serve: Callable[..., Serve]) -> None:
    serve = start_serve("--demo")
    serve.api("POST", "/stats/capture/start")
    seen = serve.wait_for_samples(2)["samples"]
    assert serve.stop(signal.SIGTERM) == 0
    (saved,) = (serve.config / "captures").glob("*.json")
    samples = json.loads(saved.read_text())["samples"]
    # Everything seen over the API, unchanged (and the session's last partial window
    # when it was long enough to be worth a sample).
    assert samples[: len(seen)] == seen
    assert not list((serve.config / "captures").glob("*.tmp"))
    stderr = "".join(serve.stderr_lines)
    assert "saved the running capture" in stderr


def test_sigkill_of_a_streaming_process_keeps_mgmt_and_the_capture(
    start_serve: Callable[..., Serve],
) -> None:
    serve = start_serve("--demo")
    serve.api("POST", "/stats/capture/start")
    before = serve.wait_for_samples(2)
    first_session = before["samples"][0]["session_id"]
    victim = _streaming_child(serve.proc.pid, "frame")
    os.kill(victim, signal.SIGKILL)
    # The session ends, the demo client reconnects, a second session records.
    deadline = time.monotonic() + 60
    while True:
        live = serve.api("GET", "/stats/capture/live").json()
        sessions = {s["session_id"] for s in live["samples"]}
        if len(sessions) >= 2 and live["samples"][-1]["session_id"] != first_session:
            break
        assert time.monotonic() < deadline, f"no second session: {sessions}"
        time.sleep(0.5)
    assert live["samples"][: len(before["samples"])] == before["samples"]
    assert live["meta"]["sessions"] >= 2
    meta = serve.api("POST", "/stats/capture/stop").json()
    assert meta["sample_count"] >= len(before["samples"]) + 1
    assert serve.stop() == 0


def _streaming_child(serve_pid: int, role: str) -> int:
    """The pid of serve's capture/encode (role "frame") or send (role "send") process:
    the descendant that maps the session's <role>_ring shared-memory segment."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in psutil.Process(serve_pid).children(recursive=True):
            try:
                maps = Path(f"/proc/{child.pid}/maps").read_text()
            except OSError:
                continue
            if f"_{role}_ring" in maps and "_counters" in maps:
                return child.pid
        time.sleep(0.2)
    raise AssertionError(f"no {role} process found under serve {serve_pid}")


PERF_LINE = re.compile(
    r"^perf native session=\d+ fps=[\d.]+ repeat_fps=[\d.]+ mbps=[\d.]+ target_kbps=\d+ "
    r"capture=\d+/\d+us submit=\d+/\d+us encode=\d+/\d+us handoff=\d+/\d+us send=\d+/\d+us "
    r"host=\d+/\d+us frames_dropped=\d+ send_dropped=\d+ packets_dropped=(\d+|-) "
    r"fec_recovered=(\d+|-) rtt=(\d+|-)us$"
)


def test_perf_logs_one_line_per_session_per_window_without_arming(
    start_serve: Callable[..., Serve],
) -> None:
    serve = start_serve("--demo", env={"PUNKTFUNK_PERF": "1"})
    lines = [serve.next_line(30).rstrip("\n") for _ in range(2)]
    assert all(PERF_LINE.match(line) for line in lines), lines
    assert serve.api("GET", "/stats/capture/status").json()["armed"] is False
    assert serve.stop() == 0


def test_systemd_hears_ready_watchdog_and_stopping(
    start_serve: Callable[..., Serve], tmp_path: Path
) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(30)
        serve = start_serve(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
        messages = []
        while not any("WATCHDOG=1" in m for m in messages[1:]):
            messages.append(sock.recv(4096).decode())
        assert messages[0].startswith("READY=1\nSTATUS=mgmt http://127.0.0.1:")
        serve.proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages[-1]:
            messages.append(sock.recv(4096).decode())
        assert serve.stop() == 0


def test_a_bad_setting_is_refused_with_its_name(isolated_config: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mgmt", "serve", "--bind", "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "bind must be HOST:PORT" in result.stderr


def _latest_consistent_sample(serve: Serve) -> tuple[dict, str]:
    """The API's newest sample and a /metrics scrape taken while it was the newest."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        before = serve.api("GET", "/stats/capture/live").json()["samples"]
        scrape = serve.client.get("/metrics")
        after = serve.api("GET", "/stats/capture/live").json()["samples"]
        if before and len(before) == len(after):
            assert scrape.status_code == 200
            return after[-1], scrape.text
        time.sleep(0.2)
    raise AssertionError("the samples kept moving during every scrape")


def test_samples_carry_telemetry_and_metrics_match_the_latest_sample(
    start_serve: Callable[..., Serve],
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    serve = start_serve("--demo")
    assert serve.client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    serve.api("POST", "/stats/capture/start")
    serve.wait_for_samples(2)
    sample, text = _latest_consistent_sample(serve)

    # Telemetry: the capture/encode and send processes, from psutil.
    assert sample["capture_cpu_pct"] > 0
    assert sample["capture_rss_mb"] > 0
    assert sample["send_cpu_pct"] >= 0
    assert sample["send_rss_mb"] > 0

    families = {f.name: f for f in text_string_to_metric_families(text)}
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    labels = {"session": str(sample["session_id"]), "path": "native", "codec": "h264"}

    def value(name: str, **extra: str) -> float:
        return values[(name, tuple(sorted({**labels, **extra}.items())))]

    # Latency: histograms per path and stage, every measured frame counted.
    assert families["punktfunk_stage_latency_seconds"].type == "histogram"
    for stage in sample["stages"]:
        key = (("path", "native"), ("stage", stage["name"]))
        assert values[("punktfunk_stage_latency_seconds_count", key)] > 0
    assert values[("punktfunk_host_latency_seconds_count", (("path", "native"),))] > 0
    assert value("punktfunk_fps") == pytest.approx(sample["fps"])
    assert value("punktfunk_goodput_bytes_per_second") == pytest.approx(sample["mbps"] * 1e6 / 8)
    assert value("punktfunk_target_bytes_per_second") == sample["bitrate_kbps"] * 1000 / 8
    assert families["punktfunk_frames_sent"].type == "counter"
    assert value("punktfunk_frames_sent_total") > 0
    assert value("punktfunk_bytes_sent_total") > 0
    assert values[("punktfunk_capture_armed", ())] == 1

    # Every series the Grafana dashboard asks for is one this host exports.
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exported = {s[0] for s in values}
    for expr in exprs:
        for name in re.findall(r"punktfunk_[a-z_]+", expr):
            assert name in exported, f"dashboard queries {name}, which /metrics lacks"
    assert serve.stop() == 0


def test_metrics_open_serves_a_scraper_without_the_token(
    start_serve: Callable[..., Serve],
) -> None:
    serve = start_serve("--metrics-open")
    scrape = serve.client.get("/metrics", headers={"Authorization": ""})
    assert scrape.status_code == 200
    assert "punktfunk_capture_armed 0.0" in scrape.text
    assert (
        serve.api("GET", "/stats/capture/status", headers={"Authorization": ""}).status_code == 401
    )
    assert serve.stop() == 0
