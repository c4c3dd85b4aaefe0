"""Frame sources: where pictures come from, delivered as YUV 4:2:0 at the stream's size.

A source is asked for a picture once per stream tick. It answers with the frame to
encode and whether that picture is new; when it has nothing new (a source slower than
the stream, say a 30 fps video in a 60 fps stream), it returns its previous picture as a
repeat. Repeats are flagged, never passed off as new frames.

Source specs (the `--source` option):
    synthetic           FFmpeg's testsrc2 pattern at the stream rate
    synthetic@30        ... producing only 30 new pictures per second
    x11[:DISPLAY]       the X11 screen through x11grab (DISPLAY defaults to $DISPLAY)
    file:PATH           a video file, looped, at its own frame rate
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from typing import Protocol

import av
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter

ENCODER_PIX_FMT = "yuv420p"


class SourceError(RuntimeError):
    """A source could not be opened or read; the message says which and why."""


class FrameSource(Protocol):
    name: str

    def read(self, tick: int) -> tuple[VideoFrame, bool]:
        """The picture for stream tick `tick` (0, 1, 2, ...) and whether it is new."""
        ...

    def close(self) -> None: ...


def _due(tick: int, stream_fps: float, source_fps: float) -> int:
    """Index of the source picture that is current at stream tick `tick`."""
    return int(tick * source_fps / stream_fps)


class _Converter:
    """Colour conversion and scaling to the encoder's format, reusing one swscale context."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._reformatter = VideoReformatter()

    def __call__(self, frame: VideoFrame) -> VideoFrame:
        if (frame.format.name, frame.width, frame.height) == (
            ENCODER_PIX_FMT,
            self.width,
            self.height,
        ):
            return frame
        converted: VideoFrame = self._reformatter.reformat(
            frame, format=ENCODER_PIX_FMT, width=self.width, height=self.height
        )
        return converted


class _PacedSource:
    """A source with its own picture rate: a new picture when one is due, else a repeat."""

    stream_fps: float
    source_fps: float

    def __init__(self) -> None:
        self._index = -1
        self._last: VideoFrame | None = None

    def _next_picture(self) -> VideoFrame:
        raise NotImplementedError

    def read(self, tick: int) -> tuple[VideoFrame, bool]:
        due = _due(tick, self.stream_fps, self.source_fps)
        if self._last is not None and due <= self._index:
            return self._last, False
        self._last = self._next_picture()
        self._index = due
        return self._last, True


class SyntheticSource(_PacedSource):
    """testsrc2 (moving pattern, counter, colour bars) rendered straight into YUV 4:2:0.

    Rendering it in RGB and converting would model a desktop better, but testsrc2's RGB
    path costs ~20 ms per 1080p frame on a small CPU; the synthetic source stands in for
    a capture that is already in the encoder's format.
    """

    def __init__(self, width: int, height: int, fps: int, source_fps: float | None = None) -> None:
        super().__init__()
        self.stream_fps = fps
        self.source_fps = source_fps or fps
        self.name = f"synthetic@{self.source_fps:g}"
        rate = Fraction(self.source_fps).limit_denominator(1001)
        graph = f"testsrc2=size={width}x{height}:rate={rate}"
        try:
            self._container = av.open(graph, format="lavfi")
        except av.FFmpegError as exc:
            raise SourceError(f"cannot start the synthetic source ({graph}): {exc}") from exc
        self._frames = self._container.decode(video=0)
        self._convert = _Converter(width, height)

    def _next_picture(self) -> VideoFrame:
        return self._convert(next(self._frames))

    def close(self) -> None:
        self._container.close()


class X11Source:
    """The X11 screen via FFmpeg's x11grab, scaled to the stream size.

    Every grab is a fresh picture of the screen, so every frame counts as new. The
    grabber is asked for a high rate so that it does not pace on its own: the capture
    loop owns the clock.
    """

    def __init__(self, display: str | None, width: int, height: int) -> None:
        display = display or os.environ.get("DISPLAY")
        if not display:
            raise SourceError("x11 source: no display given and $DISPLAY is not set")
        self.name = f"x11:{display}"
        try:
            self._container = av.open(
                display, format="x11grab", options={"framerate": "1000", "draw_mouse": "1"}
            )
        except av.FFmpegError as exc:
            raise SourceError(f"cannot grab X11 display {display!r}: {exc}") from exc
        self._stream = self._container.streams.video[0]
        self._convert = _Converter(width, height)

    def read(self, tick: int) -> tuple[VideoFrame, bool]:
        for packet in self._container.demux(self._stream):
            for frame in packet.decode():
                return self._convert(frame), True
        raise SourceError(f"{self.name}: the grabber stopped delivering frames")

    def close(self) -> None:
        self._container.close()


class FileSource(_PacedSource):
    """A video file, looped forever, at its own frame rate within the stream's."""

    def __init__(self, path: str, width: int, height: int, fps: int) -> None:
        super().__init__()
        self.name = f"file:{path}"
        try:
            self._container = av.open(path)
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError) as exc:
            raise SourceError(f"cannot open video file {path!r}: {exc}") from exc
        rate = self._stream.average_rate or self._stream.guessed_rate or fps
        self.stream_fps, self.source_fps = fps, min(float(rate), float(fps))
        self._convert = _Converter(width, height)
        self._frames = self._decode_forever()

    def _decode_forever(self) -> Iterator[VideoFrame]:
        while True:
            produced = False
            for frame in self._container.decode(self._stream):
                produced = True
                yield frame
            if not produced:
                raise SourceError(f"{self.name}: no decodable video frames")
            self._container.seek(0)

    def _next_picture(self) -> VideoFrame:
        return self._convert(next(self._frames))

    def close(self) -> None:
        self._container.close()


def open_source(spec: str, width: int, height: int, fps: int) -> FrameSource:
    kind, _, arg = spec.partition(":")
    if kind.startswith("synthetic"):
        _, _, rate = kind.partition("@")
        try:
            source_fps = float(rate) if rate else None
        except ValueError:
            raise SourceError(f"bad source rate in {spec!r} (e.g. synthetic@30)") from None
        if source_fps is not None and not 0 < source_fps <= fps:
            raise SourceError(f"source rate in {spec!r} must be in (0, {fps}]")
        return SyntheticSource(width, height, fps, source_fps)
    if kind == "x11":
        # "x11:0" and "x11::0" both mean display :0; "x11:host:0" a remote one.
        display = arg if not arg or ":" in arg else f":{arg}"
        return X11Source(display or None, width, height)
    if kind == "file" and arg:
        return FileSource(arg, width, height, fps)
    raise SourceError(f"unknown source {spec!r}: use synthetic[@FPS], x11[:DISPLAY] or file:PATH")
