"""`punktfunk stats`: the operator's commands for performance-stats capture.

`start [--for SECONDS] | stop | status | ls | show ID | compare A B... | export ID | rm ID`
over the
REST API (`/api/v1/stats/...`). Human tables by default (`mgmt.stats_render`); `--json`
prints the API's own JSON, compact, one document on stdout. Every failure is a non-zero
exit and one line on stderr (`punktfunk stats <command>: ...`), never a traceback.
Finding the server and talking to it is `mgmt.api_client`'s job.

Decisions an operator can rely on:
- `show` prints the recording's summary (`mgmt.summary`: typical-window p50/p99 per
  stage, the worst window's p99, summed counters with "n/a" for never measured ones).
- `compare A B...` puts the first recording's figures beside the others' with the change,
  the p-value and a verdict (`mgmt.comparison`): "better"/"worse" only when the change is
  larger than 5 % and significant (p < 0.05), else "no clear difference".
- `stop` when nothing was recording (the API's 204) says so and exits 0; with `--json`
  it prints `null`.
- `start --for` refuses to take over a capture someone else is running; its progress
  goes to stderr: a line updated in place on a terminal, otherwise a plain line every
  10 s. Ctrl-C stops and saves the capture it started and exits 130, whenever it comes
  (before the start request it starts nothing); a second Ctrl-C gives up at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import quote

from host.files import write_atomically
from mgmt.api_client import (
    DISCOVERY_HELP,
    EXIT_INTERRUPTED,
    ApiClient,
    CliError,
    Command,
    NotFoundError,
    connection_options,
    run_command,
    wants_json,
    write_json,
)
from mgmt.comparison import MAX_RECORDINGS, MIN_RECORDINGS, Comparison
from mgmt.models import CaptureMeta, StatsStatus, json_encoder
from mgmt.stats_render import (
    format_count,
    format_duration,
    format_local_time,
    format_size,
    render_comparison,
    render_deleted,
    render_list,
    render_meta,
    render_progress,
    render_recording,
    render_status,
)
from mgmt.summary import RecordingSummary

STATUS = "/stats/capture/status"
START = "/stats/capture/start"
STOP = "/stats/capture/stop"
RECORDINGS = "/stats/recordings"
COMPARE = "/stats/compare"
POLL_S = 0.5  # status polls while `start --for` waits
PLAIN_PROGRESS_EVERY_S = 10.0  # progress lines when stderr is not a terminal
_CLEAR_LINE = "\r\x1b[K"
_STOPPED_ELSEWHERE = (
    "the capture was stopped elsewhere before --for ended; find it with `punktfunk stats ls`"
)


# -- recordings by id --------------------------------------------------------------------


def recording_not_found(recording_id: str) -> str:
    shown = recording_id if len(recording_id) <= 80 else recording_id[:80] + "..."
    return f"no recording with id {shown!r}; list them with `punktfunk stats ls`"


def recording_path(recording_id: str) -> str:
    """The API path of a recording; an id the host could never have made is not found here
    (a `/` in it would otherwise reach another route)."""
    from mgmt.recording_ids import is_valid_id  # noqa: PLC0415 -- the one id rule

    if not is_valid_id(recording_id):
        raise CliError(recording_not_found(recording_id))
    return f"{RECORDINGS}/{quote(recording_id, safe='')}"


@contextlib.contextmanager
def missing_recording_names(recording_id: str) -> Iterator[None]:
    """A 404 inside says which id is unknown and how to list the known ones."""
    try:
        yield
    except NotFoundError:
        raise CliError(recording_not_found(recording_id)) from None


# -- start --for: progress and Ctrl-C -----------------------------------------------------


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


class StopRequest:
    """While active, Ctrl-C (SIGINT) asks `start --for` to stop and save instead of raising.

    It is entered before the start request is sent, so there is no moment at which a
    Ctrl-C could leave a started capture behind: a request in flight completes (its answer
    says whether the capture started), and `wait` returns at once. A second Ctrl-C raises
    KeyboardInterrupt as usual, for an operator who wants out without saving.
    """

    def __init__(self) -> None:
        self._requested = False
        self._previous: Any = None
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> StopRequest:
        # The handler writes a byte here so that a `wait` in select() wakes up at once.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        except BaseException:
            os.close(self._wake_r)
            os.close(self._wake_w)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self._requested:
            raise KeyboardInterrupt
        self._requested = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    def requested(self) -> bool:
        """Whether Ctrl-C asked to stop (a call, not an attribute: a signal changes it)."""
        return self._requested

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`; True, at once, when Ctrl-C asked to stop."""
        if not self._requested:
            select.select([self._wake_r], [], [], timeout_s)
        return self._requested


