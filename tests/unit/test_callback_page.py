"""The OAuth callback's own page (gql/callback.py, no SHOPBRIDGE_FRONTEND_URL): it shows what the redirect carried
(state, code or TikTok's error) for `shopAuthorizationComplete`, and anyone can put anything in that query, so every
value is HTML-escaped, in the text and in the console's link alike."""

from __future__ import annotations

from gql.callback import _answer


def test_the_hand_off_page_escapes_the_values_it_shows_and_links() -> None:
    page = _answer(None, {"code": "<b>x</b>", "state": '"><script>alert(1)</script>'})
    text = bytes(page.body).decode()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "<code>&lt;b&gt;x&lt;/b&gt;</code>" in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>" not in text and "<script>" not in text
    assert '<a href="/console/?code=%3Cb%3Ex%3C%2Fb%3E&amp;state=%22%3E%3Cscript%3E' in text


def test_the_error_hand_off_page_escapes_tiktoks_error() -> None:
    page = _answer(None, {"error": "<i>denied</i> & co", "state": "s"})
    text = bytes(page.body).decode()
    assert page.status_code == 200
    assert "<code>&lt;i&gt;denied&lt;/i&gt; &amp; co</code>" in text and "<i>" not in text


def test_a_redirect_without_a_state_names_nothing_to_finish() -> None:
    page = _answer(None, {"error": "INVALID_STATE"})
    text = bytes(page.body).decode()
    assert page.status_code == 400 and "INVALID_STATE" in text and "shopAuthorizationComplete" not in text
