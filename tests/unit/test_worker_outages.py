"""Which failure of an actor's run is an outage (one WARNING line, retried) and which a bug (ERROR, traceback): the
project's one rule, `domain.ports.traced` plus the database's `adapters.db.outage.unavailable`, as
`workers.outages.outage_cause` applies it. TikTok's errors come from `classify`, as the transport raises them."""

from __future__ import annotations

import pytest

from adapters.tiktok.errors import classify
from domain.errors import ValidationError
from domain.ports import QueueUnavailableError
from workers.outages import outage_cause

TIKTOK_ANSWERS = {
    "malformed": (200, None),
    "http 503": (503, None),
    "rate limited": (429, {"code": 36009002, "message": "Too many requests", "request_id": "r1"}),
    "internal error": (200, {"code": 36009003, "message": "Internal error", "request_id": "r2"}),
}


@pytest.mark.parametrize("answer", sorted(TIKTOK_ANSWERS), ids=sorted(TIKTOK_ANSWERS))
def test_tiktok_unavailable_is_an_outage_named_in_one_line(answer: str) -> None:
    error = classify(*TIKTOK_ANSWERS[answer])
    assert error is not None
    error.api = "POST /order/202309/orders/search"
    assert outage_cause(error) == f"TikTok is unavailable ({error})"


def test_the_broker_unreachable_is_an_outage() -> None:
    error = QueueUnavailableError("Redis unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379.")
    assert outage_cause(error) == f"the queue is unavailable ({error})"


REFUSALS = {
    "bad parameter": (200, {"code": 36009004, "message": "A required parameter is missing.", "request_id": "r3"}),
    "business refusal": (200, {"code": 21008111, "message": "Order not found", "request_id": "r4"}),
    "token revoked": (200, {"code": 36009004, "message": "Invalid access_token", "request_id": "r5"}),
}


@pytest.mark.parametrize("answer", sorted(REFUSALS), ids=sorted(REFUSALS))
def test_a_refusal_of_tiktok_is_no_outage(answer: str) -> None:
    # retrying cannot fix these: the actors `throws=` them, or the engine fails the task at once
    assert outage_cause(classify(*REFUSALS[answer])) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        KeyError("ge"), ValueError("bad stored data"), ValidationError("INVALID_INPUT", "no"),
        # OSErrors of files, raised by code of ours: they were taken for the database down ("the database is
        # unavailable (FileNotFoundError: ...)"), retried in a WARNING line without a traceback
        FileNotFoundError(2, "No such file or directory", "/srv/shopbridge/missing.pem"),
        PermissionError(13, "Permission denied", "/srv/shopbridge/data"),
        IsADirectoryError(21, "Is a directory", "/srv/shopbridge"),
    ],
    ids=["key-error", "value-error", "domain-error", "file-not-found", "permission-denied", "is-a-directory"],
)  # fmt: skip
def test_anything_else_is_a_bug_that_keeps_its_traceback(error: Exception) -> None:
    assert outage_cause(error) is None


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), OSError("Multiple exceptions: ..."),
     TimeoutError()],
    ids=["refused", "multiple", "timeout"],
)  # fmt: skip
def test_a_connection_error_the_driver_raises_as_it_is_stays_a_database_outage(error: OSError) -> None:
    # asyncpg raises the socket's own error when it cannot connect
    assert (outage_cause(error) or "").startswith("the database is unavailable (")
