"""Keeps credentials out of logs: URLs logged with their query (httpx's request lines, uvicorn's access lines)
may carry TikTok's app_secret, refresh tokens and auth codes, or our OAuth state."""

from __future__ import annotations

import logging
import re

# Query parameters whose values are credentials on some TikTok endpoint. The generic names `code` and `state` only
# as a query's parameters (after `?` or `&`, or opening the text): our own lines say `code=36009004` for TikTok's
# error code (adapters/tiktok/transport.py), which the JSON format would otherwise mask in every line.
_SECRET_PARAMS = re.compile(
    r"((?:(?<![\w-])(?:app_secret|refresh_token|access_token|auth_code)|(?<![^?&])(?:code|state))=)[^&\s\"']+",
    re.IGNORECASE,
)


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


def install_redaction(logger_names: tuple[str, ...] = ("httpx", "httpcore")) -> None:
    """Attach the filter to the named loggers once per process (idempotent)."""
    for name in logger_names:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
