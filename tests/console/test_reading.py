"""Reading the console's numbers without a mouse, in a real Chromium against a real serve.

- A recording's summary is a real table with the figures of `punktfunk stats show`
  (`mgmt.summary` on the same file), reachable by role and name.
- A chart takes keyboard focus; arrows, Home/End and PageUp/PageDown move its cursor and
  the values there are written out as text.
- The time axis shows elapsed time or local clock time, without making a chart anew.
- Compare shows the host's verdicts: a 21 % change over 3 windows is no clear difference,
  a clear one over 30 windows is better; the p-value shows on hover and on focus.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from mgmt.models import NATIVE_STAGES, StageTiming, StatsSample
from mgmt.stats_render import format_ms
from mgmt.summary import summarize
from tests.console.support import (
    COLORED_PIXELS_JS,
    Host,
    decode_capture,
    new_context,
    sign_in,
    synthetic_sample,
    write_recording,
)

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")
# 2026-05-28 22:13:20 UTC: 2026-05-29 00:13:20 in Berlin (summer time).
STARTED_UNIX_MS = 1_780_006_400_000


# -- helpers ----------------------------------------------------------------------------------


def wait_detail_drawn(page: Page) -> None:
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0")


def chart(page: Page, chart_id: str) -> Locator:
    """The focusable plot of a chart (what a keyboard user lands on)."""
    return page.locator(f'[data-chart="{chart_id}"] .chart-canvas')


def readout(page: Page, chart_id: str) -> Locator:
    return page.locator(f'[data-chart="{chart_id}"]').get_by_test_id("chart-readout")


def legend_value(page: Page, chart_id: str, series: str) -> str:
    row = page.locator(f'[data-chart="{chart_id}"] .u-legend .u-series', has_text=series)
    text: str = row.first.locator(".u-value").inner_text()
    return text


def creations(page: Page) -> dict[str, int]:
    data: dict[str, int] = page.evaluate("() => ({ ...window.__pfPerf.chartCreations })")
    return data


def canvas_image(page: Page, chart_id: str) -> str:
    image: str = page.locator(f'[data-chart="{chart_id}"] canvas').evaluate("c => c.toDataURL()")
    return image


def ms(us: float) -> str:
    return f"{us / 1000:,.3f}"


def with_stages(sample: StatsSample, values: dict[str, tuple[float, float]]) -> StatsSample:
    """`sample` with some stages' (p50, p99) replaced."""
    stages = [
        StageTiming(st.name, *values[st.name]) if st.name in values else st for st in sample.stages
    ]
    return msgspec.structs.replace(sample, stages=stages)


def clock(seconds_after_start: float) -> str:
    when = dt.datetime.fromtimestamp(STARTED_UNIX_MS / 1000 + seconds_after_start, BERLIN)
    return when.strftime("%H:%M:%S")


