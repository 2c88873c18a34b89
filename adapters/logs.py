"""Process logging: `text` (the default, one readable line) or `json` (one JSON object per line, with structlog).

Every record, ours, uvicorn's, httpx's or Dramatiq's, goes through the root handler set here, so all share one
format. In `json` each line carries `timestamp` (UTC, ISO 8601), `level`, `logger`, `event` (the message) and the
context bound where it applies: `request_id` (an HTTP request or WebSocket), `merchant_id`, `shop_id`, `task_id`
(a sync task run). The context lives in contextvars (`log_context`), so it follows a request or an actor run
through its awaits and the tasks it starts. Credentials never reach a line: the filters of
`adapters.tiktok.redaction` rewrite logged URLs, and the JSON renderer redacts the final text once more.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from adapters.text import one_line
from adapters.tiktok.redaction import redact

CONTEXT_KEYS = ("request_id", "merchant_id", "shop_id", "task_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A message (not its traceback) is one line of at most this many characters, whatever it quotes: a client's
# document, a TikTok answer, a setting's value. Longer ones end with adapters.text's cut marker.
MAX_MESSAGE_CHARS = 2000


class _Ours(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs (and replaces when called again)."""


def _redact_values(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in ("event", "exception"):
        if isinstance(event.get(key), str):
            event[key] = redact(event[key])
    if isinstance(event.get("event"), str):
        event["event"] = one_line(event["event"], MAX_MESSAGE_CHARS)
    return event


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT` with the message on one bounded line (`MAX_MESSAGE_CHARS`); a traceback follows as usual."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message, MAX_MESSAGE_CHARS)
        return super().formatMessage(record)


def json_formatter() -> logging.Formatter:
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_values,
            structlog.processors.JSONRenderer(),
        ],
    )


def formatter(fmt: str = "text") -> logging.Formatter:
    """The formatter of `fmt` ("text" or "json"); also a `()` factory for `logging.config.dictConfig`."""
    return json_formatter() if fmt == "json" else TextFormatter(TEXT_FORMAT)


def uvicorn_log_config(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """A `dictConfig` for `uvicorn.run(log_config=...)`: uvicorn's loggers and ours through one root handler.

    uvicorn applies it in every worker process it spawns, which inherit nothing of the parent's logging.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"shopbridge": {"()": "adapters.logs.formatter", "fmt": fmt}},
        "handlers": {
            "root": {"class": "logging.StreamHandler", "formatter": "shopbridge", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["root"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route every logger to one handler on `stream` (stderr) in `fmt` ("text" or "json"); idempotent."""
    handler = _Ours(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _Ours):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO when it is imported, which every API and worker process does
    # (readiness, the wait for a migrated schema): seven lines of start-up noise, kept for DEBUG.
    logging.getLogger("alembic.runtime.plugins").setLevel(
        logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    )


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Bind request_id, merchant_id, shop_id or task_id for the lines logged inside (None values are skipped)."""
    given = {key: value for key, value in values.items() if value is not None}
    with structlog.contextvars.bound_contextvars(**given):
        yield


def bind_log_context(**values: str | None) -> None:
    """Bind for the rest of the current task (a WebSocket connection, an actor run)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def bound_task_id() -> str | None:
    """The sync task whose run the current context is (`task_id`, bound by the actor), if any."""
    value = structlog.contextvars.get_contextvars().get("task_id")
    return value if isinstance(value, str) else None
