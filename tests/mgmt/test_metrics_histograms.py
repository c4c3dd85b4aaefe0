"""Prometheus the way a fleet uses it: latency histograms, base units, promtool, a real server.

The bucket counting is checked against a count done by hand; the exposition of a live
`punktfunk serve` goes through `promtool check metrics` in both `measure` modes; and where
this machine has the Prometheus server, a real one scrapes serve and answers
`histogram_quantile` over the buckets.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from host.pipeline.stages import GAMESTREAM, NATIVE, PATHS
from ipc import FRAME_RECORD, SEND_RECORD, ControlBlock
from mgmt.aggregator import Aggregator
from mgmt.histograms import BUCKETS_US, HOST, LatencyHistograms
from mgmt.metrics import StatsCollector
from mgmt.recorder import StatsRecorder
from mgmt.settings import SettingsError, load
from tests.support.native import unstarted_session
from tests.support.serve import Serve

GRAFANA = Path(__file__).resolve().parents[2] / "scripts" / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing (Debian package `prometheus`)"
)


def window(n: int, seed: int) -> dict[str, np.ndarray[Any, Any]]:
    """One window's ring records, durations spread over every bucket and on its bounds."""
    rng = np.random.default_rng(seed)
    on_bounds = np.array(BUCKETS_US * (n // len(BUCKETS_US) + 1))[:n]
    frames = np.zeros(n, dtype=FRAME_RECORD.dtype)
    sends = np.zeros(n, dtype=SEND_RECORD.dtype)
    frames["capture_us"] = on_bounds
    frames["submit_us"] = rng.integers(0, 30, n)
    frames["encode_us"] = rng.integers(0, 2_000_000, n)
    sends["handoff_us"] = rng.integers(0, 400, n)
    sends["packetize_us"] = on_bounds // 2
    sends["send_us"] = on_bounds - on_bounds // 2  # packetize + send lands on a bound
    sends["capture_ts_ns"] = 10**12 + np.arange(n, dtype=np.uint64) * 16_666_667
    sends["done_ts_ns"] = sends["capture_ts_ns"] + rng.integers(0, 10**9, n).astype(np.uint64)
    return {"frames": frames, "sends": sends}


def by_hand(values_us: np.ndarray[Any, Any]) -> list[int]:
    """Cumulative `le` counts, one comparison per bound: what a histogram must say."""
    return [int((values_us <= le).sum()) for le in BUCKETS_US] + [len(values_us)]


def test_every_frame_is_counted_into_the_bucket_its_duration_falls_in() -> None:
    histograms = LatencyHistograms()
    windows = [window(n, seed) for seed, n in enumerate((120, 1, 0, 300))]
    for records in windows:
        histograms.observe(NATIVE, records)
    frames = np.concatenate([w["frames"] for w in windows])
    sends = np.concatenate([w["sends"] for w in windows])
    expected_us = {
        "capture": frames["capture_us"].astype(float),
        "submit": frames["submit_us"].astype(float),
        "encode": frames["encode_us"].astype(float),
        "handoff": sends["handoff_us"].astype(float),
        "send": sends["packetize_us"].astype(float) + sends["send_us"],
        HOST: (sends["done_ts_ns"] - sends["capture_ts_ns"]).astype(float) / 1e3,
    }
    snapshot = histograms.snapshot()
    for name, values in expected_us.items():
        histogram = snapshot[("native", name)]
        assert [count for _, count in histogram.buckets] == by_hand(values), name
        assert histogram.count == len(values) == 421
        assert histogram.sum_s == pytest.approx(values.sum() / 1e6)
    assert [le for le, _ in snapshot[("native", "capture")].buckets][:3] == [
        "5e-05",
        "0.0001",
        "0.00025",
    ]
    # Every path's series exists before its first frame, at zero.
    for kind, path in PATHS.items():
        for name in (*path.stage_names, HOST):
            assert (kind, name) in snapshot
    assert snapshot[("gamestream", "encode")].count == 0


def test_a_stage_of_several_fields_counts_their_per_frame_sum() -> None:
    histograms = LatencyHistograms()
    records = window(50, 7)
    histograms.observe(GAMESTREAM, records)
    encode = records["frames"]["submit_us"].astype(float) + records["frames"]["encode_us"]
    assert [c for _, c in histograms.snapshot()[("gamestream", "encode")].buckets] == by_hand(
        encode
    )


@pytest.mark.parametrize("bounds", [(), (0, 10), (10, 5), (10, 10)], ids=str)
def test_bucket_bounds_must_be_positive_and_increasing(bounds: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        LatencyHistograms(bounds_us=bounds)


def test_the_aggregator_counts_what_a_session_measured_and_the_collector_exposes_it(
    tmp_path: Path,
) -> None:
    """A real session's shared memory (no processes: the test writes what they would)."""
    control = ControlBlock.create(measure_always=True)
    assert control.measuring()
    assert (control.measure_always, control.armed, control.perf) == (True, False, False)
    recorder = StatsRecorder(tmp_path)
    session = unstarted_session(control)
    aggregator = Aggregator(recorder)
    frames, sends = session.frame_ring.writer(), session.send_ring.writer()
    try:
        t0 = time.monotonic()
        aggregator.session_started(session)
        for i in range(90):
            frames.write(1, 0, i, 10**12 + i, 700, 10, 2_500 + 100 * i, 5_000)
            sends.write(1, 0, i, 10**12, 10**12 + 6_000_000, 90, 300, 1_700, 5_400, 5, 1)
        aggregator.tick(t0 + NATIVE.window_s + 0.01)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StatsCollector(aggregator, recorder))
        text = generate_latest(registry).decode()
    finally:
        frames.close()
        sends.close()
        session.close()
        control.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    encode = {"path": "native", "stage": "encode"}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("punktfunk_stage_latency_seconds_count", **encode) == 90
    assert value("punktfunk_stage_latency_seconds_bucket", **encode, le="0.005") == 26  # ≤ 5 ms
    assert value("punktfunk_stage_latency_seconds_sum", **encode) == pytest.approx(
        sum(2_500 + 100 * i for i in range(90)) / 1e6
    )
    assert (
        value("punktfunk_stage_latency_seconds_bucket", path="native", stage="send", le="0.002")
        == 90
    )
    assert value("punktfunk_host_latency_seconds_bucket", path="native", le="0.0065") == 90
    assert value("punktfunk_host_latency_seconds_bucket", path="native", le="0.005") == 0
    assert value("punktfunk_stage_latency_seconds_count", path="gamestream", stage="encode") == 0
    assert not any(name.endswith("bits_per_second") for name, _ in samples)
    assert not any("quantile" in dict(labels) for _, labels in samples)


# -- the `measure` setting ------------------------------------------------------------------


def test_measure_is_armed_by_default_and_takes_always_from_every_layer(tmp_path: Path) -> None:
    assert load(environ={}, directory=tmp_path).measure == "armed"
    assert load(environ={"PUNKTFUNK_MEASURE": "always"}, directory=tmp_path).measure == "always"
    assert load({"measure": "ALWAYS "}, environ={}, directory=tmp_path).measure == "always"
    (tmp_path / "config.toml").write_text('measure = "always"\n')
    assert load(environ={}, directory=tmp_path).measure == "always"


@pytest.mark.parametrize("bad", ["sometimes", "", "armed,always", "1"])
def test_measure_refuses_other_words_naming_the_setting(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SettingsError, match="PUNKTFUNK_MEASURE: measure must be one of armed"):
        load(environ={"PUNKTFUNK_MEASURE": bad}, directory=tmp_path)
    (tmp_path / "config.toml").write_text("measure = true\n")
    with pytest.raises(SettingsError, match="measure must be str"):
        load(environ={}, directory=tmp_path)


# -- a live /metrics ------------------------------------------------------------------------


@pytest.fixture
def serve(isolated_config: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Serve:
        started.append(Serve(isolated_config, *args, env=env))
        return started[-1]

    yield start
    for running in started:
        try:
            running.stop()  # SIGTERM: the processes and shared memory go away in order
        except subprocess.TimeoutExpired:
            running.stop(signal.SIGKILL)


def scrape(serve: Serve) -> str:
    response = serve.client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def stage_count(text: str, stage: str, path: str = "native") -> float:
    for s in families(text)["punktfunk_stage_latency_seconds"].samples:
        if s.name.endswith("_count") and s.labels == {"path": path, "stage": stage}:
            return float(s.value)
    raise AssertionError(f"no {path}/{stage} histogram in /metrics")


def wait_for_metrics(serve: Serve, done: Callable[[str], bool], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = scrape(serve)
        if done(text):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.5)


def promtool(text: str) -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (checked.stdout + checked.stderr).strip() == "", "promtool had a complaint"


@needs_promtool
def test_promtool_would_have_caught_the_old_exposition() -> None:
    old = (
        "# HELP punktfunk_goodput_bits_per_second transmitted goodput\n"
        "# TYPE punktfunk_goodput_bits_per_second gauge\n"
        'punktfunk_goodput_bits_per_second{session="1"} 9.8e+06\n'
        "# HELP punktfunk_stage_latency_seconds per-stage latency over the latest window\n"
        "# TYPE punktfunk_stage_latency_seconds gauge\n"
        'punktfunk_stage_latency_seconds{stage="encode",quantile="0.99"} 0.002\n'
    )
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=old, capture_output=True, text=True, check=False
    )
    assert checked.returncode != 0
    complaints = checked.stdout + checked.stderr
    assert 'use base unit "bytes" instead of "bits"' in complaints
    assert 'should not have "quantile" label' in complaints


@needs_promtool
def test_promtool_accepts_a_live_metrics_with_measure_armed(
    serve: Callable[..., Serve],
) -> None:
    running = serve("--demo")
    # Streaming, not recording: counters and rates move, latency is not measured.
    text = wait_for_metrics(running, lambda t: "punktfunk_goodput_bytes_per_second{" in t)
    promtool(text)
    assert stage_count(text, "encode") == 0
    assert running.api("POST", "/stats/capture/start").status_code == 200
    text = wait_for_metrics(running, lambda t: stage_count(t, "encode") > 0)
    promtool(text)
    assert running.api("POST", "/stats/capture/stop").status_code == 200
    assert running.stop() == 0


@needs_promtool
def test_promtool_accepts_a_live_metrics_with_measure_always(
    serve: Callable[..., Serve],
) -> None:
    running = serve("--demo", env={"PUNKTFUNK_MEASURE": "always"})
    text = wait_for_metrics(running, lambda t: stage_count(t, "encode") >= 60)
    promtool(text)
    assert running.api("GET", "/stats/capture/status").json()["armed"] is False
    found = families(text)
    assert found["punktfunk_stage_latency_seconds"].type == "histogram"
    assert found["punktfunk_host_latency_seconds"].type == "histogram"
    for stage in NATIVE.stage_names:
        assert stage_count(text, stage) > 0, stage
    goodput = found["punktfunk_goodput_bytes_per_second"].samples[0].value
    target = found["punktfunk_target_bytes_per_second"].samples[0].value
    assert target == 10_000 * 1000 / 8  # the demo's 10 Mb/s in bytes per second
    assert 0 < goodput < 4 * target
    assert running.stop() == 0


# -- a real Prometheus server ---------------------------------------------------------------


def listening_port(pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                return int(conn.laddr.port)
        time.sleep(0.2)
    raise AssertionError("prometheus did not listen")


@pytest.mark.skipif(PROMETHEUS is None, reason="no Prometheus server (Debian package `prometheus`)")
def test_a_real_prometheus_answers_fleet_quantiles_from_the_histograms(
    serve: Callable[..., Serve], tmp_path: Path
) -> None:
    assert PROMETHEUS is not None
    running = serve("--demo", env={"PUNKTFUNK_MEASURE": "always"})
    host_port = running.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: punktfunk\n"
        "    authorization: {credentials: " + running.token + "}\n"
        "    static_configs: [{targets: ['" + host_port + "']}]\n"
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as log_file:
        prometheus = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                "--web.listen-address=127.0.0.1:0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        port = listening_port(prometheus.pid)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:

            def query(promql: str) -> list[dict[str, Any]]:
                body = api.get("/api/v1/query", params={"query": promql}).json()
                assert body["status"] == "success", body
                result: list[dict[str, Any]] = body["data"]["result"]
                return result

            quantiles = (
                "histogram_quantile(0.99, sum by (le, stage) "
                '(rate(punktfunk_stage_latency_seconds_bucket{path="native"}[10s])))'
            )
            deadline = time.monotonic() + 90
            while True:
                result = query(quantiles)
                values = {r["metric"]["stage"]: float(r["value"][1]) for r in result}
                if set(values) == set(NATIVE.stage_names) and all(
                    math.isfinite(v) for v in values.values()
                ):
                    break
                assert time.monotonic() < deadline, (result, log.read_text()[-3000:])
                time.sleep(1)
            assert all(0 < v < 1 for v in values.values()), values
            # The buckets count every frame: their rate is the stream's frame rate. Over 20 s
            # (once the session's counter has that much history for rate() to use), the
            # buckets' 2 s steps move it by at most a tenth.
            while not query("count_over_time(punktfunk_frames_sent_total[1m]) >= 22"):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
            (fps,) = query('sum(rate(punktfunk_stage_latency_seconds_count{stage="encode"}[20s]))')
            (sent,) = query("sum(rate(punktfunk_frames_sent_total[20s]))")
            assert float(fps["value"][1]) == pytest.approx(float(sent["value"][1]), rel=0.2)
            (host,) = query(
                "histogram_quantile(0.5, sum by (le) "
                "(rate(punktfunk_host_latency_seconds_bucket[10s])))"
            )
            assert 0 < float(host["value"][1]) < 1
            # Every query of the Grafana dashboard runs; its latency panels have data.
            dashboard = json.loads(GRAFANA.read_text())
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    expr = target["expr"].replace("$instance", ".*")
                    result = query(expr.replace("$__rate_interval", "10s"))
                    if "_bucket" in expr:
                        assert result, (panel["title"], expr)
    finally:
        prometheus.send_signal(signal.SIGTERM)
        try:
            prometheus.wait(30)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
    assert running.stop() == 0
