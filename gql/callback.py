"""TikTok's browser redirect after consent: hand what it carried to the merchant's app, which completes it.

The callback completes nothing itself (RFC 6749 sec. 10.12): it has no login, and the browser TikTok sends here
need not be the merchant's. A merchant could send its consent link to another seller, whose approval would then
connect that seller's shop to the merchant's account. So the code and state go on to `SHOPBRIDGE_FRONTEND_URL`,
and the frontend completes with `shopAuthorizationComplete` under its merchant's token, which spends the state only
for the merchant who started it. Without a frontend, a page shows them for that mutation. The state stays unspent.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from domain.text import first_control_character
from gql.mutations import MAX_CODE_LENGTH, MAX_STATE_LENGTH

# The page and the redirect carry a code and a state: never cached, never sent on as a Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def tiktok_callback(request: Request) -> Response:
    frontend_url = request.app.state.services.settings.frontend_url
    params = _redirect_params(request.scope.get("query_string", b""))
    if params is None:  # a value altered on the way: nothing any merchant could complete
        return _answer(frontend_url, {"error": "INVALID_STATE"})
    state = params.get("state", "")[:MAX_STATE_LENGTH]
    code = params.get("code", "")[:MAX_CODE_LENGTH]
    error = params.get("error", "")[:256]
    if not state or not (code or error):  # nothing any merchant could complete
        return _answer(frontend_url, {"error": "INVALID_STATE"})
    return _answer(frontend_url, {"code": code, "state": state} if code else {"error": error, "state": state})


def _redirect_params(query_string: bytes) -> dict[str, str] | None:
    """`code`, `state` and `error` of the redirect's query (the last of each, as Starlette's `query_params`), or None
    when one of them is not UTF-8 text once percent-decoded, or holds a control character (NUL, C0/C1, a line or
    paragraph separator, a bidi override: `domain.text.first_control_character`). Starlette's parse replaced bytes
    that are not UTF-8 with U+FFFD, so `code=%ff` was handed on as another code than the one sent, and `state=%00` went
    on unchecked while an empty state was `INVALID_STATE` (attack56, F-callback-bytes). The state is ours (URL-safe
    base64, `domain.authorization`) and TikTok's code an opaque token: a value that is not text, or holds a control
    character, was changed on the way, and is refused as a missing state is, `?error=INVALID_STATE`."""
    try:
        pairs = parse_qsl(query_string.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:  # raw bytes that are not UTF-8, or a percent-escape that is not
        return None
    params = {key: value for key, value in pairs if key in ("code", "state", "error")}
    if any(first_control_character(value) is not None for value in params.values()):
        return None
    return params


def _answer(frontend_url: str | None, query: dict[str, str]) -> Response:
    if frontend_url:
        parts = urlsplit(frontend_url)
        joined = "&".join(part for part in (parts.query, urlencode(query)) if part)
        return RedirectResponse(urlunsplit(parts._replace(query=joined)), status_code=303, headers=PRIVATE_HEADERS)
    console = f"/console/?{urlencode(query)}"  # the web console completes it for the merchant signed in there
    if "state" not in query:
        title, status = "Authorization failed", 400
        text = "This link carries no authorization to finish (code: <code>INVALID_STATE</code>). Start again."
        rows = ""
    else:
        title, status = "Finish in Shopbridge", 200
        text = (
            "TikTok sent you back. Finish in the app that started this authorization: it completes it with "
            "<code>shopAuthorizationComplete</code> under its merchant's token (in GraphiQL: paste the values "
            "below). Nothing is connected until then, and only to the merchant who started it."
        )
        rows = "".join(
            f"<tr><th>{name}</th><td><code>{html.escape(value)}</code></td></tr>" for name, value in query.items()
        )
        rows = f'<table>{rows}</table><p><a href="{html.escape(console)}">Finish in the web console</a></p>'
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>{title} · Shopbridge</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} th{{text-align:left;padding-right:1rem}} td code{{word-break:break-all}}
code{{background:#f3f3f3;padding:.1rem .3rem}}</style>
</head><body><h1>{title}</h1><p>{text}</p>{rows}
<p><a href="/console/">The console</a> · <a href="/graphql">GraphiQL</a></p></body></html>"""
    return HTMLResponse(body, status_code=status, headers=PRIVATE_HEADERS)
