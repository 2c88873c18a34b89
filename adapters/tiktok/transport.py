"""Signed, paced and retried HTTP calls to TikTok: the envelope's `data` on success, a `TikTokError` otherwise.

Every business call: `app_key`, `timestamp` (seconds, injectable clock), optional `shop_cipher`, `sign` over the exact
body bytes sent, `x-tts-access-token` header. Each attempt: `timeout_seconds` per phase (the pool, connect, write, each
read) and `ATTEMPT_DEADLINE_FACTOR` times as long for its whole answer (`sent_whole`). Transient errors are retried with
equal-jitter exponential backoff up to `max_retries`, each wait at least what a `Retry-After` header of the failed
answer asked (seconds or an HTTP date): TikTok documents no such header (tiktok-api.md sec. 11), so nothing depends on
one, but a throttled answer that names its wait is not retried sooner, into another 429. A call waits at most
`RETRY_AFTER_BUDGET_SECONDS` in all for such waits: one asking for more is raised at once (the queue retries the work
later). Inside a run's time budget (`adapters.tiktok.budget.time_budget`, set by an actor from its time limit) an
attempt's timeout and deadline are cut to what is left, and a retry whose wait leaves no time for an attempt is not
made: the call gives up with its `TransientError`, so the run ends inside its actor's time limit with the outage said.
An attempt the budget itself ended (nothing left to send it, or cut and timed out) is no TikTok failure when TikTok
failed none of the call's earlier attempts: it raises a `TimeBudgetSpentError` at once, with one INFO line and no
outage said (review54a F4); after earlier attempts TikTok failed, the call gives up with the last of their errors and
the outage said, as when no attempt fits (review55 F1).
The token endpoints are GETs on the auth host, unsigned, with `app_secret` in the query, so nothing of their URL
reaches a log line or an exception.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC
from typing import Any

import anyio
import httpx
from msgspec import Raw

from adapters.config import TikTokSettings
from adapters.tiktok import budget, wire
from adapters.tiktok.availability import Availability, host_names
from adapters.tiktok.errors import (
    AccessTokenExpiredError,
    AuthCodeOutcomeUnknownError,
    AuthCodeRejectedError,
    ClientBugError,
    InvalidAccessTokenError,
    InvalidRefreshTokenError,
    InvalidRequestError,
    MalformedResponseError,
    NetworkError,
    RateLimitedError,
    ServerError,
    TikTokError,
    TimeBudgetSpentError,
    TransientError,
    classify,
)
from adapters.tiktok.ratelimit import Limiter, RateLimiter
from adapters.tiktok.redaction import install_redaction
from adapters.tiktok.signing import QueryValue, query_value, sign

logger = logging.getLogger("adapters.tiktok")

# Told of every response or failure: `(what, outcome)`, `what` e.g. "POST /order/202309/orders/search", outcome
# "ok", an error class in snake case ("rate_limited", "network", "server", ...), or "retry" before a retry.
RequestObserver = Callable[[str, str], None]

# The access token, or a callable giving the current one (a `ShopSession` whose tokens may be refreshed meanwhile).
AccessToken = str | Callable[[], str]
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0
RETRY_AFTER_BUDGET_SECONDS = 20.0  # Retry-After waits of one call, in all; a wait beyond it gives up at once
# The shortest attempt worth a retry inside a time budget (seconds; or the whole timeout, when shorter): a retry whose
# wait leaves less than that of the budget gives up instead.
MIN_ATTEMPT_SECONDS = 1.0
# An attempt's whole answer must arrive within this many times `timeout_seconds` (which bounds each phase: the pool,
# connect, write, each read); an answer trickling in past it is a timeout, retried (`sent_whole`)
ATTEMPT_DEADLINE_FACTOR = 2.0


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The one serialization of a request body: compact, UTF-8 kept as is. These bytes are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decode_envelope(content: bytes) -> tuple[Mapping[str, Any] | None, Raw]:
    """The envelope's fields for `classify` (None when the body is not a JSON object), and its `data` undecoded:
    the caller decodes it straight into the structs it expects (`adapters.tiktok.wire`)."""
    decoded = wire.envelope(content)
    if decoded is None:
        return None, wire.NO_DATA
    return {"code": decoded.code, "message": decoded.message, "request_id": decoded.request_id}, decoded.data


class AnswerDeadlineExceeded(httpx.TimeoutException):
    """No whole answer within an attempt's deadline (`sent_whole`), though no phase of it outlasted its timeout."""


