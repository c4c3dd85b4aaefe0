"""Host telemetry for each sample: the streaming processes' CPU and memory, and the GPU.

Processes: one `psutil.Process` per pid, kept for the session's life (cpu_percent is
the CPU used since the previous call on the same object, so rediscovering processes
every window would always read 0). CPU % is of one core and may exceed 100 for a
multi-threaded encoder.

GPU: NVML (nvidia-ml-py), initialised once. Without the library, a driver or a GPU,
every GPU field is null and one info line says why; a metric the GPU does not support
is null on its own, the others are still read. Figures are for the whole GPU (device 0,
or the first in CUDA_VISIBLE_DEVICES), not per session.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import psutil
import pynvml

log = logging.getLogger(__name__)

MB = 1024 * 1024
_ROLES = ("capture", "send")


class ProcessTelemetry:
    """CPU % and RSS of each session's capture/encode and send processes."""

    def __init__(self) -> None:
        self._processes: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()

    def track(self, pid: int) -> None:
        with self._lock:
            if pid in self._processes:
                return
            try:
                process = psutil.Process(pid)
                process.cpu_percent(None)  # the first call starts the measurement
            except psutil.Error:
                return
            self._processes[pid] = process

    def forget(self, pid: int) -> None:
        with self._lock:
            self._processes.pop(pid, None)

    def read(self, pids: dict[str, int]) -> dict[str, float | None]:
        fields: dict[str, float | None] = {}
        for role in _ROLES:
            cpu = rss = None
            with self._lock:
                process = self._processes.get(pids.get(role, 0))
            if process is not None:
                try:
                    with process.oneshot():
                        cpu = round(process.cpu_percent(None), 1)
                        rss = round(process.memory_info().rss / MB, 1)
                except psutil.Error:
                    cpu = rss = None  # it exited during the window
            fields[f"{role}_cpu_pct"] = cpu
            fields[f"{role}_rss_mb"] = rss
        return fields


GPU_FIELDS = (
    "gpu_util_pct",
    "gpu_encoder_util_pct",
    "gpu_encoder_fps",
    "gpu_encoder_latency_us",
    "gpu_graphics_clock_mhz",
    "gpu_video_clock_mhz",
    "gpu_power_w",
    "gpu_memory_used_mb",
)


def _gpu_index() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(visible) if visible.isdigit() else 0


class GpuTelemetry:
    """Whole-GPU figures through NVML, or nulls with a reason."""

    def __init__(self, nvml: Any = pynvml) -> None:
        self._nvml = nvml
        self._handle: Any = None
        self.name = ""
        self.unavailable_reason = ""
        self._unsupported: set[str] = set()
        try:
            nvml.nvmlInit()
            self._handle = nvml.nvmlDeviceGetHandleByIndex(_gpu_index())
            name = nvml.nvmlDeviceGetName(self._handle)
            self.name = name.decode() if isinstance(name, bytes) else str(name)
        except nvml.NVMLError as exc:
            self._handle = None
            self.unavailable_reason = f"NVML: {exc}"
            log.info("no GPU telemetry (%s): GPU fields are null", self.unavailable_reason)
        else:
            log.info("GPU telemetry from %s", self.name)

    @property
    def available(self) -> bool:
        return self._handle is not None

    def read(self) -> dict[str, float | None]:
        if self._handle is None:
            return dict.fromkeys(GPU_FIELDS)
        nvml, h = self._nvml, self._handle
        readers: dict[str, Callable[[], float]] = {
            "gpu_util_pct": lambda: nvml.nvmlDeviceGetUtilizationRates(h).gpu,
            "gpu_encoder_util_pct": lambda: nvml.nvmlDeviceGetEncoderUtilization(h)[0],
            "gpu_encoder_fps": lambda: nvml.nvmlDeviceGetEncoderStats(h)[1],
            "gpu_encoder_latency_us": lambda: nvml.nvmlDeviceGetEncoderStats(h)[2],
            "gpu_graphics_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(
                h, nvml.NVML_CLOCK_GRAPHICS
            ),
            "gpu_video_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_VIDEO),
            "gpu_power_w": lambda: nvml.nvmlDeviceGetPowerUsage(h) / 1000,
            "gpu_memory_used_mb": lambda: nvml.nvmlDeviceGetMemoryInfo(h).used / MB,
        }
        fields: dict[str, float | None] = {}
        for name, read in readers.items():
            if name in self._unsupported:
                fields[name] = None
                continue
            try:
                fields[name] = round(float(read()), 1)
            except nvml.NVMLError_NotSupported:
                # Not this GPU's feature (e.g. an encoder on an H200): stop asking.
                self._unsupported.add(name)
                log.info("%s is not supported by %s; it stays null", name, self.name)
                fields[name] = None
            except nvml.NVMLError as exc:
                log.debug("%s unreadable this window: %s", name, exc)
                fields[name] = None
        return fields

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError as exc:
                log.debug("nvmlShutdown: %s", exc)
            self._handle = None


class Telemetry:
    """What the aggregator calls once per window per session (see Aggregator.telemetry)."""

    def __init__(self, gpu: GpuTelemetry | None = None) -> None:
        self.processes = ProcessTelemetry()
        self.gpu = gpu if gpu is not None else GpuTelemetry()

    def session_started(self, pids: dict[str, int]) -> None:
        for pid in pids.values():
            self.processes.track(pid)

    def session_ended(self, pids: dict[str, int]) -> None:
        for pid in pids.values():
            self.processes.forget(pid)

    def read(self, pids: dict[str, int]) -> dict[str, float | None]:
        return {**self.processes.read(pids), **self.gpu.read()}
