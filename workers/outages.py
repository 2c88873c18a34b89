"""An actor run that failed on an outage is retried in one WARNING line; any other failure keeps Dramatiq's ERROR.

Dramatiq's worker logs every exception an actor raises at ERROR with its traceback ("Failed to process message
... with unhandled exception"), but for `dramatiq.Retry`, which it does not log at all (dramatiq 2.2
`worker.py`, `_WorkerThread.process_message`), and its Retries middleware then retries either alike. So a run
that failed on an outage raises `Retry` instead, carrying the delay the middleware would have drawn itself, and
says in one line what failed, why and when it runs again: operators alert on ERROR, and an outage the queue
outlasts is not one. A bug (anything else) still reaches Dramatiq as it was raised: ERROR with its traceback.

What is an outage is the project's one rule, not a list of this module's: `adapters.db.outage.unavailable` for the
database, `domain.ports.traced` for the rest (TikTok unavailable: a 5xx, 429, timeout, dropped connection or
malformed answer that outlived the client's retries, `adapters.tiktok.errors.TransientError`; the broker
unreachable, `QueueUnavailableError`).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.middleware import Retries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF

from adapters.db.outage import describe, unavailable
from adapters.text import one_line
from domain.ports import QueueUnavailableError, TikTokUnavailableError, traced

MAX_CAUSE_CHARS = 500  # of the cause quoted in the line (TikTok's message is already cut there where it enters)


def outage_cause(error: BaseException) -> str | None:
    """The outage `error` stands for, in one line (e.g. `TikTok is unavailable (TikTok answered without a JSON
    envelope (http=200, api=POST /order/202309/orders/search))`), or None when it is no outage: a bug."""
    if unavailable(error):
        return f"the database is unavailable ({describe(error)})"
    if traced(error):
        return None
    if isinstance(error, TikTokUnavailableError):
        return f"TikTok is unavailable ({one_line(str(error), MAX_CAUSE_CHARS)})"
    if isinstance(error, QueueUnavailableError):
        return f"the queue is unavailable ({one_line(str(error), MAX_CAUSE_CHARS)})"
    return one_line(f"{type(error).__name__}: {error}", MAX_CAUSE_CHARS)  # an outage `traced` learns of later


def retry_after_outage(
    broker: dramatiq.Broker | None, message: MessageProxy | None, what: str, cause: str
) -> tuple[str, dramatiq.Retry]:
    """The WARNING line for run `what` of `message` that failed on outage `cause`, and the `Retry` to raise.

    The line ends `; retried in 12.3 s (retry 1 of 5)` or, the message's retries spent, `; no retries left (5 of
    5 spent)` (then the Retries middleware fails the message, as it did the exception). The delay is drawn as
    Dramatiq 2.2's Retries middleware draws it (`after_process_message`: `compute_backoff` over the retries so
    far, the message's or actor's `min_backoff` and `max_backoff`, jittered), so the schedule is the same; the
    middleware takes a `Retry`'s delay as given and counts it like any failure. No actor of ours sets
    `retry_when`, which would replace `max_retries` there. Without a message (a run outside the worker), the
    middleware draws the delay itself and the line says only that the run is retried.
    """
    if broker is None or message is None:
        return f"{what} failed, {cause}; it is retried", dramatiq.Retry()
    actor = broker.get_actor(message.actor_name)
    defaults = next((m for m in broker.middleware if isinstance(m, Retries)), Retries())
    retries = int(message.options.get("retries", 0))
    max_retries = _option(message, actor, "max_retries", defaults.max_retries)
    if max_retries is not None and retries >= max_retries:
        return f"{what} failed, {cause}; no retries left ({retries} of {max_retries} spent)", dramatiq.Retry()
    min_backoff = _option(message, actor, "min_backoff", defaults.min_backoff)
    max_backoff = min(_option(message, actor, "max_backoff", defaults.max_backoff), DEFAULT_MAX_BACKOFF)
    _, delay = compute_backoff(retries, factor=min_backoff, max_backoff=max_backoff)
    of = f" of {max_retries}" if max_retries is not None else ""
    line = f"{what} failed, {cause}; retried in {delay / 1000:.1f} s (retry {retries + 1}{of})"
    return line, dramatiq.Retry(delay=delay)


def _option(message: MessageProxy, actor: dramatiq.Actor[..., Any], name: str, default: Any) -> Any:
    # The Retries middleware's order: the message's option, then the actor's, then the middleware's own.
    return message.options.get(name, actor.options.get(name, default))
