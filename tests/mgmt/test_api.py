"""The REST API over a real Hypercorn server: auth, the error envelope, every endpoint."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from mgmt.api import ENDPOINTS, create_app
from mgmt.asgi_server import ServerThread
from mgmt.auth import is_protected
from mgmt.export import SCALAR_FIELDS
from mgmt.models import Capture, CaptureMeta, StatsStatus
from mgmt.recorder import StatsRecorder
from tests.mgmt.support import AUTH, TOKEN, assert_envelope, make_sample


async def extra_api_endpoint(request: Request) -> Response:
    return PlainTextResponse("reached")


async def metrics_endpoint(request: Request) -> Response:
    return PlainTextResponse("# metrics")


EXTRA_ROUTES = [
    Route("/api/v1/added-later", extra_api_endpoint, methods=["GET", "POST"]),
    Mount("/api/v1/mounted", routes=[Route("/thing", extra_api_endpoint)]),
    Route("/metrics", metrics_endpoint),
]


@pytest.fixture
def extended_server(recorder: StatsRecorder) -> Iterator[ServerThread]:
    """The app with routes added the way `serve` adds them (one under /api, one public)."""
    with ServerThread(create_app(recorder, TOKEN, extra_routes=EXTRA_ROUTES)) as running:
        yield running


def enumerate_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, concrete path) for every HTTP route, descending into mounts."""
    for route in routes:
        if isinstance(route, Mount):
            yield from enumerate_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            path = re.sub(r"{[^}]+}", "some-id", prefix + route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, path


def test_the_table_declares_exactly_the_stats_operations() -> None:
    declared = {(ep.method, ep.path, ep.operation_id, ep.tag) for ep in ENDPOINTS}
    assert declared == {
        ("POST", "/api/v1/stats/capture/start", "stats_capture_start", "stats"),
        ("POST", "/api/v1/stats/capture/stop", "stats_capture_stop", "stats"),
        ("GET", "/api/v1/stats/capture/status", "stats_capture_status", "stats"),
        ("GET", "/api/v1/stats/capture/live", "stats_capture_live", "stats"),
        ("GET", "/api/v1/stats/recordings", "stats_recordings_list", "stats"),
        ("GET", "/api/v1/stats/recordings/{id}", "stats_recording_get", "stats"),
        ("GET", "/api/v1/stats/recordings/{id}/columns", "stats_recording_columns", "stats"),
        ("GET", "/api/v1/stats/recordings/{id}/summary", "stats_recording_summary", "stats"),
        ("GET", "/api/v1/stats/compare", "stats_recordings_compare", "stats"),
        ("GET", "/api/v1/stats/recordings/{id}/export", "stats_recording_export", "stats"),
        ("DELETE", "/api/v1/stats/recordings/{id}", "stats_recording_delete", "stats"),
    }


# -- auth ---------------------------------------------------------------------------------


def test_every_api_route_requires_the_token(
    recorder: StatsRecorder, extended_server: ServerThread
) -> None:
    app = create_app(recorder, TOKEN, extra_routes=EXTRA_ROUTES)
    protected = [(m, p) for m, p in enumerate_routes(app.routes) if is_protected(p)]
    assert len(protected) >= len(ENDPOINTS) + 3, protected
    with httpx.Client(base_url=extended_server.url, timeout=10) as c:
        for method, path in protected:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                response = c.request(method, path, headers=headers)
                assert_envelope(response, 401, "unauthorized")
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert not recorder.is_armed(), "an unauthorized start did nothing"


def test_routes_added_later_under_api_get_the_guard_too(extended_server: ServerThread) -> None:
    with httpx.Client(base_url=extended_server.url, timeout=10) as c:
        assert c.get("/api/v1/added-later").status_code == 401
        assert c.get("/api/v1/mounted/thing").status_code == 401
        assert c.get("/api/v1/added-later", headers=AUTH).text == "reached"
        assert c.get("/api/v1/mounted/thing", headers=AUTH).text == "reached"
        assert c.get("/metrics").text == "# metrics", "routes outside /api stay public"


def test_unknown_api_paths_need_the_token_before_saying_not_found(
    anonymous: httpx.Client, client: httpx.Client
) -> None:
    assert_envelope(anonymous.get("/api/v1/nothing-here"), 401, "unauthorized")
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "not_found")


