"""No credential reaches a log line through a logged URL: httpx request lines and uvicorn access lines."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from adapters.tiktok.redaction import install_redaction, redact


def test_credentials_in_a_query_are_masked_and_the_rest_kept() -> None:
    line = "/api/v2/token/refresh?app_key=k&app_secret=s3cret&refresh_token=TTP_r%2Bx&grant_type=refresh_token"
    assert redact(line) == "/api/v2/token/refresh?app_key=k&app_secret=***&refresh_token=***&grant_type=refresh_token"
    assert redact("/oauth/tiktok/callback?code=abc&state=xyz") == "/oauth/tiktok/callback?code=***&state=***"
    assert redact("/x?page_token=abc&shop_code=UK1") == "/x?page_token=abc&shop_code=UK1"  # no look-alikes


def test_a_uvicorn_access_line_is_redacted(caplog) -> None:
    # given the filter the app installs, and an access record formatted the way uvicorn does
    install_redaction(("uvicorn.access",))
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.propagate, before = True, logger.propagate
        try:
            logger.info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                "/api/v2/token/get?app_key=k&app_secret=topsecret&auth_code=c0de", "1.1", 200,  # standalone sandbox
            )  # fmt: skip
        finally:
            logger.propagate = before
    assert "topsecret" not in caplog.text and "c0de" not in caplog.text
    assert "app_secret=***" in caplog.text and "app_key=k" in caplog.text


def test_a_json_line_is_redacted_and_carries_the_bound_context() -> None:
    # given the JSON format on a handler, and the filters the app installs
    import io
    import json

    from adapters.logs import formatter, log_context

    install_redaction(("uvicorn.access", "httpx"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    loggers = [logging.getLogger("uvicorn.access"), logging.getLogger("httpx")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        # when an access line and an httpx request line carrying credentials are logged inside a task's context
        with log_context(task_id="t-1", shop_id="s-1", merchant_id=None):
            loggers[0].info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                "/api/v2/token/refresh?app_key=k&app_secret=topsecret&refresh_token=r3fresh", "1.1", 200,
            )  # fmt: skip
            loggers[1].info("HTTP Request: %s %s", "GET", "https://auth.example/api/v2/token/get?auth_code=c0de&x=1")
            loggers[1].info("failed", exc_info=ValueError("https://x/?access_token=leaked"))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    # then each line is one JSON object with the context, and no credential
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    assert all(line["task_id"] == "t-1" and line["shop_id"] == "s-1" and "merchant_id" not in line for line in lines)
    text = stream.getvalue()
    for secret in ("topsecret", "r3fresh", "c0de", "leaked"):
        assert secret not in text
    assert "app_secret=***" in lines[0]["event"] and "x=1" in lines[1]["event"]


def _logged(logger: logging.Logger, msg: object, *args: object) -> str:
    """The line `logger` would write for `msg % args`, after the logger's own filters (those install_redaction adds)."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, msg, args, None)
    assert logger.filter(record), "redaction never drops a line"
    return record.getMessage()


def test_a_credential_formatted_into_the_message_itself_is_masked() -> None:
    # given a logger of our own with the filter installed (a fresh name: nothing installed it before, not even this
    # test in a parent process, as under mutmut, whose forked runs inherit the parent's loggers)
    logger = logging.getLogger(f"shopbridge.test.redaction.message.{uuid.uuid4().hex}")
    install_redaction((logger.name,))
    # when a line carries the URL in its message rather than in its arguments, then the credential is masked
    assert _logged(logger, "GET /oauth/tiktok/callback?code=abc&state=xyz") == (
        "GET /oauth/tiktok/callback?code=***&state=***"
    )
    assert _logged(logger, "GET %s", "/x?access_token=TTP_a&page_size=10") == "GET /x?access_token=***&page_size=10"


def test_arguments_without_a_query_keep_their_type_and_a_non_text_message_passes() -> None:
    # given a logger with the filter installed twice (idempotent)
    logger = logging.getLogger(f"shopbridge.test.redaction.types.{uuid.uuid4().hex}")
    install_redaction((logger.name,))
    install_redaction((logger.name,))
    # then numbers and objects keep their type for %-formats that need it, and bytes keep their repr
    line = _logged(logger, "price %.2f in %s after %d tries", Decimal("9.5"), "USD", 3)
    assert line == "price 9.50 in USD after 3 tries"
    assert _logged(logger, "raw %r", b"ok") == "raw b'ok'"
    # and a message that is not text (logger.info(404)) is formatted as such, not refused
    assert _logged(logger, 404) == "404"


def test_tiktoks_error_code_in_our_own_line_is_kept_and_an_oauth_code_in_a_url_is_not() -> None:
    # given the line the TikTok transport logs for an error answer (adapters/tiktok/transport.py), which the JSON
    # format redacts as a whole: `code=` there is TikTok's error code, what an operator needs to tell causes apart
    line = "tiktok POST /product/202309/inventory/search -> http=200 code=36009004 request_id=20261202084501AE"
    # then it is kept (it read `code=***` in every JSON line), while an OAuth code or state in a URL is masked
    assert redact(line) == line
    assert redact("tiktok GET /order/202309/orders -> code=105002 request_id=R") == (
        "tiktok GET /order/202309/orders -> code=105002 request_id=R"
    )
    assert redact(f"{line} /oauth/tiktok/callback?code=abc&state=xyz") == (
        f"{line} /oauth/tiktok/callback?code=***&state=***"
    )
    assert redact("code=abc&state=xyz") == "code=***&state=***"  # a query string alone
