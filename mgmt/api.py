"""The mgmt REST API: the endpoint table, its handlers, and the Starlette app.

`ENDPOINTS` is the single declaration of every operation (method, path, operationId,
parameters, responses); `create_app` builds the routes from it and `mgmt.openapi`
builds the OpenAPI document from it, so the two cannot disagree.

Everything under `/api/` requires the bearer token (`mgmt.auth`); every error is the
JSON envelope of `mgmt.errors`; every response carries `Server-Timing: app;dur=<ms>`.
Disk work (stop, list, get, export, delete) runs in a worker thread.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mgmt.auth import BearerAuthMiddleware, is_protected
from mgmt.comparison import MAX_RECORDINGS, MIN_RECORDINGS, Comparison
from mgmt.compression import MIN_BYTES as GZIP_MIN_BYTES
from mgmt.compression import GzipCache, accepts_gzip
from mgmt.errors import (
    CODE_BY_STATUS,
    ApiError,
    CatchAllMiddleware,
    InvalidParameterError,
    NotRecordingError,
    api_error_response,
    error_response,
)
from mgmt.export import capture_to_csv
from mgmt.models import Capture, CaptureColumns, CaptureMeta, StatsStatus, json_encoder
from mgmt.recorder import StatsRecorder
from mgmt.recording_ids import ID_CHARS, MAX_ID_LENGTH
from mgmt.recordings import View
from mgmt.summary import RecordingSummary

API_PREFIX = "/api/v1"
JSON = "application/json"
CSV = "text/csv"

Handler = Callable[[StatsRecorder, Request], Awaitable[Response]]
RequestHandler = Callable[[Request], Awaitable[Response]]


# -- the declaration of an operation ---------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    location: Literal["path", "query"]
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Reply:
    """One documented success response: its media types and the Python type of each body."""

    description: str
    content: Mapping[str, Any] = field(default_factory=dict)  # media type -> body type
    headers: Mapping[str, str] = field(default_factory=dict)  # header name -> description


@dataclass(frozen=True)
class Endpoint:
    method: Literal["GET", "POST", "DELETE"]
    path: str
    operation_id: str
    summary: str
    handler: Handler
    replies: Mapping[int, Reply]
    errors: Mapping[int, str] = field(default_factory=dict)  # status -> when it happens
    params: tuple[Param, ...] = ()
    tag: str = "stats"
    description: str = ""


# -- request parsing -------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
EXPORT_FORMATS = ("json", "csv")


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset")
    if raw is None:
        return 0
    try:
        if _DIGITS.fullmatch(raw) is not None:
            return int(raw)
    except ValueError:  # more digits than int() parses
        pass
    raise InvalidParameterError(
        f"offset must be a non-negative integer (the number of samples already "
        f"received), got {raw[:40]!r}"
    )


def _export_format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise InvalidParameterError(f"format must be one of json, csv; got {fmt[:40]!r}")
    return fmt


def _recording_id(request: Request) -> str:
    recording_id: str = request.path_params["id"]
    return recording_id


def _compare_ids(request: Request) -> list[str]:
    ids = request.query_params.getlist("id")
    if not MIN_RECORDINGS <= len(ids) <= MAX_RECORDINGS:
        raise InvalidParameterError(
            f"compare takes {MIN_RECORDINGS} to {MAX_RECORDINGS} recordings "
            f"(?id=BASELINE&id=OTHER...), got {len(ids)}"
        )
    seen: set[str] = set()
    for recording_id in ids:
        if recording_id in seen:
            shown = recording_id if len(recording_id) <= 80 else recording_id[:80] + "…"
            raise InvalidParameterError(f"recording {shown!r} is named twice; name each once")
        seen.add(recording_id)
    return ids


def _json(value: object, status_code: int = 200) -> Response:
    return Response(json_encoder.encode(value), status_code=status_code, media_type=JSON)


# -- handlers ----------------------------------------------------------------------------

# A live snapshot this large is encoded in a worker thread rather than on the event loop.
_ENCODE_IN_THREAD_SAMPLES = 256


async def capture_start(recorder: StatsRecorder, request: Request) -> Response:
    return _json(recorder.start())


async def capture_stop(recorder: StatsRecorder, request: Request) -> Response:
    meta = await run_in_threadpool(recorder.stop)
    return Response(status_code=204) if meta is None else _json(meta)


async def capture_status(recorder: StatsRecorder, request: Request) -> Response:
    return _json(recorder.status())


async def capture_live(recorder: StatsRecorder, request: Request) -> Response:
    snapshot = recorder.live_snapshot(_offset(request))
    if snapshot is None:
        raise NotRecordingError(
            "nothing is recording; start a capture with POST /api/v1/stats/capture/start"
        )
    if len(snapshot.samples) > _ENCODE_IN_THREAD_SAMPLES:
        return Response(await run_in_threadpool(json_encoder.encode, snapshot), media_type=JSON)
    return _json(snapshot)


_gzip_cache = GzipCache()


async def _large_json(
    request: Request, data: bytes, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON that may be large: gzip it (once per distinct body) when the client accepts."""
    headers = dict(headers or {})
    if len(data) >= GZIP_MIN_BYTES:
        headers["Vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            data = await run_in_threadpool(_gzip_cache.compress, data)
    return Response(data, media_type=JSON, headers=headers)


async def recordings_list(recorder: StatsRecorder, request: Request) -> Response:
    return await _large_json(request, await run_in_threadpool(recorder.list_json))


async def _recording_view(
    recorder: StatsRecorder, request: Request, name: View, headers: Mapping[str, str] | None = None
) -> Response:
    """A view of a saved recording, gzipped when the client accepts it and it is large;
    both made once per version of the file (`mgmt.recording_cache`)."""
    gzip = accepts_gzip(request.headers.get("accept-encoding", ""))
    body = await run_in_threadpool(
        functools.partial(recorder.view, _recording_id(request), name, gzip=gzip)
    )
    headers = dict(headers or {})
    if body.compressible:
        headers["Vary"] = "Accept-Encoding"
    if body.gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body.data, media_type=JSON, headers=headers)


