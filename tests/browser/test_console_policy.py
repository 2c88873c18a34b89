"""The console under its Content-Security-Policy (`gql.console.CONTENT_SECURITY_POLICY`): it still signs in, reads
over HTTP and follows its shops over the WebSocket, with no violation (the `new_page` fixture fails a test on any
the browser logs), and no page of another origin can frame it."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import sign_in
from tests.fixtures.app import ShopbridgeServer

# Counts the policy's violations as the page sees them, from before its first script runs.
COUNT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_the_console_works_under_its_policy_and_refuses_to_be_framed(
    console: Callable[..., ShopbridgeServer], new_page: Callable[..., Page], browser: Browser
) -> None:
    # given a signed-in merchant's console, its violations counted
    app = console()
    page = new_page()
    page.add_init_script(COUNT_VIOLATIONS)
    sign_in(page, app, "m1")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    # when a shop is connected elsewhere, the list shows it without a reload (shopsUpdated over the WebSocket)
    app.connect_shop("m1", "us-local", "US", "Maple")
    expect(page.locator("tbody tr", has_text="Maple")).to_be_visible()
    # then the page ran under the policy, its module scripts, stylesheet, fetches and WebSocket allowed
    policy = page.evaluate("() => fetch(location.href).then((r) => r.headers.get('content-security-policy'))")
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert page.evaluate("() => getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # console.css
    assert page.evaluate("() => window.__violations") == []

    # given a page of another origin (here about:blank's) that frames the console: a context of its own, outside
    # `new_page`, whose refusal the browser logs as the violation it is
    context = browser.new_context()
    try:
        framing = context.new_page()
        with framing.expect_console_message(lambda message: "frame-ancestors 'none'" in message.text) as refused:
            framing.set_content(f'<iframe id="f" src="{app.url}/console/"></iframe>')
        # then the browser refuses to show it in the frame, by the console's policy
        assert "The request has been blocked" in refused.value.text, refused.value.text
        assert framing.frame_locator("#f").get_by_role("button", name="Sign in").count() == 0
    finally:
        context.close()
