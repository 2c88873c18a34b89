"""Browser tests of the web console: Debian's Chromium driven by Playwright against a real Shopbridge and sandbox.

Playwright's own browser builds are never downloaded: the tests launch Debian's `chromium-headless-shell` (installed
by `make test`'s set-up, scripts/ensure-servers). A missing browser fails the tests with one line; it never skips.
The servers use SQLite only: the console adds nothing database-specific to what tests/e2e covers on both.

Fixtures:
    browser     (package) a headless Chromium, launched once for the browser tests a worker runs in a row (`make
                test` gives them all to one worker: tests/fixtures/scheduling.py)
    new_page    `new_page(**context_options)`: a fresh page (its own context: cookies and sessionStorage) with
                15 s timeouts; errors thrown in any of them, and any Content-Security-Policy violation they log
                (`gql.console.CONTENT_SECURITY_POLICY`: a script, style or connection it refused), fail the test
    page        one such page
    console     a Shopbridge whose OAuth callback returns to its own console, with `sign_in(page, merchant)`; its
                sandbox's shops small (`SMALL_SHOP`) unless the test sizes them

A test that fails (or errors) reports what explains it, in sections of its own (only then: nothing is kept in a
passing test's report): every message each page logged to its browser console, with its time (`new_page`); the
Shopbridge server log at INFO (the in-process server's records: tasks started and ended, polls, pushes; pytest's
"Captured log" section, times to the millisecond) and the answers of the test's own GraphQL calls to each console
server (`ShopbridgeServer.transcript`, its last entries). Two tests stuck 120 s in CI (flake65) left only an aria
snapshot: whether the page heard an answer, or the server ended a task, could not be told.

Helpers: `double_click_held` (a double click whose requests are held on their way: how many it sent), with
`a_page_turn` (a read with a cursor); `hold_first`, `wait_held` and `let_through` (one GraphQL request held on its
way, then let through and its answer handled by the page); `answer_first_later` and `deliver` (one answered by the
server at once, its answer held on its way back, then handled by the page: what the page heard meanwhile comes
first); `answered_requests` (the GraphQL requests answered from now on: what may start a lost answer's read again);
`lose_answers` (requests the server handles whose answers are lost on their way back) and `lose_requests` (requests
lost on their way there: the server never sees them, the page cannot tell them from a lost answer); `proxy_error`
(requests answered by a proxy's HTTP error page, after the server handled them or before it saw them);
`record_departures` (the page's navigations away from the console, recorded and stopped); `turn_a_page_offline`
(Next page with the network gone); `missing_messages`
(the page's sockets dropping the messages of some subscriptions while an event is set).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    APIResponse,
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    Route,
    WebSocketRoute,
    expect,
    sync_playwright,
)

from tests.fixtures.app import SMALL_SHOP, ShopbridgeServer
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

# Chromium's headless shell (Debian's chromium-headless-shell: the same Blink and V8 as `chromium`, the browser
# Playwright itself runs for headless tests), not the full browser in its `--headless` mode: the 115 browser tests
# (-n 0, -p no:randomly) took 438 s of CPU with /usr/bin/chromium (Chromium's processes 293 s, renderers 170 s) and
# 251 s with the shell (103 s), all passing; wall 356 -> 268 s (suitee70, 2026-12-07, load 3-6; CPU summed over the
# processes, Chromium's included: /usr/bin/time misses the renderers, which their zygote reaps).
CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"  # the binary: /usr/bin/chromium-headless-shell is a wrapper
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
# How long an action or assertion waits for the page, in ms: the suite's own deadline (`tests.fixtures.waiting`
# DEADLINE_SECONDS, generous on purpose: a wait returns the moment its condition holds, so it costs nothing when the
# code works). 15 s was too short on a loaded CI machine (load 14 on 2 cores: a held mutation let through was answered
# after more than 15 s, 2026-12-05; a rename/re-authorize/delete timed out once at load ~20, 2026-12-04) with nothing
# wrong; pytest-timeout (300 s per test) still bounds every test.
TIMEOUT_MS = int(DEADLINE_SECONDS * 1000)
CONSOLE_FRONTEND = "http://127.0.0.1:{port}/console/"
# What a failing test's report carries (see the module's docstring): how many of the last console messages of a page
# and GraphQL answers of a server, and the loggers whose INFO records the server log shows (ours, in-process).
REPORTED_MESSAGES = 300
REPORTED_ANSWERS = 40
SERVER_LOGGERS = ("shopbridge", "adapters", "domain", "gql", "workers", "dramatiq")
_FAILURE_NOTES = pytest.StashKey[list[Callable[[], tuple[str, str]]]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed setup, call or teardown of a browser test: each note its fixtures registered (`_note_on_failure`)
    becomes a section of its report."""
    report = yield
    if report.failed:
        for note in item.stash.get(_FAILURE_NOTES, []):
            title, text = note()
            if text:
                report.sections.append((title, text))
    return report


