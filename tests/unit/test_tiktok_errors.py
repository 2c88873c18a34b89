"""`errors.classify` at the edges of its statuses and codes, and the text of each error (tiktok-api.md sec. 12):
what a task's errorMessage and the logs show."""

from __future__ import annotations

import pytest

from adapters.tiktok import errors
from domain.ports import RecordNotFoundError

E = errors
R = ", request_id=REQ1)"  # the end of the text of an error whose envelope had a request id
GW = " (code=36009004, http=200" + R  # ... and code 36009004 under HTTP 200


def envelope(code: object, message: object = "", request_id: object = "REQ1") -> dict[str, object]:
    return {"code": code, "message": message, "data": None, "request_id": request_id}


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        # without an envelope, the status decides
        (299, None, errors.MalformedResponseError, "TikTok answered without a JSON envelope (http=299)"),
        (200, {"code": "0"}, errors.MalformedResponseError, "TikTok answered without a JSON envelope (http=200)"),
        (300, None, E.InvalidRequestError, "TikTok answered HTTP 300 (http=300)"),
        (499, None, E.InvalidRequestError, "TikTok answered HTTP 499 (http=499)"),
        # a gateway's 408 Request Timeout or 425 Too Early: the request may be repeated (RFC 9110 sec. 15.5.9,
        # RFC 8470 sec. 5.2), as 36009007 (TikTok's own request timeout) is retried
        (408, None, errors.ServerError, "TikTok answered HTTP 408 (http=408)"),
        (425, None, errors.ServerError, "TikTok answered HTTP 425 (http=425)"),
        (408, envelope(0), errors.ServerError, "TikTok answered HTTP 408 with code 0 (code=0, http=408" + R),
        (408, envelope(99999999, "Slow"), errors.ServerError, "Slow (code=99999999, http=408" + R),
        (500, None, errors.ServerError, "TikTok answered HTTP 500 (http=500)"),
        (429, None, errors.RateLimitedError, "TikTok answered HTTP 429 (http=429)"),
        # code 0 is success only under 2xx
        (300, envelope(0), E.InvalidRequestError, "TikTok answered HTTP 300 with code 0 (code=0, http=300" + R),
        (429, envelope(0), errors.RateLimitedError, "TikTok answered HTTP 429 with code 0 (code=0, http=429" + R),
        # an unknown code: TikTok's gateway status still speaks
        (429, envelope(99999999, "Busy"), errors.RateLimitedError, "Busy (code=99999999, http=429" + R),
        (500, envelope(99999999, "Oops"), errors.ServerError, "Oops (code=99999999, http=500" + R),
        (499, envelope(99999999, "No"), errors.ApiError, "No (code=99999999, http=499" + R),
        # other request bugs, a refused page token, and no message or request id
        (200, envelope(36009021, "Bad"), E.InvalidRequestError, "Bad (code=36009021, http=200" + R),
        (200, envelope(36009033, None, None), E.InvalidRequestError, "TikTok error 36009033 (code=36009033, http=200)"),
        (200, envelope(12019108, "x", 7), errors.PageTokenRejectedError, "x (code=12019108, http=200)"),
        (200, envelope(36009004, "Clock skew detected"), errors.ClockSkewError, "Clock skew detected" + GW),
        (200, envelope(36009004, "Invalid access-token"), E.InvalidAccessTokenError, "Invalid access-token" + GW),
        (200, envelope(36009004, "bad access token"), E.InvalidAccessTokenError, "bad access token" + GW),
        (200, envelope(36009004, "Invalid signature"), errors.SignatureError, "Invalid signature" + GW),
        (200, envelope(36009004, "Bad Signature"), errors.SignatureError, "Bad Signature" + GW),
        (200, envelope(36009004, "Invalid signer"), E.InvalidRequestError, "Invalid signer" + GW),
        # 36009004 is TikTok's "Overloaded" code too (tiktok-api.md sec. 12): under a 503 (overload, "retry too",
        # sec. 11) or a 429 it is retried, unless its message names one of the request's documented faults
        (503, envelope(36009004, "Overloaded"), errors.ServerError, "Overloaded (code=36009004, http=503" + R),
        (500, envelope(36009004, ""), errors.ServerError, "TikTok error 36009004 (code=36009004, http=500" + R),
        (429, envelope(36009004, "Busy"), errors.RateLimitedError, "Busy (code=36009004, http=429" + R),
        (503, envelope(36009004, "Invalid app_key"), E.InvalidRequestError,
         "Invalid app_key (code=36009004, http=503" + R),
        (503, envelope(36009004, "The shop_cipher query parameter is not required"), E.InvalidRequestError,
         "The shop_cipher query parameter is not required (code=36009004, http=503" + R),
        (500, envelope(36009004, "Invalid access-token"), E.InvalidAccessTokenError,
         "Invalid access-token (code=36009004, http=500" + R),
        (500, envelope(36009004, "Timestamp too old"), errors.ClockSkewError,
         "Timestamp too old (code=36009004, http=500" + R),
        (401, envelope(36009004, "Overloaded"), E.InvalidRequestError, "Overloaded (code=36009004, http=401" + R),
    ],
)  # fmt: skip
def test_classify_at_the_edges(status, body, kind, text) -> None:
    error = errors.classify(status, body)
    assert type(error) is kind and str(error) == text


def test_a_record_the_shop_does_not_have_is_record_not_found_and_no_other_refusal_is() -> None:
    # the domain's RecordNotFoundError (an order or product event then fails as *_NOT_FOUND), still a business
    # refusal (ApiError) for every other caller
    not_found = [
        (21008111, "The order or package does not belong to the current seller"),  # Get Order Detail
        (12052048, "The product does not exist in this shop."),
        (12052031, "Product does not exist"),
        (12052032, "Product does not exist"),
        (12052260, "Product does not exist"),
    ]
    for code, message in not_found:
        error = errors.classify(200, envelope(code, message))
        assert type(error) is errors.RecordNotFound, code
        assert isinstance(error, RecordNotFoundError) and isinstance(error, errors.ApiError)
    # our signature, a permission, a parameter: TikTok refused the call, not the record
    others = [(106001, "The sign query parameter is invalid."), (10006402, "permission denied"), (36009004, "x")]
    assert not [
        code
        for code, message in others
        if isinstance(errors.classify(200, envelope(code, message)), RecordNotFoundError)
    ]


def test_success_is_any_2xx_with_code_zero() -> None:
    assert errors.classify(200, envelope(0)) is None
    assert errors.classify(299, envelope(0)) is None
    assert type(errors.classify(199, envelope(0))) is errors.InvalidRequestError


def test_tiktoks_message_is_one_bounded_line() -> None:
    error = errors.classify(200, envelope(21008111, "line one\nline two" + "x" * 600))
    assert error is not None
    assert error.message == "line one\\nline two" + "x" * 482 + "…[cut: 617 characters in all]"


def test_an_error_names_the_api_it_answered_once_known() -> None:
    error = errors.classify(200, envelope(105005, "Access denied."))
    assert error is not None and not error.retryable
    error.api = "GET /logistics/202309/warehouses"
    assert str(error) == (
        "Access denied. (code=105005, http=200, request_id=REQ1, api=GET /logistics/202309/warehouses)"
    )
    assert repr(error) == "MissingScopeError('Access denied.')"  # as a traceback or a repr in a log shows it
    assert str(errors.NetworkError("timed out")) == "timed out"
    assert errors.NetworkError("timed out").retryable
