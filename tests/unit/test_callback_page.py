"""The OAuth callback's own page (gql/callback.py, no SHOPBRIDGE_FRONTEND_URL): what it shows is HTML-escaped, since
the message quotes the merchant's shop name and TikTok's shop name, either of which may contain `<`."""

from __future__ import annotations

from gql.callback import _answer


def test_the_connected_page_escapes_the_shop_names_in_its_message() -> None:
    message = "The TikTok Shop '<b>x</b>' is connected as '<script>alert(1)</script>'."
    page = _answer(None, {"shopId": "U2hvcDo<i>"}, message, ok=True)
    text = bytes(page.body).decode()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>" not in text and "<script>" not in text and "<i>" not in text


def test_the_failure_page_escapes_its_message_and_code() -> None:
    page = _answer(None, {"error": "<CODE>"}, 'No shop named "<b>x</b>" & co.', ok=False)
    text = bytes(page.body).decode()
    assert page.status_code == 400
    assert "No shop named &quot;&lt;b&gt;x&lt;/b&gt;&quot; &amp; co." in text and "&lt;CODE&gt;" in text
    assert "<b>" not in text and "<CODE>" not in text