def _note_on_failure(request: pytest.FixtureRequest, note: Callable[[], tuple[str, str]]) -> None:
    """`note()` ((title, text)) is called if the test fails, and its text added to the report under the title."""
    request.node.stash.setdefault(_FAILURE_NOTES, []).append(note)


@pytest.fixture(autouse=True)
def _server_log(caplog: pytest.LogCaptureFixture) -> None:
    """The in-process Shopbridge's records at INFO in pytest's "Captured log" of a failed test (WARNING and above
    only, before), as `shopbridge serve` logs by default."""
    for name in SERVER_LOGGERS:
        caplog.set_level(logging.INFO, logger=name)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the tests of this package a worker runs in a row: pytest tears it down (Playwright's driver
    and its event loop with it) before the worker runs a test from elsewhere. Playwright's sync API keeps its event
    loop set as the main thread's running loop while it is started, so an asyncio test of the same worker (pytest-
    asyncio, tests/e2e, tests/integration) fails under it ("Cannot run the event loop while another loop is
    running"): a session-scoped browser was refused for that (speed62). What a test changes stays in its own
    browser context (`new_page`), closed after it, as when the browser was module-scoped."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Debian's chromium-headless-shell at {CHROMIUM}: run `make test` (its set-up "
            "installs it as root on Debian) or apt-get install chromium-headless-shell",
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
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    contexts = []
    errors: list[str] = []
    logged: list[str] = []  # every page's console messages and errors, as "HH:MM:SS.mmm page N type: text (where)"
    _note_on_failure(request, lambda: ("browser console", "\n".join(logged[-REPORTED_MESSAGES:])))

    def make(**context_options: Any) -> Page:
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        which = f"page {len(contexts)}"

        def console(message: ConsoleMessage) -> None:
            errors.extend(_policy_violations(message))
            place = message.location
            at = f" ({place['url']}:{place['lineNumber']})" if place.get("url") else ""
            logged.append(f"{_clock(message.timestamp / 1000)} {which} {message.type}: {message.text}{at}")

        def thrown(exc: Exception) -> None:
            errors.append(str(exc))
            logged.append(f"{_clock(None)} {which} uncaught: {exc}")

        page.on("pageerror", thrown)
        page.on("console", console)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


def _clock(epoch_seconds: float | None) -> str:
    """A time of day to the millisecond, as the server log shows its records' (now when None)."""
    at = datetime.now() if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds)
    return at.strftime("%H:%M:%S.%f")[:-3]


def _policy_violations(message: ConsoleMessage) -> list[str]:
    """Chromium logs each Content-Security-Policy refusal as a console error naming the policy."""
    return [message.text] if message.type == "error" and "Content Security Policy" in message.text else []


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def console(
    app_factory: Callable[..., ShopbridgeServer], request: pytest.FixtureRequest
) -> Callable[..., ShopbridgeServer]:
    """`console(**overrides)`: a Shopbridge whose OAuth callback sends the merchant back to its own console, its
    sandbox's shops small (`SMALL_SHOP`: 3 products, 5 orders) unless the test sizes them (`products=`, `orders=`):
    a browser test reads a page, not an import's volume, and one that counts or pages a catalog says its size."""
    made: list[ShopbridgeServer] = []

    def answers() -> tuple[str, str]:
        return "GraphQL answers to the test", "\n\n".join(
            f"server {n} ({app.url}), last {REPORTED_ANSWERS}:\n" + "\n".join(app._transcript[-REPORTED_ANSWERS:])
            for n, app in enumerate(made, 1)
        )

    _note_on_failure(request, answers)

    def make(**overrides: Any) -> ShopbridgeServer:
        made.append(app_factory(frontend_url=CONSOLE_FRONTEND, **{"webhooks": True, **SMALL_SHOP, **overrides}))
        return made[-1]

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


