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
import math
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

from adapters.hidden_imports import hidden
from adapters.text import one_line
from adapters.tiktok.redaction import redact

with hidden("rich"):  # structlog would import it (and pygments) for renderers we never use (adapters/hidden_imports.py)
    import structlog

CONTEXT_KEYS = ("request_id", "merchant_id", "shop_id", "task_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A message (not its traceback) is one line of at most this many characters, whatever it quotes: a client's
# document, a TikTok answer, a setting's value. Longer ones end with adapters.text's cut marker.
MAX_MESSAGE_CHARS = 2000


class _Ours(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs (and replaces when called again)."""


# Dramatiq's consumer threads (dramatiq 2.2 `worker.py`, `_ConsumerThread.run`, logger
# `dramatiq.worker.ConsumerThread(<queue>)`) log these two lines each time they fail to reach the broker, then wait
# `CONSUMER_RESTART_DELAY` (3 s) and try again, for as long as the broker is down.
_DRAMATIQ_CONSUMER = "dramatiq.worker.ConsumerThread("
_BROKER_LOST = "Consumer encountered a connection error: %s"
_RESTARTING = "Restarting consumer in %0.2f seconds."
BROKER_LOST_EVERY_SECONDS = 60.0


class BrokerOutageLines(logging.Filter):
    """One line a minute per queue, not two every 3 seconds, while Redis is down: of Dramatiq's consumer lines
    above, the first of an outage passes as Dramatiq logs it (CRITICAL: the worker can take no work); those within
    `BROKER_LOST_EVERY_SECONDS` after it are counted, not written, and the next one that passes says how many were
    left out; each line that passes says it is retried. Its "Restarting consumer" line is left out within that
    time too. Every other line passes untouched, the consumer's "unexpected error" (a bug) among them. Thread-safe
    (the consumers are threads); keyed by logger, so each queue's outage shows. Times are the records' own
    (`created`, seconds)."""

    def __init__(self, every_seconds: float = BROKER_LOST_EVERY_SECONDS) -> None:
        super().__init__()
        self.every_seconds = every_seconds
        self._lock = threading.Lock()
        self._shown: dict[str, tuple[float, int]] = {}  # logger -> (when a line last passed, lines left out since)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_DRAMATIQ_CONSUMER) or record.msg not in (_BROKER_LOST, _RESTARTING):
            return True
        with self._lock:
            shown_at, left_out = self._shown.get(record.name, (-math.inf, 0))
            within = record.created - shown_at < self.every_seconds
            if record.msg == _RESTARTING:
                return not within
            if within:
                self._shown[record.name] = (shown_at, left_out + 1)
                return False
            self._shown[record.name] = (record.created, 0)
        record.msg = f"{record.msg} (retried every few seconds; this line again in {self.every_seconds:g} s at most" + (
            f", {left_out} more left out since the last one)" if left_out else ")"
        )
        return True


OUTAGE_RETRY_LINES_EVERY_SECONDS = 60.0
OUTAGE = "shopbridge_outage"
"""The `extra` key that marks a line as one run's retry on an outage, naming the dependency (e.g. "TikTok")."""


class OutageRetryLines(logging.Filter):
    """One line a minute per dependency, not one per run, for the runs the queue retries on an outage: while TikTok
    is down every import, poll and webhook run of every shop fails and is retried, each saying so in one WARNING
    (`workers.outages.retry_after_outage`; try-out livesync52: 14 such lines in a 60 s outage, besides the TikTok
    client's). The lines marked `extra={OUTAGE: "TikTok"}` (a retry still to come; a run whose retries are spent
    always passes, unmarked) are let through once per `every_seconds` per dependency: the first as it was logged,
    those within `every_seconds` after it counted, not written, and the next that passes ends with how many were
    left out. When the outage began and ended is the TikTok client's two lines (`adapters.tiktok.availability`).
    Thread-safe; times are the records' own (`created`, seconds)."""

    def __init__(self, every_seconds: float = OUTAGE_RETRY_LINES_EVERY_SECONDS) -> None:
        super().__init__()
        self.every_seconds = every_seconds
        self._lock = threading.Lock()
        self._shown: dict[str, tuple[float, int]] = {}  # dependency -> (when a line last passed, lines left out since)

    def filter(self, record: logging.LogRecord) -> bool:
        dependency = getattr(record, OUTAGE, None)
        if not isinstance(dependency, str):
            return True
        with self._lock:
            shown_at, left_out = self._shown.get(dependency, (-math.inf, 0))
            if record.created - shown_at < self.every_seconds:
                self._shown[dependency] = (shown_at, left_out + 1)
                return False
            self._shown[dependency] = (record.created, 0)
        if left_out:
            record.msg = (
                f"{record.getMessage()} ({left_out} more runs retried on this {dependency} outage left out since the "
                f"last such line; one a {self.every_seconds:g} s at most)"
            )
            record.args = None
        return True


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
        "filters": {
            "broker_outage": {"()": "adapters.logs.BrokerOutageLines"},
            "outage_retries": {"()": "adapters.logs.OutageRetryLines"},
        },
        "handlers": {
            "root": {
                "class": "logging.StreamHandler",
                "formatter": "shopbridge",
                "stream": "ext://sys.stderr",
                "filters": ["broker_outage", "outage_retries"],
            }
        },
        "root": {"handlers": ["root"], "level": level.upper()},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
            # the same silence as configure_logging's: `serve --workers N` logged alembic's seven plugin lines per
            # worker process at every start, these processes configuring their logging from this dict alone
            **{name: {"level": _debug_only_level(level)} for name in DEBUG_ONLY_LOGGERS},
            **{name: {"level": logging.getLevelName(data_level)} for name, data_level in _data_levels(level).items()},
        },
    }