async def recording_get(recorder: StatsRecorder, request: Request) -> Response:
    return await _recording_view(recorder, request, "json")


async def recording_columns(recorder: StatsRecorder, request: Request) -> Response:
    return await _recording_view(recorder, request, "columns")


async def recording_summary(recorder: StatsRecorder, request: Request) -> Response:
    return await _recording_view(recorder, request, "summary")


async def recordings_compare(recorder: StatsRecorder, request: Request) -> Response:
    ids = _compare_ids(request)
    return await _large_json(request, await run_in_threadpool(recorder.compare_json, ids))


async def recording_export(recorder: StatsRecorder, request: Request) -> Response:
    fmt = _export_format(request)
    recording_id = _recording_id(request)
    disposition = {"Content-Disposition": f'attachment; filename="{recording_id}.{fmt}"'}
    if fmt == "json":
        return await _recording_view(recorder, request, "json", disposition)

    def as_csv() -> str:
        return capture_to_csv(recorder.load(recording_id))

    return Response(await run_in_threadpool(as_csv), media_type=CSV, headers=disposition)


async def recording_delete(recorder: StatsRecorder, request: Request) -> Response:
    await run_in_threadpool(recorder.delete, _recording_id(request))
    return Response(status_code=204)


# -- the table ---------------------------------------------------------------------------