def press_tab_until(page: Page, target: Locator, limit: int = 80) -> None:
    """Tab through the page until `target` has the focus (fails after `limit` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    pytest.fail("Tab never reached the element")


@pytest.fixture
def berlin(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, timezone_id="Europe/Berlin")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="module")
def thirty(host: Host) -> str:
    """30 windows of one native session, every 2 s, from STARTED_UNIX_MS."""
    recording_id = "2026-05-28T22-13-20Z_1280x720"
    samples = [synthetic_sample(i) for i in range(30)]
    write_recording(host.captures_dir, recording_id, samples, started_unix_ms=STARTED_UNIX_MS)
    return recording_id


# -- numbers as text -------------------------------------------------------------------------


def test_summary_table_has_the_figures_of_stats_show(
    page: Page, host: Host, thirty: str, artifacts: Path
) -> None:
    expected = summarize(decode_capture((host.captures_dir / f"{thirty}.json").read_bytes()))
    sign_in(page, host)
    page.goto(f"{host.url}/recordings/{thirty}")
    latency = page.get_by_role("table", name="Latency over the recording, in ms")
    expect(latency).to_be_visible()
    headers = latency.get_by_role("columnheader")
    expect(headers).to_have_text(["Stage", "p50", "p99", "worst window's p99", "windows"])

    rows = [(s.name, s) for s in expected.stages]
    assert expected.host is not None
    rows.append(("host total", expected.host))
    assert [name for name, _ in rows][: len(NATIVE_STAGES)] == list(NATIVE_STAGES)
    for name, latency_figures in rows:
        row = latency.get_by_role("row", name=re.compile(f"^{re.escape(name)} "))
        expect(row.get_by_role("rowheader")).to_have_text(name)
        expect(row.get_by_role("cell")).to_have_text(
            [
                format_ms(latency_figures.p50_us),
                format_ms(latency_figures.p99_us),
                format_ms(latency_figures.max_p99_us),
                str(latency_figures.windows),
            ]
        )

    figures = page.get_by_role("table", name="Rates and counters")
    assert expected.fps_mean is not None
    assert expected.repeat_fps_mean is not None
    assert expected.mbps_mean is not None
    assert expected.target_mbps_mean is not None

    def figure(label: str) -> Locator:
        return figures.get_by_role("row", name=re.compile(f"^{re.escape(label)} ")).get_by_role(
            "cell"
        )

    expect(figure("frame rate")).to_have_text(
        f"{expected.fps_mean:.1f} fps mean (repeats {expected.repeat_fps_mean:.1f})"
    )
    percent = 100 * expected.mbps_mean / expected.target_mbps_mean
    expect(figure("bitrate")).to_have_text(
        f"{expected.mbps_mean:.2f} Mb/s mean, target {expected.target_mbps_mean:.2f} Mb/s"
        f" ({percent:.0f} %)"
    )
    totals = {c.name: c for c in expected.counters}
    assert totals["frames_dropped"].total == 15
    expect(figure("frames dropped")).to_have_text("15")
    expect(figure("send dropped")).to_have_text("0")
    # Never measured on this path: n/a, never 0.
    assert totals["packets_dropped"].total is None
    expect(figure("packets dropped")).to_have_text("n/a (not measured)")
    expect(figure("FEC recovered")).to_have_text("n/a (not measured)")
    page.screenshot(path=artifacts / "summary-table.png", full_page=True)


# -- keyboard inspection -----------------------------------------------------------------------


def test_chart_values_with_the_keyboard(page: Page, host: Host, thirty: str) -> None:
    samples = decode_capture((host.captures_dir / f"{thirty}.json").read_bytes()).samples
    sign_in(page, host)
    page.goto(f"{host.url}/recordings/{thirty}")
    wait_detail_drawn(page)
    latency = chart(page, "detail-latency-0")
    expect(latency).to_have_role("group")
    expect(latency).to_have_accessible_name("Where the time goes: latency by stage (p50)")
    expect(latency).to_have_accessible_description(re.compile("arrow keys move through the points"))
    expect(readout(page, "detail-latency-0")).to_have_attribute("aria-live", "polite")
    expect(readout(page, "detail-latency-0")).to_have_text("")

    # Reached with Tab like any control, from the page's start.
    page.locator("body").focus()
    press_tab_until(page, latency)

    def expect_at(i: int) -> None:
        sample = samples[i]
        minutes, seconds = divmod(sample.t_ms // 1000, 60)
        parts = [f"{minutes}:{seconds:02d}"]
        parts += [f"{st.name} {ms(st.p50_us)} ms" for st in sample.stages]
        assert sample.host_p50_us is not None
        parts.append(f"host total {ms(sample.host_p50_us)} ms")
        expect(readout(page, "detail-latency-0")).to_have_text(
            re.compile("^" + re.escape(" · ".join(parts)) + " · frame budget")
        )
        # uPlot's own cursor moved there: its legend shows the same stage value.
        encode = next(st for st in sample.stages if st.name == "encode")
        assert legend_value(page, "detail-latency-0", "encode") == f"{ms(encode.p50_us)} ms"

    page.keyboard.press("End")
    expect_at(29)
    page.keyboard.press("ArrowLeft")
    expect_at(28)
    page.keyboard.press("Home")
    expect_at(0)
    page.keyboard.press("ArrowRight")
    expect_at(1)
    page.keyboard.press("PageUp")  # a tenth of 30 points
    expect_at(4)
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")
    expect_at(0)
    page.keyboard.press("ArrowLeft")  # stays at the first point
    expect_at(0)
    # The charts share their cursor: the throughput chart shows the same moment.
    expect(
        page.locator('[data-chart="detail-throughput"] .u-legend .u-series').first
    ).to_contain_text("0:00")


# -- the time axis -----------------------------------------------------------------------------


def test_clock_time_axis_relabels_without_new_charts(
    berlin: Page, host: Host, thirty: str, artifacts: Path
) -> None:
    page = berlin
    sign_in(page, host)
    page.goto(f"{host.url}/recordings/{thirty}")
    wait_detail_drawn(page)
    toggle = page.get_by_role("group", name="Time axis")
    expect(toggle.get_by_role("button", name="since start")).to_have_attribute(
        "aria-pressed", "true"
    )
    latency = chart(page, "detail-latency-0")
    latency.focus()
    page.keyboard.press("End")
    expect(readout(page, "detail-latency-0")).to_have_text(re.compile(r"^0:58 · "))
    made = creations(page)
    before = canvas_image(page, "detail-latency-0")

    toggle.get_by_role("button", name="clock time").click()
    expect(toggle.get_by_role("button", name="clock time")).to_have_attribute(
        "aria-pressed", "true"
    )
    # The readout and the legend follow at once; the axis is drawn anew, the chart is not.
    expect(readout(page, "detail-latency-0")).to_have_text(re.compile(f"^{clock(58)} · "))
    page.wait_for_function(
        "([id, before]) => document.querySelector(`[data-chart='${id}'] canvas`).toDataURL()"
        " !== before",
        arg=["detail-latency-0", before],
    )
    assert creations(page) == made
    latency.focus()
    page.keyboard.press("Home")
    expect(readout(page, "detail-latency-0")).to_have_text(re.compile(f"^{clock(0)} · "))
    assert legend_value(page, "detail-throughput", "fps") != "—"
    page.screenshot(path=artifacts / "clock-time-axis.png", full_page=True)

    # Remembered: the next page load starts with clock time.
    page.reload()
    wait_detail_drawn(page)
    expect(
        page.get_by_role("group", name="Time axis").get_by_role("button", name="clock time")
    ).to_have_attribute("aria-pressed", "true")
    chart(page, "detail-latency-0").focus()
    page.keyboard.press("ArrowRight")
    expect(readout(page, "detail-latency-0")).to_have_text(re.compile(f"^{clock(0)} · "))
    page.get_by_role("group", name="Time axis").get_by_role("button", name="since start").click()
    expect(readout(page, "detail-latency-0")).to_have_text(re.compile(r"^0:00 · "))


def test_live_charts_switch_to_clock_time_in_place(berlin: Page, host: Host) -> None:
    page = berlin
    sign_in(page, host)
    page.get_by_role("button", name="Start").click()
    try:
        expect(page.get_by_text("Recording…")).to_be_visible()
        page.wait_for_function(
            f"() => ({COLORED_PIXELS_JS})('live-latency-0') > 50", timeout=45_000
        )
        # Every live chart is made by a rebuilt live timeline (the first samples, a new
        # series), and a rebuild's update is counted once its charts have drawn: at rest
        # the chart was made exactly as often as the timeline was rebuilt.
        at_rest = (
            "() => { const p = window.__pfPerf;"
            " return p.chartCreations['live-latency-0'] ==="
            " p.liveUpdates.filter((u) => u.rebuilt).length; }"
        )
        page.wait_for_function(at_rest)
        updates = len(page.evaluate("() => window.__pfPerf.liveUpdates"))
        live = page.locator("section.live")
        live.get_by_role("group", name="Time axis").get_by_role("button", name="clock time").click()
        # Two more polls land after the switch, and the charts are still the ones the
        # rebuilds made: the switch made none (it would stay one ahead for good).
        page.wait_for_function(f"() => window.__pfPerf.liveUpdates.length >= {updates + 2}")
        page.wait_for_function(at_rest, timeout=5_000)
        chart(page, "live-latency-0").focus()
        page.keyboard.press("End")
        status = host.api("GET", "/stats/capture/status").json()
        text = readout(page, "live-latency-0").inner_text()
        match = re.match(r"^(\d\d):(\d\d):(\d\d) · ", text)
        assert match, text
        shown = dt.datetime.now(BERLIN).replace(
            hour=int(match[1]), minute=int(match[2]), second=int(match[3]), microsecond=0
        )
        started = dt.datetime.fromtimestamp(status["started_unix_ms"] / 1000, BERLIN)
        now = dt.datetime.now(BERLIN)
        # The last window's clock time: after the capture started, not after now.
        assert started - dt.timedelta(seconds=1) <= shown <= now + dt.timedelta(seconds=1), (
            text,
            started,
            now,
        )
    finally:
        page.get_by_role("button", name="Stop & save").click()
        expect(page.get_by_text("Idle")).to_be_visible()


# -- compare -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noise_pair(host: Host) -> list[str]:
    """Two 3-window recordings; B's capture p99 is 21 % lower: noise, not a result."""
    ids = ["2026-05-01T10-00-00Z_1280x720", "2026-05-01T11-00-00Z_1280x720"]
    for recording_id, p99s in zip(ids, ([1000, 1010, 1020], [790, 798, 806]), strict=True):
        samples = [
            with_stages(synthetic_sample(i), {"capture": (400.0, p99)})
            for i, p99 in enumerate(p99s)
        ]
        write_recording(host.captures_dir, recording_id, samples)
    return ids


