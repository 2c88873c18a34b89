"""The transport's pacing lane, per-request timeout and deadline, retry schedule and network failures, over
`httpx.MockTransport`.

TikTok's budget is per app and shop (tiktok-api.md sec. 11); retries use equal-jitter exponential backoff (base
0.2 s, cap 5 s). The clock, sleep and jitter are injected: nothing here waits or reads a real timer, but the
attempt's deadline (the event loop's clock, 0.1 s twice a call).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Hashable
from typing import Any

import httpx
import pytest

from adapters.tiktok import NetworkError, RateLimiter, TikTokClient, TimeBudgetSpentError, budget
from adapters.tiktok.budget import time_budget
from adapters.tiktok.errors import (
    AuthCodeRejectedError,
    InvalidRefreshTokenError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
)
from adapters.tiktok.transport import retry_after_seconds
from domain.ports import TikTokUnavailableError
from tests.unit.test_tiktok_client import NOW, SETTINGS, Handler, Recorder, fail, ok, token_data


class LaneRecorder:
    """A `Limiter` (the port the transport paces through) that lets every request go and notes its lane."""

    def __init__(self) -> None:
        self.lanes: list[Hashable] = []

    async def acquire(self, key: Hashable) -> None:
        self.lanes.append(key)


def client_with(
    handler: Handler,
    *,
    app_key: str = "appkey",
    max_retries: int = 3,
    rng: float = 0.5,
    limiter: Any = None,
    slept: list[float] | None = None,
    clock: Any = lambda: NOW,
) -> tuple[TikTokClient, Recorder]:
    recorder = Recorder(handler)
    sleeps = slept if slept is not None else []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = TikTokClient(
        dataclasses.replace(SETTINGS, app_key=app_key, max_retries=max_retries),
        httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        clock=clock, sleep=fake_sleep, rng=lambda: rng, rate_limiter=limiter or RateLimiter(10_000),
    )  # fmt: skip
    return client, recorder


async def test_each_request_is_paced_in_the_lane_of_its_app_and_shop():
    # given two apps' clients sharing one limiter
    lanes = LaneRecorder()
    first, _ = client_with(lambda r: ok({"orders": [], "shops": []}), limiter=lanes)
    second, _ = client_with(lambda r: ok({"orders": [], "shops": []}), app_key="otherapp", limiter=lanes)
    # when each calls a shop's API, and one lists the seller's shops (no shop cipher)
    await first.get_orders("TTP_token", "GCP_a", ["1"])
    await second.get_orders("TTP_token", "GCP_a", ["1"])
    await first.authorized_shops("TTP_token")
    # then each request waited in its own (app key, shop cipher) lane
    assert lanes.lanes == [("appkey", "GCP_a"), ("otherapp", "GCP_a"), ("appkey", None)]


async def test_a_shared_limiter_paces_one_apps_shop_but_not_another_apps():
    # given a 10/s limiter on a frozen clock, shared by two apps' clients
    slept: list[float] = []

    async def limiter_sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(10, headroom=1.0, clock=lambda: NOW, sleep=limiter_sleep)
    first, _ = client_with(lambda r: ok({"orders": []}), limiter=limiter)
    second, _ = client_with(lambda r: ok({"orders": []}), app_key="otherapp", limiter=limiter)
    # when app one calls shop A twice and app two calls shop A once
    await first.get_orders("TTP_token", "GCP_a", ["1"])
    await second.get_orders("TTP_token", "GCP_a", ["1"])
    await first.get_orders("TTP_token", "GCP_a", ["1"])
    # then only app one's second call waits for its slot, 0.1 s after its first
    assert slept == pytest.approx([0.1])


async def test_every_request_carries_the_configured_timeout_for_every_phase():
    client, recorder = client_with(lambda r: ok(token_data("1") | {"orders": []}))
    await client.get_orders("TTP_token", "GCP_a", ["1"])
    await client.exchange_code("CODE")
    # SETTINGS.timeout_seconds is 2: connect, write, pool and read alike, business and token calls alike
    for request in recorder.requests:
        assert request.extensions["timeout"] == {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}


@pytest.mark.parametrize(
    ("failure", "text"),
    [
        (httpx.ReadTimeout("slow"), "timed out after 2s"),
        (httpx.ConnectTimeout("slow"), "timed out after 2s"),
        (httpx.ConnectError("refused"), "connection failed: ConnectError"),
        (httpx.RemoteProtocolError("dropped"), "connection failed: RemoteProtocolError"),
    ],
)
async def test_a_network_failure_says_what_happened(failure: Exception, text: str):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    client, recorder = client_with(handler, max_retries=0)
    with pytest.raises(NetworkError) as business:
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    with pytest.raises(NetworkError) as token:
        await client.refresh("TTP_refresh")  # (a code exchange's lost answer: test_tiktok_code_exchange.py)
    # what a task's errorMessage shows: the cause alone (no HTTP status, code or request id); one attempt each
    assert business.value.message == text and token.value.message == text
    assert business.value.http_status is None and token.value.http_status is None
    assert str(business.value) == text and str(token.value) == text
    assert len(recorder.requests) == 2


class LabelledGzip(httpx.AsyncByteStream):
    """A body of plain JSON that its `Content-Encoding: gzip` header says is compressed (a misconfigured proxy)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"code":0,"message":"Success","data":{"orders":[]}}'