ID_PARAM = Param(
    "id",
    "path",
    {"type": "string", "pattern": f"^{ID_CHARS.pattern}$", "maxLength": MAX_ID_LENGTH},
    "recording id, as listed by stats_recordings_list",
    required=True,
)
NOT_FOUND_RECORDING = "no recording with this id"
COLUMNS_DESCRIPTION = """\
The recording column by column, for charts: row i of every list is sample i (the i-th
of GET /stats/recordings/{id}'s `samples`), so each list is a chart series as it is.

- `t_ms`, `session_id`: each sample's.
- `stages`: one entry per stage that occurs in the recording, in the capture kind's
  pipeline order, then in first-seen order; its `p50_us[i]` and `p99_us[i]` are null when
  sample i has no such stage (a stage's figures are never null otherwise).
- `fields`: every other StatsSample field under its own name and unit, in StatsSample
  order; `null` in row i means sample i did not measure it; a field that no sample
  measured is absent. The fields every sample has (fps, repeat_fps, mbps, bitrate_kbps)
  are always present.

Turning it back into samples gives exactly the recording's samples (a sample's stages
in its pipeline's order)."""
COMPARE_DESCRIPTION = f"""\
The first id is the baseline. Each row is one metric that some recording measured:
each stage's p50 and p99 (the median of its windows', microseconds), the host total's,
fps and Mb/s (means), client decode, RTT, audio encode, and each counter per window.
For every other recording, `deltas` gives the relative change against the baseline, the
two-sided Mann-Whitney U p-value over the two recordings' per-window values of the
metric, and a verdict: "better" or "worse" only when the change is larger than
`threshold` (0.05, i.e. 5 %) AND p < `alpha` (0.05); "changed" instead for a metric
with no better direction; "no_clear_difference" otherwise; "n/a" when either side never
measured it. Between {MIN_RECORDINGS} and {MAX_RECORDINGS} distinct ids."""
CORRUPT = "the recording file is unreadable or corrupt (the message names the file)"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        f"{API_PREFIX}/stats/capture/start",
        "stats_capture_start",
        "Start a capture",
        capture_start,
        {
            200: Reply(
                "the capture's status (the running one's if already armed)", {JSON: StatsStatus}
            )
        },
        description="Arms stats capture; streaming sessions start recording samples. "
        "Idempotent: while armed it returns the running capture's status.",
    ),
    Endpoint(
        "POST",
        f"{API_PREFIX}/stats/capture/stop",
        "stats_capture_stop",
        "Stop and save the capture",
        capture_stop,
        {
            200: Reply("the saved recording's meta", {JSON: CaptureMeta}),
            204: Reply("nothing was recording"),
        },
        errors={
            500: "saving failed (the message says why); the capture keeps recording in memory "
            "and a later stop can save it"
        },
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/capture/status",
        "stats_capture_status",
        "Capture status",
        capture_status,
        {200: Reply("whether a capture is running, and its progress", {JSON: StatsStatus})},
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/capture/live",
        "stats_capture_live",
        "The capture in progress",
        capture_live,
        {
            200: Reply(
                'the running capture (meta.id is "live"); samples from `offset` on, '
                "meta.sample_count is the total",
                {JSON: Capture},
            )
        },
        errors={400: "offset is not a non-negative integer", 404: "nothing is recording"},
        params=(
            Param(
                "offset",
                "query",
                {"type": "integer", "minimum": 0, "default": 0},
                "skip the samples already received (poll with offset = samples so far)",
            ),
        ),
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/recordings",
        "stats_recordings_list",
        "List saved recordings",
        recordings_list,
        {200: Reply("every saved recording's meta, newest first", {JSON: list[CaptureMeta]})},
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/recordings/{{id}}",
        "stats_recording_get",
        "A saved recording",
        recording_get,
        {200: Reply("the recording with every sample", {JSON: Capture})},
        errors={404: NOT_FOUND_RECORDING, 500: CORRUPT},
        params=(ID_PARAM,),
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/recordings/{{id}}/columns",
        "stats_recording_columns",
        "A saved recording, column by column",
        recording_columns,
        {200: Reply("the recording as one list per series", {JSON: CaptureColumns})},
        errors={404: NOT_FOUND_RECORDING, 500: CORRUPT},
        params=(ID_PARAM,),
        description=COLUMNS_DESCRIPTION,
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/recordings/{{id}}/summary",
        "stats_recording_summary",
        "A saved recording's summary",
        recording_summary,
        {
            200: Reply(
                "what `punktfunk stats show` prints: per stage the median of the window "
                "p50s and p99s and the worst window's p99 (microseconds), the host total, "
                "mean fps and Mb/s against the target, counter totals (null: never "
                "measured), and each session's figures",
                {JSON: RecordingSummary},
            )
        },
        errors={404: NOT_FOUND_RECORDING, 500: CORRUPT},
        params=(ID_PARAM,),
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/compare",
        "stats_recordings_compare",
        "Compare saved recordings",
        recordings_compare,
        {200: Reply("every comparable figure side by side, with verdicts", {JSON: Comparison})},
        errors={
            400: f"fewer than {MIN_RECORDINGS} or more than {MAX_RECORDINGS} ids, or an id "
            "named twice",
            404: "no recording with one of the ids (the message names it)",
            500: CORRUPT,
        },
        params=(
            Param(
                "id",
                "query",
                {
                    "type": "array",
                    "items": ID_PARAM.schema,
                    "minItems": MIN_RECORDINGS,
                    "maxItems": MAX_RECORDINGS,
                    "uniqueItems": True,
                },
                "recording ids, the baseline first: ?id=A&id=B",
                required=True,
            ),
        ),
        description=COMPARE_DESCRIPTION,
    ),
    Endpoint(
        "GET",
        f"{API_PREFIX}/stats/recordings/{{id}}/export",
        "stats_recording_export",
        "Download a saved recording",
        recording_export,
        {
            200: Reply(
                "the recording as a file: JSON (a Capture) or CSV (one row per sample)",
                {JSON: Capture, CSV: str},
                headers={"Content-Disposition": 'attachment; filename="<id>.json" or ".csv"'},
            )
        },
        errors={400: "format is not json or csv", 404: NOT_FOUND_RECORDING, 500: CORRUPT},
        params=(
            ID_PARAM,
            Param(
                "format",
                "query",
                {"type": "string", "enum": list(EXPORT_FORMATS), "default": "json"},
                "file format",
            ),
        ),
    ),
    Endpoint(
        "DELETE",
        f"{API_PREFIX}/stats/recordings/{{id}}",
        "stats_recording_delete",
        "Delete a saved recording",
        recording_delete,
        {204: Reply("deleted")},
        errors={404: NOT_FOUND_RECORDING},
        params=(ID_PARAM,),
    ),
)


# -- middleware and error handlers -------------------------------------------------------