@pytest.fixture(scope="module")
def clear_pair(host: Host) -> list[str]:
    """Two 30-window recordings; B's encode p50 is 30 % lower in every window."""
    ids = ["2026-05-02T10-00-00Z_1280x720", "2026-05-02T11-00-00Z_1280x720"]
    for recording_id, base in zip(ids, (2000.0, 1400.0), strict=True):
        samples = [
            with_stages(synthetic_sample(i), {"encode": (base + 5 * i, 4000.0)}) for i in range(30)
        ]
        write_recording(host.captures_dir, recording_id, samples)
    return ids


def open_compare(page: Page, host: Host, ids: list[str]) -> Locator:
    page.goto(f"{host.url}/compare?ids={','.join(ids)}")
    table = page.locator("table.summary-table")
    expect(table.locator("thead")).to_contain_text("A (baseline)")
    return table


def server_verdicts(host: Host, ids: list[str]) -> dict[str, str]:
    response = host.api("GET", "/stats/compare", params=[("id", i) for i in ids])
    assert response.status_code == 200, response.text
    return {row["metric"]: row["deltas"][0]["verdict"] for row in response.json()["rows"]}


def test_compare_says_no_clear_difference_for_noise(
    page: Page, host: Host, noise_pair: list[str], artifacts: Path
) -> None:
    sign_in(page, host)
    table = open_compare(page, host, noise_pair)
    cell = table.locator('tr[data-metric="stage:capture:p99"] td').nth(1)
    expect(cell).to_have_attribute("data-verdict", "no_clear_difference")
    expect(cell).to_contain_text("\N{MINUS SIGN}21.0 % no clear difference")
    expect(table.locator(".verdict", has_text=re.compile("^(better|worse)$"))).to_have_count(0)
    # Every cell says what the host said.
    shown = table.locator("tr[data-metric]").evaluate_all(
        "rows => Object.fromEntries(rows.map(r => [r.dataset.metric,"
        " r.querySelectorAll('td')[1].dataset.verdict]))"
    )
    assert shown == server_verdicts(host, noise_pair)

    # The p-value: on hover ...
    tip = cell.get_by_role("tooltip")
    expect(tip).to_be_hidden()
    cell.hover()
    expect(tip).to_be_visible()
    expect(tip).to_have_text(
        "p = 0.1 (Mann-Whitney U over 3 and 3 windows); better or worse needs a change"
        " over 5 % and p < 0.05."
    )
    page.screenshot(path=artifacts / "compare-noise-hover.png", full_page=True)
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    # ... and on keyboard focus, where it also describes the cell.
    press_tab_until(page, cell)
    expect(tip).to_be_visible()
    expect(cell).to_have_accessible_description(re.compile(r"^p = 0\.1 \(Mann-Whitney U"))


