"""The human text of `punktfunk stats`: tables, summaries, durations, sizes, progress.

Pure functions, models in and text out, so tests call them directly and another front end
(a report script, a future command) can reuse them. Times are shown in local time;
latencies in milliseconds, from the microseconds the API sends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from mgmt.comparison import Comparison, ComparisonRow, MetricDelta
from mgmt.models import CaptureMeta, StatsStatus
from mgmt.summary import (
    COUNTER_LABELS,
    OPTIONAL_COUNTERS,
    CounterTotal,
    RecordingSummary,
)


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
            f"{m.sample_count}{'*' if m.truncated else ''}{'!' if m.recovered else ''}",
            m.id,
        ]
        for m in metas
    ]
    table = format_table(headers, rows, right="     >> ")
    if any(m.truncated for m in metas):
        table += "\n* truncated: the sample cap was reached; later windows were not kept"
    if any(m.recovered for m in metas):
        table += f"\n! recovered: {RECOVERED}"
    return table


RECOVERED = (
    "rebuilt from its journal after the host stopped without saving it (a crash, a kill, "
    "a power cut); the window in progress then is missing"
)


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
            ("recovered", f"yes: {RECOVERED}" if meta.recovered else "no"),
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
    if summary.rtt_us_median is not None:
        fields.append(("network RTT", f"{format_ms(summary.rtt_us_median)} ms median"))
    if summary.audio is not None:
        a = summary.audio
        fields.append(
            ("audio encode", f"{format_ms(a.p50_us)} ms p50, {format_ms(a.p99_us)} ms p99")
        )
    fields += [
        (COUNTER_LABELS[c.name], format_counter(c))
        for c in summary.counters
        if c.total is not None or c.name not in OPTIONAL_COUNTERS
    ]
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


def render_recording(summary: RecordingSummary) -> str:
    """A recording's meta and summary (`punktfunk stats show`, and `stop` after saving)."""
    text = render_meta(summary.meta) + "\n\n" + render_summary(summary)
    if summary.meta.truncated:
        text += f"\n(the summary covers the {summary.windows} windows that were kept)"
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


# -- compare -------------------------------------------------------------------------------

VERDICT_WORDS = {
    "better": "better",
    "worse": "worse",
    "changed": "changed",
    "no_clear_difference": "no clear difference",
    "n/a": "n/a",
}


def format_value(row: ComparisonRow, value: float | None) -> str:
    """A comparison figure in the unit `show` uses: latencies in ms, rates as measured."""
    if value is None:
        return "n/a"
    if row.unit == "us":
        return format_ms(value)
    if row.unit == "Mb/s":
        return f"{value:.2f}"
    if row.unit == "per window":
        return f"{value:.2f}"
    return f"{value:.1f}"


def format_change(delta: MetricDelta, value: float | None, baseline: float | None) -> str:
    """`-21.0 %`, `+3.2 %`; `from 0` from a baseline of 0; `n/a` when a side is missing."""
    if delta.change == 0:
        return "±0.0 %"
    if delta.change is not None:
        return f"{100 * delta.change:+.1f} %"
    if value is None or baseline is None:
        return "n/a"
    return "±0.0 %" if value == baseline else "from 0"


def format_p(p_value: float | None) -> str:
    if p_value is None:
        return "n/a"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def _unit_label(row: ComparisonRow) -> str:
    unit = {"us": "ms", "per window": "/window"}.get(row.unit, row.unit)
    label = row.label.removesuffix(" per window")
    return f"{label} {unit}" if unit not in label else label


def render_comparison(comparison: Comparison) -> str:
    """The recordings side by side: each value, and for each recording after the first its
    change against the first, the p-value and the verdict."""
    metas = comparison.recordings
    numbered = len(metas) > 2  # with several, each change/p/verdict says whose it is
    lines = []
    for n, meta in enumerate(metas, start=1):
        role = " (baseline)" if n == 1 else ""
        lines.append(
            f"#{n} {meta.id}{role}: {meta.kind or 'no session'}, {format_mode(meta)}, "
            f"{meta.codec or '-'}, {format_duration(meta.duration_ms)}, "
            f"{format_count(meta.sample_count, 'window')}"
        )
    headers = ["metric", *(f"#{n}" for n in range(1, len(metas) + 1))]
    for n in range(2, len(metas) + 1):
        suffix = f" #{n}" if numbered else ""
        headers += [f"change{suffix}", f"p{suffix}", f"verdict{suffix}"]
    rows = []
    for row in comparison.rows:
        cells = [_unit_label(row), *(format_value(row, v) for v in row.values)]
        for delta, value in zip(row.deltas, row.values[1:], strict=True):
            cells += [
                format_change(delta, value, row.values[0]),
                format_p(delta.p_value),
                VERDICT_WORDS.get(delta.verdict, delta.verdict),
            ]
        rows.append(cells)
    right = "<" + ">" * len(metas) + ">><" * (len(metas) - 1)
    table = format_table(headers, rows, right=right)
    note = (
        f"better/worse only when the change is larger than {100 * comparison.threshold:.0f} % "
        f"and p < {comparison.alpha:g} (Mann-Whitney U over the windows);\n"
        "otherwise no clear difference. Latencies: the median of the windows' p50 and p99, "
        "in ms;\nfps and Mb/s: means; counters: per window."
    )
    if not comparison.rows:
        table = "nothing to compare: no recording has a measured window"
    return "\n".join([*lines, "", table, "", note])
