"""Host telemetry: real processes through psutil, the GPU through NVML or nulls."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import pynvml

from mgmt.telemetry import GPU_FIELDS, GpuTelemetry, ProcessTelemetry


def test_a_busy_process_shows_cpu_and_memory() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        telemetry = ProcessTelemetry()
        telemetry.track(busy.pid)
        time.sleep(0.5)
        fields = telemetry.read({"capture": busy.pid, "send": 0})
    finally:
        busy.kill()
        busy.wait()
    assert fields["capture_cpu_pct"] is not None
    assert fields["capture_cpu_pct"] > 10
    assert fields["capture_rss_mb"] is not None
    assert fields["capture_rss_mb"] > 1
    assert fields["send_cpu_pct"] is None  # not tracked: unknown, not 0
    assert fields["send_rss_mb"] is None


def test_a_process_that_exited_reads_as_null() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    telemetry = ProcessTelemetry()
    telemetry.track(gone.pid)
    gone.wait()
    fields = telemetry.read({"capture": gone.pid})
    assert fields["capture_cpu_pct"] is None


def test_the_real_nvml_library_either_reads_the_gpu_or_says_why_not() -> None:
    gpu = GpuTelemetry()
    fields = gpu.read()
    assert set(fields) == set(GPU_FIELDS)
    if gpu.available:  # a machine with an NVIDIA driver
        assert gpu.name
        assert fields["gpu_memory_used_mb"] is not None
    else:
        assert gpu.unavailable_reason.startswith("NVML: ")
        assert gpu.name == ""
        assert all(value is None for value in fields.values())
    gpu.close()


class _NoEncoderNvml:
    """NVML's Python surface with a GPU that has no video encoder (an H200, say).
    Only this stands in for the driver; the telemetry code under test is the real one."""

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVML_CLOCK_GRAPHICS = pynvml.NVML_CLOCK_GRAPHICS
    NVML_CLOCK_VIDEO = pynvml.NVML_CLOCK_VIDEO

    def __init__(self) -> None:
        self.encoder_calls = 0

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        pass

    def nvmlShutdown(self) -> None:  # noqa: N802
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802
        return f"gpu{index}"

    def nvmlDeviceGetName(self, handle: str) -> bytes:  # noqa: N802
        return b"NVIDIA H200"

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> Any:  # noqa: N802
        return SimpleNamespace(gpu=37, memory=12)

    def nvmlDeviceGetEncoderUtilization(self, handle: str) -> Any:  # noqa: N802
        self.encoder_calls += 1
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetEncoderStats(self, handle: str) -> Any:  # noqa: N802
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> int:  # noqa: N802
        return 1980 if clock == pynvml.NVML_CLOCK_GRAPHICS else 1755

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:  # noqa: N802
        return 123_456  # mW

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> Any:  # noqa: N802
        return SimpleNamespace(used=2048 * 1024 * 1024)


def test_a_metric_the_gpu_does_not_support_is_null_on_its_own() -> None:
    nvml = _NoEncoderNvml()
    gpu = GpuTelemetry(nvml)
    first, second = gpu.read(), gpu.read()
    assert gpu.name == "NVIDIA H200"
    assert first == second
    assert first["gpu_encoder_util_pct"] is None
    assert first["gpu_encoder_fps"] is None
    assert first["gpu_util_pct"] == 37.0
    assert first["gpu_graphics_clock_mhz"] == 1980.0
    assert first["gpu_power_w"] == 123.5
    assert first["gpu_memory_used_mb"] == 2048.0
    assert nvml.encoder_calls == 1  # not asked again once it said "not supported"