def record_for(client: ApiClient, seconds: float, *, as_json: bool) -> int:
    """`start --for`: start a capture, wait `seconds` showing progress, then stop, save and
    summarise it; 130 when Ctrl-C ended the wait early (the capture is saved all the same)."""
    with StopRequest() as stop:
        before = client.get(STATUS).decode(StatsStatus)
        if before.armed:
            raise CliError(
                f"a capture is already running ({format_duration(before.elapsed_ms)}, "
                f"{format_count(before.sample_count, 'sample')}); "
                "save it with `punktfunk stats stop` first"
            )
        if stop.requested():  # Ctrl-C before anything started: nothing to save
            raise KeyboardInterrupt
        started = client.post(START).decode(StatsStatus)
        _wait_recording(client, stop, seconds, started.started_unix_ms)
        if stop.requested():
            print("interrupted: stopping and saving the capture", file=sys.stderr)
        stopped = client.post(STOP)
    if stopped.empty:
        raise CliError(_STOPPED_ELSEWHERE)
    if as_json:
        write_json(stopped.content)
    else:
        meta = stopped.decode(CaptureMeta)
        summary = client.get(recording_path(meta.id) + "/summary").decode(RecordingSummary)
        _out(f"saved {meta.id}\n\n" + render_recording(summary))
    return EXIT_INTERRUPTED if stop.requested() else 0


def _wait_recording(
    client: ApiClient, stop: StopRequest, seconds: float, started_unix_ms: int
) -> None:
    """Wait `seconds` (or until Ctrl-C) showing progress; CliError if the capture ended or
    was replaced meanwhile."""
    progress = Progress(sys.stderr, tty=sys.stderr.isatty())
    deadline = time.monotonic() + seconds
    try:
        while not stop.requested() and time.monotonic() < deadline:
            status = client.get(STATUS).decode(StatsStatus)
            if not status.armed or status.started_unix_ms != started_unix_ms:
                raise CliError(_STOPPED_ELSEWHERE)
            progress.update(
                render_progress(status.elapsed_ms, int(seconds * 1000), status.sample_count)
            )
            stop.wait(min(POLL_S, max(0.0, deadline - time.monotonic())))
    finally:
        progress.close()


# -- the commands ------------------------------------------------------------------------


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def cmd_start(client: ApiClient, args: argparse.Namespace) -> int:
    seconds: float | None = args.for_s
    if seconds is not None:
        return record_for(client, seconds, as_json=wants_json(args))
    if wants_json(args):
        write_json(client.post(START).content)
        return 0
    before = client.get(STATUS).decode(StatsStatus)
    status = client.post(START).decode(StatsStatus)
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


def cmd_stop(client: ApiClient, args: argparse.Namespace) -> int:
    reply = client.post(STOP)
    if wants_json(args):
        write_json(b"null" if reply.empty else reply.content)
    elif reply.empty:
        _out("nothing was recording")
    else:
        meta = reply.decode(CaptureMeta)
        _out(f"saved {meta.id}\n\n" + render_meta(meta))
    return 0


def cmd_status(client: ApiClient, args: argparse.Namespace) -> int:
    reply = client.get(STATUS)
    if wants_json(args):
        write_json(reply.content)
    else:
        _out(render_status(reply.decode(StatsStatus)))
    return 0


def cmd_ls(client: ApiClient, args: argparse.Namespace) -> int:
    reply = client.get(RECORDINGS)
    if wants_json(args):
        write_json(reply.content)
    else:
        _out(render_list(reply.decode(list[CaptureMeta])))
    return 0


def cmd_show(client: ApiClient, args: argparse.Namespace) -> int:
    # The host summarises (GET …/summary): a few kB instead of the whole recording.
    with missing_recording_names(args.id):
        reply = client.get(recording_path(args.id) + "/summary")
    if wants_json(args):
        write_json(reply.content)
    else:
        _out(render_recording(reply.decode(RecordingSummary)))
    return 0


