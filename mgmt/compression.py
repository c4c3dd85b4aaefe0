"""gzip for the API's large JSON bodies: recordings and the recordings list.

A 5400-sample recording is ~4.8 MB of JSON and ~0.5 MB gzipped (level 1, ~12 ms); over a
real network that is the difference between a chart that appears at once and one that
waits. A saved recording's gzip is made once per file identity and kept with it
(`mgmt.recording_cache`); other bodies (the listing) go through `GzipCache`, bounded in
bytes and keyed by the body's length and CRC-32 (a changed body is a different key,
never a stale answer).
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections import OrderedDict

MIN_BYTES = 64 * 1024  # smaller bodies are not worth a Content-Encoding
LEVEL = 1  # ratio ~8 on our JSON at ~370 MB/s; level 6 saves a third more at 3x the time
CACHE_BYTES = 32 * 1024 * 1024


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip`, `*`, without `q=0`)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        quality = params.strip().lower().removeprefix("q=")
        try:
            return not params.strip() or float(quality) > 0
        except ValueError:
            return False
    return False


def gzip_body(body: bytes) -> bytes:
    """`body` gzipped as the API sends it (the same bytes every time: no timestamp)."""
    return gzip.compress(body, LEVEL, mtime=0)


class GzipCache:
    """Compressed bodies, least recently used first out, at most `max_bytes` in total."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def compress(self, body: bytes) -> bytes:
        key = (len(body), zlib.crc32(body))
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        packed = gzip_body(body)
        with self._lock:
            if key not in self._entries and len(packed) <= self.max_bytes:
                self._entries[key] = packed
                self._size += len(packed)
                while self._size > self.max_bytes:
                    _, evicted = self._entries.popitem(last=False)
                    self._size -= len(evicted)
        return packed

    def __len__(self) -> int:
        return len(self._entries)