def a_page_turn(request: Request) -> bool:
    """A GraphQL read with a cursor (`variables.after`): a page turn."""
    return bool(((request.post_data_json or {}).get("variables") or {}).get("after"))


def double_click_held(page: Page, button: Locator, holds: Callable[[Request], bool], what: str) -> int:
    """`button` double-clicked while every GraphQL request `holds` picks is held on its way (the server slow on it);
    once one is held (`what` names it for the wait), every handler of the page's `**/graphql` is removed and the held
    requests go on, in the order sent. Returns how many were held: how many the double click sent."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if holds(route.request):
            held.append(route)
        else:
            route.fallback()

    page.route("**/graphql", hold)
    button.dblclick()
    wait_until(lambda: held or page.evaluate("() => false"), what)  # each poll lets Playwright route
    page.unroute("**/graphql")
    for route in held:
        route.fallback()
    return len(held)


def hold_first(page: Page, operation: str) -> list[Route]:
    """From now on, the first GraphQL request whose document starts with `operation` (e.g. "query Products") is held
    on its way (the server slow on it); every other goes on. Returns the list the held route is put in, once sent."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        document = (route.request.post_data_json or {}).get("query") or ""
        if document.startswith(operation) and not held:
            held.append(route)
        else:
            route.fallback()

    page.route("**/graphql", hold)
    return held


def wait_held(page: Page, held: list[Route], what: str) -> None:
    """Until `hold_first`'s request is held (`what` names it for the wait)."""
    wait_until(lambda: held or page.evaluate("() => false"), what)  # each poll lets Playwright route


def let_through(page: Page, held: list[Route]) -> None:
    """`hold_first`'s held request goes on, every handler of `**/graphql` removed; returns once the page has handled
    its answer (a frame after it came in).

    The answer is awaited from before the unroute: removing a page's last route handler turns Chromium's interception
    off, which lets the held request go on at once, and its answer could arrive during `unroute` itself, before a wait
    begun after it (2 in 400 on a quiet machine; CI waited out the 120 s timeout)."""
    with page.expect_response(lambda response: response.request == held[0].request) as answered:
        page.unroute("**/graphql")
        held[0].fallback()
    answered.value.finished()
    page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")


def answer_first_later(page: Page, operation: str) -> list[tuple[Route, APIResponse]]:
    """From now on, the first GraphQL request whose document starts with `operation` is handled by the server at once
    (it reads the database now) and its answer held on its way back (the network slow on it); every other goes on.
    Returns the list the route and its answer are put in once the server answered (`wait_held`, then `deliver`): what
    the page hears meanwhile (its subscriptions' messages) comes before an older answer."""
    held: list[tuple[Route, APIResponse]] = []

    def answer(route: Route) -> None:
        if ((route.request.post_data_json or {}).get("query") or "").startswith(operation) and not held:
            held.append((route, route.fetch()))
        else:
            route.fallback()

    page.route("**/graphql", answer)
    return held


def deliver(page: Page, held: list[tuple[Route, APIResponse]]) -> None:
    """`answer_first_later`'s held answer reaches the page, then every handler of `**/graphql` is removed; returns once
    the page has handled the answer (a frame after it came in)."""
    ((route, response),) = held
    with page.expect_response(lambda answered: answered.request == route.request) as answered:
        route.fulfill(response=response)
    answered.value.finished()
    page.unroute("**/graphql")
    page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")


def answered_requests(page: Page) -> list[str]:
    """From now on, the document of each GraphQL request of the page that gets an HTTP answer, in the order answered,
    whenever it was sent (one sent before this call and answered after it too): each answer may start a read again
    that a lost answer's doubt waits on (js/api.js `whenAnswered`, js/unsaved.js `readUntilAnswered`), so they bound
    how many such reads there may be. Counting the requests a route let through missed one sent before the route and
    answered in its window (flake62)."""
    answered: list[str] = []

    def note(response: Response) -> None:
        request = response.request
        if request.method == "POST" and urlsplit(request.url).path == "/graphql":
            answered.append((request.post_data_json or {}).get("query") or "")

    page.on("response", note)
    return answered


