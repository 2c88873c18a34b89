"""TikTok failures as one exception tree, and `classify`: HTTP status + response envelope -> the error or None.

GatewayError (domain.ports)
  └── TikTokError                        every failure; carries code, message, request_id, http_status and the
        │                                  `api` ("METHOD path") it answered, once the transport knows it
        ├── TransientError               + TikTokUnavailableError: retried with backoff; raised as-is when
        │     │                            the retries run out, so services map it to TIKTOK_UNAVAILABLE
        │     ├── RateLimitedError       HTTP 429 / 36009002 (or 36009004 under a 429, as under a 5xx)
        │     ├── ServerError            HTTP 5xx, 36009003 internal error, 36009007 request timeout, HTTP
        │     │                            408 / 425 (a gateway's Request Timeout / Too Early: RFC 9110 sec.
        │     │                            15.5.9 and RFC 8470 sec. 5.2 let the client repeat the request),
        │     │                            36009004 under a 5xx unless it names a fault of the request
        │     ├── NetworkError           our timeout, refused or dropped connection (no HTTP status);
        │     │     │                      `request_sent` False when no connection was made
        │     │     └── TimeBudgetSpentError the run's TikTok time budget (`adapters.tiktok.budget`) ended the
        │     │                            attempt: not sent (nothing left), or cut to what was left and timed
        │     │                            out, on a call's first attempt. No TikTok failure: no outage is
        │     │                            said; the run is retried later
        │     ├── MalformedResponseError a 2xx whose body is not a JSON envelope, or an answer whose body does
        │     │                            not decode by its Content-Encoding (a proxy's bad gzip: the transport)
        │     └── AccessTokenExpiredError 105002: ShopSession refreshes once and retries; should one reach
        │                                  a service, TikTok refused the token it just issued
        ├── AuthCodeOutcomeUnknownError  + OutcomeUnknownError: the code exchange's answer was lost (timeout,
        │                                  dropped connection, 5xx...); TikTok may have spent the single-use code,
        │                                  so it is not sent again: the seller authorizes again
        ├── AuthorizationLost            + AuthorizationLostError: the seller must (re-)authorize
        │     ├── InvalidAccessTokenError  36009004 about the access token, 101000 token/cipher mismatch
        │     ├── InvalidRefreshTokenError the token endpoint refused our refresh token
        │     └── AuthCodeRejectedError    the code exchange was refused (code used, expired or unknown)
        ├── MissingScopeError            + MissingPermissionError: 105005, the app or token lacks this API's
        │                                  scope; only this API is refused, the authorization holds
        ├── ClientBugError               + GatewayRefusedError: our request is wrong; never retried, fix the code
        │     │                            or configuration
        │     ├── SignatureError          106001 (seen with HTTP 401), or 36009004 about the sign
        │     ├── ClockSkewError          36009004 about the timestamp (outside now -5 min .. +30 s)
        │     └── InvalidRequestError     36009004 otherwise (a parameter missing or invalid, app_key,
        │                                  shop_cipher, version...; under a 5xx or 429 only when its message
        │                                  names such a fault), 106013, 36009009/10/14, 36009021..23, 36009033,
        │                                  other 4xx without an envelope (but 408, 425)
        ├── UnexpectedResponseError      code 0, but `data` does not have the shape the protocol promises
        └── ApiError                     + GatewayRefusedError: any other non-zero code, a business refusal;
              │                            retrying the same request cannot help
              ├── RecordNotFound         + RecordNotFoundError: the shop has no such record: 21008111 (Get Order
              │                            Detail: "The order or package does not belong to the current seller",
              │                            tiktok-api.md sec. 7), 12052048 product not in this shop, 12052031,
              │                            12052032, 12052260 product does not exist (live-sync.md, Update
              │                            Inventory's codes)
              ├── SearchCapExceededError 12052180: more than 10,000 search results; narrow the window
              └── PageTokenRejectedError 12019108: Search Products refused the page_token (expired, or
                                          not for this search): restart the search from its first page

tiktok-api.md sec. 12 (error codes) and sec. 13.8 (scope errors look like auth errors, but are not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.text import one_line
from domain.ports import (
    AuthorizationLostError,
    GatewayError,
    GatewayRefusedError,
    MissingPermissionError,
    OutcomeUnknownError,
    RecordNotFoundError,
    TikTokUnavailableError,
)

SUCCESS = 0
MAX_TIKTOK_MESSAGE_CHARS = 500  # of the message TikTok gives with an error code
RATE_LIMITED = 36009002
INTERNAL_ERROR = 36009003
OVERLOADED_GATEWAY = 36009004  # one code for many causes: told apart by the message
GATEWAY_TIMEOUT = 36009007
ACCESS_TOKEN_EXPIRED = 105002
MISSING_SCOPE = 105005
TOKEN_CIPHER_MISMATCH = 101000
BAD_SIGNATURE = 106001
MISSING_SHOP_CIPHER = 106013
SEARCH_CAP_EXCEEDED = 12052180
PRODUCT_PAGE_TOKEN_INVALID = 12019108
ORDER_NOT_OWNED = 21008111
PRODUCT_NOT_IN_SHOP = 12052048
_RECORDS_NOT_FOUND = frozenset({ORDER_NOT_OWNED, PRODUCT_NOT_IN_SHOP, 12052031, 12052032, 12052260})
# 408 Request Timeout (a gateway gave up waiting for our request: "the client MAY repeat that request", RFC 9110
# sec. 15.5.9) and 425 Too Early (RFC 8470 sec. 5.2: retried once the handshake is over): TikTok documents neither,
# a proxy or load balancer in front of it may answer them, without an envelope. Retried like 36009007.
_REPEATABLE_STATUSES = frozenset({408, 425})
# What 36009004's messages name of a request's own faults (tiktok-api.md sec. 12: app_key, shop_cipher,
# category_asset_cipher, shop_id, version; sec. 6: "Unexpected identifier", "Invalid identifier"), besides the token,
# timestamp and sign told apart first: such a 36009004 is our bug, whatever the status
_REQUEST_FAULT_WORDS = ("app_key", "app key", "cipher", "shop_id", "version", "identifier", "parameter")
_REQUEST_BUGS = frozenset({MISSING_SHOP_CIPHER, 36009009, 36009010, 36009014, 36009021, 36009022, 36009023, 36009033})


class TikTokError(GatewayError):
    """A failed TikTok call. `code` is the envelope's (None when there was no envelope)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, request_id)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.api: str | None = None  # "METHOD path" of the call refused, set by the transport
        # Seconds the answer's `Retry-After` header asked to wait (429, 503...), set by the transport; None: none
        self.retry_after: float | None = None

    def __str__(self) -> str:
        details = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("code", self.code),
                ("http", self.http_status),
                ("request_id", self.request_id),
                ("api", self.api),
            )
            if value is not None
        )
        return f"{self.message} ({details})" if details else self.message

    @property
    def retryable(self) -> bool:
        return isinstance(self, TransientError)