async def test_an_answer_that_does_not_decode_by_its_content_encoding_is_malformed_and_retried():
    # given TikTok (or a proxy before it) answering every call with a body its Content-Encoding does not describe
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, stream=LabelledGzip())

    slept: list[float] = []
    client, recorder = client_with(handler, max_retries=2, slept=slept)
    # when a business call and a token refresh meet it
    with pytest.raises(MalformedResponseError) as business:
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    with pytest.raises(MalformedResponseError) as token:
        await client.refresh("TTP_refresh")
    # then each was retried with backoff and ended as TikTok unavailable (a task's TIKTOK_UNAVAILABLE), not as the
    # raw httpx.DecodingError an import took for a bug (INTERNAL, a traceback)
    assert len(recorder.requests) == 2 * 3 and slept == pytest.approx([0.15, 0.3] * 2)
    for caught in (business.value, token.value):
        assert isinstance(caught, TikTokUnavailableError) and caught.retryable
        assert caught.message == (
            "TikTok's answer did not decode by its Content-Encoding (Error -3 while decompressing data: incorrect "
            "header check)"
        )
    assert str(business.value).endswith("(api=GET /order/202309/orders)")
    # and nothing of the token request (its URL carries app_secret) is chained to the error
    assert token.value.__cause__ is None and token.value.__suppress_context__


