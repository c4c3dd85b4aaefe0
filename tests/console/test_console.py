"""The console's Performance page in a real Chromium against a real `punktfunk serve --demo`.

Every chart assertion reads the canvas back and counts coloured pixels: a chart that
exists but drew nothing fails. Screenshots of the main states go to
test-artifacts/console/.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.console.support import (
    CHART_IDS_JS,
    COLORED_PIXELS_JS,
    Host,
    mixed_sessions,
    native_and_gamestream,
    new_context,
    sign_in,
    write_recording,
)

pytestmark = pytest.mark.browser


# -- helpers ----------------------------------------------------------------------------------


def colored_pixels(page: Page, chart_id: str) -> int:
    count: int = page.evaluate(COLORED_PIXELS_JS, chart_id)
    return count


def wait_drawn(page: Page, chart_id: str, min_pixels: int = 50) -> None:
    page.wait_for_function(f"({COLORED_PIXELS_JS})({json.dumps(chart_id)}) >= {min_pixels}")


def perf(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate("() => window.__pfPerf")
    return data


def row(page: Page, recording_id: str) -> Locator:
    return page.locator(f'tr[data-recording-id="{recording_id}"]')


@pytest.fixture(scope="module")
def pair(host: Host) -> list[dict[str, Any]]:
    """Two real recordings of the demo stream, older first."""
    return [host.record(samples=2), host.record(samples=2)]


# -- login --------------------------------------------------------------------------------------


def test_bad_token_goes_back_to_login_with_the_hosts_message(
    page: Page, host: Host, artifacts: Path
) -> None:
    page.goto(host.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("API token").fill("two words")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("does not look like a token")

    page.get_by_label("API token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The host rejected this token: the bearer token is wrong"
    )
    page.screenshot(path=artifacts / "login.png", full_page=True)

    # A token that was kept in the browser and no longer works (e.g. the host's token file
    # was replaced): the first 401 returns to the login page and says why.
    page.evaluate("() => localStorage.setItem('punktfunk.token', 'stale-token')")
    page.goto(host.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("Signed out because the host rejected the token")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('punktfunk.token')") is None
    # The same on a deep link to a recording (fetched before the app starts).
    page.evaluate("() => localStorage.setItem('punktfunk.token', 'stale-token')")
    page.goto(host.url + "/recordings/anything")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("Signed out because the host rejected the token")).to_be_visible()

    sign_in(page, host)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You signed out")).to_be_visible()


# -- capture, live, stop, detail ---------------------------------------------------------------


def test_capture_live_chart_stop_and_every_chart_drawn(
    page: Page, host: Host, artifacts: Path
) -> None:
    sign_in(page, host)
    expect(page.get_by_text("Idle")).to_be_visible()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Recording…")).to_be_visible()

    # The live chart draws, then grows in place: the last two updates appended.
    page.wait_for_function(
        "() => { const u = window.__pfPerf?.liveUpdates ?? [];"
        " return u.length >= 3 && u.slice(-2).every((x) => !x.rebuilt); }",
        timeout=45_000,
    )
    assert colored_pixels(page, "live-latency-0") > 500
    assert colored_pixels(page, "live-throughput") > 100
    stats = perf(page)
    # A chart is made once per rebuild of the live timeline: the first samples, and again
    # when a later window brings a series the first did not measure (say the client's
    # first loss report). The two appends since must not have made one; a rebuild may be
    # in flight (its chart made, its update not yet counted).
    rebuilds = sum(1 for u in stats["liveUpdates"] if u["rebuilt"])
    for chart in ("live-latency-0", "live-throughput"):
        created = stats["chartCreations"][chart]
        assert 1 <= created <= rebuilds + 1, f"an append re-created {chart}: {stats}"
    expect(page.get_by_test_id("elapsed")).to_have_text(re.compile(r"^\d+:\d\d$"))
    samples_shown = int(page.get_by_test_id("sample-count").inner_text())
    assert samples_shown >= 1
    page.screenshot(path=artifacts / "live.png", full_page=True)

    page.get_by_role("button", name="Stop & save").click()
    expect(page.get_by_text("Idle")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Saved a recording")
    saved = host.api("GET", "/stats/recordings").json()[0]
    assert saved["sample_count"] >= 2
    recording = row(page, saved["id"])
    expect(recording).to_be_visible()
    expect(recording).to_contain_text("native")
    expect(recording).to_contain_text("640\N{MULTIPLICATION SIGN}360@30")

    recording.get_by_role("link", name=re.compile("^View")).click()
    expect(page).to_have_url(re.compile(r"/recordings/"))
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0")
    charts = page.evaluate(CHART_IDS_JS)
    assert {"detail-latency-0", "detail-throughput", "detail-health"} <= set(charts)
    for chart in charts:
        assert colored_pixels(page, chart) > 50, f"{chart} drew nothing"
    expect(page.get_by_text("latency by stage (p50)")).to_be_visible()
    page.screenshot(path=artifacts / "detail.png", full_page=True)

    # p99: same charts, other data.
    page.get_by_role("button", name="p99").click()
    expect(page.get_by_role("button", name="p99")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_text("latency by stage (p99)")).to_be_visible()
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 1")
    wait_drawn(page, "detail-latency-0", 500)

    # Hovering shows a stage's own value (not the stacked edge) in the legend.
    capture = host.api("GET", f"/stats/recordings/{saved['id']}").json()
    encode_p99_ms = [
        st["p99_us"] / 1000
        for s in capture["samples"]
        for st in s["stages"]
        if st["name"] == "encode"
    ]
    page.locator('[data-chart="detail-latency-0"] .u-over').hover()
    legend = page.locator('[data-chart="detail-latency-0"] .u-legend .u-series', has_text="encode")
    shown = legend.locator(".u-value").inner_text()
    match = re.fullmatch(r"([0-9,]+\.[0-9]{3}) ms", shown)
    assert match, shown
    value = float(match.group(1).replace(",", ""))
    # The legend rounds to the microsecond (3 decimals of a millisecond).
    assert any(abs(value - ms) <= 0.0005 + 1e-9 for ms in encode_p99_ms), (shown, encode_p99_ms)
    page.screenshot(path=artifacts / "detail-p99-hover.png", full_page=True)


def test_unknown_recording_shows_the_hosts_error(page: Page, host: Host) -> None:
    sign_in(page, host)
    page.goto(host.url + "/recordings/no-such-recording")
    expect(page.get_by_role("alert")).to_contain_text("404")
    expect(page.get_by_role("alert")).to_contain_text("no recording with id 'no-such-recording'")


def test_failed_save_is_shown_and_the_capture_keeps_recording(
    page: Page, host: Host, artifacts: Path
) -> None:
    sign_in(page, host)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Recording…")).to_be_visible()
    # Make saving fail for real: the captures dir is replaced by a plain file.
    away = host.captures_dir.with_name("captures-away")
    host.captures_dir.rename(away)
    host.captures_dir.write_text("not a directory\n")
    try:
        page.get_by_role("button", name="Stop & save").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("The host answered 500")
        expect(alert).to_contain_text("could not save the capture")
        expect(page.get_by_text("Recording…")).to_be_visible()
        assert host.api("GET", "/stats/capture/status").json()["armed"] is True
        page.screenshot(path=artifacts / "stop-failed.png", full_page=True)
    finally:
        host.captures_dir.unlink()
        away.rename(host.captures_dir)
    page.get_by_role("button", name="Stop & save").click()
    expect(page.get_by_text("Idle")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Saved a recording")
    expect(page.get_by_role("alert")).to_have_count(0)


# -- recordings: empty, delete, download --------------------------------------------------------


def test_empty_recording_says_so_and_delete_asks_first(
    page: Page, host: Host, artifacts: Path
) -> None:
    assert host.api("POST", "/stats/capture/start").status_code == 200
    meta = host.api("POST", "/stats/capture/stop").json()
    assert meta["sample_count"] == 0
    sign_in(page, host)
    recording = row(page, meta["id"])
    recording.get_by_role("link", name=re.compile("^View")).click()
    expect(page.get_by_text("This recording has no samples")).to_be_visible()
    expect(page.locator("figure.chart-card")).to_have_count(0)
    page.screenshot(path=artifacts / "empty-recording.png", full_page=True)

    page.get_by_role("link", name=re.compile("Back to Performance")).click()
    recording.get_by_role("button", name=re.compile("^Delete the recording")).click()
    expect(recording).to_contain_text("Delete this recording for good?")
    cancel = recording.get_by_role("button", name="Cancel")
    expect(cancel).to_be_focused()
    cancel.click()
    expect(recording).not_to_contain_text("for good?")
    recording.get_by_role("button", name=re.compile("^Delete the recording")).click()
    recording.get_by_role("button", name="Delete", exact=True).click()
    expect(recording).to_have_count(0)
    assert meta["id"] not in {r["id"] for r in host.api("GET", "/stats/recordings").json()}
    assert host.api("GET", f"/stats/recordings/{meta['id']}").status_code == 404


def test_downloads_parse_back_to_the_same_samples(
    page: Page, host: Host, pair: list[dict[str, Any]]
) -> None:
    meta = pair[0]
    expected = host.api("GET", f"/stats/recordings/{meta['id']}").json()
    sign_in(page, host)
    recording = row(page, meta["id"])

    with page.expect_download() as info:
        recording.get_by_role("button", name=re.compile(r"as JSON$")).click()
    download = info.value
    assert download.suggested_filename == f"{meta['id']}.json"
    exported = json.loads(Path(download.path()).read_bytes())
    assert exported["samples"] == expected["samples"]
    assert exported["meta"]["id"] == meta["id"]

    with page.expect_download() as info:
        recording.get_by_role("button", name=re.compile(r"as CSV$")).click()
    download = info.value
    assert download.suggested_filename == f"{meta['id']}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["t_ms", "session_id"]
    assert "encode_p50_us" in rows[0]
    assert len(rows) == 1 + len(expected["samples"])
    assert [int(r[0]) for r in rows[1:]] == [s["t_ms"] for s in expected["samples"]]


# -- compare ------------------------------------------------------------------------------------


def test_compare_two_recordings(
    page: Page, host: Host, pair: list[dict[str, Any]], artifacts: Path
) -> None:
    older, newer = pair
    sign_in(page, host)
    # Pick with the keyboard: the first one picked is the baseline.
    for meta in (older, newer):
        box = row(page, meta["id"]).get_by_role("checkbox")
        box.focus()
        page.keyboard.press("Space")
        expect(box).to_be_checked()
    page.get_by_role("button", name="Compare selected (2)").click()
    expect(page).to_have_url(re.compile(r"/compare\?ids="))
    expect(page.get_by_role("heading", name="Compare recordings")).to_be_visible()
    for chart in ("compare-latency", "compare-fps", "compare-mbps"):
        wait_drawn(page, chart)
    table = page.locator("table.summary-table")
    expect(table.locator("thead")).to_contain_text("A (baseline)")
    expect(table.get_by_role("rowheader", name="encode p50")).to_be_visible()
    expect(table.get_by_role("rowheader", name="mean new fps")).to_be_visible()
    verdicts = table.locator("td[data-verdict]")
    assert verdicts.count() > 0
    assert set(verdicts.evaluate_all("cells => cells.map(c => c.dataset.verdict)")) <= {
        "better",
        "worse",
        "changed",
        "no_clear_difference",
        "n/a",
    }
    page.get_by_role("combobox", name=re.compile("^Latency")).select_option("stage:encode")
    expect(page.get_by_text("Latency: encode (p50)")).to_be_visible()
    wait_drawn(page, "compare-latency")
    page.screenshot(path=artifacts / "compare.png", full_page=True)


# -- odd recordings -----------------------------------------------------------------------------


def test_truncated_recording_with_concurrent_and_following_sessions(
    page: Page, host: Host, artifacts: Path
) -> None:
    recording_id = "2026-01-02T03-04-05Z_1280x720"
    write_recording(host.captures_dir, recording_id, mixed_sessions(), truncated=True)
    sign_in(page, host)
    expect(row(page, recording_id)).to_contain_text("truncated")
    page.goto(f"{host.url}/recordings/{recording_id}")
    expect(page.get_by_text("hit the sample limit")).to_be_visible()
    expect(
        page.get_by_text("3 sessions recorded into this capture, some at the same time")
    ).to_be_visible()
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0")
    expect(page.get_by_text("latency by stage (p50) · sessions 1, 3")).to_be_visible()
    expect(page.get_by_text("latency by stage (p50) · session 2")).to_be_visible()
    for chart in ("detail-latency-0", "detail-latency-1", "detail-throughput", "detail-health"):
        assert colored_pixels(page, chart) > 50, chart
    expect(page.locator('[data-chart="detail-health"]')).to_contain_text(
        "Not measured on this path: packets dropped, FEC recovered"
    )
    page.screenshot(path=artifacts / "truncated-sessions.png", full_page=True)


def test_each_session_shows_its_path_and_gamestream_draws_rtt(
    page: Page, host: Host, artifacts: Path
) -> None:
    recording_id = "2026-01-03T04-05-06Z_1280x720"
    write_recording(host.captures_dir, recording_id, native_and_gamestream())
    sign_in(page, host)
    expect(row(page, recording_id)).to_contain_text("2 sessions")
    row(page, recording_id).get_by_role("link", name=re.compile("^View")).click()
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0")

    paths = page.get_by_role("list", name="Path of each session")
    expect(paths.locator('[data-session-id="1"]')).to_have_text("session 1 native")
    expect(paths.locator('[data-session-id="2"]')).to_have_text("session 2 gamestream")
    head = page.locator(".detail .card-head")
    expect(head.locator(".badge-native")).to_have_text("native")
    expect(head.locator(".badge-gamestream")).to_have_text("gamestream")
    expect(page.get_by_text("latency by stage (p50) · session 2 (gamestream)")).to_be_visible()
    # The GameStream lane stacks its own stages, packetize included.
    legend = page.locator('[data-chart="detail-latency-1"] .u-legend')
    expect(legend).to_contain_text("packetize")
    expect(page.locator('[data-chart="detail-latency-0"] .u-legend')).to_contain_text("submit")

    rtt = page.locator('[data-chart="detail-rtt"]')
    expect(rtt).to_contain_text("Network round-trip time (RTT)")
    expect(rtt.get_by_test_id("chart-note")).to_have_text("Not measured for session 1 (native)")
    assert colored_pixels(page, "detail-rtt") > 50
    for chart in ("detail-latency-0", "detail-latency-1"):
        assert colored_pixels(page, chart) > 500, chart
    rtt.locator(".u-over").hover()
    shown = rtt.locator(".u-legend .u-series", has_text="RTT").locator(".u-value").inner_text()
    assert re.fullmatch(r"(1\.[56789]0|—) ms|—", shown), shown
    page.screenshot(path=artifacts / "gamestream-sessions.png", full_page=True)


# -- language, keyboard, narrow and dark --------------------------------------------------------


@pytest.fixture
def german(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, locale="de-DE")
    yield context.new_page()
    context.close()


def test_german_locale_and_language_switch(
    german: Page, host: Host, pair: list[dict[str, Any]], artifacts: Path
) -> None:
    page = german
    sign_in(page, host, label="API-Token", button="Anmelden")
    expect(page.get_by_role("heading", name="Leistung", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Starten")).to_be_visible()
    expect(page.get_by_role("heading", name="Aufzeichnungen")).to_be_visible()
    row(page, pair[1]["id"]).get_by_role("link", name=re.compile("ansehen$")).click()
    expect(page.get_by_text("Wohin die Zeit geht: Latenz nach Stufe (p50)")).to_be_visible()
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0")
    wait_drawn(page, "detail-latency-0")
    page.screenshot(path=artifacts / "german.png", full_page=True)

    page.get_by_label("Sprache").select_option("en")
    expect(page.get_by_text("Where the time goes: latency by stage (p50)")).to_be_visible()
    page.reload()
    expect(page.get_by_text("Where the time goes: latency by stage (p50)")).to_be_visible()


def test_keyboard_reaches_the_table_actions(
    page: Page, host: Host, pair: list[dict[str, Any]]
) -> None:
    sign_in(page, host)
    expect(row(page, pair[1]["id"])).to_be_visible()
    for _ in range(60):
        page.keyboard.press("Tab")
        label = page.evaluate("() => document.activeElement?.getAttribute('aria-label') ?? ''")
        if label.startswith("View the recording"):
            break
    else:
        pytest.fail("Tab never reached a recording's View action")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "keyboard focus is not visible"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/recordings/"))


@pytest.fixture
def narrow_dark(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, viewport={"width": 390, "height": 844}, color_scheme="dark")
    yield context.new_page()
    context.close()


def test_narrow_dark_screen(
    narrow_dark: Page, host: Host, pair: list[dict[str, Any]], artifacts: Path
) -> None:
    page = narrow_dark
    sign_in(page, host)
    expect(row(page, pair[1]["id"])).to_be_visible()
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts / "narrow-dark-list.png", full_page=True)

    row(page, pair[1]["id"]).get_by_role("link", name=re.compile("^View")).click()
    page.wait_for_function("() => (window.__pfPerf?.detailDrawn.length ?? 0) > 0")
    for chart in page.evaluate(CHART_IDS_JS):
        assert colored_pixels(page, chart) > 50, chart
        width = page.locator(f'[data-chart="{chart}"] canvas').evaluate(
            "c => c.getBoundingClientRect().width"
        )
        assert width <= 390
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts / "narrow-dark.png", full_page=True)
