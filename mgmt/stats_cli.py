"""`punktfunk stats`: the operator's command line for performance-stats capture.

`start [--for SECONDS] | stop | status | ls | show ID | export ID | rm ID` over the
REST API (`/api/v1/stats/...`). Human tables by default; `--json` prints the API's own
JSON, compact, one document on stdout. Every failure is a non-zero exit and one line on
stderr (`punktfunk stats <command>: ...`), never a traceback.

Finding the server, first that is set wins:
  URL:   --url, PUNKTFUNK_URL, then http://<bind> from the `bind` setting as
         `mgmt.settings.load()` resolves it (a wildcard host means 127.0.0.1).
  token: --token, PUNKTFUNK_TOKEN, then `<config dir>/token` (read, never created).

Decisions an operator can rely on:
- `show` prints the recording's summary (`mgmt.summary`: typical-window p50/p99 per
  stage, the worst window's p99, summed counters with "n/a" for never measured ones).
- `stop` when nothing was recording (the API's 204) says so and exits 0; with `--json`
  it prints `null`.
- `start --for` refuses to take over a capture someone else is running; its progress
  goes to stderr: a line updated in place on a terminal, otherwise a plain line every
  10 s. Ctrl-C stops and saves the capture and exits 130.

The pure parts (the `format_*` and `render_*` functions) take models and return text,
so tests call them directly. httpx is imported only when a command runs:
building the `punktfunk` parser must stay cheap for every other subcommand.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import msgspec

from mgmt.models import (
    Capture,
    CaptureMeta,
    ErrorEnvelope,
    StatsStatus,
    json_encoder,
)
from mgmt.summary import COUNTER_LABELS, CounterTotal, RecordingSummary, summarize

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

URL_ENV = "PUNKTFUNK_URL"
TOKEN_ENV = "PUNKTFUNK_TOKEN"  # noqa: S105 -- a variable name, not a secret
API_PREFIX = "/api/v1"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0  # stop writes and get reads up to a 5400-sample recording
POLL_S = 0.5  # status polls while `start --for` waits
PLAIN_PROGRESS_EVERY_S = 10.0  # progress lines when stderr is not a terminal
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
_CLEAR_LINE = "\r\x1b[K"

T = TypeVar("T")


class CliError(Exception):
    """A failure the operator can act on; its message becomes the one stderr line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- finding the server ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    url: str  # e.g. http://127.0.0.1:47900, without /api/v1
    url_source: str  # where the URL came from, for error messages
    token: str
    token_source: str


def normalize_url(url: str) -> str:
    """`127.0.0.1:47900`, `http://host:47900/` and `.../api/v1` all mean the same server."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url.removesuffix(API_PREFIX).rstrip("/")


def url_from_bind(bind: str) -> str:
    """The URL a local client uses for serve's `bind` setting."""
    from mgmt.settings import join_address, local_host, split_address  # noqa: PLC0415

    host, port = split_address(bind, "bind")
    if port == 0:
        raise CliError(
            f"the bind setting is {bind!r} (port 0: serve picked a free port); "
            "pass --url with the address serve printed ('mgmt listening on ...')"
        )
    return f"http://{join_address(local_host(host), port)}"


def resolve_endpoint(
    url: str | None,
    token: str | None,
    environ: Mapping[str, str],
    directory: Path | None = None,
) -> Endpoint:
    """The server's URL and token: flags, then environment, then the config dir."""
    from host.config import config_dir  # noqa: PLC0415 -- cheap, but keep imports lazy
    from mgmt.auth import TOKEN_FILE, read_token  # noqa: PLC0415
    from mgmt.settings import SettingsError, load  # noqa: PLC0415

    directory = config_dir() if directory is None else directory
    if url:
        found_url, url_source = normalize_url(url), "--url"
    elif environ.get(URL_ENV):
        found_url, url_source = normalize_url(environ[URL_ENV]), URL_ENV
    else:
        try:
            bind = load(environ=dict(environ), directory=directory).bind
            found_url = url_from_bind(bind)
        except SettingsError as err:
            raise CliError(f"{err} (or pass --url / set {URL_ENV})") from None
        url_source = "the bind setting"
    if token:
        found_token, token_source = token.strip(), "--token"
    elif environ.get(TOKEN_ENV):
        found_token, token_source = environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        path = directory / TOKEN_FILE
        try:
            found_token = read_token(directory) or ""
        except (OSError, ValueError) as err:
            raise CliError(f"cannot read the API token from {path}: {err}") from None
        if not found_token:
            raise CliError(
                f"no API token in {path} (serve creates it on its first start); print it "
                f"with `punktfunk token` where serve runs and pass --token or set {TOKEN_ENV}"
            )
        token_source = str(path)
    return Endpoint(found_url, url_source, found_token, token_source)


