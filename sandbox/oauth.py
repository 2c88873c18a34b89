"""Seller consent (`/oauth/authorize`, HTML) and TikTok's unsigned token endpoints (`/api/v2/token/get|refresh`).

Token endpoint errors are envelopes with HTTP 200: 36004003 bad app_key/app_secret, 36004002 bad grant_type,
36004004 bad/used/expired auth code, 36004005 unknown or revoked refresh token or one whose seller's authorization
has ended (as TikTok's "can not find related auth record"), 36004001 expired refresh token.
"""

from __future__ import annotations

import asyncio
import html
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sandbox import envelope as codes
from sandbox.envelope import ApiError, failure, new_request_id, success
from sandbox.gateway import tiktok_path
from sandbox.quote import quoted
from sandbox.state import World
from sandbox.tokens import Grant, TokenError

GRANTED_SCOPES = [
    "seller.authorization.info",
    "seller.shop.info",
    "seller.product.basic",
    "seller.product.write",
    "seller.order.info",
    "seller.fulfillment.basic",
]
_PAGE = Template(resources.files("sandbox").joinpath("templates/consent.html").read_text(encoding="utf-8"))


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.substitute(title=html.escape(title), content=content), status_code=status)


def _error_page(message: str) -> HTMLResponse:
    body = f'<h1>Authorization failed</h1><p class="error">{html.escape(message)}</p>'
    return _page("Authorization failed", body, status=400)


def _redirect_with(url: str, params: dict[str, str]) -> str:
    """The registered redirect URL with `params` added to whatever query it already has."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class OAuth:
    """The consent page and token endpoints of one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _known_app(self, params: Any) -> bool:
        # The legacy link style `?app_key=` is accepted beside the current `?service_id=`.
        config = self.world.config
        return params.get("service_id") == config.service_id or (
            not params.get("service_id") and params.get("app_key") == config.app_key
        )

    async def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._decide(request)
        if request.method != "GET":
            return _error_page("Use GET to open the consent page or POST to answer it.")
        if not self._known_app(request.query_params):
            return _error_page("Unknown service_id: no app is registered with this sandbox under that id.")
        return self._consent_page(request)

    def _consent_page(self, request: Request) -> HTMLResponse:
        action = html.escape(request.scope.get("root_path", "") + "/oauth/authorize", quote=True)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(request.query_params[name], quote=True)}">'
            for name in ("service_id", "app_key", "state")
            if name in request.query_params
        )
        rows = []
        for seller in self.world.sellers.values():
            regions = ", ".join(shop.region for shop in seller.shops)
            rows.append(
                "<tr>"
                f"<td><strong>{html.escape(seller.name)}</strong><br><code>{html.escape(seller.key)}</code></td>"
                f"<td>{html.escape(regions)}</td><td>{html.escape(seller.seller_type)}</td>"
                f'<td><form method="post" action="{action}">{hidden}'
                f'<input type="hidden" name="seller" value="{html.escape(seller.key, quote=True)}">'
                '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
                '<button class="deny" type="submit" name="decision" value="deny">Deny</button>'
                "</form></td></tr>"
            )
        content = (
            "<h1>Authorize Shopbridge to access your TikTok Shop</h1>"
            '<p class="note">TikTok Shop sandbox: pick the seller account to sign in as. Approving sends an '
            "authorization code back to the app; denying sends <code>error=auth_denied</code>.</p>"
            "<table><thead><tr><th>Seller</th><th>Shop regions</th><th>Type</th><th></th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        return _page("Authorize app · TikTok Shop sandbox", content)

    async def _decide(self, request: Request) -> Response:
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if not self._known_app(fields):
            return _error_page("Unknown service_id: no app is registered with this sandbox under that id.")
        seller = self.world.sellers.get(fields.get("seller", ""))
        if seller is None:
            return _error_page(f"Unknown seller {quoted(fields.get('seller', ''))}.")
        decision = fields.get("decision")
        if decision not in ("approve", "deny"):
            return _error_page("The decision must be approve or deny.")
        # TikTok sends `code` and `state`, or `error=auth_denied`; App Store installs carry no state.
        params = (
            {"code": self.world.tokens.issue_code(self.world.app_key, seller.key)}
            if decision == "approve"
            else {"error": "auth_denied"}
        )
        if fields.get("state"):
            params["state"] = fields["state"]
        return RedirectResponse(_redirect_with(self.world.config.redirect_url, params), status_code=302)

    async def token_get(self, request: Request) -> Response:
        return await self._token_endpoint(request, "authorized_code")

    async def token_refresh(self, request: Request) -> Response:
        return await self._token_endpoint(request, "refresh_token")

    async def _token_endpoint(self, request: Request, grant_type: str) -> Response:
        world, request_id = self.world, new_request_id()
        path = tiktok_path(request.scope)
        if world.latency_ms:
            await asyncio.sleep(world.latency_ms / 1000)
        try:
            if request.method != "GET":
                raise ApiError(
                    codes.INVALID_METHOD, f"Invalid HTTP method. {request.method} is not supported for this path."
                )
            grant = self._exchange(request.query_params, grant_type)
        except ApiError as error:
            world.counters.record(path, str(error.code))
            return failure(error, request_id)
        world.counters.record(path, "ok")
        return success(self._token_data(grant), request_id)

    def _exchange(self, query: Any, grant_type: str) -> Grant:
        config = self.world.config
        if query.get("app_key") != config.app_key or query.get("app_secret") != config.app_secret:
            raise ApiError(codes.TOKEN_APP_INVALID, "Invalid app_key or app_secret.")
        if query.get("grant_type") != grant_type:
            raise ApiError(codes.TOKEN_GRANT_TYPE_INVALID, f"Invalid grant_type: expected {grant_type}.")
        tokens = self.world.tokens
        try:
            if grant_type == "authorized_code":
                return tokens.redeem_code(config.app_key, query.get("auth_code", ""))
            return tokens.refresh(config.app_key, query.get("refresh_token", ""), config.rotate_refresh_tokens)
        except TokenError as error:
            if grant_type == "authorized_code":
                raise ApiError(codes.AUTH_CODE_INVALID, "Invalid auth_code: it is unknown, used or expired.") from None
            if error.reason == "expired":
                raise ApiError(codes.REFRESH_TOKEN_EXPIRED, "rt has expired") from None
            raise ApiError(codes.REFRESH_TOKEN_INVALID, "can not find related auth record") from None

    def _token_data(self, grant: Grant) -> dict[str, Any]:
        seller = self.world.sellers[grant.seller_key]
        return {
            "access_token": grant.access_token,
            "access_token_expire_in": grant.access_expires_at,
            "refresh_token": grant.refresh_token,
            "refresh_token_expire_in": grant.refresh_expires_at,
            "open_id": seller.open_id,
            "seller_name": seller.name,
            "seller_base_region": seller.base_region,
            "user_type": 0,
            "granted_scopes": list(GRANTED_SCOPES),
        }