class TransientError(TikTokError, TikTokUnavailableError):
    pass


class RateLimitedError(TransientError):
    pass


class ServerError(TransientError):
    pass


class NetworkError(TransientError):
    """`request_sent` is False when no connection was made (connect error or timeout, no free pooled connection):
    TikTok cannot have seen the request. Otherwise it may have been read, and acted on, before the failure."""

    request_sent = True


class TimeBudgetSpentError(NetworkError):
    """The run's time budget for TikTok (`adapters.tiktok.budget`), not TikTok, ended the attempt: nothing was left
    to send it (`request_sent` False), or its timeout or deadline was cut to what was left and it timed out, TikTok
    having had less than `SHOPBRIDGE_TIKTOK_TIMEOUT`. Raised for a call's first attempt only: the transport neither
    counts it as a failed attempt nor says an outage (`adapters.tiktok.availability`), nor retries it; it is a
    `TikTokUnavailableError` all the same, so the run ends with TIKTOK_UNAVAILABLE and its queue retries it later
    (review54a F4: a budget spent by calls TikTok answered, slowly but in time, was logged as a process-wide TikTok
    outage). After attempts TikTok failed, the call gives up with the last of their errors instead, the outage said
    (review55 F1)."""


class MalformedResponseError(TransientError):
    pass


class AccessTokenExpiredError(TransientError):
    pass


class AuthCodeOutcomeUnknownError(TikTokError, OutcomeUnknownError):
    pass


class AuthorizationLost(TikTokError, AuthorizationLostError):
    pass


class InvalidAccessTokenError(AuthorizationLost):
    pass


class AuthCodeRejectedError(AuthorizationLost):
    pass


class InvalidRefreshTokenError(AuthorizationLost):
    pass


class MissingScopeError(TikTokError, MissingPermissionError):
    pass


class ClientBugError(TikTokError, GatewayRefusedError):
    pass


class SignatureError(ClientBugError):
    pass


class ClockSkewError(ClientBugError):
    pass


class InvalidRequestError(ClientBugError):
    pass


class UnexpectedResponseError(TikTokError):
    pass


class ApiError(TikTokError, GatewayRefusedError):
    pass


class RecordNotFound(ApiError, RecordNotFoundError):
    pass


class SearchCapExceededError(ApiError):
    pass


