"""`Availability`: a TikTok outage in two lines per process, one when it begins and one when TikTok answers again.

While TikTok is down (5xx, 429, timeouts, dropped connections, malformed answers: `TransientError`s), every call of
every shop fails, each after the transport's retries. Logged per attempt and per call, a 60 s outage (sandbox fault
`http_503`) was 604 INFO lines, two per failed attempt, and 14 WARNINGs `… gave up after 6 attempts` (try-out
livesync52, 2026-12-05), and no line said when it began or ended. Here:

- each failed attempt is counted; the transport logs it at DEBUG;
- the first call that gives up (its retries spent, or a Retry-After past its budget) with no answer from TikTok since
  the first failed attempt begins the outage: one WARNING, `TikTok is unavailable to app <app_key> since
  2026-12-05T06:50:54Z: <what gave up and why>; <n> attempts failed so far …`; the calls that give up while it lasts
  are DEBUG;
- the first answer (a success, or any refusal that is no outage: TikTok read the request) ends it: one INFO line,
  `TikTok answers app <app_key> again after 62.3 s unavailable (since …): 301 attempts failed, 14 calls gave up`;
- failures a call's own retries absorbed, an answer coming before any call gave up, are no outage: DEBUG only;
- nor is a call that gives up while TikTok answered other calls to the same host since its first failed attempt
  (`gave_up`'s `host` and `answers_before`): TikTok fails that request (a 5xx for one product id, say), not the app.
  Before, a poll's read of one product TikTok kept failing said a process-wide outage and its end at every poll
  (review54a F2): DEBUG only. Answers are counted per host (`api_url`, `auth_url`): the auth host's answer to a token
  refresh says nothing of the API host, and hid its outage (review55 F3).

A circuit breaker it is not (`adapters.outage_window` is the one for Redis): calls go on being made and retried as
before, the queue retries the work; only what is said changes. One per process, app and TikTok hosts (`shared`, which
`adapters.tiktok.factory` gives every client it builds): the embedded demo's API and worker pool each hold a client of
their own, on their own event loops, and an outage was said twice, once per client (try-out livesync52's note); now
once per process. A client built otherwise (tests) has one of its own. Times are the transport's clock (Unix seconds);
thread-safe (the embedded worker pool calls from its own thread).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

logger = logging.getLogger("adapters.tiktok")


class Availability:
    """Whether TikTok answers `app_key`'s calls, from what this process's calls met; it logs the outage's two lines."""

    def __init__(self, app_key: str, clock: Callable[[], float]) -> None:
        self.app_key = app_key
        self._clock = clock
        self._lock = threading.Lock()  # one state for the clients of every thread of the process (`shared`)
        self._failing_since: float | None = None  # the first failed attempt with no answer since
        self._failed_attempts = 0  # since then
        self._gave_up = 0  # calls given up since the outage began
        self.out = False  # an outage was said to begin (WARNING) and has not ended
        # Answers so far per host (`answered`); counted without the lock on its fast path, so two threads' answers at
        # once may count one: a call that gave up may then be said an outage, as before this count.
        self._answers: dict[str, int] = {}

    def failed(self) -> None:
        """An attempt failed transiently (it is retried, or its call gives up next: `gave_up`)."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = self._clock()
            self._failed_attempts += 1

    def answers(self, host: str) -> int:
        """How many answers `host` (a base URL: `TikTokSettings.api_url` or `auth_url`) gave so far (`answered`)."""
        return self._answers.get(host, 0)

    def gave_up(self, what: str, why: str, host: str, answers_before: int | None = None) -> None:
        """A call (`what`, "METHOD path") to `host` gave up (`why`, e.g. "gave up after 6 attempts: Service unavailable
        (…)"): the outage begins with one WARNING, or, begun already, one DEBUG line. `answers_before`: `answers(host)`
        when the call's first attempt failed; `host` having answered other calls since, TikTok fails this request, not
        the app: no outage, one DEBUG line. Another host's answers do not count (review55 F3)."""
        if answers_before is not None and self.answers(host) > answers_before:
            logger.debug("tiktok %s %s (TikTok answered other calls meanwhile: no outage)", what, why)
            return
        with self._lock:
            self._gave_up += 1
            begins = not self.out
            self.out = True
            if self._failing_since is None:  # `failed` precedes `gave_up`; kept whole if a caller skipped it
                self._failing_since = self._clock()
            since, attempts = self._failing_since, self._failed_attempts
        if not begins:
            logger.debug("tiktok %s %s (TikTok unavailable, said once)", what, why)
            return
        logger.warning(
            "TikTok is unavailable to app %s since %s: %s %s; %d attempts failed so far. Calls go on, each retried, "
            "and the queue retries the work; one line when TikTok answers again",
            self.app_key, _utc(since), what, why, attempts,
        )  # fmt: skip

    def answered(self, host: str) -> None:
        """TikTok's `host` (a base URL, as `answers` takes it) answered a call (a success, or a refusal that is no
        outage): an outage under way ends."""
        self._answers[host] = self._answers.get(host, 0) + 1
        if self._failing_since is None:  # the common case, read without the lock: a stale None is the next call's
            return
        with self._lock:
            if self._failing_since is None:  # another thread's answer ended it meanwhile
                return
            since, attempts, gave_up, out = self._failing_since, self._failed_attempts, self._gave_up, self.out
            self._failing_since, self._failed_attempts, self._gave_up, self.out = None, 0, 0, False
        lasted = self._clock() - since
        logger.log(
            logging.INFO if out else logging.DEBUG,
            "TikTok answers app %s again after %.1f s unavailable (since %s): %d attempts failed, %d calls gave up",
            self.app_key, lasted, _utc(since), attempts, gave_up,
        )  # fmt: skip


_shared: weakref.WeakValueDictionary[tuple[str, str, str], Availability] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def shared(app_key: str, api_url: str, auth_url: str) -> Availability:
    """This process's one `Availability` of app `app_key` on TikTok's hosts `api_url` and `auth_url` (on the wall
    clock), for every client that calls them: an outage is one pair of lines per process, however many clients it
    holds (the embedded demo: the API's and the worker pool's). Kept while a client holds it."""
    key = (app_key, api_url, auth_url)
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = Availability(app_key, time.time)
        return found


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
