"""Fixtures for the console browser tests: one real host per module, one Chromium per run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.console.support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CONSOLE_DIST,
    Host,
    new_context,
)


@pytest.fixture(scope="session")
def console_dist() -> Path:
    if not (CONSOLE_DIST / "index.html").is_file():
        pytest.fail(
            f"the console is not built ({CONSOLE_DIST}/index.html is missing): "
            "run `cd console && npm ci && npm run build`"
        )
    return CONSOLE_DIST


# Module scope, not session: Playwright's sync API keeps an event loop registered on the
# main thread while it runs, and every later test that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./scripts/test does)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, console_dist: Path) -> Iterator[Host]:
    running = Host(tmp_path_factory.mktemp("host"), console_dist)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = new_context(browser)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    assert not errors, f"uncaught errors in the page: {errors}"
