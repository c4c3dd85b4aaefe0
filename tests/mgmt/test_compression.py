"""Large JSON bodies go gzipped to clients that accept it; console assets are cacheable."""

from __future__ import annotations

import gzip
import http.client
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mgmt.api import create_app
from mgmt.asgi_server import ServerThread
from mgmt.compression import MIN_BYTES, GzipCache, accepts_gzip
from mgmt.recorder import StatsRecorder
from tests.mgmt.support import AUTH, TOKEN, make_sample


def raw_get(url: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these headers (httpx would add and undo gzip itself)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def saved_recording(recorder: StatsRecorder, samples: int) -> str:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "test")
    for i in range(samples):
        recorder.push_sample(sid, make_sample(i))
    meta = recorder.stop()
    assert meta is not None
    return meta.id


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("deflate, br", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_as_http_defines_it(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_the_cache_compresses_each_body_once_and_stays_within_its_bound() -> None:
    cache = GzipCache(max_bytes=4000)
    body = b'{"x": "' + b"a" * 100_000 + b'"}'
    first = cache.compress(body)
    assert gzip.decompress(first) == body
    assert cache.compress(body) is first  # served from the cache
    changed = body.replace(b"a", b"b", 1)
    assert gzip.decompress(cache.compress(changed)) == changed  # a new key, never stale
    for i in range(20):
        cache.compress(bytes([i]) * 50_000)
    assert sum(len(v) for v in cache._entries.values()) <= 4000


def test_a_large_recording_goes_gzipped_and_unpacks_to_the_file(
    recorder: StatsRecorder, captures_dir: Path
) -> None:
    recording_id = saved_recording(recorder, 300)
    on_disk = (captures_dir / f"{recording_id}.json").read_bytes()
    assert len(on_disk) > MIN_BYTES
    with ServerThread(create_app(recorder, TOKEN)) as server:
        path = f"/api/v1/stats/recordings/{recording_id}"
        status, headers, body = raw_get(server.url, path, **AUTH, **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers["content-encoding"] == "gzip"
        assert headers["vary"] == "Accept-Encoding"
        assert len(body) < len(on_disk) / 4
        assert gzip.decompress(body) == on_disk
        status, headers, body = raw_get(server.url, path, **AUTH)
        assert "content-encoding" not in headers
        assert body == on_disk
        status, headers, body = raw_get(
            server.url, f"{path}/export?format=json", **AUTH, **{"Accept-Encoding": "gzip"}
        )
        assert headers["content-encoding"] == "gzip"
        assert "attachment" in headers["content-disposition"]
        assert gzip.decompress(body) == on_disk


def test_a_small_body_is_sent_as_it_is(recorder: StatsRecorder) -> None:
    recording_id = saved_recording(recorder, 2)
    with ServerThread(create_app(recorder, TOKEN)) as server:
        _, headers, body = raw_get(
            server.url,
            f"/api/v1/stats/recordings/{recording_id}",
            **AUTH,
            **{"Accept-Encoding": "gzip"},
        )
    assert "content-encoding" not in headers
    assert body.startswith(b'{"meta":')


def test_hashed_console_assets_are_cacheable_and_the_page_is_revalidated(
    recorder: StatsRecorder, tmp_path: Path
) -> None:
    console = tmp_path / "dist"
    (console / "assets").mkdir(parents=True)
    (console / "index.html").write_text("<!doctype html><title>punktfunk</title>")
    (console / "assets" / "index-3f2a9c.js").write_text("console.log(1)")
    with ServerThread(create_app(recorder, TOKEN, console_dir=console)) as server:
        _, asset, _ = raw_get(server.url, "/assets/index-3f2a9c.js")
        _, page, _ = raw_get(server.url, "/")
        _, deep_link, _ = raw_get(server.url, "/recordings/some-id")
    assert asset["cache-control"] == "public, max-age=31536000, immutable"
    assert page["cache-control"] == "no-cache"
    assert deep_link["cache-control"] == "no-cache"