# Loggers whose DEBUG and INFO lines carry the database's data: aiosqlite logs every call with its SQL parameters at
# DEBUG, SQLAlchemy's engine every statement with them at INFO once its logger is enabled (a root at DEBUG or INFO
# enables it). Those parameters are TikTok tokens' ciphertexts (with the encryption key, tokens: sec49 recovered 12
# from a DEBUG log) and buyers' names and addresses: kept at WARNING whatever SHOPBRIDGE_LOG_LEVEL says. And the
# WebSocket library's (`websockets`; gql.serving.WebSocketProtocol gives each connection `websockets.server`, not
# uvicorn's `uvicorn.error`), which logs every frame with its data at DEBUG: a `connection_init`'s token (sec50), every
# answer. Kept at INFO, its "connection closed" lines as before. Each name's level is a floor (`_data_levels`).
DATA_LOGGERS: dict[str, int] = {
    "aiosqlite": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "websockets": logging.INFO,
}


def _data_levels(level: str) -> dict[str, int]:
    """Each of `DATA_LOGGERS`' level under SHOPBRIDGE_LOG_LEVEL `level`: its own floor, or `level` if higher (a logger
    with a level of its own is not filtered by the root's: `websockets` at INFO wrote INFO lines at WARNING)."""
    root = logging.getLevelName(level.upper())
    root = root if isinstance(root, int) else logging.INFO
    return {name: max(floor, root) for name, floor in DATA_LOGGERS.items()}


# Loggers whose INFO lines are noise outside DEBUG: alembic announces each of its plugins when it is imported, which
# every API and worker process does (readiness, the wait for a migrated schema: seven lines per start); httpx writes
# one "HTTP Request: ..." line per TikTok call, which was 99 % of a worker's log during imports and pushes (11,515 of
# 11,653 lines, ~10 MB an hour per worker: try-out ops51, 2026-12-05). A refused or retried TikTok call still logs
# our own WARNING/INFO lines (adapters/tiktok: status, TikTok's code, request_id); SHOPBRIDGE_LOG_LEVEL=DEBUG shows
# every call's request line again.
DEBUG_ONLY_LOGGERS = ("alembic.runtime.plugins", "httpx")


def _debug_only_level(level: str) -> str:
    """A `DEBUG_ONLY_LOGGERS` logger's level under SHOPBRIDGE_LOG_LEVEL `level`: the root's at DEBUG, else WARNING."""
    return "NOTSET" if logging.getLevelName(level.upper()) <= logging.DEBUG else "WARNING"


def configure_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route every logger to one handler on `stream` (stderr) in `fmt` ("text" or "json"); idempotent."""
    handler = _Ours(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(BrokerOutageLines())
    handler.addFilter(OutageRetryLines())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _Ours):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in DEBUG_ONLY_LOGGERS:
        logging.getLogger(name).setLevel(_debug_only_level(level))
    for name, data_level in _data_levels(level).items():
        logging.getLogger(name).setLevel(data_level)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Bind request_id, merchant_id, shop_id or task_id for the lines logged inside (None values are skipped)."""
    given = {key: value for key, value in values.items() if value is not None}
    with structlog.contextvars.bound_contextvars(**given):
        yield


def bind_log_context(**values: str | None) -> None:
    """Bind for the rest of the current task (a WebSocket connection, an actor run)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def bound_log_values() -> dict[str, str]:
    """The request_id, merchant_id, shop_id and task_id bound in the current context, to log a line with them once
    that context was left (`log_context(**bound_log_values())` where the line is written)."""
    return {key: value for key, value in structlog.contextvars.get_contextvars().items() if isinstance(value, str)}


def bound_task_id() -> str | None:
    """The sync task whose run the current context is (`task_id`, bound by the actor), if any."""
    value = structlog.contextvars.get_contextvars().get("task_id")
    return value if isinstance(value, str) else None