@pytest.mark.parametrize(
    "authorization",
    [
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"Bearer  {TOKEN}",
    ],
)
def test_bearer_scheme_is_case_insensitive(server: ServerThread, authorization: str) -> None:
    response = httpx.get(
        f"{server.url}/api/v1/stats/capture/status", headers={"Authorization": authorization}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer",
        f"Bearer{TOKEN}",
        f"Bearer {TOKEN} extra",
        "Bearer tøken",
    ],
)
def test_wrong_credentials_are_rejected(anonymous: httpx.Client, authorization: str) -> None:
    response = anonymous.get(
        "/api/v1/stats/capture/status",
        headers={"Authorization": authorization.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert_envelope(response, 401, "unauthorized")


# -- the error envelope ------------------------------------------------------------------


def test_bad_offset_is_a_400_envelope(client: httpx.Client) -> None:
    client.post("/api/v1/stats/capture/start")
    for bad in ("-1", "abc", "1.5", "", "+1", " 1", "1e3", "0x10", "٣", "9" * 5000):
        assert_envelope(
            client.get("/api/v1/stats/capture/live", params={"offset": bad}),
            400,
            "invalid_parameter",
        )


def test_unknown_export_format_is_a_400_envelope(
    recorder: StatsRecorder, client: httpx.Client
) -> None:
    recorder.start()
    meta = recorder.stop()
    assert meta is not None
    message = assert_envelope(
        client.get(f"/api/v1/stats/recordings/{meta.id}/export", params={"format": "xml"}),
        400,
        "invalid_parameter",
    )
    assert "json, csv" in message


def test_wrong_method_is_a_405_envelope_with_allow(client: httpx.Client) -> None:
    response = client.get("/api/v1/stats/capture/start")
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_unknown_route_is_a_404_envelope(client: httpx.Client) -> None:
    assert_envelope(client.get("/api/v1/stats/nope"), 404, "not_found")
    assert_envelope(client.get("/api/v1/stats/recordings/"), 404, "not_found")
    assert_envelope(client.get("/nope"), 404, "not_found")


def test_unknown_recording_is_a_404_envelope(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/v1/stats/recordings/2020-01-01T00-00-00Z_1x1"),
        ("GET", "/api/v1/stats/recordings/2020-01-01T00-00-00Z_1x1/export"),
        ("DELETE", "/api/v1/stats/recordings/2020-01-01T00-00-00Z_1x1"),
    ]:
        assert_envelope(client.request(method, path), 404, "recording_not_found")


def test_unhandled_errors_are_a_500_envelope_without_traceback(
    recorder: StatsRecorder, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode() -> bytes:
        raise RuntimeError("secret internals /etc/shadow")

    monkeypatch.setattr(recorder, "list_json", explode)
    response = client.get("/api/v1/stats/recordings")
    message = assert_envelope(response, 500, "internal_error")
    assert "secret" not in response.text
    assert "log" in message


def test_every_response_carries_server_timing(
    client: httpx.Client, anonymous: httpx.Client
) -> None:
    responses = [
        client.get("/api/v1/stats/capture/status"),
        client.get("/api/v1/stats/recordings"),
        client.post("/api/v1/stats/capture/stop"),
        client.get("/api/v1/nope"),
        anonymous.get("/api/v1/stats/capture/status"),
        anonymous.get("/"),
    ]
    for response in responses:
        assert re.fullmatch(r"app;dur=\d+\.\d{3}", response.headers["server-timing"])


# -- the capture lifecycle -----------------------------------------------------------------


def test_stop_while_idle_returns_204(client: httpx.Client) -> None:
    response = client.post("/api/v1/stats/capture/stop")
    assert response.status_code == 204
    assert response.content == b""


def test_live_while_idle_returns_404(client: httpx.Client) -> None:
    assert_envelope(client.get("/api/v1/stats/capture/live"), 404, "not_recording")


def test_status_while_idle(client: httpx.Client) -> None:
    status = msgspec.json.decode(
        client.get("/api/v1/stats/capture/status").content, type=StatsStatus
    )
    assert status == StatsStatus(
        armed=False, sample_count=0, started_unix_ms=0, kind="", elapsed_ms=0
    )


def test_capture_lifecycle_end_to_end(recorder: StatsRecorder, client: httpx.Client) -> None:
    started = client.post("/api/v1/stats/capture/start")
    assert started.status_code == 200
    assert started.json()["armed"] is True
    assert (
        client.post("/api/v1/stats/capture/start").json()["started_unix_ms"]
        == (started.json()["started_unix_ms"])
    ), "start is idempotent"

    sid = recorder.register_session("native", 1920, 1080, 60, "h264", "libx264", "laptop")
    for i in range(5):
        assert recorder.push_sample(sid, make_sample(bitrate_kbps=i))

    status = client.get("/api/v1/stats/capture/status").json()
    assert (status["armed"], status["sample_count"], status["kind"]) == (True, 5, "native")

    live = msgspec.json.decode(client.get("/api/v1/stats/capture/live").content, type=Capture)
    assert live.meta.id == "live"
    assert live.meta.sample_count == 5
    assert [s.bitrate_kbps for s in live.samples] == [0, 1, 2, 3, 4]
    tail = client.get("/api/v1/stats/capture/live", params={"offset": 3}).json()
    assert tail["meta"]["sample_count"] == 5
    assert [s["bitrate_kbps"] for s in tail["samples"]] == [3, 4]
    assert client.get("/api/v1/stats/capture/live", params={"offset": 5}).json()["samples"] == []
    huge = client.get("/api/v1/stats/capture/live", params={"offset": "9" * 30})
    assert huge.json()["samples"] == []

    stopped = client.post("/api/v1/stats/capture/stop")
    assert stopped.status_code == 200
    meta = msgspec.json.decode(stopped.content, type=CaptureMeta)
    assert meta.sample_count == 5
    assert (meta.width, meta.height, meta.client) == (1920, 1080, "laptop")
    assert client.get("/api/v1/stats/capture/status").json()["armed"] is False

    listed = msgspec.json.decode(
        client.get("/api/v1/stats/recordings").content, type=list[CaptureMeta]
    )
    assert listed == [meta]

    got = msgspec.json.decode(
        client.get(f"/api/v1/stats/recordings/{meta.id}").content, type=Capture
    )
    assert got.meta == meta
    assert [s.bitrate_kbps for s in got.samples] == [0, 1, 2, 3, 4]

    exported = client.get(f"/api/v1/stats/recordings/{meta.id}/export")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == f'attachment; filename="{meta.id}.json"'
    assert msgspec.json.decode(exported.content, type=Capture) == got

    deleted = client.delete(f"/api/v1/stats/recordings/{meta.id}")
    assert deleted.status_code == 204
    assert_envelope(client.get(f"/api/v1/stats/recordings/{meta.id}"), 404, "recording_not_found")
    assert client.get("/api/v1/stats/recordings").json() == []


def test_csv_export_has_a_header_and_one_row_per_sample(
    recorder: StatsRecorder, client: httpx.Client
) -> None:
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "")
    for i in range(3):
        recorder.push_sample(sid, make_sample(i))
    meta = recorder.stop()
    assert meta is not None

    response = client.get(f"/api/v1/stats/recordings/{meta.id}/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="{meta.id}.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    header, body = rows[0], rows[1:]
    stages = ["capture", "submit", "encode", "handoff", "send"]
    assert header == [
        "t_ms",
        "session_id",
        *[f"{s}_{p}_us" for s in stages for p in ("p50", "p99")],
        *SCALAR_FIELDS,
    ]
    assert len(body) == 3
    saved = recorder.load(meta.id)
    for row, sample in zip(body, saved.samples, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert int(cells["t_ms"]) == sample.t_ms
        assert float(cells["encode_p99_us"]) == sample.stages[2].p99_us
        assert cells["packets_dropped"] == "", "null is an empty cell"
        assert cells["gpu_util_pct"] == ""
        assert cells["send_dropped"] == "0", "zero stays zero"
        assert float(cells["capture_cpu_pct"]) == 41.5


def test_csv_stage_columns_follow_first_seen_order(
    recorder: StatsRecorder, client: httpx.Client
) -> None:
    recorder.start()
    sid = recorder.register_session("gamestream", 1280, 720, 60, "h264", "libx264", "")
    first, second = make_sample(), make_sample()
    first.stages = first.stages[:2]  # capture, submit
    second.stages = [second.stages[4], second.stages[0]]  # send, capture
    recorder.push_sample(sid, first)
    recorder.push_sample(sid, second)
    meta = recorder.stop()
    assert meta is not None
    text = client.get(f"/api/v1/stats/recordings/{meta.id}/export?format=csv").text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][2:8] == [
        "capture_p50_us",
        "capture_p99_us",
        "submit_p50_us",
        "submit_p99_us",
        "send_p50_us",
        "send_p99_us",
    ]
    assert rows[1][6:8] == ["", ""], "a stage missing from a sample is empty"
    assert rows[2][4:6] == ["", ""]


# -- the console -----------------------------------------------------------------------------


def test_root_explains_how_to_build_the_console_when_it_is_missing(
    anonymous: httpx.Client,
) -> None:
    response = anonymous.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "./scripts/serve" in response.text


def test_built_console_is_served_publicly_with_spa_fallback(
    recorder: StatsRecorder, tmp_path: Path
) -> None:
    console = tmp_path / "dist"
    (console / "assets").mkdir(parents=True)
    (console / "index.html").write_text("<!doctype html><title>console</title>")
    (console / "assets" / "app.js").write_text("console.log(1)")
    with (
        ServerThread(create_app(recorder, TOKEN, console_dir=console)) as running,
        httpx.Client(base_url=running.url, timeout=10) as c,
    ):
        assert "console" in c.get("/").text
        assert c.get("/assets/app.js").text == "console.log(1)"
        deep = c.get("/performance/recordings/abc")
        assert deep.status_code == 200
        assert "console" in deep.text, "client-side routes get index.html"
        assert_envelope(c.get("/assets/missing.js"), 404, "not_found")
        assert_envelope(c.get("/api/v1/stats/recordings"), 401, "unauthorized")
        assert_envelope(c.get("/api/v1/nope", headers=AUTH), 404, "not_found")
        assert_envelope(c.get("/api/nope", headers=AUTH), 404, "not_found")
        assert_envelope(c.post("/"), 405, "method_not_allowed")


def test_head_is_answered_like_get_without_a_body(client: httpx.Client) -> None:
    response = client.head("/api/v1/stats/capture/status")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


def test_a_405_lists_every_method_of_the_path(client: httpx.Client) -> None:
    response = client.put("/api/v1/stats/recordings/some-id")
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET, HEAD"


@pytest.fixture
def with_console(recorder: StatsRecorder, tmp_path: Path) -> Iterator[httpx.Client]:
    """The API with a built console at `/` (which answers every path the API does not)."""
    console = tmp_path / "dist"
    console.mkdir()
    (console / "index.html").write_text("<!doctype html><title>console</title>")
    app = create_app(recorder, TOKEN, console_dir=console, extra_routes=EXTRA_ROUTES)
    with ServerThread(app) as running, httpx.Client(base_url=running.url, headers=AUTH) as c:
        yield c


def _allowed(method: str) -> set[str]:
    return {method, "HEAD"} if method == "GET" else {method}


@pytest.mark.parametrize("wrong", ["OPTIONS", "PATCH", "TRACE"])
def test_a_405_lists_the_methods_the_route_allows_beside_a_built_console(
    with_console: httpx.Client, wrong: str
) -> None:
    by_path: dict[str, set[str]] = {}
    for ep in ENDPOINTS:
        by_path.setdefault(ep.path.replace("{id}", "some-id"), set()).update(_allowed(ep.method))
    for path, allowed in by_path.items():
        response = with_console.request(wrong, path)
        message = assert_envelope(response, 405, "method_not_allowed")
        assert response.headers["allow"] == ", ".join(sorted(allowed)), path
        assert message.endswith(f"allowed methods: {', '.join(sorted(allowed))}")
    # A POST-only route asked with GET is not the console's page either.
    response = with_console.get("/api/v1/stats/capture/start")
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert with_console.request(wrong, "/metrics").headers["allow"] == "GET, HEAD"
    assert with_console.request(wrong, "/api/v1/added-later").headers["allow"] == "GET, HEAD, POST"
    # The console itself still answers the paths nothing else serves.
    assert "console" in with_console.get("/performance").text
    assert with_console.request(wrong, "/performance").headers["allow"] == "GET, HEAD"


def test_schemathesis_with_every_check_finds_nothing(
    recorder: StatsRecorder, tmp_path: Path
) -> None:
    """`st run --checks all` (unsupported methods and the Allow header included) against the
    app as serve builds it: a built console at `/` and the GameStream routes beside the API."""
    from mgmt.gamestream_api import gamestream_routes
    from mgmt.openapi import render_document

    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "client")
    for i in range(3):
        recorder.push_sample(sid, make_sample(i))
    recorder.stop()
    recorder.start()
    recorder.push_sample(sid, make_sample())
    console = tmp_path / "dist"
    console.mkdir()
    (console / "index.html").write_text("<!doctype html><title>console</title>")
    document = tmp_path / "openapi.json"
    document.write_text(render_document())
    app = create_app(
        recorder, TOKEN, console_dir=console, extra_routes=gamestream_routes(lambda: None)
    )
    st = Path(sys.executable).with_name("st")
    with ServerThread(app) as running:
        done = subprocess.run(
            [
                str(st),
                "run",
                str(document),
                "--url",
                running.url,
                "--checks",
                "all",
                "--max-examples",
                "15",
                "--seed",
                "1",
                "--generation-database",
                "none",
                "--header",
                f"Authorization: Bearer {TOKEN}",
            ],
            cwd=tmp_path,  # its cache and reports stay out of the checkout
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "failed" not in done.stdout.split("SUMMARY")[-1]


def test_csv_never_hands_a_spreadsheet_a_formula() -> None:
    from mgmt.export import capture_to_csv
    from mgmt.models import Capture, CaptureMeta, StageTiming, StatsSample

    meta = CaptureMeta(
        id="x",
        started_unix_ms=0,
        duration_ms=0,
        kind="native",
        width=1,
        height=1,
        fps=1,
        codec="h264",
        encoder="libx264",
        client="",
        sample_count=1,
    )
    sample = StatsSample(
        t_ms=0,
        session_id=1,
        stages=[StageTiming(name="=cmd|' /C calc'!A0", p50_us=1, p99_us=2)],
        fps=1,
        repeat_fps=0,
        mbps=1,
        bitrate_kbps=1,
        frames_dropped=0,
        packets_dropped=None,
        send_dropped=0,
        fec_recovered=None,
    )
    header = capture_to_csv(Capture(meta=meta, samples=[sample])).splitlines()[0]
    assert header.split(",")[2].startswith("'=cmd")


def test_the_app_supports_the_asgi_lifespan_protocol(tmp_path: Path) -> None:
    """Hypercorn starts every app with a lifespan scope, which has no path."""
    import asyncio

    from mgmt.api import create_app
    from mgmt.recorder import StatsRecorder

    app = create_app(StatsRecorder(tmp_path), "token", extra_protected=("/metrics",))
    sent: list[dict[str, object]] = []
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
