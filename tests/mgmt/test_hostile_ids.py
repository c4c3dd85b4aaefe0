"""Recording ids from an attacker: never a path outside the captures dir, always a 404.

Sentinel recordings (valid capture files, so reading one would succeed) sit next to the
captures dir, elsewhere on disk, and behind symlinks inside it. Whatever the id, through
the recorder or percent-encoded through the live API, the answer is "not found", and no
sentinel is ever returned or deleted.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgmt.api import create_app
from mgmt.asgi_server import ServerThread
from mgmt.errors import RecordingNotFoundError
from mgmt.models import Capture, CaptureMeta, json_encoder
from mgmt.recorder import StatsRecorder
from tests.mgmt.support import AUTH, TOKEN, assert_envelope, make_sample

MARKER = "SENTINEL-7f3a9c"


def sentinel_bytes(where: str) -> bytes:
    meta = CaptureMeta(
        id=where,
        started_unix_ms=1,
        duration_ms=1,
        kind="native",
        width=1,
        height=1,
        fps=1,
        codec="h264",
        encoder="x",
        client=f"{MARKER}-{where}",
        sample_count=1,
    )
    return json_encoder.encode(Capture(meta=meta, samples=[make_sample()]))


@dataclass
class Planted:
    recorder: StatsRecorder
    url: str
    good_id: str
    sentinels: dict[Path, bytes]

    def assert_sentinels_untouched(self) -> None:
        for path, data in self.sentinels.items():
            assert path.read_bytes() == data, f"{path} was changed or deleted"
        assert (self.recorder.captures_dir / f"{self.good_id}.json").is_file()


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    root = tmp_path_factory.mktemp("hostile")
    captures = root / "config" / "captures"
    recorder = StatsRecorder(captures)
    recorder.start()
    recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    meta = recorder.stop()
    assert meta is not None

    sentinels = {
        root / "config" / "secret.json": sentinel_bytes("secret"),  # captures/../secret.json
        root / "config" / "token.json": sentinel_bytes("token"),
        root / "elsewhere" / "passwd.json": sentinel_bytes("passwd"),
        root / "captures-evil" / "x.json": sentinel_bytes("sibling"),
    }
    for path, data in sentinels.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink("../secret.json", captures / "rel-link.json")
    os.symlink(root / "elsewhere" / "passwd.json", captures / "abs-link.json")
    os.symlink(root / "elsewhere", captures / "dir-link")

    with ServerThread(create_app(recorder, TOKEN)) as server:
        yield Planted(recorder, server.url, meta.id, sentinels)


HOSTILE_IDS = [
    "",
    ".",
    "..",
    "...",
    "../secret",
    "../secret.json",
    "../../config/secret",
    "..%2Fsecret",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "/etc/passwd",
    "//etc/passwd",
    "a/b",
    "a\\b",
    "..\\secret",
    "C:x",
    "C:\\secret",
    "secret.json",
    "rel-link",  # symlink in the captures dir -> ../secret.json
    "abs-link",  # symlink in the captures dir -> an absolute path elsewhere
    "dir-link/passwd",
    "x.json/..",
    "../captures-evil/x",
    "\x00",
    "secret\x00",
    "a\x00/../../secret",
    "ok\n",
    "\nok",
    " secret",
    "secret ",
    "\uff0e\uff0e",  # fullwidth full stops
    "\u2025",  # two dot leader
    "\u2024\u2024\u2215secret",  # one dot leaders and a division slash
    "\u2044etc\u2044passwd",  # fraction slashes
    "\u0441ecret",  # Cyrillic es
    "\u0663",  # Arabic-Indic digit three: a digit, but not [0-9]
    "\u00a0",
    "~",
    "~root",
    "$(id)",
    "*",
    "?",
    "a" * 201,
    "a" * 4000,
    "live",
    "CON",
    "NUL.json",
]


def ids_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


@pytest.mark.parametrize("recording_id", HOSTILE_IDS, ids=ids_repr)
def test_recorder_treats_hostile_ids_as_not_found(planted: Planted, recording_id: str) -> None:
    with pytest.raises(RecordingNotFoundError):
        planted.recorder.load(recording_id)
    with pytest.raises(RecordingNotFoundError):
        planted.recorder.load_json(recording_id)
    for view in ("columns", "summary"):
        with pytest.raises(RecordingNotFoundError):
            planted.recorder.view(recording_id, view, gzip=True)
    with pytest.raises(RecordingNotFoundError):
        planted.recorder.compare_json([planted.good_id, recording_id])
    with pytest.raises(RecordingNotFoundError):
        planted.recorder.delete(recording_id)
    planted.assert_sentinels_untouched()


def api_paths(recording_id: str, good_id: str) -> list[tuple[str, str]]:
    # Dots too, or the client would resolve "." and ".." segments before sending.
    encoded = quote(recording_id, safe="").replace(".", "%2E")
    return [
        ("GET", f"/api/v1/stats/recordings/{encoded}"),
        ("GET", f"/api/v1/stats/recordings/{encoded}/export"),
        ("GET", f"/api/v1/stats/recordings/{encoded}/export?format=csv"),
        ("GET", f"/api/v1/stats/recordings/{encoded}/columns"),
        ("GET", f"/api/v1/stats/recordings/{encoded}/summary"),
        ("GET", f"/api/v1/stats/compare?id={good_id}&id={encoded}"),
        ("GET", f"/api/v1/stats/compare?id={encoded}&id={good_id}"),
        ("DELETE", f"/api/v1/stats/recordings/{encoded}"),
    ]


def assert_api_not_found(c: httpx.Client, recording_id: str, good_id: str) -> None:
    for method, path in api_paths(recording_id, good_id):
        response = c.request(method, path)
        assert_envelope(response, 404)
        assert response.json()["error"]["code"] in ("not_found", "recording_not_found")
        assert MARKER not in response.text


@pytest.mark.parametrize("recording_id", HOSTILE_IDS, ids=ids_repr)
def test_api_answers_hostile_ids_with_404(planted: Planted, recording_id: str) -> None:
    with httpx.Client(base_url=planted.url, headers=AUTH, timeout=10) as c:
        assert_api_not_found(c, recording_id, planted.good_id)
    planted.assert_sentinels_untouched()


RAW_PATHS = [
    "/api/v1/stats/recordings/..",
    "/api/v1/stats/recordings/.",
    "/api/v1/stats/recordings/../secret",
    "/api/v1/stats/recordings/../../../secret",
    "/api/v1/stats/recordings/%2e%2e%2fsecret",
    "/api/v1/stats/recordings/..%2f..%2fsecret/export",
    "/api/v1/stats/recordings/rel-link",
    "/api/v1/stats/recordings/abs-link/export?format=csv",
    "/api/v1/stats/recordings/dir-link%2fpasswd",
    "/api/v1/stats/recordings//etc/passwd",
    "/api/v1/stats/recordings/%00",
    "/api/v1/stats/recordings/%ff%fe",
    "/api/v1/stats/recordings/%c0%ae%c0%ae",  # overlong UTF-8 for ".."
    "/api/v1/stats/recordings/..%2f..%2fsecret/columns",
    "/api/v1/stats/recordings/rel-link/summary",
    "/api/v1/stats/recordings/abs-link/columns",
]


@pytest.mark.parametrize("raw_path", RAW_PATHS)
def test_api_answers_raw_dot_segment_paths_with_404(planted: Planted, raw_path: str) -> None:
    """Sent byte for byte (http.client does not resolve dot segments the way httpx does)."""
    host, port = planted.url.removeprefix("http://").split(":")
    read_only = any(view in raw_path for view in ("/export", "/columns", "/summary"))
    for method in ("GET",) if read_only else ("GET", "DELETE"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(method, raw_path, headers=AUTH)
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        assert response.status == 404, (method, raw_path, body)
        assert MARKER not in body
        assert json.loads(body)["error"]["code"] in ("not_found", "recording_not_found")
    planted.assert_sentinels_untouched()


def test_listing_shows_neither_sentinels_nor_symlinks(planted: Planted) -> None:
    listed = planted.recorder.list()
    assert [m.id for m in listed] == [planted.good_id]
    with httpx.Client(base_url=planted.url, headers=AUTH, timeout=10) as c:
        assert MARKER not in c.get("/api/v1/stats/recordings").text


def test_the_good_recording_is_still_reachable(planted: Planted) -> None:
    """The guard is not so strict that it rejects real ids."""
    with httpx.Client(base_url=planted.url, headers=AUTH, timeout=10) as c:
        assert c.get(f"/api/v1/stats/recordings/{planted.good_id}").status_code == 200


TRICKY_PARTS = ["..", ".", "/", "\\", "%2F", "%2e", ":", "\x00", "secret", "json", "~", "\u2215"]
hostile_text = st.one_of(
    st.text(max_size=64),
    st.lists(st.sampled_from(TRICKY_PARTS), min_size=1, max_size=8).map("".join),
    st.lists(st.one_of(st.sampled_from(TRICKY_PARTS), st.text(max_size=4)), max_size=6).map(
        "".join
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recording_id=hostile_text)
def test_recorder_fuzz_never_escapes_the_captures_dir(planted: Planted, recording_id: str) -> None:
    if recording_id == planted.good_id:
        return
    with pytest.raises(RecordingNotFoundError):
        planted.recorder.load(recording_id)
    with pytest.raises(RecordingNotFoundError):
        planted.recorder.delete(recording_id)
    planted.assert_sentinels_untouched()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recording_id=hostile_text)
def test_api_fuzz_never_escapes_the_captures_dir(planted: Planted, recording_id: str) -> None:
    if recording_id == planted.good_id:
        return
    with httpx.Client(base_url=planted.url, headers=AUTH, timeout=10) as c:
        assert_api_not_found(c, recording_id, planted.good_id)
    planted.assert_sentinels_untouched()
