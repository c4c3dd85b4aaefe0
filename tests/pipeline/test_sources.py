"""Frame sources: synthetic, X11 (under a real Xvfb) and looped files."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from host.pipeline.sources import SourceError, open_source


def test_synthetic_source_gives_new_yuv_frames_at_the_stream_size() -> None:
    source = open_source("synthetic", 640, 360, 60)
    try:
        frames = [source.read(tick) for tick in range(5)]
    finally:
        source.close()
    assert all(new for _, new in frames)
    frame = frames[0][0]
    assert (frame.format.name, frame.width, frame.height) == ("yuv420p", 640, 360)


def test_a_source_slower_than_the_stream_repeats_its_last_picture() -> None:
    source = open_source("synthetic@15", 320, 240, 60)
    try:
        reads = [source.read(tick) for tick in range(12)]
    finally:
        source.close()
    assert [new for _, new in reads] == [True, False, False, False] * 3
    assert reads[1][0] is reads[0][0]  # the very same picture, re-encoded


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("synthetic@0", "must be in"),
        ("synthetic@120", "must be in"),
        ("synthetic@fast", "bad source rate"),
        ("webcam", "unknown source"),
        ("file:", "unknown source"),
        ("file:/does/not/exist.mp4", "cannot open video file"),
    ],
)
def test_bad_source_specs_say_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(SourceError, match=complaint):
        open_source(spec, 320, 240, 60)


def test_x11_without_a_display_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY"):
        open_source("x11", 320, 240, 60)


@pytest.fixture
def xvfb() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is missing: ./scripts/test installs it (Debian package xvfb)")
    display = f":{90 + os.getpid() % 9}"
    proc = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{display[1:]}")
    deadline = time.monotonic() + 10
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb did not start on {display}")
        time.sleep(0.05)
    yield display
    proc.terminate()
    proc.wait(10)


@pytest.mark.display
def test_x11_capture_grabs_converts_and_scales_the_screen(xvfb: str) -> None:
    source = open_source(f"x11:{xvfb}", 640, 360, 60)
    try:
        frames = [source.read(tick) for tick in range(3)]
    finally:
        source.close()
    assert all(new for _, new in frames)
    frame = frames[-1][0]
    # 800x600 BGR0 from the X server, converted to the encoder's format and size.
    assert (frame.format.name, frame.width, frame.height) == ("yuv420p", 640, 360)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A one-second, 30 fps clip of 30 distinct frames."""
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        src = av.open("testsrc2=size=320x240:rate=30", format="lavfi")
        for i, frame in enumerate(src.decode(video=0)):
            if i == 30:
                break
            frame.pts, frame.time_base = i, Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        src.close()
    return path


def test_a_file_loops_forever_at_its_own_rate(clip: Path) -> None:
    source = open_source(f"file:{clip}", 160, 120, 60)
    try:
        reads = [source.read(tick) for tick in range(200)]  # > 3 passes through the clip
    finally:
        source.close()
    new = sum(1 for _, is_new in reads if is_new)
    assert new == 100  # a 30 fps file in a 60 fps stream: every other frame is new
    assert reads[0][0].width == 160
