"""The box art Moonlight shows for every app: a small PNG, encoded here with zlib.

A PNG is a signature and chunks (length, type, data, CRC-32); an 8-bit RGB image is
one IHDR, the zlib-deflated scanlines (each led by filter byte 0) in IDAT, and IEND.
"""

from __future__ import annotations

import functools
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Moonlight lays box art out at about 628x888; a small image of that shape scales well.
ASSET_WIDTH = 157
ASSET_HEIGHT = 222
TOP_RGB = (0x1F, 0x2A, 0x44)
BOTTOM_RGB = (0x0E, 0x76, 0x8C)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png_rgb(width: int, height: int, pixels: bytes) -> bytes:
    """PNG of `pixels`: `height` rows of `width` RGB triplets, top row first."""
    stride = width * 3
    if width <= 0 or height <= 0 or len(pixels) != stride * height:
        raise ValueError(f"{len(pixels)} bytes is not a {width}x{height} RGB image")
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


@functools.cache
def app_asset_png() -> bytes:
    """A vertical gradient, made once."""
    rows = []
    for y in range(ASSET_HEIGHT):
        t = y / (ASSET_HEIGHT - 1)
        rgb = bytes(round(a + (b - a) * t) for a, b in zip(TOP_RGB, BOTTOM_RGB, strict=True))
        rows.append(rgb * ASSET_WIDTH)
    return encode_png_rgb(ASSET_WIDTH, ASSET_HEIGHT, b"".join(rows))