def test_compare_says_better_for_a_clear_difference(
    page: Page, host: Host, clear_pair: list[str], artifacts: Path
) -> None:
    sign_in(page, host)
    table = open_compare(page, host, clear_pair)
    encode = table.locator('tr[data-metric="stage:encode:p50"] td').nth(1)
    expect(encode).to_have_attribute("data-verdict", "better")
    expect(encode).to_contain_text("better")
    expect(table.get_by_role("rowheader", name="encode p50")).to_be_visible()
    # Same frame rate in both: no clear difference, however it is rounded.
    fps = table.locator('tr[data-metric="fps"] td').nth(1)
    expect(fps).to_have_attribute("data-verdict", "no_clear_difference")
    verdicts = server_verdicts(host, clear_pair)
    assert verdicts["stage:encode:p50"] == "better"
    shown = table.locator("tr[data-metric]").evaluate_all(
        "rows => Object.fromEntries(rows.map(r => [r.dataset.metric,"
        " r.querySelectorAll('td')[1].dataset.verdict]))"
    )
    assert shown == verdicts
    encode.focus()
    expect(encode.get_by_role("tooltip")).to_contain_text("p < 0.001")
    expect(encode.get_by_role("tooltip")).to_contain_text("over 30 and 30 windows")
    page.screenshot(path=artifacts / "compare-better.png", full_page=True)
