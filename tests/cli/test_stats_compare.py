"""`punktfunk stats compare`: recordings side by side with verdicts that do not mislead
(a real CLI process against a real `serve --demo`), and how its table reads."""

from __future__ import annotations

import json

import pytest

from mgmt.comparison import compare
from mgmt.models import Capture, StageTiming
from mgmt.stats_render import render_comparison
from tests.support.cli import Cli, one_error_line, run_stats
from tests.support.samples import make_meta, make_sample, write_recording


def with_capture_p99(recording_id: str, p99s: list[float]) -> Capture:
    """A recording whose windows' capture p99s are `p99s` (everything else alike)."""
    samples = [make_sample(i) for i in range(len(p99s))]
    for sample, p99 in zip(samples, p99s, strict=True):
        sample.stages[0] = StageTiming("capture", p50_us=p99 / 2, p99_us=p99)
    return Capture(make_meta(recording_id, len(samples)), samples)


def save(cli: Cli, capture: Capture) -> str:
    write_recording(cli.serve.config / "captures", capture)
    return capture.meta.id


def table_row(output: str, label: str) -> list[str]:
    """The cells of the row whose metric is `label` (cells are two or more spaces apart)."""
    line = next(line for line in output.splitlines() if line.startswith(label + "  "))
    return [cell.strip() for cell in line.split("  ") if cell.strip()]


def test_three_windows_21_percent_apart_are_no_clear_difference(cli: Cli) -> None:
    before = save(cli, with_capture_p99("cmp-3w-before", [1000, 1010, 1020]))
    after = save(cli, with_capture_p99("cmp-3w-after", [790, 798, 806]))
    out = cli.ok("compare", before, after)
    assert out.startswith(f"#1 {before} (baseline): native, 1920x1080@60, h264")
    assert f"#2 {after}: native" in out
    assert table_row(out, "capture p99 ms") == [
        "capture p99 ms",
        "1.010",
        "0.798",
        "-21.0 %",
        "0.100",
        "no clear difference",
    ]
    assert "better" not in out.split("\n\n")[1]  # no row of the table claims it
    assert "larger than 5 % and p < 0.05" in out


def test_a_clear_difference_is_better_one_way_and_worse_the_other(cli: Cli) -> None:
    slow = save(cli, with_capture_p99("cmp-slow", [1000.0 + i % 7 for i in range(40)]))
    fast = save(cli, with_capture_p99("cmp-fast", [700.0 + i % 7 for i in range(40)]))
    forward = table_row(cli.ok("compare", slow, fast), "capture p99 ms")
    assert forward[3:] == ["-29.9 %", "<0.001", "better"]  # medians 1003 and 703
    assert table_row(cli.ok("compare", fast, slow), "capture p99 ms")[-1] == "worse"
    assert table_row(cli.ok("compare", slow, fast), "encode p99 ms")[-1] == "no clear difference"


def test_json_is_the_apis_comparison(cli: Cli) -> None:
    a = save(cli, with_capture_p99("cmp-json-a", [1000, 1010, 1020]))
    b = save(cli, with_capture_p99("cmp-json-b", [790, 798, 806]))
    printed = json.loads(cli.ok("compare", a, b, "--json"))
    served = cli.serve.api("GET", "/stats/compare", params=[("id", a), ("id", b)]).json()
    assert printed == served
    assert printed["ids"] == [a, b]


def test_several_recordings_get_a_change_p_and_verdict_each(cli: Cli) -> None:
    ids = [save(cli, with_capture_p99(f"cmp-many-{n}", [1000.0 + n] * 4)) for n in range(3)]
    out = cli.ok("compare", *ids)
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == [
        "metric",
        *("#1", "#2", "#3"),
        *("change", "#2", "p", "#2", "verdict", "#2"),
        *("change", "#3", "p", "#3", "verdict", "#3"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cmp-one",), "compare takes 2 to 8 recordings, the baseline first; got 1"),
        (
            tuple(f"cmp-{n}" for n in range(9)),
            "compare takes 2 to 8 recordings, the baseline first; got 9",
        ),
        (("cmp-dup", "cmp-other", "cmp-dup"), "recording 'cmp-dup' is named twice; name each once"),
        (
            ("cmp-here", "no-such-recording"),
            "no recording with id 'no-such-recording'; list them with `punktfunk stats ls`",
        ),
        (("../../etc/passwd", "cmp-here"), "no recording with id '../../etc/passwd'"),
        (("cmp-here", "a%2Fb"), "no recording with id 'a%2Fb'"),
        (("cmp-here", ".."), "no recording with id '..'"),
    ],
)
def test_bad_ids_are_one_line(cli: Cli, args: tuple[str, ...], message: str) -> None:
    save(cli, with_capture_p99("cmp-here", [1000, 1010]))
    line = one_error_line(cli("compare", *args))
    assert line.startswith("punktfunk stats compare: ")
    assert message in line


def test_a_corrupt_recording_is_one_line_naming_its_file(cli: Cli) -> None:
    good = save(cli, with_capture_p99("cmp-good", [1000, 1010]))
    (cli.serve.config / "captures" / "cmp-corrupt.json").write_bytes(b'{"meta": 1')
    line = one_error_line(cli("compare", good, "cmp-corrupt"))
    assert "cmp-corrupt.json" in line
    assert "not a valid capture file" in line


def test_no_ids_is_a_usage_error() -> None:
    result = run_stats("compare")
    assert result.returncode == 2
    assert "usage: punktfunk stats compare" in result.stderr
    assert "Traceback" not in result.stderr


# -- the table -----------------------------------------------------------------------------


def test_unmeasured_and_from_zero_read_as_words() -> None:
    base = Capture(make_meta("base", 3), [make_sample(i) for i in range(3)])
    other = Capture(make_meta("other", 3), [make_sample(i, every_field=True) for i in range(3)])
    for sample in base.samples:
        sample.send_dropped = 0
    for sample in other.samples:
        sample.send_dropped = 2
    text = render_comparison(compare([base, other]))
    assert table_row(text, "packets dropped /window") == [
        "packets dropped /window",
        "n/a",
        "1.00",
        "n/a",
        "n/a",
        "n/a",
    ]
    assert table_row(text, "send dropped /window")[3] == "from 0"
    assert table_row(text, "fps")[3] == "±0.0 %"