# -- the API -----------------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(text.split())


class StatsApi:
    """A thin synchronous client of `/api/v1/stats`; every failure becomes a `CliError`."""

    def __init__(self, endpoint: Endpoint) -> None:
        if not endpoint.token.isascii() or not endpoint.token.isprintable():
            raise CliError(f"the token from {endpoint.token_source} is not printable ASCII")
        self.endpoint = endpoint
        self._client = self._open()

    def _open(self) -> httpx.Client:
        try:
            import httpx  # noqa: PLC0415 -- only `punktfunk stats` needs an HTTP client
        except ImportError:
            raise CliError("needs the httpx package: pip install httpx") from None

        endpoint = self.endpoint
        try:
            return httpx.Client(
                base_url=endpoint.url + API_PREFIX,
                headers={"Authorization": f"Bearer {endpoint.token}"},
                timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            )
        except httpx.InvalidURL as err:
            source = endpoint.url_source
            raise CliError(f"invalid URL {endpoint.url!r} (from {source}): {err}") from None

    def reconnect(self) -> None:
        """A fresh connection pool, e.g. after Ctrl-C interrupted a request mid-way."""
        self._client.close()
        self._client = self._open()

    def __enter__(self) -> StatsApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        not_found: str | None = None,
    ) -> httpx.Response:
        """The response of a 2xx reply; any other outcome raises a one-line `CliError`
        (`not_found`, when given, is the message for a 404)."""
        import httpx  # noqa: PLC0415 -- see _open

        url = self.endpoint.url
        try:
            response = self._client.request(method, path, params=params)
        except httpx.ConnectError as err:
            raise CliError(
                f"cannot connect to {url} (from {self.endpoint.url_source}): {err}; "
                "is the host running? Start it with `punktfunk serve`"
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"{url} did not answer in time; is the host overloaded?") from None
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise CliError(f"request to {url} failed: {err}") from None
        if response.is_success:
            return response
        message = _envelope_message(response)
        if response.status_code == 401:
            raise CliError(
                f"{url} refused the token from {self.endpoint.token_source}; print the right "
                "one with `punktfunk token` as the user that runs serve (same config dir) "
                f"and pass it with --token or {TOKEN_ENV}"
            )
        if response.status_code == 404 and not_found is not None:
            message = not_found
        if message is None:
            message = f"{url} answered {response.status_code} {response.reason_phrase}"
        raise CliError(message)

    def decode(self, response: httpx.Response, kind: type[T]) -> T:
        try:
            return msgspec.json.decode(response.content, type=kind)
        except msgspec.DecodeError as err:
            raise CliError(
                f"{self.endpoint.url} sent an unexpected reply to {response.request.url.path} "
                f"({err}); is it a punktfunk host of the same version?"
            ) from None

    def status(self) -> StatsStatus:
        return self.decode(self.request("GET", "/stats/capture/status"), StatsStatus)

    def recordings(self) -> list[CaptureMeta]:
        return self.decode(self.request("GET", "/stats/recordings"), list[CaptureMeta])


def _envelope_message(response: httpx.Response) -> str | None:
    try:
        envelope = msgspec.json.decode(response.content, type=ErrorEnvelope)
    except msgspec.DecodeError:
        return None
    return envelope.error.message


def recording_not_found(recording_id: str) -> str:
    shown = recording_id if len(recording_id) <= 80 else recording_id[:80] + "..."
    return f"no recording with id {shown!r}; list them with `punktfunk stats ls`"


def recording_path(recording_id: str) -> str:
    """The API path of a recording; an id the host could never have made is not found here
    (a `/` in it would otherwise reach another route)."""
    from mgmt.recorder import is_valid_id  # noqa: PLC0415 -- the recorder owns the id rule

    if not is_valid_id(recording_id):
        raise CliError(recording_not_found(recording_id))
    return f"/stats/recordings/{quote(recording_id, safe='')}"


# -- formatting (pure) -----------------------------------------------------------------