class PageTokenRejectedError(ApiError):
    pass


def _mentions(message: str, *needles: str) -> bool:
    lowered = message.lower()
    return any(needle in lowered for needle in needles)


def _classify_gateway_message(message: str, http_status: int) -> type[TikTokError]:
    """36009004 covers a missing sign, a bad token, a bad app_key, a bad timestamp, an unexpected cipher...

    TikTok names the code "Overloaded" (tiktok-api.md sec. 12), and a 503 is its overload, to be retried (sec. 11);
    the status each code comes with is undocumented (sec. 5). So under a 5xx or a 429 a 36009004 whose message names
    none of the request's documented faults (`_REQUEST_FAULT_WORDS`, the token, the timestamp, the sign) is the
    overload: the status decides, and it is retried. Under any other status it is our request's fault."""
    if _mentions(message, "access_token", "access-token", "access token"):
        return InvalidAccessTokenError
    if _mentions(message, "timestamp", "clock"):
        return ClockSkewError
    if re.search(r"\bsign(ature)?\b", message, re.IGNORECASE):  # "missing sign": our signer's bug, like a bad one
        return SignatureError
    if _retried_status(http_status) and not _mentions(message, *_REQUEST_FAULT_WORDS):
        return _class_for_status(http_status)
    return InvalidRequestError


def _class_for_code(code: int, message: str, http_status: int) -> type[TikTokError]:
    by_code: dict[int, type[TikTokError]] = {
        RATE_LIMITED: RateLimitedError,
        INTERNAL_ERROR: ServerError,
        GATEWAY_TIMEOUT: ServerError,
        ACCESS_TOKEN_EXPIRED: AccessTokenExpiredError,
        MISSING_SCOPE: MissingScopeError,
        TOKEN_CIPHER_MISMATCH: InvalidAccessTokenError,
        BAD_SIGNATURE: SignatureError,
        SEARCH_CAP_EXCEEDED: SearchCapExceededError,
        PRODUCT_PAGE_TOKEN_INVALID: PageTokenRejectedError,
    }
    if code in by_code:
        return by_code[code]
    if code == OVERLOADED_GATEWAY:
        return _classify_gateway_message(message, http_status)
    if code in _REQUEST_BUGS:
        return InvalidRequestError
    if code in _RECORDS_NOT_FOUND:
        return RecordNotFound
    # An unknown code under a throttling or failing status is still that: the status is TikTok's gateway talking.
    if _retried_status(http_status):
        return _class_for_status(http_status)
    return ApiError


def _retried_status(http_status: int) -> bool:
    """429, a 5xx, or a 408 / 425: a status that says the request may be sent again as it was."""
    return http_status == 429 or http_status >= 500 or http_status in _REPEATABLE_STATUSES


def _class_for_status(http_status: int) -> type[TikTokError]:
    if http_status == 429:
        return RateLimitedError
    if http_status >= 500 or http_status in _REPEATABLE_STATUSES:
        return ServerError
    return InvalidRequestError


def classify(http_status: int, envelope: Mapping[str, Any] | None) -> TikTokError | None:
    """The error a response stands for, or None for success (2xx and envelope code 0).

    The envelope's `code` decides whenever there is one (TikTok answers both "non-2xx + envelope" and
    "200 + code != 0"), but for a code it does not know or 36009004 ("Overloaded") naming no fault of the
    request, where a 5xx, 429, 408 or 425 decides (retried); without an envelope the status decides, and a 2xx
    without one is malformed.
    """
    if envelope is None or not isinstance(envelope.get("code"), int):
        if 200 <= http_status < 300:
            return MalformedResponseError("TikTok answered without a JSON envelope", http_status=http_status)
        return _class_for_status(http_status)(f"TikTok answered HTTP {http_status}", http_status=http_status)
    code: int = envelope["code"]
    raw_request_id, raw_message = envelope.get("request_id"), envelope.get("message")
    request_id = raw_request_id if isinstance(raw_request_id, str) else None
    # TikTok's text ends up in logs and in a task's errorMessage: one line, bounded, whatever it quotes.
    message = one_line(raw_message, MAX_TIKTOK_MESSAGE_CHARS) if isinstance(raw_message, str) else ""
    if code == SUCCESS:
        if 200 <= http_status < 300:
            return None
        # Code 0 under an error status: trust the status rather than read a body that may be a proxy's.
        return _class_for_status(http_status)(
            f"TikTok answered HTTP {http_status} with code 0", code=code, request_id=request_id, http_status=http_status
        )
    error_class = _class_for_code(code, message, http_status)
    return error_class(message or f"TikTok error {code}", code=code, request_id=request_id, http_status=http_status)
