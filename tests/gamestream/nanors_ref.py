"""nanors itself, through ctypes: the reference our Reed-Solomon code must match byte for byte.

The Moonlight client library (moonlight-common-c) compiles nanors into its shared object,
once per instruction set with a suffix; the `_def` build is the portable one. The
`moonlight-python` package (GPL-3.0, a test-only dependency, never imported by the host)
ships that library; `load()` raises NanorsUnavailableError, saying why, when it is missing.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Sequence
from pathlib import Path

LIBRARY_NAME = "libmoonlight-common-c.so"


class Nanors:
    """encode / decode with nanors' portable build (`reed_solomon_*_def`)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        library.reed_solomon_init()
        self._new = library.reed_solomon_new_def
        self._new.restype = ctypes.c_void_p
        self._new.argtypes = [ctypes.c_int, ctypes.c_int]
        self._release = library.reed_solomon_release_def
        self._release.restype = None
        self._release.argtypes = [ctypes.c_void_p]
        self._encode = library.reed_solomon_encode_def
        self._encode.restype = ctypes.c_int
        self._encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._decode = library.reed_solomon_decode_def
        self._decode.restype = ctypes.c_int
        self._decode.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]

    def _code(self, data_count: int, parity_count: int, matrix: bytes | None = None) -> int:
        code = self._new(data_count, parity_count)
        if not code:
            raise ValueError(f"nanors refused a ({data_count}, {parity_count}) code")
        if matrix is not None:
            self._install(int(code), data_count, parity_count, matrix)
        return int(code)

    def _install(self, code: int, data_count: int, parity_count: int, matrix: bytes) -> None:
        """Overwrite the parity matrix, as the client does for audio: in the nanors build of
        moonlight-common-c the code is {int ds, ps, ts; uint8_t p[ps * ds]} (row-major)."""
        if len(matrix) != data_count * parity_count:
            self._release(code)
            raise ValueError("parity matrix has the wrong size for this code")
        header = (ctypes.c_int * 3).from_address(code)
        if tuple(header) != (data_count, parity_count, data_count + parity_count):
            self._release(code)
            raise ValueError(f"unexpected nanors code layout {tuple(header)}")
        ctypes.memmove(code + ctypes.sizeof(header), matrix, len(matrix))

    @staticmethod
    def _pointers(buffers: Sequence[ctypes.Array[ctypes.c_char]]) -> ctypes.Array[ctypes.c_char_p]:
        table = (ctypes.c_char_p * len(buffers))()
        for i, buffer in enumerate(buffers):
            table[i] = ctypes.cast(buffer, ctypes.c_char_p)
        return table

    def encode(
        self, data: Sequence[bytes], parity_count: int, matrix: bytes | None = None
    ) -> list[bytes]:
        """Parity shards for equally long data shards (with `matrix` as the parity matrix)."""
        size = len(data[0])
        buffers = [ctypes.create_string_buffer(bytes(shard), size) for shard in data]
        buffers += [ctypes.create_string_buffer(size) for _ in range(parity_count)]
        code = self._code(len(data), parity_count, matrix)
        try:
            status = self._encode(code, self._pointers(buffers), len(buffers), size)
        finally:
            self._release(code)
        if status != 0:
            raise ValueError(f"nanors encode failed ({status})")
        return [buffer.raw for buffer in buffers[len(data) :]]

    def decode(
        self,
        shards: Sequence[bytes | None],
        data_count: int,
        parity_count: int,
        matrix: bytes | None = None,
    ) -> list[bytes]:
        """The data shards rebuilt from the ones present (None = lost)."""
        size = len(next(shard for shard in shards if shard is not None))
        buffers = [
            ctypes.create_string_buffer(size)
            if shard is None
            else ctypes.create_string_buffer(shard, size)
            for shard in shards
        ]
        marks = (ctypes.c_uint8 * len(shards))(*(1 if shard is None else 0 for shard in shards))
        code = self._code(data_count, parity_count, matrix)
        try:
            status = self._decode(code, self._pointers(buffers), marks, len(buffers), size)
        finally:
            self._release(code)
        if status != 0:
            raise ValueError(f"nanors decode failed ({status})")
        return [buffer.raw for buffer in buffers[:data_count]]


class NanorsUnavailableError(RuntimeError):
    """The reference library is not installed or cannot be loaded; the message says why."""


def load() -> Nanors:
    """nanors from moonlight-python's bundled library."""
    spec = importlib.util.find_spec("moonlight_python")
    if spec is None or spec.origin is None:
        raise NanorsUnavailableError("moonlight-python is not installed")
    path = Path(spec.origin).parent / LIBRARY_NAME
    if not path.is_file():
        raise NanorsUnavailableError(f"moonlight-python ships no {LIBRARY_NAME}")
    try:
        return Nanors(ctypes.CDLL(str(path)))
    except (OSError, AttributeError) as error:
        raise NanorsUnavailableError(f"cannot load nanors from {path.name}: {error}") from error