class Trickle(httpx.AsyncByteStream):
    """JSON's leading whitespace, one space every 10 ms for 10 s, then the envelope: each read is quick."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b" "
            await asyncio.sleep(0.01)
        yield b'{"code":0,"message":"Success","data":{"orders":[]}}'


async def test_an_answer_trickling_in_past_the_attempts_deadline_is_a_timeout_retried_like_one():
    # given TikTok trickling every answer, and a 50 ms timeout (each phase; MockTransport applies none): 100 ms for
    # an attempt's whole answer
    sent: list[httpx.Request] = []

    def trickling(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, stream=Trickle())

    client = TikTokClient(
        dataclasses.replace(SETTINGS, timeout_seconds=0.05, max_retries=1),
        httpx.AsyncClient(transport=httpx.MockTransport(trickling)),
        sleep=lambda seconds: asyncio.sleep(0), rate_limiter=RateLimiter(10_000),
    )  # fmt: skip
    # when a business call and a token refresh meet it
    with pytest.raises(NetworkError) as business:
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    with pytest.raises(NetworkError) as token:
        await client.refresh("TTP_refresh")
    # then each gave up after its retry, a timeout after the request was sent (TikTok may have acted on it)
    assert len(sent) == 2 * 2
    for caught in (business.value, token.value):
        assert caught.message == "timed out: no whole answer within 0.1s" and caught.request_sent


@pytest.mark.parametrize(
    ("rng", "delays"),
    [
        # equal jitter: half of min(5, 0.2 * 2^attempt) fixed, the other half scaled by the random draw
        (0.0, [0.1, 0.2, 0.4, 0.8, 1.6, 2.5, 2.5]),
        (0.5, [0.15, 0.3, 0.6, 1.2, 2.4, 3.75, 3.75]),
        (1.0, [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]),
    ],
)
async def test_the_backoff_doubles_from_200_ms_up_to_5_s_with_equal_jitter(rng: float, delays: list[float]):
    slept: list[float] = []
    client, recorder = client_with(
        lambda r: fail(36009003, "Internal error", status=500), max_retries=7, rng=rng, slept=slept
    )
    with pytest.raises(ServerError):
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    assert slept == pytest.approx(delays)
    assert len(recorder.requests) == 8


async def test_inside_a_time_budget_an_attempt_gets_what_is_left_and_no_retry_outlasts_it(caplog):
    # given a TikTok failing with 500, and a run's budget of 0.5 s (less than a retry's wait plus a 1 s attempt)
    slept: list[float] = []
    client, recorder = client_with(lambda r: fail(36009003, "Internal error", status=500), max_retries=3, slept=slept)
    with caplog.at_level(logging.WARNING, "adapters.tiktok"), time_budget(0.5):
        # when a call is made: then its one attempt had at most what was left, and it gave up without waiting
        with pytest.raises(ServerError):
            await client.get_orders("TTP_token", "GCP_a", ["1"])
        # and with the budget spent, the next call sends nothing and says so: a NetworkError, never sent
        with time_budget(1e-9):
            with pytest.raises(NetworkError) as spent:
                await client.refresh("TTP_refresh")
    assert len(recorder.requests) == 1 and slept == []
    assert 0 < recorder.requests[0].extensions["timeout"]["read"] <= 0.5
    assert "the run's 0.5 s for TikTok are spent" in caplog.text
    assert (spent.value.message, spent.value.request_sent) == (
        "not sent: the run's time budget for TikTok is spent", False,
    )  # fmt: skip
    # and outside a budget, calls are bounded per attempt only
    assert budget.current() is None and budget.seconds_left() is None
    with pytest.raises(ValueError, match="positive"), time_budget(0):
        pass


def answering_in(seconds: float) -> Handler:
    """A TikTok that answers every request `seconds` after it is read: an attempt given less times out (httpx's read
    timeout, raised here at once: nothing waits)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.extensions["timeout"]["read"] < seconds:
            raise httpx.ReadTimeout("no answer within the attempt's timeout", request=request)
        return ok({})

    return answer