async def sent_whole(request: Coroutine[Any, Any, httpx.Response], deadline_seconds: float) -> httpx.Response:
    """Await one httpx request, ended by `deadline_seconds` (from its start) or its caller's cancellation, never by
    `Task.cancel()`: in a task of its own, inside an anyio cancel scope.

    httpx's timeout bounds each phase (the pool, connect, write, each read), never a whole request: an answer
    trickling in, a byte within each read's timeout, held a call for as long as it trickled (clientreview53: 8.0 s
    for a 1 s timeout, no retry), and a worker's shutdown drain waited for it up to its 30 s. The scope's deadline
    ends it with `AnswerDeadlineExceeded` (a `httpx.TimeoutException`: the transport's "timed out", retried).

    httpcore cannot take `Task.cancel()` safely: asyncio's own cancellation passes through its anyio shields, so a
    cancel that lands while its pool closes expired keep-alive connections (one `await` per connection) drops the
    rest of them from the pool unclosed; the client's `aclose()` then misses them and their sockets outlive the event
    loop (issue 13: 11 connections of the worker's pool left open at a shutdown under load). So the caller's
    cancellation does not reach the request's task (`asyncio.shield`); it cancels the request's scope instead, whose
    cancellation those shields hold against (as `sandbox.webhooks` cancels its deliveries): the caller stops waiting
    at once (`CancelledError`), and the request ends within a few turns of the loop, its connection closed or handed
    back. The worker's shutdown drains every task of its loop before it closes the client (`workers.resources`). A
    failure nobody waits for any more is retrieved, not logged.
    """
    scope = anyio.CancelScope()
    task = asyncio.ensure_future(_within(scope, request, deadline_seconds))
    task.add_done_callback(_retrieve)
    try:
        return _unbound(await asyncio.shield(task))
    except asyncio.CancelledError:
        scope.cancel()
        raise


async def _within(
    scope: anyio.CancelScope, request: Coroutine[Any, Any, httpx.Response], deadline_seconds: float
) -> httpx.Response:
    scope.deadline = anyio.current_time() + deadline_seconds
    with scope:
        return await request
    if anyio.current_time() >= scope.deadline:
        raise AnswerDeadlineExceeded(f"no whole answer within {deadline_seconds:g}s")
    raise asyncio.CancelledError  # its caller cancelled it: nobody waits for this


_READ = httpx.ByteStream(b"")


def _unbound(response: httpx.Response) -> httpx.Response:
    """`response`, read whole and closed (no request here streams), without its stream. httpx binds the two to each
    other (`response.stream` is a `BoundAsyncStream` holding the response): a reference cycle that only the garbage
    collector frees, and with it the body (an orders page: ~160 KB) and httpcore's objects of the call (~50). Its
    stream is spent once the body is read; dropped, the response goes as soon as the caller is done with it."""
    if response.is_closed:
        response.stream = _READ
    return response


def _retrieve(task: asyncio.Future[httpx.Response]) -> None:
    if not task.cancelled():
        task.exception()


