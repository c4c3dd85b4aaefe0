"""Realistic stats samples and recordings: the one factory for the tests and the benchmarks.

Values vary a little with the window number, deterministically, so charts have shape and
two runs build the same bytes. Every float is a short decimal (no `59.339999999999996`),
as a real host's rounded figures would be.
"""

from __future__ import annotations

from pathlib import Path

from mgmt.models import NATIVE_STAGES, Capture, CaptureMeta, StageTiming, StatsSample, json_encoder

WINDOW_MS = 2000  # the native path's window
BASE_UNIX_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MODES = ((1920, 1080), (1280, 720), (2560, 1440), (3840, 2160))
CODECS = (("h264", "h264_nvenc"), ("hevc", "hevc_nvenc"), ("av1", "libsvtav1"))


def make_sample(
    i: int = 0, *, session_id: int = 0, bitrate_kbps: int = 20_000, every_field: bool = False
) -> StatsSample:
    """Window `i` of a native session.

    By default what a host without client feedback or an NVIDIA GPU cannot measure is
    null (packet loss, FEC, client decode, GPU telemetry); `every_field` measures those
    too, the heaviest sample a recording can hold. `frames_dropped` is `i % 3`,
    `send_dropped` 0 for the first ten windows and `capture_cpu_pct` always 41.5, so tests
    can look for them.
    """
    wobble = (i * 7919) % 97
    sample = StatsSample(
        t_ms=i * WINDOW_MS,
        session_id=session_id,
        stages=[
            StageTiming(name, p50_us=300.0 * (n + 1) + wobble, p99_us=800.0 * (n + 1) + 3 * wobble)
            for n, name in enumerate(NATIVE_STAGES)
        ],
        fps=(5994 - 10 * (i % 13)) / 100,
        repeat_fps=(i % 17) / 10,
        mbps=(198 + i % 10) / 10,
        bitrate_kbps=bitrate_kbps,
        frames_dropped=i % 3,
        packets_dropped=None,
        send_dropped=i % 11 // 10,
        fec_recovered=None,
        host_p50_us=6200.5 + wobble,
        host_p99_us=9100.25 + 2 * wobble,
        capture_cpu_pct=41.5,
        capture_rss_mb=312.0,
        send_cpu_pct=12.25 + i % 3,
        send_rss_mb=88.0,
    )
    if every_field:
        sample.packets_dropped = i % 5
        sample.fec_recovered = i % 7
        sample.client_decode_us = 2100.0
        sample.gpu_util_pct = 35.0 + i % 9
        sample.gpu_encoder_util_pct = 22.0 + i % 4
        sample.gpu_encoder_fps = 60.0
        sample.gpu_encoder_latency_us = 2900.0 + wobble
        sample.gpu_graphics_clock_mhz = 1905.0
        sample.gpu_video_clock_mhz = 1710.0
        sample.gpu_power_w = 118.5 + i % 6
        sample.gpu_memory_used_mb = 2048.0
    return sample


def make_samples(stop: int, *, start: int = 0, session_id: int = 1) -> list[StatsSample]:
    """Windows `start` to `stop - 1` of one session, every field measured."""
    return [make_sample(i, session_id=session_id, every_field=True) for i in range(start, stop)]


def make_meta(
    recording_id: str, sample_count: int, *, started_unix_ms: int = BASE_UNIX_MS, variant: int = 0
) -> CaptureMeta:
    """The meta of a one-session native capture; `variant` picks its mode, codec and client
    (0: 1920x1080 h264 on an NVIDIA GPU), so a directory of recordings lists varied rows."""
    width, height = MODES[variant % len(MODES)]
    codec, encoder = CODECS[variant % len(CODECS)]
    return CaptureMeta(
        id=recording_id,
        started_unix_ms=started_unix_ms,
        duration_ms=sample_count * WINDOW_MS,
        kind="native",
        width=width,
        height=height,
        fps=60,
        codec=codec,
        encoder=encoder,
        client=f"client-{variant % 17:02d}",
        sample_count=sample_count,
        gpu="" if variant % 2 else "NVIDIA H200",
        sessions=1,
    )


def make_capture(
    recording_id: str, sample_count: int, *, started_unix_ms: int = BASE_UNIX_MS, variant: int = 0
) -> Capture:
    """A whole recording: `make_meta` and `make_samples` together."""
    meta = make_meta(recording_id, sample_count, started_unix_ms=started_unix_ms, variant=variant)
    return Capture(meta, make_samples(sample_count))


def write_recording(captures: Path, capture: Capture) -> int:
    """Put `capture` into `captures` as the host would have saved it; returns its size."""
    data = json_encoder.encode(capture)
    captures.mkdir(parents=True, exist_ok=True)
    (captures / f"{capture.meta.id}.json").write_bytes(data)
    return len(data)
