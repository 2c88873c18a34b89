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

`OutlastingRetries` replaces Dramatiq's Retries middleware (`workers.broker.setup_broker`): a retry whose send
fails because the broker is down is sent again once it answers, instead of being lost behind a CRITICAL traceback.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Retries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.db.outage import outage_line, unavailable
from adapters.text import one_line
from domain.ports import QueueUnavailableError, TikTokUnavailableError, traced

log = logging.getLogger(__name__)

MAX_CAUSE_CHARS = 500  # of the cause quoted in the line (TikTok's message is already cut there where it enters)


def outage_cause(error: BaseException) -> str | None:
    """The outage `error` stands for, in one line (e.g. `TikTok is unavailable (TikTok answered without a JSON
    envelope (http=200, api=POST /order/202309/orders/search))`), or None when it is no outage: a bug."""
    if unavailable(error):
        return outage_line(error)  # this process's pool exhausted said as such, not as the database down
    if traced(error):
        return None
    if isinstance(error, TikTokUnavailableError):
        return f"TikTok is unavailable ({one_line(str(error), MAX_CAUSE_CHARS)})"
    if isinstance(error, QueueUnavailableError):
        return f"the queue is unavailable ({one_line(str(error), MAX_CAUSE_CHARS)})"
    return one_line(f"{type(error).__name__}: {error}", MAX_CAUSE_CHARS)  # an outage `traced` learns of later


_drawn_retry_ms: contextvars.ContextVar[int | None] = contextvars.ContextVar("shopbridge_drawn_retry_ms", default=None)


def draw_retry_delay(broker: dramatiq.Broker | None, message: MessageProxy | None) -> int | None:
    """Draw, before a run, the delay (milliseconds) its retry waits should it fail on an outage, and keep it for the
    run (`drawn_retry_delay`, `retry_after_outage`): the task it fails can then say when it runs again
    (`SyncTask.retry_at`). None without a message or with its retries spent. Drawn as `retry_after_outage` says."""
    delay: int | None = None
    if broker is not None and message is not None:
        actor = broker.get_actor(message.actor_name)
        defaults = next((m for m in broker.middleware if isinstance(m, Retries)), Retries())
        retries = int(message.options.get("retries", 0))
        max_retries = _option(message, actor, "max_retries", defaults.max_retries)
        if max_retries is None or retries < max_retries:
            delay = _backoff_ms(message, actor, defaults, retries)
    _drawn_retry_ms.set(delay)
    return delay


def drawn_retry_delay() -> timedelta | None:
    """The delay drawn for the current run's retry (`draw_retry_delay`), if any."""
    drawn = _drawn_retry_ms.get()
    return None if drawn is None else timedelta(milliseconds=drawn)


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
    # the delay drawn before the run, if it was (the task stored it: `draw_retry_delay`), else one drawn now
    delay = _drawn_retry_ms.get()
    if delay is None:
        delay = _backoff_ms(message, actor, defaults, retries)
    of = f" of {max_retries}" if max_retries is not None else ""
    line = f"{what} failed, {cause}; retried in {delay / 1000:.1f} s (retry {retries + 1}{of})"
    return line, dramatiq.Retry(delay=delay)


def _option(message: MessageProxy, actor: dramatiq.Actor[..., Any], name: str, default: Any) -> Any:
    # The Retries middleware's order: the message's option, then the actor's, then the middleware's own.
    return message.options.get(name, actor.options.get(name, default))


def _backoff_ms(message: MessageProxy, actor: dramatiq.Actor[..., Any], defaults: Retries, retries: int) -> int:
    """The delay (milliseconds) before retry `retries + 1`, drawn as Dramatiq 2.2's Retries middleware draws it
    (`after_process_message`): `compute_backoff` over the retries so far, `min_backoff` as its factor, `max_backoff`
    at most `DEFAULT_MAX_BACKOFF`, jittered up to twice as much."""
    min_backoff = _option(message, actor, "min_backoff", defaults.min_backoff)
    max_backoff = min(_option(message, actor, "max_backoff", defaults.max_backoff), DEFAULT_MAX_BACKOFF)
    _, delay = compute_backoff(retries, factor=min_backoff, max_backoff=max_backoff)
    return delay


RETRY_SEND_PATIENCE_SECONDS = 60.0
"""How long (seconds) a retry whose send found the broker down is tried again before it is given up."""

RETRY_SEND_PAUSE_SECONDS = 1.0
"""The pause (seconds) between two tries of such a send."""

RETRY_WAIT_LINE_EVERY_SECONDS = 60.0
"""A process says at WARNING that retries wait for the broker once per this many seconds (seconds); DEBUG between."""

_BROKER_DOWN = (RedisConnectionError, RedisTimeoutError, BrokerConnectionError)