class Transport:
    """The request machinery shared by every endpoint; one per `TikTokClient`."""

    def __init__(
        self,
        settings: TikTokSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        rate_limiter: Limiter | None = None,
        observer: RequestObserver | None = None,
        availability: Availability | None = None,
    ) -> None:
        self.settings = settings
        self._http = http
        self._observe: RequestObserver = observer or (lambda what, outcome: None)
        self.clock = clock
        self.sleep = sleep
        self._rng = rng
        self._limiter = rate_limiter or RateLimiter(settings.rate_limit_per_second)
        # says when an outage of each host begins and ends: the process's one for these hosts (`availability.shared`),
        # or its own
        self.availability = availability or Availability(
            settings.app_key, clock, host_names(settings.api_url, settings.auth_url)
        )
        self._timeout = httpx.Timeout(settings.timeout_seconds)
        install_redaction()  # httpx logs full URLs at INFO, and the token endpoints carry app_secret

    def backoff(self, attempt: int) -> float:
        """Equal jitter: half of min(cap, base * 2^attempt) is fixed, half is random (0-based attempt)."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**attempt)
        return ceiling / 2 + self._rng() * ceiling / 2

    async def call(self, method: str, path: str, **options: Any) -> Any:
        """`call_raw` (same arguments), its `data` as plain JSON values (dicts, lists; floats as Decimal)."""
        return wire.plain(await self.call_raw(method, path, **options))

    async def call_raw(
        self,
        method: str,
        path: str,
        *,
        access_token: AccessToken,
        shop_cipher: str | None = None,
        query: Mapping[str, QueryValue | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Raw:
        """A signed business call; the envelope's `data`, undecoded (decode it into a `wire` struct).

        Raises `AccessTokenExpiredError` at once (the caller refreshes), a `TransientError` once `max_retries`
        retries are spent, any other `TikTokError` at once.
        """
        content = None if body is None else encode_body(body)
        # Empty values are never sent: whatever is on the wire must be in the signature.
        wire_query = {k: query_value(v) for k, v in (query or {}).items() if v is not None and query_value(v) != ""}
        lane = (self.settings.app_key, shop_cipher)
        host = self.settings.api_url
        attempt, told, answers_before = 0, 0.0, self.availability.answers(host)
        failure: TransientError | None = None  # the call's last attempt TikTok failed (none: none did)
        while True:
            try:
                await self._limiter.acquire(lane)
                return await self._send_signed(method, path, access_token, shop_cipher, wire_query, content)
            except AccessTokenExpiredError:
                raise
            except TimeBudgetSpentError as exc:
                # each error keeps the cause it was raised with (the httpx failure)
                raise self._budget_ended(f"{method} {path}", attempt, exc, failure, (host, answers_before))  # noqa: B904
            except TransientError as exc:
                if not attempt:
                    answers_before = self.availability.answers(host)
                told += await self._before_retry(f"{method} {path}", attempt, exc, told, (host, answers_before))
                attempt, failure = attempt + 1, exc

    async def token_call(self, path: str, grant: Mapping[str, str], *, single_use: bool = False) -> Raw:
        """GET on the auth host with `grant` (its `grant_type` always given); a non-transient refusal is
        `InvalidRefreshTokenError` (grant_type refresh_token) or `AuthCodeRejectedError` (authorized_code).

        `single_use`: the grant can be spent once (an auth code, tiktok-api.md sec. 2), so it is sent again only
        after a failure that proves TikTok never took it (no connection made, rate limited, a gateway's bare 408 or
        425: `_never_taken`); after any other
        transient failure (a timeout, a dropped connection, a 5xx) TikTok may have spent it, and a second request
        could only be refused: `AuthCodeOutcomeUnknownError` is raised at once.
        """
        params = {"app_key": self.settings.app_key, "app_secret": self.settings.app_secret, **grant}
        host = self.settings.auth_url
        attempt, told, answers_before = 0, 0.0, self.availability.answers(host)
        failure: TransientError | None = None  # the call's last attempt TikTok failed (none: none did)
        while True:
            try:
                return await self._send_token(path, params)
            except TransientError as exc:
                if single_use and not _never_taken(exc):
                    logger.warning("tiktok GET %s: the answer was lost (%s); not sent again: single-use", path, exc)
                    raise _outcome_unknown(exc, f"GET {path}") from None
                if isinstance(exc, TimeBudgetSpentError):
                    raise self._budget_ended(f"GET {path}", attempt, exc, failure, (host, answers_before)) from None
                if not attempt:
                    answers_before = self.availability.answers(host)
                told += await self._before_retry(f"GET {path}", attempt, exc, told, (host, answers_before))
                attempt, failure = attempt + 1, exc
            except TikTokError as exc:  # already logged once, with its HTTP status (`_data_or_raise`)
                raise _token_error(exc, grant["grant_type"]) from None

    def _budget_ended(
        self,
        what: str,
        attempt: int,
        error: TimeBudgetSpentError,
        failure: TransientError | None,
        answers_before: tuple[str, int],
    ) -> TransientError:
        """The run's time budget ended the call at `attempt` (0-based; `error`); the error for the caller to raise.

        `failure` None (TikTok failed none of the call's attempts: a slow but answering TikTok left the run too little
        time): no failed attempt nor outage for `availability` (review54a F4), one INFO line; `error` is raised.
        Else TikTok failed the call's earlier attempts, each given its full timeout (timed out, a 5xx, a dropped
        connection: `failure` is the last of them), and the budget only cut the last try short: the call gives up as
        `_before_retry` does (`answers_before` as it takes it), the cut attempt counted as failed and the outage said
        (`Availability.gave_up`); `failure`, TikTok's own, is raised (review55 F1: a TikTok that never answered was
        said "no TikTok failure" at every call of a 45 s budget, and no outage at all)."""
        run_budget = budget.current()
        seconds = f"{run_budget.seconds:g} s" if run_budget is not None else "time"
        if failure is not None:
            self.availability.failed(answers_before[0])
            self.availability.gave_up(
                what,
                f"gave up after {attempt + 1} attempts: the run's {seconds} for TikTok are spent (the last attempt "
                f"{error}): {failure}",
                *answers_before,
            )
            return failure
        logger.info(
            "tiktok %s ended at attempt %d: the run's %s for TikTok are spent (%s); no TikTok failure, the run is "
            "retried later",
            what, attempt + 1, seconds, error,
        )  # fmt: skip
        return error

    async def _before_retry(
        self, what: str, attempt: int, error: TransientError, told: float, answers_before: tuple[str, int]
    ) -> float:
        """Sleep the backoff for `attempt`, or at least the answer's Retry-After; re-raise `error` when the retries
        are spent, or when that Retry-After would take the call's waits for it (`told` so far) past
        `RETRY_AFTER_BUDGET_SECONDS`. Returns the seconds waited because of a Retry-After (0 without one).
        `answers_before`: the host the call goes to (`api_url` or `auth_url`) and its `availability.answers` at the
        call's first failed attempt (`Availability.gave_up`)."""
        self.availability.failed(answers_before[0])
        if attempt >= self.settings.max_retries:
            self.availability.gave_up(what, f"gave up after {attempt + 1} attempts: {error}", *answers_before)
            raise error
        asked = error.retry_after
        if asked is not None and told + asked > RETRY_AFTER_BUDGET_SECONDS:
            self.availability.gave_up(
                what,
                f"gave up: TikTok asked to retry in {asked:.0f} s (Retry-After), past this call's "
                f"{RETRY_AFTER_BUDGET_SECONDS:.0f} s: {error}",
                *answers_before,
            )
            raise error
        delay = self.backoff(attempt)
        if asked is not None:
            delay = max(delay, asked)
        left, run_budget = budget.seconds_left(), budget.current()
        if left is not None and run_budget is not None:
            if delay + min(self.settings.timeout_seconds, MIN_ATTEMPT_SECONDS) > left:
                self.availability.gave_up(
                    what,
                    f"gave up after {attempt + 1} attempts: the run's {run_budget.seconds:g} s for TikTok are "
                    f"spent: {error}",
                    *answers_before,
                )
                raise error
        self._observe(what, "retry")
        # DEBUG: an outage is two lines, when it begins and ends (`adapters.tiktok.availability`), not two an attempt
        logger.debug("tiktok %s attempt %d failed (%s); retrying in %.2fs", what, attempt + 1, error, delay)
        await self.sleep(delay)
        return delay if asked is not None else 0.0

    async def _send_signed(
        self,
        method: str,
        path: str,
        access_token: AccessToken,
        shop_cipher: str | None,
        query: Mapping[str, str],
        content: bytes | None,
    ) -> Raw:
        # Signed per attempt: the timestamp must be fresh (window now -5 min .. +30 s), a signature is never reused.
        params: dict[str, str] = {"app_key": self.settings.app_key, "timestamp": str(int(self.clock())), **query}
        if shop_cipher:
            params["shop_cipher"] = shop_cipher
        params["sign"] = sign(self.settings.app_secret, path, params, content)
        # Read as late as possible: a refresh may have replaced the token while this request waited for its slot.
        token = access_token() if callable(access_token) else access_token
        headers = {"content-type": "application/json", "x-tts-access-token": token}
        url = self.settings.api_url + path
        timeout = self._attempt_timeout(f"{method} {path}")
        deadline = self._deadline(timeout)
        try:
            response = await sent_whole(
                self._http.request(method, url, params=params, content=content, headers=headers, timeout=timeout),
                deadline,
            )
        except httpx.TransportError as exc:
            raise self._network_error(f"{method} {path}", exc, timeout, deadline) from exc
        except httpx.DecodingError as exc:
            raise self._undecodable(f"{method} {path}", exc) from exc
        # A token refusal a session will resolve (`ShopSession._authorized`: it adopts the pair another process
        # stored, or says at WARNING that none explains it) is routine here: a refresh racing an in-flight call.
        return self._data_or_raise(
            f"{method} {path}", response, self.settings.api_url, session_decides=callable(access_token)
        )

    async def _send_token(self, path: str, params: Mapping[str, str]) -> Raw:
        timeout = self._attempt_timeout(f"GET {path}")
        deadline = self._deadline(timeout)
        try:
            response = await sent_whole(
                self._http.get(self.settings.auth_url + path, params=params, timeout=timeout), deadline
            )
        except httpx.TransportError as exc:  # `from None`: the httpx exception holds the request, secret and all
            raise self._network_error(f"GET {path}", exc, timeout, deadline) from None
        except httpx.DecodingError as exc:
            raise self._undecodable(f"GET {path}", exc) from None
        return self._data_or_raise(f"GET {path}", response, self.settings.auth_url)

    def _attempt_timeout(self, what: str) -> httpx.Timeout:
        """One attempt's timeout: `SHOPBRIDGE_TIKTOK_TIMEOUT`, cut to what is left of the run's time budget
        (`adapters.tiktok.budget`). With nothing left, a `TimeBudgetSpentError` that never left (observed as
        "timeout")."""
        left = budget.seconds_left()
        if left is None or left >= self.settings.timeout_seconds:
            return self._timeout
        if left <= 0:
            self._observe(what, "timeout")
            error = TimeBudgetSpentError("not sent: the run's time budget for TikTok is spent")
            error.request_sent = False
            raise error
        return httpx.Timeout(left)

    def _deadline(self, timeout: httpx.Timeout) -> float:
        """An attempt's whole-answer deadline (seconds): `ATTEMPT_DEADLINE_FACTOR` times its timeout, and no more than
        what is left of the run's time budget (`_attempt_timeout` has cut the timeout to it already)."""
        left = budget.seconds_left()
        deadline = ATTEMPT_DEADLINE_FACTOR * (timeout.read or self.settings.timeout_seconds)
        return deadline if left is None else max(min(deadline, left), 0.0)

    def _network_error(
        self, what: str, exc: httpx.TransportError, timeout: httpx.Timeout, deadline: float
    ) -> NetworkError:
        """`exc` as a `NetworkError` (observed as "timeout" or "network"), which says whether the request left; a
        `TimeBudgetSpentError` when the attempt timed out on a bound the run's budget had cut (`timeout` shorter than
        `SHOPBRIDGE_TIKTOK_TIMEOUT`, or the whole-answer `deadline` shorter than its `ATTEMPT_DEADLINE_FACTOR` times):
        TikTok was not given its full time, so its silence says nothing of an outage."""
        timed_out = isinstance(exc, httpx.TimeoutException)
        self._observe(what, "timeout" if timed_out else "network")
        if isinstance(exc, AnswerDeadlineExceeded):
            text = f"timed out: {exc}"  # e.g. "no whole answer within 20s"
        elif timed_out:
            text = f"timed out after {timeout.read:.3g}s"
        else:
            text = f"connection failed: {type(exc).__name__}"
        full_deadline = ATTEMPT_DEADLINE_FACTOR * (timeout.read or self.settings.timeout_seconds)
        cut = timeout is not self._timeout or (isinstance(exc, AnswerDeadlineExceeded) and deadline < full_deadline)
        if timed_out and cut:
            error: NetworkError = TimeBudgetSpentError(f"{text}, cut to what was left of the run's time for TikTok")
        else:
            error = NetworkError(text)
        # No connection, no request: a connect error or timeout, or no free connection in the pool.
        error.request_sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        return error

    def _undecodable(self, what: str, exc: httpx.DecodingError) -> MalformedResponseError:
        """An answer whose body does not decode by its `Content-Encoding` (plain JSON labelled gzip: a misconfigured
        proxy or CDN; a body cut mid-stream) as a `MalformedResponseError`, retried like a body that is not JSON.
        httpx raises `DecodingError` while it reads the body, which is no `TransportError`: it escaped the client
        raw, an import took it for a bug (INTERNAL and a traceback), and no retry was made (clientreview53)."""
        self._observe(what, "malformed_response")
        error = MalformedResponseError(f"TikTok's answer did not decode by its Content-Encoding ({exc})")
        error.api = what
        logger.debug("tiktok %s -> undecodable answer: %s", what, exc)
        return error

    def _data_or_raise(self, what: str, response: httpx.Response, host: str, *, session_decides: bool = False) -> Raw:
        """The answer's `data`, or its error raised after one line: DEBUG for a transient error (retried; an outage
        is said by `availability`), INFO for a refused access token a session resolves (`session_decides`), WARNING
        for any other refusal. `host`: the base URL that answered (`availability` counts answers per host)."""
        envelope, data = decode_envelope(response.content)
        error = classify(response.status_code, envelope)
        self._observe(what, "ok" if error is None else _outcome(error))
        if error is None or not error.retryable or isinstance(error, AccessTokenExpiredError):
            self.availability.answered(host)  # TikTok read the request: no outage (a 105002 is an answer too)
        if error is not None:
            error.api = what  # "METHOD path": what a refusal refused (e.g. the API a missing scope guards)
            if error.retryable:
                error.retry_after = retry_after_seconds(response.headers.get("retry-after"), self.clock())
            routine = session_decides and isinstance(error, InvalidAccessTokenError)
            logger.log(
                logging.DEBUG if error.retryable else logging.INFO if routine else logging.WARNING,
                "tiktok %s -> http=%s code=%s request_id=%s",
                what,
                response.status_code,
                error.code,
                error.request_id,
            )
            raise error
        assert envelope is not None  # classify returns an error for a missing envelope
        logger.debug("tiktok %s -> ok request_id=%s", what, envelope.get("request_id"))
        return data


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """A `Retry-After` header's wait in seconds (RFC 9110 sec. 10.2.3: whole seconds, or an HTTP date, read
    against `now`, Unix seconds); 0 for a date past, None for no header or one that is neither."""
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        return float(min(int(text), 10**9))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, its source's zone unknown (RFC 5322); HTTP dates are in GMT anyway
        when = when.replace(tzinfo=UTC)
    wait = when.timestamp() - now
    return max(0.0, wait) if math.isfinite(wait) else None


