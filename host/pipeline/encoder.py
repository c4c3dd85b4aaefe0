"""Video encoders: H.264, HEVC and AV1 through PyAV, tuned for latency.

Low-latency settings everywhere: no B-frames, no lookahead, one access unit out per
frame in, a bitrate target with a small VBV, IDR on request. NVENC is used when a usable
NVIDIA encoder exists; otherwise the CPU encoders (libx264, libx265, libsvtav1).

FFmpeg encodes synchronously inside PyAV's `encode()`, so the capture process times
`submit` (preparing and handing the frame over) and `encode` (until the bitstream is
out) around the calls below.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType, VideoFrame

log = logging.getLogger(__name__)

CODECS = ("h264", "hevc", "av1")
CPU_ENCODERS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1"}
NVENC_ENCODERS = {"h264": "h264_nvenc", "hevc": "hevc_nvenc", "av1": "av1_nvenc"}


class EncoderError(RuntimeError):
    pass


@dataclass(frozen=True)
class EncoderSettings:
    codec: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    threads: int = 0  # 0: the encoder decides
    keyframe_interval_s: int = 10  # periodic IDR as a safety net; requests force one sooner


def _options(backend: str, s: EncoderSettings) -> dict[str, str]:
    bitrate = s.bitrate_kbps * 1000
    # Two frames of VBV: keyframes may exceed one frame's budget, but not by much.
    common = {"maxrate": str(bitrate), "bufsize": str(2 * bitrate // s.fps), "bf": "0"}
    if backend == "libx264":
        return {**common, "preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1"}
    if backend == "libx265":
        # info=0: x265's version SEI (~2.4 KB, repeated with every keyframe's headers)
        # would push the IDR slice out of the first datagram, and Moonlight only looks
        # for it there: it then drops every frame waiting for an IDR.
        # open-gop=0: a requested keyframe is an IDR, not a CRA.
        return {
            **common,
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x265-params": (
                "log-level=error:bframes=0:rc-lookahead=0:repeat-headers=1:info=0:open-gop=0"
            ),
        }
    if backend == "libsvtav1":
        # Low-delay prediction structure needs CBR; without it SVT-AV1 buffers ~60 frames.
        return {"preset": "12", "svtav1-params": "pred-struct=1:rc=2:lookahead=0"}
    if backend.endswith("_nvenc"):
        return {
            **common,
            "preset": "p1",
            "tune": "ull",
            "rc": "cbr",
            "zerolatency": "1",
            "delay": "0",
            "forced-idr": "1",
        }
    raise EncoderError(f"no settings for encoder backend {backend!r}")


class VideoEncoder:
    def __init__(self, settings: EncoderSettings, backend: str) -> None:
        if settings.codec not in CODECS:
            raise EncoderError(f"unknown codec {settings.codec!r}; use one of {', '.join(CODECS)}")
        self.settings = settings
        self.backend = backend
        if backend == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # errors only; its info lines go to stderr
        try:
            ctx = cast(VideoCodecContext, av.CodecContext.create(backend, "w"))
            ctx.width, ctx.height = settings.width, settings.height
            ctx.pix_fmt = "yuv420p"
            ctx.time_base = Fraction(1, settings.fps)
            ctx.framerate = Fraction(settings.fps)
            ctx.bit_rate = settings.bitrate_kbps * 1000
            ctx.gop_size = settings.fps * settings.keyframe_interval_s
            ctx.max_b_frames = 0
            ctx.thread_count = settings.threads
            ctx.options = _options(backend, settings)
            ctx.open()
        except av.FFmpegError as exc:
            raise EncoderError(f"cannot open {backend}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise EncoderError(f"cannot open {backend}: {exc}") from exc
        self._ctx: VideoCodecContext | None = ctx
        self._pts = 0

    def prepare(self, frame: VideoFrame, keyframe: bool) -> VideoFrame:
        """Stamp the frame for the encoder (the `submit` stage)."""
        frame.pts = self._pts
        self._pts += 1
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        return frame

    def encode(self, frame: VideoFrame) -> tuple[bytes, bool]:
        """One access unit for one frame (the `encode` stage) and whether it is a keyframe."""
        if self._ctx is None:
            raise EncoderError("encode after close()")
        try:
            packets = self._ctx.encode(frame)
        except av.FFmpegError as exc:
            raise EncoderError(f"{self.backend} failed to encode: {exc}") from exc
        if not packets:
            return b"", False
        keyframe = any(p.is_keyframe for p in packets)
        if len(packets) == 1:
            return bytes(packets[0]), keyframe
        return b"".join(bytes(p) for p in packets), keyframe

    def close(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            with contextlib.suppress(av.FFmpegError):
                ctx.encode(None)  # drain: SVT-AV1 complains when torn down without EOS


def probe_nvenc(codec: str) -> str | None:
    """The NVENC backend for `codec` if this machine can open it, else None.

    Opening a tiny encoder is the only reliable test: the FFmpeg build may carry NVENC
    while the driver, the GPU (an H200 has no encoder) or a free session is missing.
    """
    backend = NVENC_ENCODERS[codec]
    try:
        VideoEncoder(EncoderSettings(codec, 256, 256, 30, 1000), backend).close()
    except EncoderError as exc:
        log.info("no usable NVENC encoder for %s (%s); using %s", codec, exc, CPU_ENCODERS[codec])
        return None
    return backend


def opens(codec: str, backend: str) -> bool:
    """Whether `backend` really opens for `codec` here (what a host may advertise)."""
    try:
        VideoEncoder(EncoderSettings(codec, 256, 256, 30, 1000), backend).close()
    except EncoderError as exc:
        log.info("%s cannot encode %s here: %s", backend, codec, exc)
        return False
    return True


def choose_backend(codec: str, prefer: str = "auto") -> str:
    """`prefer`: "auto" (NVENC when usable, else CPU), "cpu", or "nvenc" (no fallback)."""
    if codec not in CODECS:
        raise EncoderError(f"unknown codec {codec!r}; use one of {', '.join(CODECS)}")
    if prefer == "cpu":
        return CPU_ENCODERS[codec]
    if prefer == "nvenc":
        return NVENC_ENCODERS[codec]
    return probe_nvenc(codec) or CPU_ENCODERS[codec]
