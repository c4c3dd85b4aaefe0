"""The console's Devices page in a real Chromium against a real `punktfunk serve --demo`,
with a real Moonlight client (moonlight-python, its own process) asking to pair.

Screenshots of the page's states go to test-artifacts/console/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.console.support import Host, sign_in
from tests.support.moonlight import PairingMoonlight

pytestmark = pytest.mark.browser

DEFAULT_NAME = "Moonlight 0123456789ABCDEF"  # the name moonlight-python asks to pair under


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, console_dist: Path) -> Iterator[Host]:
    """A host without the demo: its Moonlight demo client pairs itself when it starts, and
    a host takes one pairing client at a time."""
    running = Host(tmp_path_factory.mktemp("devices"), console_dist, demo=False)
    yield running
    running.stop()


@pytest.fixture
def moonlight(host: Host, tmp_path: Path) -> Iterator[Callable[[str], PairingMoonlight]]:
    started: list[PairingMoonlight] = []

    def start(pin: str) -> PairingMoonlight:
        client = PairingMoonlight(
            host.gamestream_status, tmp_path / f"moonlight-{len(started)}", pin
        )
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


def open_devices(page: Page, host: Host) -> None:
    sign_in(page, host)
    page.get_by_role("navigation").get_by_role("link", name="Devices").click()
    expect(page).to_have_url(host.url + "/devices")
    expect(page.get_by_role("link", name="Devices")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="Devices", exact=True)).to_be_visible()
    status = host.gamestream_status()
    expect(page.get_by_test_id("http-port")).to_have_text(str(status["http_port"]))
    expect(page.get_by_test_id("https-port")).to_have_text(str(status["https_port"]))


def client_row(page: Page, client_id: str) -> Locator:
    return page.locator(f'tr[data-client-id="{client_id}"]')


def test_a_paired_client_is_listed_and_unpair_asks_first(
    page: Page, host: Host, moonlight: Callable[[str], PairingMoonlight], artifacts: Path
) -> None:
    client = moonlight("2468")
    typed = host.api("POST", "/gamestream/pin", json={"pin": "2468", "name": "Living-room TV"})
    assert typed.status_code == 204, typed.text
    assert client.finish() == (0, "")
    [paired] = [c for c in host.paired_clients() if c["name"] == "Living-room TV"]

    open_devices(page, host)
    # Nobody waits for a PIN: no PIN box, a hint instead.
    expect(page.get_by_text("A PIN box appears here while Moonlight shows its PIN")).to_be_visible()
    expect(page.get_by_role("textbox", name="PIN")).to_have_count(0)
    row = client_row(page, paired["id"])
    expect(row).to_contain_text("Living-room TV")
    expect(row).to_contain_text(paired["id"][:12])
    expect(row.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    page.screenshot(path=artifacts / "devices.png", full_page=True)

    row.get_by_role("button", name="Unpair Living-room TV").click()
    expect(row).to_contain_text("Unpair “Living-room TV”? It has to pair again to stream.")
    cancel = row.get_by_role("button", name="Cancel")
    expect(cancel).to_be_focused()
    page.screenshot(path=artifacts / "devices-unpair-confirm.png", full_page=True)
    cancel.click()
    expect(row).not_to_contain_text("pair again")
    assert paired in host.paired_clients()

    row.get_by_role("button", name="Unpair Living-room TV").click()
    row.get_by_role("button", name="Unpair", exact=True).click()
    expect(row).to_have_count(0)
    assert paired["id"] not in {c["id"] for c in host.paired_clients()}


def test_pin_box_appears_while_a_client_waits_and_pairs_it(
    page: Page, host: Host, moonlight: Callable[[str], PairingMoonlight], artifacts: Path
) -> None:
    open_devices(page, host)
    pin = page.get_by_role("textbox", name="PIN")
    expect(pin).to_have_count(0)

    client = moonlight("4321")
    # The page polls the status: the box shows up on its own, with the client's name.
    expect(pin).to_be_visible()
    expect(pin).to_be_focused()
    expect(page.get_by_text(f"“{DEFAULT_NAME}” wants to pair")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name (optional)")).to_have_attribute(
        "placeholder", DEFAULT_NAME
    )
    page.screenshot(path=artifacts / "devices-pin.png", full_page=True)

    # A malformed PIN: the host's 400 message, and the client still waits.
    pin.fill("43")
    page.get_by_role("button", name="Pair", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(
        "The host answered 400: the PIN is the 4 digits the Moonlight client shows"
    )
    assert host.gamestream_status()["waiting"] is True

    pin.fill("4321")
    page.get_by_role("textbox", name="Name (optional)").fill("Browser TV")
    page.get_by_role("button", name="Pair", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        "Paired “Browser TV”: it can stream now.", timeout=30_000
    )
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(pin).to_have_count(0)
    assert client.finish() == (0, "")
    [paired] = [c for c in host.paired_clients() if c["name"] == "Browser TV"]
    expect(client_row(page, paired["id"])).to_contain_text("Browser TV")
    page.screenshot(path=artifacts / "devices-paired.png", full_page=True)

    assert host.api("DELETE", f"/gamestream/clients/{paired['id']}").status_code == 204
    page.get_by_role("button", name="Refresh").click()
    expect(client_row(page, paired["id"])).to_have_count(0)
