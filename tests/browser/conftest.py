"""Browser tests of the web console: Debian's Chromium driven by Playwright against a real Shopbridge and sandbox.

Playwright's own browser builds are never downloaded: the tests launch `/usr/bin/chromium` (installed by
`make test`'s set-up, scripts/ensure-servers). A missing browser fails the tests with one line; it never skips.
The servers use SQLite only: the console adds nothing database-specific to what tests/e2e covers on both.

Fixtures:
    browser     (module) a headless Chromium
    new_page    `new_page(**context_options)`: a fresh page (its own context: cookies and sessionStorage) with
                15 s timeouts; errors thrown in any of them fail the test
    page        one such page
    console     a Shopbridge whose OAuth callback returns to its own console, with `sign_in(page, merchant)`
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.fixtures.app import ShopbridgeServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
CONSOLE_FRONTEND = "http://127.0.0.1:{port}/console/"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: run `make test` (its set-up installs it as "
            "root on Debian) or apt-get install chromium",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine: the same patience for assertions as for actions
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    contexts = []
    errors: list[str] = []

    def make(**context_options: Any) -> Page:
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def console(app_factory: Callable[..., ShopbridgeServer]) -> Callable[..., ShopbridgeServer]:
    """`console(**overrides)`: a Shopbridge whose OAuth callback sends the merchant back to its own console."""

    def make(**overrides: Any) -> ShopbridgeServer:
        return app_factory(frontend_url=CONSOLE_FRONTEND, **{"webhooks": True, **overrides})

    return make


def sign_in(page: Page, app: ShopbridgeServer, merchant_id: str, path: str = "") -> None:
    """Paste the merchant's token as `make run` prints it, and wait for Store management."""
    page.goto(f"{app.url}/console/{path}")
    token = app.token(merchant_id)
    page.get_by_label("Merchant token").fill(f'{{"Authorization": "Bearer {token}"}}')
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Store management")).to_be_visible()


def approve(page: Page, seller: str, decision: str = "Approve") -> None:
    """On the sandbox's consent page (TikTok's stand-in), approve or deny as the given seller."""
    page.wait_for_url(re.compile(r".*/oauth/authorize\?.*"))
    row = page.locator("tr", has=page.locator(f"input[name=seller][value='{seller}']"))
    row.get_by_role("button", name=decision).click()
