"""Encoders: low-latency output, keyframes on request, NVENC fallback."""

from __future__ import annotations

import logging

import pytest

from host.pipeline.encoder import (
    CPU_ENCODERS,
    EncoderError,
    EncoderSettings,
    VideoEncoder,
    choose_backend,
)
from host.pipeline.sources import open_source


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_one_access_unit_per_frame_and_keyframes_on_request(codec: str) -> None:
    settings = EncoderSettings(codec, 320, 240, 30, 1000)
    encoder = VideoEncoder(settings, CPU_ENCODERS[codec])
    source = open_source("synthetic", 320, 240, 30)
    keyframes, sizes = [], []
    try:
        for i in range(20):
            frame, _ = source.read(i)
            au, keyframe = encoder.encode(encoder.prepare(frame, keyframe=i in (0, 12)))
            sizes.append(len(au))
            if keyframe:
                keyframes.append(i)
    finally:
        encoder.close()
        source.close()
    assert all(size > 0 for size in sizes)  # no lookahead: nothing is held back
    assert keyframes == [0, 12]


def test_without_a_usable_nvenc_auto_falls_back_to_the_cpu_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="host.pipeline.encoder")
    backend = choose_backend("h264", "auto")
    if backend == "h264_nvenc":
        pytest.skip("this machine has a usable NVENC encoder")
    assert backend == "libx264"
    assert any("no usable NVENC encoder for h264" in r.message for r in caplog.records)


def test_asking_for_nvenc_explicitly_does_not_fall_back() -> None:
    assert choose_backend("hevc", "nvenc") == "hevc_nvenc"
    assert choose_backend("hevc", "cpu") == "libx265"


def test_unknown_codecs_and_impossible_settings_are_clear_errors() -> None:
    with pytest.raises(EncoderError, match="unknown codec"):
        choose_backend("mpeg2", "auto")
    with pytest.raises(EncoderError, match="cannot open libx264"):
        VideoEncoder(EncoderSettings("h264", 321, 241, 30, 1000), "libx264")
