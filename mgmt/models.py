"""The wire and on-disk data model of performance-stats capture.

These structs are what the REST API returns, what a recording file holds, and what
the OpenAPI document describes (its schemas are generated from them). Field order is
the JSON order; `meta` precedes `samples` in a `Capture`, which lets listing read a
recording's meta without parsing its samples.

Unmeasured is `null`, never 0: a counter the path cannot observe (for instance loss
without client feedback) is null; 0 means it was measured and nothing happened.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from host.pipeline import stages

Us = Annotated[float, Meta(ge=0, description="microseconds")]
OptCount = Annotated[
    int | None,
    Meta(description="delta in this window; null when the path cannot measure it"),
]
OptFloat = float | None

# Stage names and order have one owner, host.pipeline.stages; these are its views.
STAGES_BY_KIND = stages.STAGES_BY_KIND
NATIVE_STAGES = STAGES_BY_KIND["native"]
GAMESTREAM_STAGES = STAGES_BY_KIND["gamestream"]


class StageTiming(Struct):
    """One pipeline stage's latency over a window."""

    name: Annotated[str, Meta(description="stage name, in the path's pipeline order")]
    p50_us: Us
    p99_us: Us


class StatsSample(Struct):
    """One aggregated window (native every ~2 s, gamestream every ~1 s)."""

    t_ms: Annotated[int, Meta(ge=0, description="ms since the capture started (host clock)")]
    session_id: Annotated[int, Meta(ge=0, description="which session of the capture")]
    stages: list[StageTiming]
    fps: Annotated[float, Meta(ge=0, description="new frames per second from the source")]
    repeat_fps: Annotated[float, Meta(ge=0, description="re-encoded repeats per second")]
    mbps: Annotated[float, Meta(ge=0, description="transmitted goodput, Mb/s")]
    bitrate_kbps: Annotated[int, Meta(ge=0, description="configured target bitrate")]
    frames_dropped: OptCount
    packets_dropped: OptCount
    send_dropped: OptCount
    fec_recovered: OptCount
    host_p50_us: Annotated[
        float | None, Meta(description="capture start -> last datagram sent, p50")
    ] = None
    host_p99_us: Annotated[
        float | None, Meta(description="capture start -> last datagram sent, p99")
    ] = None
    client_decode_us: Annotated[
        float | None, Meta(description="mean client decode time per frame")
    ] = None
    rtt_us: Annotated[
        float | None,
        Meta(description="control-channel round-trip time (GameStream: ENet); null if unmeasured"),
    ] = None
    # Sound and input (GameStream; null on paths without them).
    audio_packets: Annotated[int | None, Meta(description="audio packets sent in this window")] = (
        None
    )
    audio_encode_p50_us: Annotated[
        float | None, Meta(description="Opus encode time per packet, p50")
    ] = None
    audio_encode_p99_us: Annotated[
        float | None, Meta(description="Opus encode time per packet, p99")
    ] = None
    input_events: Annotated[
        int | None, Meta(description="input events received from the client in this window")
    ] = None
    # Host telemetry (null when unavailable on this host).
    capture_cpu_pct: OptFloat = None
    capture_rss_mb: OptFloat = None
    send_cpu_pct: OptFloat = None
    send_rss_mb: OptFloat = None
    gpu_util_pct: OptFloat = None
    gpu_encoder_util_pct: OptFloat = None
    gpu_encoder_fps: OptFloat = None
    gpu_encoder_latency_us: OptFloat = None
    gpu_graphics_clock_mhz: OptFloat = None
    gpu_video_clock_mhz: OptFloat = None
    gpu_power_w: OptFloat = None
    gpu_memory_used_mb: OptFloat = None


class CaptureMeta(Struct):
    """What a recording is: also the listing entry."""

    id: Annotated[
        str,
        Meta(
            pattern=r"^[A-Za-z0-9._-]+$",
            description=(
                'filename stem, e.g. "2026-06-26T20-14-03Z_1280x720"; "live" while recording'
            ),
        ),
    ]
    started_unix_ms: int
    duration_ms: int
    kind: Annotated[str, Meta(description='"native" | "gamestream"; "" if no session ran')]
    width: int
    height: int
    fps: int
    codec: Annotated[str, Meta(description='"h264" | "hevc" | "av1"')]
    encoder: Annotated[str, Meta(description='encoder backend, e.g. "libx264", "h264_nvenc"')]
    client: Annotated[str, Meta(description="client label, or empty if unknown")]
    sample_count: int
    truncated: Annotated[
        bool, Meta(description="the sample cap was reached; later windows were not kept")
    ] = False
    gpu: Annotated[str, Meta(description="GPU name, or empty without an NVIDIA driver")] = ""
    sessions: Annotated[int, Meta(description="sessions that recorded into this capture")] = 0
    recovered: Annotated[
        bool,
        Meta(
            description="rebuilt on start from the journal of a capture the host could not "
            "save (a crash, a kill, a power cut); the window in progress then is missing"
        ),
    ] = False


class Capture(Struct):
    """A recording: its meta and every sample, oldest first."""

    meta: CaptureMeta
    samples: list[StatsSample]


class StageColumn(Struct):
    """One stage's figures in a `CaptureColumns`, a value per sample."""

    name: Annotated[str, Meta(description="stage name")]
    p50_us: Annotated[
        list[float | None], Meta(description="row i: sample i's p50; null: no such stage there")
    ]
    p99_us: Annotated[
        list[float | None], Meta(description="row i: sample i's p99; null: no such stage there")
    ]


COLUMN_FIELDS: tuple[str, ...] = tuple(
    name for name in StatsSample.__struct_fields__ if name not in ("t_ms", "session_id", "stages")
)
"""The StatsSample fields a `CaptureColumns` carries in `fields`, in StatsSample order."""


class CaptureColumns(Struct):
    """A recording column by column: row i of every list is sample i."""

    meta: CaptureMeta
    t_ms: Annotated[list[int], Meta(description="each sample's t_ms")]
    session_id: Annotated[list[int], Meta(description="each sample's session_id")]
    stages: Annotated[
        list[StageColumn],
        Meta(description="every stage that occurs: the path's pipeline order, then first-seen"),
    ]
    fields: Annotated[
        dict[str, list[int | float | None]],
        Meta(
            description="each other StatsSample field (same name, same unit), in StatsSample "
            "order; null where a sample did not measure it; a field no sample measured is "
            "left out",
            extra_json_schema={"propertyNames": {"enum": list(COLUMN_FIELDS)}},
        ),
    ]


class StatsStatus(Struct):
    armed: Annotated[bool, Meta(description="a capture is running")]
    sample_count: int
    started_unix_ms: Annotated[int, Meta(description="0 when idle")]
    kind: Annotated[str, Meta(description='path of the running capture, "" if idle')]
    elapsed_ms: Annotated[int, Meta(description="host monotonic time since start; 0 when idle")]
    truncated: bool = False


class ErrorBody(Struct):
    code: Annotated[str, Meta(description="stable machine-readable code, e.g. not_found")]
    message: Annotated[str, Meta(description="what went wrong and what to do about it")]


class ErrorEnvelope(Struct):
    """Every error the API returns has this shape."""

    error: ErrorBody


SCHEMA_TYPES: tuple[type, ...] = (
    StageTiming,
    StatsSample,
    CaptureMeta,
    Capture,
    CaptureColumns,
    StatsStatus,
    ErrorEnvelope,
)

json_encoder = msgspec.json.Encoder()
