"""A recording column by column (`CaptureColumns`), and back.

A chart takes one array per series; a `Capture` holds one object per window. The columns
form is the same recording turned around, row i of every list being sample i, so a
browser charts it without reshaping. `to_columns` and `from_columns` are exact inverses
on what a host writes:

- `stages`: every stage name that occurs, in the capture kind's pipeline order, then
  first-seen (`mgmt.summary.stage_order`); null in a row whose sample has no such stage.
  A stage's figures are never null in a sample, so null always means "absent".
- `fields`: every other StatsSample field, in StatsSample order, null where the sample
  did not measure it; a field no sample measured is left out (the ones a sample always
  has, such as fps, are always there).

Back from columns, a sample's stages come in the order of the pipeline that has them all
(the capture's own kind first), which is the order a host writes them in.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin, get_type_hints

import msgspec

from mgmt.models import (
    COLUMN_FIELDS,
    STAGES_BY_KIND,
    Capture,
    CaptureColumns,
    StageColumn,
    StatsSample,
)
from mgmt.summary import stage_order


def _nullable(annotation: Any) -> bool:
    """Whether a field's type (under any `Annotated`) admits None."""
    while get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        return type(None) in get_args(annotation)
    return annotation is type(None)


_HINTS = get_type_hints(StatsSample, include_extras=True)
ALWAYS_PRESENT: frozenset[str] = frozenset(
    name for name in COLUMN_FIELDS if not _nullable(_HINTS[name])
)
"""Fields every sample measures: always in `fields`, never null."""

_KNOWN_STAGES = frozenset(name for names in STAGES_BY_KIND.values() for name in names)
_POSITION = {name: i for i, name in enumerate(StatsSample.__struct_fields__)}
_T_MS, _SESSION_ID, _STAGES = _POSITION["t_ms"], _POSITION["session_id"], _POSITION["stages"]


def to_columns(capture: Capture) -> CaptureColumns:
    """`capture` column by column; ValueError if a sample names a stage twice (a host
    never writes that, and the columns could not say it)."""
    samples = capture.samples
    rows = [msgspec.structs.astuple(sample) for sample in samples]
    names = stage_order(capture.meta.kind, samples)
    which = {name: k for k, name in enumerate(names)}
    n = len(samples)
    p50: list[list[float | None]] = [[None] * n for _ in names]
    p99: list[list[float | None]] = [[None] * n for _ in names]
    for i, sample in enumerate(samples):
        for timing in sample.stages:
            k = which[timing.name]
            if p50[k][i] is not None:
                raise ValueError(f"sample {i} has stage {timing.name!r} twice")
            p50[k][i] = timing.p50_us
            p99[k][i] = timing.p99_us
    fields: dict[str, list[int | float | None]] = {}
    for name in COLUMN_FIELDS:
        position = _POSITION[name]
        column = [row[position] for row in rows]
        if name in ALWAYS_PRESENT or any(value is not None for value in column):
            fields[name] = column
    return CaptureColumns(
        meta=capture.meta,
        t_ms=[row[_T_MS] for row in rows],
        session_id=[row[_SESSION_ID] for row in rows],
        stages=[StageColumn(name, p50_us=p50[k], p99_us=p99[k]) for k, name in enumerate(names)],
        fields=fields,
    )


def _stage_orders(kind: str, columns: Sequence[str]) -> list[tuple[frozenset[str], list[str]]]:
    """Candidate orders for a sample's stages: each pipeline (the capture's kind first)
    with the column names it lacks after it."""
    kinds = [kind] if kind in STAGES_BY_KIND else []
    kinds += [k for k in STAGES_BY_KIND if k != kind]
    orders = []
    for k in kinds:
        pipeline = list(STAGES_BY_KIND[k])
        orders.append((frozenset(pipeline), pipeline + [c for c in columns if c not in pipeline]))
    return orders


def _check_length(what: str, column: Sequence[object], n: int) -> None:
    if len(column) != n:
        raise ValueError(
            f"{what} has {len(column)} rows, t_ms has {n}: every column has one row per sample"
        )


def from_columns(cols: CaptureColumns) -> Capture:
    """The `Capture` that `cols` is the columns of; ValueError saying what does not fit."""
    n = len(cols.t_ms)
    _check_length("session_id", cols.session_id, n)
    names = [stage.name for stage in cols.stages]
    if len(set(names)) != len(names):
        raise ValueError("a stage name appears twice in stages")
    for stage in cols.stages:
        _check_length(f"stages[{stage.name!r}].p50_us", stage.p50_us, n)
        _check_length(f"stages[{stage.name!r}].p99_us", stage.p99_us, n)
    unknown = sorted(set(cols.fields) - set(COLUMN_FIELDS))
    if unknown:
        raise ValueError(f"fields has unknown names: {', '.join(unknown)}")
    missing = sorted(ALWAYS_PRESENT - set(cols.fields))
    if missing:
        raise ValueError(f"fields lacks {', '.join(missing)}, which every sample has")
    for name, column in cols.fields.items():
        _check_length(f"fields[{name!r}]", column, n)

    orders = _stage_orders(cols.meta.kind, names)
    rank_by_order = [
        (present, {name: r for r, name in enumerate(order)}) for present, order in orders
    ]
    column_rank = {name: r for r, name in enumerate(names)}
    present_fields = [(name, cols.fields[name]) for name in COLUMN_FIELDS if name in cols.fields]
    never_measured = dict.fromkeys(name for name in COLUMN_FIELDS if name not in cols.fields)
    raw: list[dict[str, Any]] = []
    for i in range(n):
        stages: list[dict[str, Any]] = []
        for stage in cols.stages:
            p50, p99 = stage.p50_us[i], stage.p99_us[i]
            if (p50 is None) != (p99 is None):
                raise ValueError(
                    f"stage {stage.name!r} in row {i}: p50_us and p99_us must both be null "
                    "(no such stage) or both be numbers"
                )
            if p50 is not None:
                stages.append({"name": stage.name, "p50_us": p50, "p99_us": p99})
        had = {s["name"] for s in stages} & _KNOWN_STAGES
        rank = next((r for present, r in rank_by_order if had <= present), column_rank)
        stages.sort(key=lambda s: rank[s["name"]])
        sample: dict[str, Any] = {
            "t_ms": cols.t_ms[i],
            "session_id": cols.session_id[i],
            "stages": stages,
            **never_measured,
        }
        for name, values in present_fields:
            sample[name] = values[i]
        raw.append(sample)
    try:
        samples = msgspec.convert(raw, list[StatsSample])
    except msgspec.ValidationError as err:
        raise ValueError(f"the columns do not make valid samples: {err}") from err
    return Capture(meta=cols.meta, samples=samples)