class OutlastingRetries(Retries):
    """Dramatiq's Retries middleware, whose retry outlives a broker outage.

    Dramatiq 2.2's sends a failed run's retry (`broker.enqueue`, delayed) from its `after_process_message`. With Redis
    down that send raised: Dramatiq logged CRITICAL "Unexpected failure in after_process_message of <Retries>" with
    a traceback, once per message, then acked the message once Redis answered: the retry was lost, and the work
    waited for a database sweep (try-out ops51, 2026-12-05: a push that failed on a 30 s Redis outage, "retried in
    1.3 s (retry 1 of 3)" by our own line, was never retried). Here the send is tried again every
    `RETRY_SEND_PAUSE_SECONDS` for up to `RETRY_SEND_PATIENCE_SECONDS`, in the worker thread (which Dramatiq's own
    ack of the message then holds until Redis answers anyway), with the delay it was drawn with; a Redis restarted
    empty then holds the retry. A process says so at WARNING once per `RETRY_WAIT_LINE_EVERY_SECONDS`, DEBUG for
    the other messages meanwhile; an outage outlasting the patience drops the retry with one WARNING line naming
    what sends the work again (the database sweeps, README "Operations"). Any other failure propagates as before.

    The worker's shutdown (`before_worker_shutdown`: SIGTERM to `shopbridge worker`; a run its shutdown cancels
    whose hand-back found Redis down comes here then too) ends the wait at once: the retry is given up in one WARNING
    line naming the work, left to the same sweeps. A wait slept out (`time.sleep`) held its worker thread, and so the
    shutdown, for Dramatiq's whole shutdown timeout (`SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT`, 30 s), after which the
    process exited under it and the retry vanished without a line (then the thread's acknowledgement of the message
    held it as long: `workers.broker.WorkerRedisBroker`). The embedded pool never waits here: `EmbeddedBroker`'s sends
    are in memory and cannot find a broker down.
    """

    def __init__(
        self,
        *,
        patience_seconds: float = RETRY_SEND_PATIENCE_SECONDS,
        pause_seconds: float = RETRY_SEND_PAUSE_SECONDS,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.patience_seconds = patience_seconds
        self.pause_seconds = pause_seconds
        self._lock = threading.Lock()
        self._said_at = -RETRY_WAIT_LINE_EVERY_SECONDS  # `time.monotonic()` of the last WARNING line
        self._stopping = threading.Event()  # set from the worker's shutdown until its next boot

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.clear()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before Dramatiq stops and joins its worker threads: a thread waiting for the broker is freed at once.
        self._stopping.set()

    @classmethod
    def replacing(cls, retries: Retries) -> OutlastingRetries:
        """One with `retries`'s defaults (max retries, back-offs, `retry_when`)."""
        return cls(
            max_retries=retries.max_retries,
            min_backoff=retries.min_backoff,
            max_backoff=retries.max_backoff,
            retry_when=retries.retry_when,
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: object | None = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            super().after_process_message(broker, message, result=result, exception=exception)  # type: ignore[no-untyped-call]
        except _BROKER_DOWN as down:
            # The send that failed is the retry's (a failed message sends nothing), with the delay the middleware
            # drew; it is not at hand, so it is drawn again alike: a `Retry`'s own, else the backoff for the retries
            # before this one (the middleware has counted this one already). Sent with none, a bug's run retried
            # at once after every broker blip, not after its backoff (clientreview53).
            if isinstance(exception, dramatiq.Retry) and exception.delay is not None:
                delay = exception.delay
            else:
                actor = broker.get_actor(message.actor_name)
                delay = _backoff_ms(message, actor, self, int(message.options.get("retries", 1)) - 1)
            self._send_when_back(broker, message, delay, down)

    def _send_when_back(self, broker: dramatiq.Broker, message: MessageProxy, delay: int, down: BaseException) -> None:
        what = f"{message.actor_name}({', '.join(map(str, message.args))})"
        if not self._stopping.is_set() and self._sent_when_back(broker, message, delay, down, what):
            return
        if self._stopping.is_set():
            log.warning(
                "the retry of %s is given up: the worker is shutting down and the queue is unavailable (%s: %s); the "
                "database sweeps send its work again (README, Operations)",
                what, type(down).__name__, down,
            )  # fmt: skip
            return
        log.warning(
            "the retry of %s is dropped: the queue stayed unavailable %g s; the database sweeps send its work again "
            "(README, Operations)",
            what, self.patience_seconds,
        )  # fmt: skip

    def _sent_when_back(
        self, broker: dramatiq.Broker, message: MessageProxy, delay: int, down: BaseException, what: str
    ) -> bool:
        # True once sent; False when the patience ran out or the worker began its shutdown meanwhile.
        now = time.monotonic()
        with self._lock:
            warn = now - self._said_at >= RETRY_WAIT_LINE_EVERY_SECONDS
            if warn:
                self._said_at = now
        log.log(
            logging.WARNING if warn else logging.DEBUG,
            "the retry of %s waits for the queue, unavailable (%s: %s); sent once it answers (tried every %g s for up "
            "to %g s; this line once a minute at most)",
            what, type(down).__name__, down, self.pause_seconds, self.patience_seconds,
        )  # fmt: skip
        deadline = now + self.patience_seconds
        # `Event.wait`, not `time.sleep`: the worker's shutdown ends a pause at once
        while not self._stopping.wait(self.pause_seconds) and time.monotonic() < deadline:
            try:
                broker.enqueue(message.copy(), delay=delay)  # the `Message` the proxy wraps, retries counted
            except _BROKER_DOWN:
                continue
            log.debug("the retry of %s sent, the queue answering again", what)
            return True
        return False