def _outcome(error: TikTokError) -> str:
    """`RateLimitedError` → "rate_limited": a metric label of few values."""
    name = type(error).__name__.removesuffix("Error")
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


# A gateway's statuses that say the request was not processed, answered without TikTok's envelope (`code` None):
# 408 Request Timeout, the request not received whole in time ("the client MAY repeat that request", RFC 9110
# sec. 15.5.9), and 425 Too Early, not processed for fear of a replay (RFC 8470 sec. 5.2). `classify` retries them.
_NOT_PROCESSED_STATUSES = frozenset({408, 425})


def _never_taken(error: TransientError) -> bool:
    """True when TikTok cannot have acted on the request: it never left (no connection), TikTok turned it away unread
    (rate limited, HTTP 429 / 36009002), or a gateway in front of it did (a bare 408 or 425: review54a F3, where the
    merchant was asked for a new consent that one more try spared). A timeout, a dropped connection or a 5xx may
    follow the work."""
    if isinstance(error, NetworkError):
        return not error.request_sent
    if isinstance(error, ServerError) and error.code is None:
        return error.http_status in _NOT_PROCESSED_STATUSES
    return isinstance(error, RateLimitedError)


def _outcome_unknown(error: TransientError, what: str) -> AuthCodeOutcomeUnknownError:
    unknown = AuthCodeOutcomeUnknownError(
        f"TikTok's answer to the code exchange was lost ({error.message}); the code may be spent",
        code=error.code,
        request_id=error.request_id,
        http_status=error.http_status,
    )
    unknown.api = what
    return unknown


def _token_error(error: TikTokError, grant_type: str) -> TikTokError:
    """A token endpoint's refusal in our terms: a refused refresh token means the authorization is lost."""
    about_app = any(word in error.message.lower() for word in ("app_key", "app_secret", "app key", "app secret"))
    error_class: type[TikTokError]
    if about_app or isinstance(error, ClientBugError):
        error_class = InvalidRequestError  # our configuration, not the seller's authorization
    elif grant_type == "refresh_token":
        error_class = InvalidRefreshTokenError
    else:
        error_class = AuthCodeRejectedError
    translated = error_class(error.message, code=error.code, request_id=error.request_id, http_status=error.http_status)
    translated.api = error.api
    return translated
