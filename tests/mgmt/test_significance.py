"""The significance rule of comparisons (mgmt.significance) against shared test vectors.

`tests/vectors/mann_whitney.json` holds samples with SciPy's p-values and the verdicts
they give; the console runs the same file against its own implementation.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from mgmt.significance import ALPHA, THRESHOLD, mann_whitney_u, relative_change, verdict

VECTORS_FILE = Path(__file__).resolve().parents[1] / "vectors" / "mann_whitney.json"
DOCUMENT = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]


def test_the_vectors_use_the_rule_constants() -> None:
    assert (DOCUMENT["threshold"], DOCUMENT["alpha"]) == (THRESHOLD, ALPHA) == (0.05, 0.05)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_p_value_matches_the_reference(vector: dict[str, Any]) -> None:
    p = mann_whitney_u(vector["x"], vector["y"])
    expected = vector["p_value"]
    if expected is None:
        assert p is None
    else:
        assert p is not None
        assert math.isclose(p, expected, rel_tol=1e-9, abs_tol=0.0), (p, expected)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_verdict_matches_the_reference(vector: dict[str, Any]) -> None:
    figure = statistics.median if vector["figure"] == "median" else statistics.fmean
    baseline = figure(vector["x"]) if vector["x"] else None
    value = figure(vector["y"]) if vector["y"] else None
    assert (baseline, value) == (vector["baseline"], vector["value"])
    assert relative_change(value, baseline) == vector["change"]
    p = mann_whitney_u(vector["x"], vector["y"])
    assert verdict(value, baseline, p, vector["better"]) == vector["verdict"]


def by_name(start: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["name"].startswith(start))


def test_two_three_window_recordings_21_percent_apart_are_no_clear_difference() -> None:
    # The case that once read "-21 % better": three windows cannot show it.
    vector = by_name("two 3-window recordings")
    assert mann_whitney_u(vector["x"], vector["y"]) == pytest.approx(0.1, rel=1e-12)
    assert vector["change"] == pytest.approx(-0.21, abs=0.001)
    assert vector["verdict"] == "no_clear_difference"


def test_the_vectors_cover_every_verdict_and_both_methods() -> None:
    assert {v["verdict"] for v in VECTORS} == {
        "better",
        "worse",
        "changed",
        "no_clear_difference",
        "n/a",
    }
    assert {v["method"] for v in VECTORS} == {"exact", "asymptotic", None}
    assert any(len(v["x"]) == len(v["y"]) == 5400 for v in VECTORS)


def test_swapping_the_samples_gives_the_same_two_sided_p() -> None:
    for vector in VECTORS:
        assert mann_whitney_u(vector["y"], vector["x"]) == mann_whitney_u(vector["x"], vector["y"])


def test_a_large_change_without_significance_is_no_clear_difference() -> None:
    assert verdict(50.0, 100.0, 0.2, "lower") == "no_clear_difference"


def test_a_significant_change_within_the_threshold_is_no_clear_difference() -> None:
    assert verdict(104.0, 100.0, 1e-30, "lower") == "no_clear_difference"
    assert verdict(106.0, 100.0, 1e-30, "lower") == "worse"
    assert verdict(106.0, 100.0, 1e-30, "higher") == "better"


def test_unmeasured_sides_are_not_applicable() -> None:
    assert verdict(None, 100.0, None, "lower") == "n/a"
    assert verdict(100.0, None, None, "lower") == "n/a"
    assert verdict(100.0, 90.0, None, "lower") == "n/a"
    assert mann_whitney_u([], [1.0]) is None
    assert mann_whitney_u([1.0], []) is None
