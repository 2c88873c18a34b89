"""Keeps secrets out of logs: httpx logs every request URL at INFO, and the token endpoints put app_secret in it."""

from __future__ import annotations

import logging
import re

# Query parameters whose values are credentials on some TikTok endpoint.
_SECRET_PARAMS = re.compile(r"((?:app_secret|refresh_token|access_token|auth_code|code)=)[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the value of every credential-carrying query parameter replaced by `***`."""
    return _SECRET_PARAMS.sub(r"\1***", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's arguments (httpx passes the URL as one) so no credential is formatted into a line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(str(a)) if _carries_query(a) else a for a in record.args)
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact(record.msg)
        return True


def _carries_query(arg: object) -> bool:
    # httpx.URL, or a string holding a URL; numbers and the like pass untouched.
    return not isinstance(arg, int | float) and "=" in str(arg)


_FILTER = RedactSecretsFilter()


def install_httpx_redaction() -> None:
    """Attach the filter to the `httpx` and `httpcore` loggers once per process (idempotent)."""
    for name in ("httpx", "httpcore"):
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
