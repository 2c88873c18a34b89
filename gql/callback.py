"""TikTok's browser redirect after consent: complete the authorization, then send the merchant on."""

from __future__ import annotations

import html
import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from domain.errors import DomainError
from domain.services import shops as shop_services
from gql.ids import to_global_id

log = logging.getLogger("shopbridge.oauth")


async def tiktok_callback(request: Request) -> Response:
    services = request.app.state.services
    params = request.query_params
    try:
        outcome = await shop_services.complete_authorization(
            services.uow_factory,
            services.tiktok,
            services.queue,
            services.clock,
            events=services.events,
            state=(params.get("state") or "")[:512],
            code=(params.get("code") or "")[:4096] or None,
            error=(params.get("error") or "")[:256] or None,
        )
    except DomainError as exc:
        return _answer(services.settings.frontend_url, {"error": exc.code.value}, exc.message, ok=False)
    except Exception:
        log.exception("unexpected error completing an authorization")
        return _answer(
            services.settings.frontend_url, {"error": "INTERNAL"}, "Something went wrong on our side.", ok=False
        )
    shop = outcome.shop
    what = "re-authorized" if outcome.reauthorized else "connected"
    message = f"The TikTok Shop {shop.tiktok_shop_name!r} is {what} as {shop.name!r}."
    return _answer(services.settings.frontend_url, {"shopId": to_global_id("Shop", shop.id)}, message, ok=True)


def _answer(frontend_url: str | None, query: dict[str, str], message: str, *, ok: bool) -> Response:
    if frontend_url:
        parts = urlsplit(frontend_url)
        joined = "&".join(part for part in (parts.query, urlencode(query)) if part)
        return RedirectResponse(urlunsplit(parts._replace(query=joined)), status_code=303)
    code = query.get("error", "")
    console = f"/console/?{urlencode(query)}"  # the web console shows the outcome too (gql/console/)
    title = "Shop connected" if ok else "Authorization failed"
    detail = f"shopId: <code>{html.escape(query['shopId'])}</code>" if ok else f"code: <code>{html.escape(code)}</code>"
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Shopbridge</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} .ok{{color:#0a7d38}} .err{{color:#b00020}} code{{background:#f3f3f3;padding:.1rem .3rem}}</style>
</head><body><h1 class="{"ok" if ok else "err"}">{title}</h1><p>{html.escape(message)}</p><p>{detail}</p>
<p><a href="{html.escape(console)}">Back to the console</a> · <a href="/graphql">GraphiQL</a></p></body></html>"""
    return HTMLResponse(body, status_code=200 if ok else 400)