def format_duration(ms: int) -> str:
    """`0s`, `7s`, `1m 23s`, `2h 0m 5s` (whole seconds, rounded down)."""
    seconds = max(0, ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def format_local_time(unix_ms: int, tz: dt.tzinfo | None = None) -> str:
    """`2026-06-26 22:14:03` in `tz` (the local time zone by default)."""
    if unix_ms <= 0:
        return "-"
    when = dt.datetime.fromtimestamp(unix_ms / 1000, dt.UTC).astimezone(tz)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def format_ms(us: float | None) -> str:
    """Microseconds shown as milliseconds with three decimals; None is `n/a`."""
    return "n/a" if us is None else f"{us / 1000:.3f}"


def format_size(n_bytes: int) -> str:
    """`512 B`, `12.3 kB`, `4.5 MB` (decimal units)."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    size = float(n_bytes)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def format_mode(meta: CaptureMeta) -> str:
    return f"{meta.width}x{meta.height}@{meta.fps}" if meta.width else "-"


def format_counter(counter: CounterTotal) -> str:
    if counter.total is None:
        return "n/a (not measured)"
    if counter.measured < counter.windows:
        return f"{counter.total} (measured in {counter.measured} of {counter.windows} windows)"
    return str(counter.total)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: str = "") -> str:
    """Aligned columns, two spaces apart; `right` has one char per column, `>` aligns right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            out.append(cell.rjust(width) if right[i : i + 1] == ">" else cell.ljust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def format_fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`key  value` lines with the values aligned."""
    width = max((len(key) for key, _ in pairs), default=0)
    return "\n".join(f"{key.ljust(width)}  {value}".rstrip() for key, value in pairs)


def render_status(status: StatsStatus) -> str:
    if not status.armed:
        return "not recording (start a capture with `punktfunk stats start`)"
    return format_fields(
        [
            ("recording", "yes"),
            ("kind", status.kind or "- (no session yet)"),
            ("started", format_local_time(status.started_unix_ms)),
            ("elapsed", format_duration(status.elapsed_ms)),
            ("samples", str(status.sample_count)),
            ("truncated", _truncated(status.truncated)),
        ]
    )


def _truncated(truncated: bool) -> str:
    return "yes: the sample cap was reached; later windows were not kept" if truncated else "no"


def render_list(metas: Sequence[CaptureMeta]) -> str:
    if not metas:
        return "no recordings yet (record one with `punktfunk stats start`)"
    headers = ["started (local)", "kind", "mode", "codec", "encoder", "duration", "samples", "id"]
    rows = [
        [
            format_local_time(m.started_unix_ms),
            m.kind or "-",
            format_mode(m),
            m.codec or "-",
            m.encoder or "-",
            format_duration(m.duration_ms),
            f"{m.sample_count}*" if m.truncated else str(m.sample_count),
            m.id,
        ]
        for m in metas
    ]
    table = format_table(headers, rows, right="     >> ")
    if any(m.truncated for m in metas):
        table += "\n* truncated: the sample cap was reached; later windows were not kept"
    return table


def render_meta(meta: CaptureMeta) -> str:
    return format_fields(
        [
            ("id", meta.id),
            ("started", format_local_time(meta.started_unix_ms) + " (local time)"),
            ("kind", meta.kind or "- (no session)"),
            ("mode", format_mode(meta)),
            ("codec", meta.codec or "-"),
            ("encoder", meta.encoder or "-"),
            ("gpu", meta.gpu or "-"),
            ("client", meta.client or "-"),
            ("sessions", str(meta.sessions)),
            ("duration", format_duration(meta.duration_ms)),
            ("samples", str(meta.sample_count)),
            ("truncated", _truncated(meta.truncated)),
        ]
    )


def render_summary(summary: RecordingSummary) -> str:
    """The per-stage table, rates and counters of `summarize`."""
    if summary.windows == 0:
        return "no samples: no session streamed while this capture ran"
    rows = [
        [s.name, format_ms(s.p50_us), format_ms(s.p99_us), format_ms(s.max_p99_us)]
        for s in summary.stages
    ]
    if summary.host is not None:
        h = summary.host
        rows.append(
            ["host total", format_ms(h.p50_us), format_ms(h.p99_us), format_ms(h.max_p99_us)]
        )
    parts = [
        format_table(["stage", "p50 ms", "p99 ms", "max p99 ms"], rows, right=" >>>"),
        f"p50, p99: the median over the {format_count(summary.windows, 'window')} of each "
        "window's p50 and p99;\nmax p99: the worst window's p99 "
        "(an upper bound on the recording's p99).",
    ]
    if summary.host is not None:
        parts[-1] += "\nhost total: capture start to last datagram sent, per frame."
    fields = [
        ("fps", f"{summary.fps_mean:.1f} mean (repeats {summary.repeat_fps_mean:.1f})"),
        (
            "bitrate",
            f"{summary.mbps_mean:.2f} Mb/s mean, target {summary.target_mbps_mean:.2f} Mb/s"
            + _percent(summary.mbps_mean, summary.target_mbps_mean),
        ),
    ]
    if summary.client_decode_us_mean is not None:
        fields.append(("client decode", f"{format_ms(summary.client_decode_us_mean)} ms mean"))
    fields += [(COUNTER_LABELS[c.name], format_counter(c)) for c in summary.counters]
    parts += ["", format_fields(fields)]
    if len(summary.sessions) > 1:
        session_rows = [
            [
                str(s.session_id),
                str(s.windows),
                format_duration(s.first_t_ms),
                format_duration(s.last_t_ms),
                f"{s.fps_mean:.1f}",
                f"{s.mbps_mean:.2f}",
                format_ms(s.host.p50_us if s.host else None),
                format_ms(s.host.p99_us if s.host else None),
            ]
            for s in summary.sessions
        ]
        headers = ["session", "windows", "from", "to", "fps", "Mb/s", "host p50 ms", "host p99 ms"]
        parts += ["", format_table(headers, session_rows, right=">>>>>>>>")]
    return "\n".join(parts)


def _percent(value: float | None, of: float | None) -> str:
    return f" ({100 * value / of:.0f} %)" if value is not None and of else ""


def render_recording(capture: Capture) -> str:
    text = render_meta(capture.meta) + "\n\n" + render_summary(summarize(capture))
    if capture.meta.truncated:
        text += f"\n(the summary covers the {len(capture.samples)} windows that were kept)"
    return text


def format_count(n: int, noun: str) -> str:
    """`1 sample`, `2 samples`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_progress(elapsed_ms: int, for_ms: int, samples: int) -> str:
    return (
        f"recording {format_duration(elapsed_ms)} of {format_duration(for_ms)}, "
        f"{format_count(samples, 'sample')} (Ctrl-C stops and saves)"
    )


def render_deleted(recording_id: str, meta: CaptureMeta | None) -> str:
    if meta is None:
        return f"deleted {recording_id}"
    return (
        f"deleted {meta.id} ({meta.kind or 'no session'}, {format_mode(meta)}, "
        f"{meta.codec or '-'}, {format_duration(meta.duration_ms)}, "
        f"{format_count(meta.sample_count, 'sample')})"
    )


# -- writing files -----------------------------------------------------------------------


def write_file_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write `data` to `path` whole or not at all; refuse an existing file unless `overwrite`.

    A temp file next to `path` is written and fsynced, then hard-linked into place, which
    fails if `path` exists (no window for a race), or renamed over it with `overwrite`.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError as err:  # a file system without hard links
                if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the new name durable; not every fs allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# -- the commands ------------------------------------------------------------------------


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _json_out(data: bytes) -> None:
    sys.stdout.buffer.write(data.rstrip(b"\n") + b"\n")
    sys.stdout.flush()


class Progress:
    """`start --for`'s progress on stderr: one line redrawn in place on a terminal, a
    plain line every `every_s` seconds otherwise (no carriage returns in logs)."""

    def __init__(self, stream: IO[str], *, tty: bool, every_s: float = PLAIN_PROGRESS_EVERY_S):
        self.stream = stream
        self.tty = tty
        self.every_s = every_s
        self._started = time.monotonic()
        self._next_plain = self._started + every_s
        self._drawn = False

    def update(self, text: str) -> None:
        if self.tty:
            self.stream.write(_CLEAR_LINE + text)
            self._drawn = True
        elif time.monotonic() >= self._next_plain:
            self.stream.write(text + "\n")
            self._next_plain += self.every_s
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
            self._drawn = False


def cmd_start(api: StatsApi, args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    seconds: float | None = args.for_s
    if seconds is None and as_json:
        _json_out(api.request("POST", "/stats/capture/start").content)
        return 0
    before = api.status()
    if seconds is None:
        response = api.request("POST", "/stats/capture/start")
        status = api.decode(response, StatsStatus)
        since = format_local_time(status.started_unix_ms)
        if before.armed:
            _out(
                f"already recording since {since} ({format_duration(status.elapsed_ms)}, "
                f"{format_count(status.sample_count, 'sample')}); "
                "`punktfunk stats stop` saves it"
            )
        else:
            _out(f"recording since {since}; `punktfunk stats stop` saves it")
        return 0
    if before.armed:
        raise CliError(
            f"a capture is already running ({format_duration(before.elapsed_ms)}, "
            f"{format_count(before.sample_count, 'sample')}); "
            "save it with `punktfunk stats stop` first"
        )
    started = api.decode(api.request("POST", "/stats/capture/start"), StatsStatus)
    interrupted = _wait_recording(api, seconds, started.started_unix_ms)
    if interrupted:
        print("interrupted: stopping and saving the capture", file=sys.stderr)
        api.reconnect()
    response = api.request("POST", "/stats/capture/stop")
    if response.status_code == 204:
        raise CliError(
            "the capture was stopped elsewhere before --for ended; "
            "find it with `punktfunk stats ls`"
        )
    if as_json:
        _json_out(response.content)
    else:
        meta = api.decode(response, CaptureMeta)
        capture = api.decode(api.request("GET", recording_path(meta.id)), Capture)
        _out(f"saved {meta.id}\n\n" + render_recording(capture))
    return EXIT_INTERRUPTED if interrupted else 0


def _wait_recording(api: StatsApi, seconds: float, started_unix_ms: int) -> bool:
    """Wait `seconds` showing progress; True when Ctrl-C ended the wait early."""
    progress = Progress(sys.stderr, tty=sys.stderr.isatty())
    deadline = time.monotonic() + seconds
    try:
        while (now := time.monotonic()) < deadline:
            status = api.status()
            if not status.armed or status.started_unix_ms != started_unix_ms:
                progress.close()
                raise CliError(
                    "the capture was stopped elsewhere before --for ended; "
                    "find it with `punktfunk stats ls`"
                )
            progress.update(
                render_progress(status.elapsed_ms, int(seconds * 1000), status.sample_count)
            )
            time.sleep(min(POLL_S, max(0.0, deadline - now)))
    except KeyboardInterrupt:
        return True
    finally:
        progress.close()
    return False


def cmd_stop(api: StatsApi, args: argparse.Namespace) -> int:
    response = api.request("POST", "/stats/capture/stop")
    if getattr(args, "json", False):
        _json_out(b"null" if response.status_code == 204 else response.content)
    elif response.status_code == 204:
        _out("nothing was recording")
    else:
        meta = api.decode(response, CaptureMeta)
        _out(f"saved {meta.id}\n\n" + render_meta(meta))
    return 0


def cmd_status(api: StatsApi, args: argparse.Namespace) -> int:
    response = api.request("GET", "/stats/capture/status")
    if getattr(args, "json", False):
        _json_out(response.content)
    else:
        _out(render_status(api.decode(response, StatsStatus)))
    return 0


def cmd_ls(api: StatsApi, args: argparse.Namespace) -> int:
    response = api.request("GET", "/stats/recordings")
    if getattr(args, "json", False):
        _json_out(response.content)
    else:
        _out(render_list(api.decode(response, list[CaptureMeta])))
    return 0


def cmd_show(api: StatsApi, args: argparse.Namespace) -> int:
    response = api.request("GET", recording_path(args.id), not_found=recording_not_found(args.id))
    if getattr(args, "json", False):
        _json_out(response.content)
    else:
        _out(render_recording(api.decode(response, Capture)))
    return 0


def cmd_export(api: StatsApi, args: argparse.Namespace) -> int:
    fmt = "csv" if args.csv else "json"
    target = None if args.output in (None, "-") else Path(args.output)
    if target is not None and not args.force and target.exists():
        raise CliError(f"{target} exists; pass --force to overwrite it")
    path = recording_path(args.id) + "/export"
    not_found = recording_not_found(args.id)
    data = api.request("GET", path, params={"format": fmt}, not_found=not_found).content
    if target is None:
        sys.stdout.buffer.write(data if fmt == "csv" else data.rstrip(b"\n") + b"\n")
        sys.stdout.flush()
        return 0
    try:
        write_file_atomically(target, data, overwrite=args.force)
    except FileExistsError:
        raise CliError(f"{target} exists; pass --force to overwrite it") from None
    except OSError as err:
        raise CliError(f"cannot write {target}: {err.strerror or err}") from None
    _out(f"wrote {target} ({fmt.upper()}, {format_size(len(data))})")
    return 0


def cmd_rm(api: StatsApi, args: argparse.Namespace) -> int:
    # The listing names what is about to go (DELETE answers only 204).
    meta = next((m for m in api.recordings() if m.id == args.id), None)
    api.request("DELETE", recording_path(args.id), not_found=recording_not_found(args.id))
    if getattr(args, "json", False):
        _json_out(json_encoder.encode(meta) if meta else json_encoder.encode({"id": args.id}))
    else:
        _out(render_deleted(args.id, meta))
    return 0


Command = Callable[[StatsApi, argparse.Namespace], int]


def run(args: argparse.Namespace) -> int:
    """The handler of every `punktfunk stats` command: errors become one stderr line."""
    name = args.stats_command_name
    if log.getEffectiveLevel() > logging.DEBUG:
        for noisy in ("httpx", "httpcore"):  # httpx logs every request at INFO
            logging.getLogger(noisy).setLevel(logging.WARNING)

    def fail(message: str) -> None:
        print(f"punktfunk stats {name}: {one_line(message)}", file=sys.stderr)

    command: Command = args.stats_command
    try:
        endpoint = resolve_endpoint(
            getattr(args, "url", None), getattr(args, "token", None), os.environ
        )
        with StatsApi(endpoint) as api:
            return command(api, args)
    except CliError as err:
        fail(err.message)
        return EXIT_ERROR
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `punktfunk stats export ID | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as err:
        fail(str(err))
        return EXIT_ERROR
    except Exception as err:
        log.debug("punktfunk stats %s failed", name, exc_info=True)
        fail(
            f"unexpected error: {type(err).__name__}: {err} "
            "(PUNKTFUNK_LOG_LEVEL=DEBUG shows the traceback)"
        )
        return EXIT_ERROR


# -- the parser --------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def _connection_options(*, with_json: bool) -> argparse.ArgumentParser:
    # SUPPRESS: an option not given on the leaf keeps a value given before it
    # (`punktfunk stats --url U ls` and `punktfunk stats ls --url U` both work).
    options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument(
        "--url",
        help=f"the host's mgmt URL (default: ${URL_ENV}, else http://<bind setting>)",
    )
    options.add_argument(
        "--token",
        help=f"the API token (default: ${TOKEN_ENV}, else <config dir>/token)",
    )
    if with_json:
        options.add_argument(
            "--json", action="store_true", help="print the API's JSON instead of a table"
        )
    return options


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `punktfunk stats` and its commands to the `punktfunk` parser."""
    stats = sub.add_parser(
        "stats",
        parents=[_connection_options(with_json=False)],
        help="start, stop and review performance-stats captures over the REST API",
        description="Operate performance-stats capture on a running `punktfunk serve`. "
        f"The URL comes from --url, ${URL_ENV} or the bind setting; the token from "
        f"--token, ${TOKEN_ENV} or <config dir>/token.",
    )
    stats.set_defaults(handler=lambda args: _usage(stats))
    commands = stats.add_subparsers(metavar="COMMAND")

    def add(
        name: str, command: Command, help_text: str, *, with_json: bool = True
    ) -> argparse.ArgumentParser:
        parser = commands.add_parser(
            name,
            parents=[_connection_options(with_json=with_json)],
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
        )
        parser.set_defaults(handler=run, stats_command=command, stats_command_name=name)
        assert isinstance(parser, argparse.ArgumentParser)
        return parser

    start = add(
        "start",
        cmd_start,
        "start a capture (with --for: record, then stop, save and summarise it)",
    )
    start.add_argument(
        "--for",
        dest="for_s",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="record this long, then stop and save; Ctrl-C stops early (and saves)",
    )
    add("stop", cmd_stop, "stop and save the capture (prints 'nothing was recording' if idle)")
    add("status", cmd_status, "whether a capture is running, for how long, how many samples")
    add("ls", cmd_ls, "list the saved recordings, newest first")
    show = add("show", cmd_show, "a recording's meta and per-stage summary")
    show.add_argument("id", metavar="ID", help="recording id, as `punktfunk stats ls` lists it")
    export = add(
        "export", cmd_export, "a recording as JSON (or CSV, one row per sample)", with_json=False
    )
    export.add_argument("id", metavar="ID", help="recording id")
    export.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    export.add_argument(
        "-o", "--output", metavar="FILE", default=None, help="write to FILE instead of stdout"
    )
    export.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    rm = add("rm", cmd_rm, "delete a recording")
    rm.add_argument("id", metavar="ID", help="recording id")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