def cmd_compare(client: ApiClient, args: argparse.Namespace) -> int:
    ids: list[str] = args.ids
    if not MIN_RECORDINGS <= len(ids) <= MAX_RECORDINGS:
        raise CliError(
            f"compare takes {MIN_RECORDINGS} to {MAX_RECORDINGS} recordings, the baseline "
            f"first; got {len(ids)}"
        )
    for n, recording_id in enumerate(ids):
        recording_path(recording_id)  # an id the host could never have made: not found
        if recording_id in ids[:n]:
            raise CliError(f"recording {recording_id!r} is named twice; name each once")
    try:
        reply = client.get(COMPARE, params=tuple(("id", i) for i in ids))
    except NotFoundError as err:
        # The server's message names the id it could not find; say it the CLI's way.
        missing = next((i for i in ids if repr(i) in err.message), None)
        if missing is None:
            raise
        raise CliError(recording_not_found(missing)) from None
    if wants_json(args):
        write_json(reply.content)
    else:
        _out(render_comparison(reply.decode(Comparison)))
    return 0


def save_export(target: Path, data: bytes, *, force: bool) -> None:
    """Write an export to `target` whole or not at all; an existing file only with `force`."""
    try:
        write_atomically(target, data, mode=None, overwrite=force)
    except FileExistsError:
        raise CliError(f"{target} exists; pass --force to overwrite it") from None
    except OSError as err:
        raise CliError(f"cannot write {target}: {err.strerror or err}") from None


def cmd_export(client: ApiClient, args: argparse.Namespace) -> int:
    fmt = "csv" if args.csv else "json"
    target = None if args.output in (None, "-") else Path(args.output)
    # Checked before the download too, so a big export is not fetched only to be refused.
    if target is not None and not args.force and target.exists():
        raise CliError(f"{target} exists; pass --force to overwrite it")
    with missing_recording_names(args.id):
        data = client.get(recording_path(args.id) + "/export", params={"format": fmt}).content
    if target is None:
        sys.stdout.buffer.write(data if fmt == "csv" else data.rstrip(b"\n") + b"\n")
        sys.stdout.flush()
        return 0
    save_export(target, data, force=args.force)
    _out(f"wrote {target} ({fmt.upper()}, {format_size(len(data))})")
    return 0


def cmd_rm(client: ApiClient, args: argparse.Namespace) -> int:
    # The listing names what is about to go (DELETE answers only 204).
    listed = client.get(RECORDINGS).decode(list[CaptureMeta])
    meta = next((m for m in listed if m.id == args.id), None)
    with missing_recording_names(args.id):
        client.delete(recording_path(args.id))
    if wants_json(args):
        write_json(json_encoder.encode(meta) if meta else json_encoder.encode({"id": args.id}))
    else:
        _out(render_deleted(args.id, meta))
    return 0


def run(args: argparse.Namespace) -> int:
    """The handler of every `punktfunk stats` command."""
    command: Command = args.stats_command
    return run_command(f"punktfunk stats {args.stats_command_name}", command, args)


# -- the parser --------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `punktfunk stats` and its commands to the `punktfunk` parser."""
    stats = sub.add_parser(
        "stats",
        parents=[connection_options(with_json=False)],
        help="start, stop and review performance-stats captures over the REST API",
        description="Operate performance-stats capture on a running `punktfunk serve`. "
        + DISCOVERY_HELP,
    )
    stats.set_defaults(handler=lambda args: _usage(stats))
    commands = stats.add_subparsers(metavar="COMMAND")

    def add(
        name: str, command: Command, help_text: str, *, with_json: bool = True
    ) -> argparse.ArgumentParser:
        parser = commands.add_parser(
            name,
            parents=[connection_options(with_json=with_json)],
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
    compare = add(
        "compare",
        cmd_compare,
        "compare recordings: each figure of the first (the baseline) beside the others', "
        "with the change, its p-value and a verdict",
    )
    compare.add_argument(
        "ids",
        nargs="+",
        metavar="ID",
        help=f"{MIN_RECORDINGS} to {MAX_RECORDINGS} recording ids, the baseline first",
    )
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
