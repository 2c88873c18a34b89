"""No credential reaches a log line through a logged URL: httpx request lines and uvicorn access lines."""

from __future__ import annotations

import logging

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
