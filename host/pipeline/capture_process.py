"""The capture/encode process: source -> convert -> submit -> encode, once per frame tick.

Per frame, while measuring (`perf or armed`, re-read from the control block every
frame), it writes one FrameRecord with the `capture`, `submit` and `encode` durations.
Each access unit goes to the send process over a pipe, prefixed with AU_HEADER. The
pipe is bounded by the kernel: when the sender falls behind, `send_bytes` blocks, the
loop misses its ticks, and the missed ticks are counted in `frames_dropped` instead of
queueing anything.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import NamedTuple

from host.pipeline.encoder import EncoderError, EncoderSettings, VideoEncoder
from host.pipeline.process import give_up, owner_gone, streaming_process
from host.pipeline.sources import FrameSource, SourceError, open_source
from ipc import FRAME_RECORD, ControlBlock, Counter, CountersBlock, FrameFlags, Ring

log = logging.getLogger(__name__)

# frame index, capture start (monotonic ns), encoder output (monotonic ns), FrameFlags
AU_HEADER = struct.Struct("<QQQI")


class AccessUnit(NamedTuple):
    """One encoded frame as a send process receives it."""

    frame_index: int
    capture_ts_ns: int  # capture start, monotonic
    encoded_ts_ns: int  # encoder output, monotonic
    flags: int  # FrameFlags
    payload: memoryview
    arrived_ns: int  # when the send process read it, monotonic


def access_units(
    au_in: Connection,
    stop: Event,
    *,
    poll_s: float,
    before_wait: Callable[[], None] | None = None,
) -> Iterator[AccessUnit]:
    """Every access unit the capture process sends, in order, until it ends (the pipe
    closes), `stop` is set or the process that started this one is gone. Stop and owner
    are looked at whenever `poll_s` passes without a frame; `before_wait` runs before each
    wait (GameStream's sender reads the client's pings there)."""
    orphaned = owner_gone()
    now = time.monotonic_ns
    header_size = AU_HEADER.size
    while True:
        if before_wait is not None:
            before_wait()
        if not au_in.poll(poll_s):
            if stop.is_set() or orphaned():
                return
            continue
        try:
            message = au_in.recv_bytes()
        except (EOFError, OSError):
            return  # the capture process ended
        arrived = now()
        frame_index, capture_ts, encoded_ts, flags = AU_HEADER.unpack_from(message)
        payload = memoryview(message)[header_size:]
        yield AccessUnit(frame_index, capture_ts, encoded_ts, flags, payload, arrived)


# How often (in frames) the loop looks at the stop flag and its owner.
_HOUSEKEEPING_FRAMES = 15


@dataclass(frozen=True)
class CaptureConfig:
    session_id: int
    source: str
    encoder: EncoderSettings
    backend: str
    control_name: str
    counters_name: str
    frame_ring_name: str


def run(config: CaptureConfig, au_out: Connection, stop: Event, errors: Connection) -> None:
    """Process entry point. Returns when stopped, orphaned, or the sender went away.
    A failure to open the source or the encoder goes to the owner over `errors`."""
    with (
        contextlib.closing(errors),
        contextlib.closing(au_out),
        streaming_process(
            config.control_name, config.counters_name, config.frame_ring_name, FRAME_RECORD
        ) as (control, counters, ring),
    ):
        enc = config.encoder
        try:
            source = open_source(config.source, enc.width, enc.height, enc.fps)
            try:
                encoder = VideoEncoder(enc, config.backend)
            except BaseException:
                source.close()
                raise
        except (SourceError, EncoderError) as exc:
            give_up(errors, config.session_id, str(exc))
        try:
            _loop(config, source, encoder, control, counters, ring, au_out, stop)
        finally:
            encoder.close()
            source.close()


def _loop(
    config: CaptureConfig,
    source: FrameSource,
    encoder: VideoEncoder,
    control: ControlBlock,
    counters: CountersBlock,
    ring: Ring,
    au_out: Connection,
    stop: Event,
) -> None:
    read = source.read
    write = ring.writer().write
    measuring = control.measuring
    now = time.monotonic_ns
    session_id = config.session_id
    interval = 1_000_000_000 // config.encoder.fps
    orphaned = owner_gone()
    keyframe_requests = counters.get(Counter.KEYFRAME_REQUESTS)
    start = now()
    tick = frame_index = 0
    while True:
        if tick % _HOUSEKEEPING_FRAMES == 0 and (stop.is_set() or orphaned()):
            return
        deadline = start + tick * interval
        t = now()
        if t < deadline:
            time.sleep((deadline - t) / 1e9)
        elif t - deadline >= interval:
            missed = (t - deadline) // interval
            counters.add(Counter.FRAMES_DROPPED, missed)
            tick += missed
        measure = measuring()
        t0 = now()
        frame, new = read(tick)
        t1 = now()
        requested = counters.get(Counter.KEYFRAME_REQUESTS)
        keyframe = frame_index == 0 or requested != keyframe_requests
        keyframe_requests = requested
        prepared = encoder.prepare(frame, keyframe)
        t2 = now()
        au, is_keyframe = encoder.encode(prepared)
        t3 = now()
        tick += 1
        if not au:
            continue
        flags = (FrameFlags.KEYFRAME if is_keyframe else 0) | (0 if new else FrameFlags.REPEAT)
        try:
            au_out.send_bytes(AU_HEADER.pack(frame_index, t0, t3, flags) + au)
        except (BrokenPipeError, OSError):
            return  # the send process is gone; the owner tears the session down
        counters.add(Counter.FRAMES_NEW if new else Counter.FRAMES_REPEAT)
        counters.add(Counter.ENCODED_BYTES, len(au))
        if measure:
            write(
                session_id,
                flags,
                frame_index,
                t0,
                (t1 - t0) // 1000,
                (t2 - t1) // 1000,
                (t3 - t2) // 1000,
                len(au),
            )
        frame_index += 1
