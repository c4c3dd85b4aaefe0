"""Each streaming path's stages, in pipeline order, and its aggregation window.

The one owner of stage names and order: the aggregator, the summary, the CSV export, the
benchmarks and (through the OpenAPI document) the console derive theirs from `PATHS`.
A stage names the ring its durations come from and the record field(s) that hold them;
a stage made of several fields is their per-frame sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Ring = Literal["frames", "sends"]


@dataclass(frozen=True)
class Stage:
    name: str
    ring: Ring
    fields: tuple[str, ...]


@dataclass(frozen=True)
class PathSpec:
    kind: str
    window_s: float
    stages: tuple[Stage, ...]
    audio: bool = False  # sessions send sound (an audio ring, audio counters)
    input: bool = False  # sessions take input from the client (input counters)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)


# punktfunk/1: `submit` is its own stage (an NVENC submit can block); `handoff` is the
# hop our two-process design adds (encoder output until the send process has it), and
# `send` covers packetize, FEC, seal and paced sending.
NATIVE = PathSpec(
    "native",
    2.0,
    (
        Stage("capture", "frames", ("capture_us",)),
        Stage("submit", "frames", ("submit_us",)),
        Stage("encode", "frames", ("encode_us",)),
        Stage("handoff", "sends", ("handoff_us",)),
        Stage("send", "sends", ("packetize_us", "send_us")),
    ),
)

# GameStream: the seed's `capture, encode, packetize, send` at ~1 s windows, plus the
# same measured `handoff` as native. Its `encode` includes the submit to the encoder.
GAMESTREAM = PathSpec(
    "gamestream",
    1.0,
    (
        Stage("capture", "frames", ("capture_us",)),
        Stage("encode", "frames", ("submit_us", "encode_us")),
        Stage("handoff", "sends", ("handoff_us",)),
        Stage("packetize", "sends", ("packetize_us",)),
        Stage("send", "sends", ("send_us",)),
    ),
    audio=True,
    input=True,
)

PATHS: dict[str, PathSpec] = {path.kind: path for path in (NATIVE, GAMESTREAM)}
STAGES_BY_KIND: dict[str, tuple[str, ...]] = {k: p.stage_names for k, p in PATHS.items()}