async def test_an_attempt_the_run_budget_ended_is_no_tiktok_failure_and_says_no_outage(caplog):
    """Review54a F4: a budget spent by calls TikTok answered in time cut the next call's attempt, which timed out (or
    was not sent at all): the transport counted it as a failed attempt and said a process-wide TikTok outage
    (`Availability.gave_up`: "TikTok is unavailable to app ... since ...") though TikTok had failed nothing."""
    # given a TikTok that answers in 0.4 s, well inside the 10 s timeout, and retries on
    slept: list[float] = []
    client, recorder = client_with(answering_in(0.4), max_retries=3, slept=slept)
    with caplog.at_level(logging.DEBUG, "adapters.tiktok"):
        # when a run with 0.3 s left for TikTok calls it: its attempt is cut to what is left, and times out
        with time_budget(0.3), pytest.raises(TimeBudgetSpentError) as cut:
            await client.transport.call_raw("GET", "/x", access_token="t")
        # and a run with nothing left calls it: nothing is sent
        with time_budget(1e-9), pytest.raises(TimeBudgetSpentError) as unsent:
            await client.transport.call_raw("GET", "/x", access_token="t")
        # and a call outside a budget is answered
        await client.transport.call_raw("GET", "/x", access_token="t")

    # then both end at once, not retried, as TikTokUnavailableErrors (the run is retried later: TIKTOK_UNAVAILABLE)
    assert len(recorder.requests) == 2 and slept == []
    assert isinstance(cut.value, TikTokUnavailableError) and (cut.value.request_sent, unsent.value.request_sent) == (
        True, False,
    )  # fmt: skip
    # and no outage was said, begun or ended (no attempt counted as failed), one INFO line for each
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [m for m in said if "TikTok is unavailable" in m or "answers app" in m], said
    ended = [m for m in said if "for TikTok are spent" in m]
    assert len(ended) == 2 and all("no TikTok failure" in m for m in ended), said
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("others_answered", [True, False])
async def test_a_call_that_gives_up_while_tiktok_answers_other_calls_says_no_outage(caplog, others_answered: bool):
    """Review54a F2: a poll's read of one product TikTok kept failing (a 5xx for that id) said the process-wide outage,
    `TikTok is unavailable to app …`, and its end at every poll, while TikTok answered the poll's other reads."""

    # given a TikTok that fails every request for one product with 500 and answers the others
    def tiktok(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/failing"):
            return fail(36009003, "Internal error, please retry.", status=500)
        return ok({})

    recorder = Recorder(tiktok)
    client: TikTokClient | None = None

    async def backoff(seconds: float) -> None:  # while the failing call waits to retry, another call is answered
        if others_answered:
            assert client is not None
            await client.transport.call_raw("GET", "/product/202309/products/fine", access_token="t")

    client = TikTokClient(
        dataclasses.replace(SETTINGS, max_retries=2), httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        clock=lambda: NOW, sleep=backoff, rng=lambda: 0.5, rate_limiter=RateLimiter(10_000),
    )  # fmt: skip
    # when the failing product's read gives up, its retries spent
    with caplog.at_level(logging.DEBUG, "adapters.tiktok"), pytest.raises(ServerError):
        await client.transport.call_raw("GET", "/product/202309/products/failing", access_token="t")
    # then an outage is said only when TikTok answered nothing meanwhile
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert bool([m for m in warned if "TikTok is unavailable" in m]) is not others_answered, warned
    assert len(recorder.requests) == (5 if others_answered else 3)


async def test_an_api_host_outage_is_said_though_the_auth_host_answers_token_calls_meanwhile(caplog):
    """Review55 F3: TikTok's API host failing every request, a token refresh the auth host (another service) answered
    during a failing call's backoffs counted as "TikTok answered other calls meanwhile": the call gave up at DEBUG
    only, and the API host's outage went unsaid as long as the token sweep's refreshes came."""

    # given a TikTok whose API host answers 503 to everything, and whose auth host answers token refreshes
    def tiktok(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return ok(token_data("new"))
        return httpx.Response(503, text="Service Unavailable")

    recorder = Recorder(tiktok)
    client: TikTokClient | None = None

    async def backoff(seconds: float) -> None:  # while the failing call waits to retry, a token refresh is answered
        assert client is not None
        grant = {"grant_type": "refresh_token", "refresh_token": "r"}
        await client.transport.token_call("/api/v2/token/refresh", grant)

    client = TikTokClient(
        dataclasses.replace(SETTINGS, max_retries=2), httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        clock=lambda: NOW, sleep=backoff, rng=lambda: 0.5, rate_limiter=RateLimiter(10_000),
    )  # fmt: skip
    # when an orders read gives up, its retries spent
    with caplog.at_level(logging.DEBUG, "adapters.tiktok"), pytest.raises(ServerError):
        await client.transport.call_raw("GET", "/order/202309/orders", access_token="t")
    # then the API host's outage is said, once: the auth host's answers say nothing of it
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([m for m in warned if "TikTok is unavailable" in m and "/order/202309/orders" in m]) == 1, warned
    assert [r.url.host for r in recorder.requests].count("auth.example") == 2 and len(recorder.requests) == 5


async def test_an_auth_host_outage_is_said_once_though_the_api_host_answers_meanwhile(caplog):
    """Outage56, the other way round: the outage state was one per app, so while the auth host failed every token
    refresh, each answer of the API host ended the outage and the next refresh given up began another."""
    auth_up = [False]

    # given a TikTok whose auth host answers 503 until it is back, and whose API host answers every call
    def tiktok(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return ok(token_data("new")) if auth_up[0] else httpx.Response(503, text="Service Unavailable")
        return ok({"orders": []})

    client, _ = client_with(tiktok, max_retries=0)
    availability, grant = client.transport.availability, {"grant_type": "refresh_token", "refresh_token": "r"}
    states: list[bool] = []
    with caplog.at_level(logging.INFO, "adapters.tiktok"):
        for _ in range(3):  # when a refresh gives up, then the API host answers a call, three times over
            with pytest.raises(ServerError):
                await client.transport.token_call("/api/v2/token/refresh", grant)
            await client.get_orders("TTP_token", "GCP_a", ["1"])
            states.append(availability.out)
        auth_up[0] = True  # and then the auth host answers a refresh
        await client.transport.token_call("/api/v2/token/refresh", grant)
    # then the auth host's outage was said once, stayed said while the API host answered, and ended at its own answer
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "adapters.tiktok"]
    assert [(level, m.split(" since ")[0].split(" after ")[0]) for level, m in said] == [
        ("WARNING", "TikTok is unavailable to app appkey at its auth host (https://auth.example)"),
        ("INFO", "TikTok answers app appkey again at its auth host (https://auth.example)"),
    ], said
    assert states == [True] * 3 and "3 calls gave up" in said[1][1]
    assert not availability.out and not availability.unavailable(SETTINGS.auth_url)


async def test_with_retries_off_a_transient_failure_is_raised_at_once_without_sleeping():
    slept: list[float] = []
    client, recorder = client_with(lambda r: fail(36009002, "Too many requests", 429), max_retries=0, slept=slept)
    with pytest.raises(RateLimitedError):
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    assert slept == [] and len(recorder.requests) == 1


async def test_an_outage_is_one_warning_when_a_call_gives_up_and_one_info_when_tiktok_answers_again(caplog):
    # what an operator reads after a task failed with TIKTOK_UNAVAILABLE: two lines an outage, not two an attempt
    # (try-out livesync52: a 60 s outage was 604 INFO lines and 14 "gave up" WARNINGs, none saying since when)
    caplog.set_level(logging.DEBUG, logger="adapters.tiktok")
    now = [NOW]
    answers = [fail(36009003, "Internal error", status=500)] * 6 + [ok({"orders": []}), fail(36004005, "Bad code.")]
    answers.append(fail(36004006, "Bad refresh token.", status=400))
    client, _ = client_with(
        lambda r: now.__setitem__(0, now[0] + 10) or answers.pop(0), max_retries=2, clock=lambda: now[0]
    )
    for _ in range(2):  # two calls give up: the outage begins with the first
        with pytest.raises(ServerError):
            await client.get_orders("TTP_token", "GCP_a", ["1"])
    await client.get_orders("TTP_token", "GCP_a", ["1"])  # TikTok answers again, 70 s after the first failure
    with pytest.raises(AuthCodeRejectedError):
        await client.exchange_code("CODE")
    with pytest.raises(InvalidRefreshTokenError):
        await client.refresh("TTP_refresh")
    api = "GET /order/202309/orders"
    cause = f"Internal error (code=36009003, http=500, request_id=RID, api={api})"
    refused = f"tiktok {api} -> http=500 code=36009003 request_id=RID"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "adapters.tiktok"]
    assert [line for line in lines if line[0] != "DEBUG"] == [
        (
            "WARNING",
            "TikTok is unavailable to app appkey at its API host (https://api.example) since 2023-11-14T22:13:30Z: "
            f"{api} gave up after 3 attempts: {cause}; 3 attempts failed so far. Calls go on, each retried, and the "
            "queue retries the work; one line when that host answers again",
        ),
        (
            "INFO",
            "TikTok answers app appkey again at its API host (https://api.example) after 60.0 s unavailable (since "
            "2023-11-14T22:13:30Z): 6 attempts failed, 2 calls gave up",
        ),
        ("WARNING", "tiktok GET /api/v2/token/get -> http=200 code=36004005 request_id=RID"),
        ("WARNING", "tiktok GET /api/v2/token/refresh -> http=400 code=36004006 request_id=RID"),
    ]  # a refused call once (it was twice for the token endpoints: README says each call is logged once)
    # each attempt and the second give-up still at DEBUG, with the API, attempt and cause
    assert lines[:6] == [
        ("DEBUG", refused),
        ("DEBUG", f"tiktok {api} attempt 1 failed ({cause}); retrying in 0.15s"),
        ("DEBUG", refused),
        ("DEBUG", f"tiktok {api} attempt 2 failed ({cause}); retrying in 0.30s"),
        ("DEBUG", refused),
        lines[5],
    ]
    assert (
        "DEBUG", f"tiktok {api} gave up after 3 attempts: {cause} (TikTok unavailable at its API host "
        "(https://api.example), said once)",
    ) in lines  # fmt: skip


async def test_failures_a_calls_own_retries_absorb_are_no_outage(caplog):
    caplog.set_level(logging.INFO, logger="adapters.tiktok")
    answers = [fail(36009003, "Internal error", status=500)] * 2 + [ok({"orders": []})]
    client, _ = client_with(lambda r: answers.pop(0), max_retries=2)
    await client.get_orders("TTP_token", "GCP_a", ["1"])
    assert [r.getMessage() for r in caplog.records if r.name == "adapters.tiktok"] == []


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_the_token_endpoint_is_retried_like_a_business_call(max_retries: int):
    # given a token endpoint failing its first 10 answers (a bounded outage: a wrong retry count cannot loop forever)
    answers = [fail(36009003, "Internal error", status=500)] * 10 + [ok(token_data("1"))]
    slept: list[float] = []
    client, recorder = client_with(lambda r: answers.pop(0), max_retries=max_retries, slept=slept)
    # when a refresh meets it, then it gives up after max_retries retries with the same backoff (rng 0.5)
    with pytest.raises(ServerError):
        await client.refresh("TTP_refresh")
    assert len(recorder.requests) == max_retries + 1
    assert slept == pytest.approx([0.15, 0.3, 0.6][:max_retries])


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("3", 3.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # an HTTP date, 30 s after now (1445412480)
        ("Wed, 21 Oct 2015 07:28:30 -0000", 30.0),  # the same, its zone unsaid: UTC
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # a date past: no wait
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_whole_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    # RFC 9110 sec. 10.2.3; `now` is 2015-10-21T07:28:00Z
    assert retry_after_seconds(header, 1445412480.0) == seconds


async def test_retry_after_waits_of_one_call_stop_at_its_budget_and_a_longer_one_gives_up_at_once():
    # given TikTok throttling every call, asking for 8 s each time (Retry-After), then for a minute
    def throttled(seconds: int) -> Handler:
        def answer(request: httpx.Request) -> httpx.Response:
            response = fail(36009002, "Too many requests", status=429)
            response.headers["Retry-After"] = str(seconds)
            return response

        return answer

    slept: list[float] = []
    client, recorder = client_with(throttled(8), max_retries=5, slept=slept)
    # when a call is made: then it waits 8 s twice (16 s), and gives up rather than wait past its 20 s
    with pytest.raises(RateLimitedError):
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    assert (slept, len(recorder.requests)) == ([8.0, 8.0], 3)
    # and one asked to wait a minute gives up at its first answer: the queue retries the work later
    slept.clear()
    client, recorder = client_with(throttled(60), max_retries=5, slept=slept)
    with pytest.raises(RateLimitedError) as raised:
        await client.get_orders("TTP_token", "GCP_a", ["1"])
    assert (slept, len(recorder.requests), raised.value.retry_after) == ([], 1, 60.0)