class ServerTimingMiddleware:
    """Add `Server-Timing: app;dur=<ms>`: time from request to response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                dur_ms = (time.perf_counter() - start) * 1000
                timing = (b"server-timing", b"app;dur=%.3f" % dur_ms)
                message = {**message, "headers": [*message.get("headers", ()), timing]}
            await send(message)

        await self.app(scope, receive, send_timed)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    where = f"{request.method} {request.url.path}"
    if status == 404:
        message = f"no such endpoint: {where}"
    elif status == 405:
        # Starlette joins a set: sort, so that the same route always says the same.
        allowed = ", ".join(
            sorted(m.strip() for m in (exc.headers or {}).get("Allow", "").split(","))
        )
        message = f"{where} is not allowed; allowed methods: {allowed}"
        headers = {**(exc.headers or {}), "Allow": allowed}
        return error_response(status, CODE_BY_STATUS[405], message, headers)
    else:
        message = str(exc.detail)
    return error_response(status, CODE_BY_STATUS.get(status, "http_error"), message, exc.headers)


# -- the console -------------------------------------------------------------------------

CONSOLE_MISSING_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>punktfunk</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>punktfunk</h1>
<p>The web console is not built. Build and serve it with <code>./scripts/serve</code>
(it runs the console build before starting the host).</p>
<p>The REST API is at <code>/api/v1</code> (bearer token: <code>punktfunk token</code>).</p>
</body></html>
"""


async def _console_missing(request: Request) -> Response:
    return HTMLResponse(CONSOLE_MISSING_HTML)


class ConsoleFiles(StaticFiles):
    """The built console; unknown non-API paths without a file extension get index.html.

    Files under assets/ carry a content hash in their names (Vite), so browsers may keep
    them for good; index.html is revalidated every time, so a new build is seen at once.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True)
        self.index = directory / "index.html"

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await self._get_response(path, scope)
        hashed = path.startswith("assets/") and response.status_code == 200
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if hashed else "no-cache"
        )
        return response

    async def _get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            last_segment = path.rsplit("/", 1)[-1]
            if exc.status_code != 404 or is_protected(scope["path"]) or "." in last_segment:
                raise
            return FileResponse(self.index, media_type="text/html")


class ConsoleMount(Mount):
    """The console at `/`, for every path no other route serves.

    A path that another route serves, with a method it does not, must reach that route
    (a 405 listing the methods it really allows), not the console's static files.
    """

    def __init__(self, console_dir: Path, others: Sequence[BaseRoute]) -> None:
        super().__init__("/", app=ConsoleFiles(console_dir), name="console")
        self.others = others

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and any(
            route.matches(scope)[0] is not Match.NONE for route in self.others
        ):
            return Match.NONE, {}
        return super().matches(scope)


def console_routes(console_dir: Path | None, others: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    """The console (or a page saying it is not built); `others` are the app's other routes."""
    if console_dir is not None and (console_dir / "index.html").is_file():
        return [ConsoleMount(console_dir, others)]
    return [Route("/", _console_missing, methods=["GET"], name="console")]


# -- the app -------------------------------------------------------------------------------


def _dispatch_by_method(handlers: Mapping[str, RequestHandler]) -> RequestHandler:
    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return dispatch


def api_routes(recorder: StatsRecorder) -> list[BaseRoute]:
    """One route per path, so a 405 lists every method the path supports in `Allow`."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for ep in ENDPOINTS:
        by_path.setdefault(ep.path, {})[ep.method] = ep
    routes: list[BaseRoute] = []
    for path, by_method in by_path.items():
        handlers: dict[str, RequestHandler] = {
            method: functools.partial(ep.handler, recorder) for method, ep in by_method.items()
        }
        if "GET" in handlers:
            handlers["HEAD"] = handlers["GET"]
        name = "|".join(ep.operation_id for ep in by_method.values())
        routes.append(
            Route(path, _dispatch_by_method(handlers), methods=list(by_method), name=name)
        )
    return routes


def create_app(
    recorder: StatsRecorder,
    token: str,
    *,
    console_dir: Path | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    extra_protected: Collection[str] = (),
) -> Starlette:
    """The API (and the console when `console_dir` holds a build). `extra_routes` are
    served beside the API; those whose paths are in `extra_protected` need the token."""
    routes = [*api_routes(recorder), *extra_routes]
    app = Starlette(
        routes=[*routes, *console_routes(console_dir, routes)],
        middleware=[
            Middleware(ServerTimingMiddleware),
            Middleware(CatchAllMiddleware),
            Middleware(BearerAuthMiddleware, token=token, also_protect=extra_protected),
        ],
        exception_handlers={ApiError: _on_api_error, HTTPException: _on_http_exception},
    )
    # An API answers a wrong path with 404, not with a redirect to a guessed one.
    app.router.redirect_slashes = False
    return app
