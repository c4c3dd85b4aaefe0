"""Shared by the mgmt tests: realistic samples, the test token, the error-envelope check."""

from __future__ import annotations

import httpx

from mgmt.models import NATIVE_STAGES, StageTiming, StatsSample


def make_sample(i: int = 0, *, bitrate_kbps: int = 20_000) -> StatsSample:
    """A native sample with every field set except the unmeasured ones (null)."""
    return StatsSample(
        t_ms=0,
        session_id=0,
        stages=[
            StageTiming(name, p50_us=100.0 * (n + 1) + i % 7, p99_us=250.0 * (n + 1) + i % 11)
            for n, name in enumerate(NATIVE_STAGES)
        ],
        fps=59.94,
        repeat_fps=0.5,
        mbps=19.75,
        bitrate_kbps=bitrate_kbps,
        frames_dropped=i % 3,
        packets_dropped=None,
        send_dropped=0,
        fec_recovered=None,
        host_p50_us=6200.5,
        host_p99_us=9100.25,
        client_decode_us=None,
        capture_cpu_pct=41.5,
        capture_rss_mb=312.0,
        send_cpu_pct=12.25,
        send_rss_mb=88.0,
        gpu_util_pct=None,
    )


TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> str:
    """`response` is the JSON error envelope with `status` (and `code`); returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    assert "Traceback" not in message
    return message
