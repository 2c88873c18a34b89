"""The demo's one-click sign-in: a short-lived, single-use login code exchanged for a merchant token.

`shopbridge demo` (`make run`) issues a code in its own process and prints `{PUBLIC_URL}/console/#login=CODE`.
The code rides in the URL's fragment, which browsers never send to a server, so it lands in no access log; the
console posts it to `POST /console/login` (`{"code": "..."}`) and gets `{"token": "...", "merchantId": "..."}`
back (200). A code works once, within `LOGIN_CODE_TTL_SECONDS` (600 s); any other string answers 400
`{"error": {"code": "LOGIN_CODE_INVALID", "message": ...}}`, but a body of another shape, which no console sends (no
JSON at all, over 1 KiB, or JSON that is not an object whose `code` is a string: `[1]`, `{"code": 5}`, `{}`, `null`):
400 `BAD_REQUEST` (the code the GraphQL endpoint gives a request it cannot read), saying the shape expected: a
malformed request is not told that its sign-in link expired. Only
SHA-256 digests of codes are kept, in memory: a process that issued none (`shopbridge serve`, production) accepts none.
Sign-ins from one client address are capped like a merchant's GraphQL requests: 429 `RATE_LIMITED` past
SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT within a minute (gql/request_rate.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.request_rate import RequestRate
from gql.auth import issue_token
from gql.operations import BAD_REQUEST
from gql.request_rate import login_rate_limited

LOGIN_CODE_TTL_SECONDS = 600
LOGIN_CODE_INVALID = "LOGIN_CODE_INVALID"
_MAX_BODY_BYTES = 1024


@dataclass(frozen=True)
class _Pending:
    merchant_id: str
    expires_at: float  # time.monotonic() seconds


class LoginCodes:
    """Outstanding login codes of this process, by SHA-256 digest; each is consumed by its first use."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def issue(self, merchant_id: str, ttl_seconds: float = LOGIN_CODE_TTL_SECONDS) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._pending[_digest(code)] = _Pending(merchant_id, time.monotonic() + ttl_seconds)
        return code

    def consume(self, code: str) -> str | None:
        """The merchant id the code was issued for, once; None for an unknown, used or expired code."""
        with self._lock:
            now = time.monotonic()
            for key in [k for k, p in self._pending.items() if p.expires_at <= now]:
                del self._pending[key]
            pending = self._pending.pop(_digest(code), None)
        return pending.merchant_id if pending is not None else None


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


DEMO_LOGINS = LoginCodes()  # filled by `shopbridge demo` in the process that then serves


async def exchange_login_code(request: Request) -> Response:
    """`POST /console/login` with `{"code": "..."}`: 200 `{"token", "merchantId"}`, 400 `LOGIN_CODE_INVALID` for a
    string that is no valid code, or 400 `BAD_REQUEST` for a body of another shape (not JSON, over 1 KiB, or not an
    object with a string `code`)."""
    body = await request.body()
    try:
        if len(body) > _MAX_BODY_BYTES:
            raise ValueError(len(body))
        parsed = json.loads(body or b"null")
    except ValueError:  # (UnicodeDecodeError included)
        return _bad_request('The body must be JSON of at most 1 KiB: {"code": "..."}.')
    if not isinstance(parsed, dict) or not isinstance(parsed.get("code"), str):
        return _bad_request('The body must be a JSON object whose "code" is a string: {"code": "..."}.')
    code = parsed["code"]
    merchant_id = DEMO_LOGINS.consume(code) if code else None
    if merchant_id is None:
        message = "This sign-in link is not valid any more: it works once, for 10 minutes. Paste a token instead."
        return JSONResponse({"error": {"code": LOGIN_CODE_INVALID, "message": message}}, status_code=400)
    settings = request.app.state.services.settings
    token = issue_token(settings.secret_key, merchant_id, settings.merchant_token_ttl_seconds)
    return JSONResponse({"token": token, "merchantId": merchant_id}, headers={"Cache-Control": "no-store"})


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": {"code": BAD_REQUEST, "message": message}}, status_code=400)


Endpoint = Callable[[Request], Awaitable[Response]]


def rate_limited_by_address(endpoint: Endpoint, request_rate: RequestRate) -> Endpoint:
    """`endpoint`, answering 429 `RATE_LIMITED` (`login_rate_limited`) to a client address past `request_rate`'s cap
    within a minute. The address is the connection's peer, or the one the proxy in front names (`shopbridge serve`
    runs uvicorn with `proxy_headers`: X-Forwarded-For from the trusted FORWARDED_ALLOW_IPS, loopback by default)."""

    async def limited(request: Request) -> Response:
        address = request.client.host if request.client is not None else "unknown"
        retry_after = await request_rate.admit("login:" + address)
        if retry_after is not None:
            return login_rate_limited(retry_after, request_rate.per_minute)
        return await endpoint(request)

    return limited
