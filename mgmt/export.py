"""A recording as CSV: one row per sample, for spreadsheets and pandas.

Columns: `t_ms`, `session_id`, then `<stage>_p50_us`, `<stage>_p99_us` for each stage
(in the order stages first appear across the samples), then every other scalar field of
`StatsSample` in model order. Unmeasured (null) and absent values are empty cells.
"""

from __future__ import annotations

import csv
import io

import msgspec

from mgmt.models import Capture, StatsSample

_LEADING = ("t_ms", "session_id")
SCALAR_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in msgspec.structs.fields(StatsSample)
    if f.name not in _LEADING and f.name != "stages"
)


def stage_names(capture: Capture) -> list[str]:
    """Every stage name in the capture, in first-seen order."""
    seen: dict[str, None] = {}
    for sample in capture.samples:
        for stage in sample.stages:
            seen.setdefault(stage.name, None)
    return list(seen)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Empty for null; text a spreadsheet would run as a formula is quoted out."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def capture_to_csv(capture: Capture) -> str:
    stages = stage_names(capture)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = list(_LEADING)
    for name in stages:
        header += [f"{name}_p50_us", f"{name}_p99_us"]
    header += SCALAR_FIELDS
    writer.writerow([_cell(column) for column in header])
    for sample in capture.samples:
        by_name = {stage.name: stage for stage in sample.stages}
        row: list[object] = [sample.t_ms, sample.session_id]
        for name in stages:
            stage = by_name.get(name)
            row += ["", ""] if stage is None else [stage.p50_us, stage.p99_us]
        row += [_cell(getattr(sample, name)) for name in SCALAR_FIELDS]
        writer.writerow(row)
    return out.getvalue()