def lose_answers(page: Page, operation: str) -> None:
    """From now on, each GraphQL request whose document starts with `operation` reaches the server, which answers,
    and its answer is lost on its way back (the connection reset after the server committed)."""

    def lose(route: Route) -> None:
        if ((route.request.post_data_json or {}).get("query") or "").startswith(operation):
            route.fetch()  # the server handles it, and commits
            route.abort("connectionreset")
        else:
            route.fallback()

    page.route("**/graphql", lose)


def lose_requests(page: Page, operation: str) -> None:
    """From now on, each GraphQL request whose document starts with `operation` is lost on its way (the connection
    reset before the server read it): it never reaches the server, and the page sees what `lose_answers` shows it."""

    def lose(route: Route) -> None:
        if ((route.request.post_data_json or {}).get("query") or "").startswith(operation):
            route.abort("connectionreset")
        else:
            route.fallback()

    page.route("**/graphql", lose)


def proxy_error(page: Page, operation: str, status: int, *, forwarded: bool = True) -> None:
    """From now on, each GraphQL request whose document starts with `operation` is answered by a proxy in front of
    Shopbridge with HTTP `status` and its own HTML page, no GraphQL body: `forwarded`, after the server handled it
    and committed (a gateway's 502/504 once its upstream was cut off or too slow), else without it reaching the
    server (a proxy's 429 or 413)."""

    def answer(route: Route) -> None:
        if ((route.request.post_data_json or {}).get("query") or "").startswith(operation):
            if forwarded:
                route.fetch()  # the server handles it, and commits
            route.fulfill(status=status, content_type="text/html", body=f"<html><body><h1>{status}</h1></body></html>")
        else:
            route.fallback()

    page.route("**/graphql", answer)


def record_departures(page: Page) -> Callable[[], list[str]]:
    """From now on, every navigation of the page to another document (a `location.assign`, a link out) is recorded
    and stopped there (the Navigation API's cancelable `navigate` event), the page staying as it is. Returns a
    function that ends the recording and gives the addresses the page would have gone to, in order."""
    page.evaluate(
        """() => {
            window.departures = [];
            window.recordDeparture = (event) => {
                if (event.destination.sameDocument) return; // the console's own routes (#/...)
                window.departures.push(event.destination.url);
                event.preventDefault();
            };
            navigation.addEventListener("navigate", window.recordDeparture);
        }"""
    )
    return lambda: page.evaluate(
        '() => { navigation.removeEventListener("navigate", window.recordDeparture); return window.departures; }'
    )


def press(page: Page, control: Locator) -> None:
    """The mouse pressed on the middle of `control` and held (`page.mouse.up()` releases it): a click in two halves,
    for a live update to land between them, as it does under a merchant's slow click."""
    box = control.bounding_box()
    assert box is not None, "the control is shown"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()


def turn_a_page_offline(page: Page) -> None:
    """Next page clicked with the network gone (every GraphQL request aborted), until the page's notice says
    Shopbridge cannot be reached; then the network back (every handler of `**/graphql` removed)."""
    page.route("**/graphql", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#notice")).to_contain_text("Shopbridge cannot be reached")
    page.unroute("**/graphql")


def missing_messages(page: Page, *fields: str) -> threading.Event:
    """The page's sockets (routed from now on: call it before the page opens its socket), each forwarding the
    server's messages except, while the returned event is set, those of the subscriptions `fields` (e.g.
    "shopsDeleted"): messages this page never hears (`publish_quietly` drops one the event bus failed to carry, a
    socket's send can be lost), while the server's state moves on."""
    muted = threading.Event()
    page.route_web_socket("**/graphql", lambda ws: forward_unless(muted, fields, ws))
    return muted


def forward_unless(muted: threading.Event, fields: tuple[str, ...], ws: WebSocketRoute) -> None:
    server = ws.connect_to_server()

    def from_server(message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode()
        if not (muted.is_set() and any(f'"{field}"' in text for field in fields)):
            ws.send(message)

    server.on_message(from_server)
