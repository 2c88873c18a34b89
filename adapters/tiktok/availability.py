"""`Availability`: a TikTok outage in two lines per process and host, one when it begins and one when the host answers.

While TikTok is down (5xx, 429, timeouts, dropped connections, malformed answers: `TransientError`s), every call of
every shop fails, each after the transport's retries. Logged per attempt and per call, a 60 s outage (sandbox fault
`http_503`) was 604 INFO lines, two per failed attempt, and 14 WARNINGs `… gave up after 6 attempts` (try-out
livesync52, 2026-12-05), and no line said when it began or ended. Here, for each of TikTok's hosts apart (its API
host, `TikTokSettings.api_url`, and its auth host, `auth_url`, which serves the token endpoints):

- each failed attempt is counted against the host it went to; the transport logs it at DEBUG;
- the first call to the host that gives up (its retries spent, or a Retry-After past its budget) with no answer from
  that host since the first failed attempt begins the host's outage: one WARNING, `TikTok is unavailable to app
  <app_key> at its API host (https://open-api.tiktokglobalshop.com) since 2026-12-05T06:50:54Z: <what gave up and
  why>; <n> attempts failed so far …`; the calls to it that give up while it lasts are DEBUG;
- the host's first answer (a success, or any refusal that is no outage: TikTok read the request) ends it: one INFO
  line, `TikTok answers app <app_key> again at its API host (…) after 62.3 s unavailable (since …): 301 attempts
  failed, 14 calls gave up`. Another host's answer ends nothing: before, the outage was one per app, and while the API
  host was down each token refresh the auth host answered ended it, and the next API call given up began another: a
  WARNING and an INFO line per refresh, and a state that flapped with them (outage56);
- failures a call's own retries absorbed, an answer coming before any call gave up, are no outage: DEBUG only;
- nor is a call that gives up while its host answered other calls since its first failed attempt (`gave_up`'s
  `answers_before`): TikTok fails that request (a 5xx for one product id, say), not the host. Before, a poll's read of
  one product TikTok kept failing said a process-wide outage and its end at every poll (review54a F2): DEBUG only. The
  auth host's answers to token refreshes say nothing of the API host either, and hid its outage (review55 F3).

Hosts are told apart by base URL: a deployment that gives both the same one (the sandbox, the demo) has one state,
`its API and auth host`. A circuit breaker it is not (`adapters.outage_window` is the one for Redis): calls go on
being made and retried as before, the queue retries the work; only what is said changes. One per process, app and
TikTok hosts (`shared`, which `adapters.tiktok.factory` gives every client it builds): the embedded demo's API and
worker pool each hold a client of their own, on their own event loops, and an outage was said twice, once per client
(try-out livesync52's note); now once per process. A client built otherwise (tests) has one of its own. Times are
the transport's clock (Unix seconds); thread-safe (the embedded worker pool calls from its own thread).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

logger = logging.getLogger("adapters.tiktok")


@dataclass
class _HostState:
    """One host's outage, from what this process's calls to it met."""

    failing_since: float | None = None  # the first failed attempt with no answer of the host since
    failed_attempts: int = 0  # since then
    gave_up: int = 0  # calls given up since the outage began
    out: bool = False  # an outage was said to begin (WARNING) and has not ended
    # Answers so far (`Availability.answered`); counted without the lock on its fast path, so two threads' answers at
    # once may count one: a call that gave up may then be said an outage, as before this count.
    answers: int = 0


def host_names(api_url: str, auth_url: str) -> dict[str, str]:
    """What the lines call each of TikTok's hosts, by base URL: `{api_url: "API host", auth_url: "auth host"}`, or
    one "API and auth host" when both are the same URL (the sandbox)."""
    if api_url == auth_url:
        return {api_url: "API and auth host"}
    return {api_url: "API host", auth_url: "auth host"}


class Availability:
    """Whether TikTok's hosts answer `app_key`'s calls, each apart, from what this process's calls met; it logs each
    host's outage in two lines. `names`: what a line calls a host, by base URL (`host_names`)."""

    def __init__(self, app_key: str, clock: Callable[[], float], names: Mapping[str, str] | None = None) -> None:
        self.app_key = app_key
        self._clock = clock
        self._names = dict(names or {})
        self._lock = threading.Lock()  # one state for the clients of every thread of the process (`shared`)
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        found = self._hosts.get(host)
        if found is None:
            with self._lock:
                found = self._hosts.setdefault(host, _HostState())
        return found

    def _part(self, host: str) -> str:
        """The host as a line names it, e.g. "its API host (https://open-api.tiktokglobalshop.com)"."""
        return f"its {self._names.get(host, 'host')} ({host})"

    @property
    def out(self) -> bool:
        """Whether some host's outage was said to begin and has not ended (`unavailable` tells which)."""
        return any(state.out for state in list(self._hosts.values()))

    def unavailable(self, host: str) -> bool:
        """Whether an outage of `host` (a base URL: `TikTokSettings.api_url` or `auth_url`) was said to begin (its
        WARNING) and has not ended (its INFO line): only an answer of `host` itself ends it."""
        found = self._hosts.get(host)
        return found is not None and found.out

    def failed(self, host: str) -> None:
        """An attempt to `host` failed transiently (it is retried, or its call gives up next: `gave_up`)."""
        state = self._state(host)
        with self._lock:
            if state.failing_since is None:
                state.failing_since = self._clock()
            state.failed_attempts += 1

    def answers(self, host: str) -> int:
        """How many answers `host` (a base URL: `TikTokSettings.api_url` or `auth_url`) gave so far (`answered`)."""
        found = self._hosts.get(host)
        return 0 if found is None else found.answers

    def gave_up(self, what: str, why: str, host: str, answers_before: int | None = None) -> None:
        """A call (`what`, "METHOD path") to `host` gave up (`why`, e.g. "gave up after 6 attempts: Service unavailable
        (…)"): the host's outage begins with one WARNING, or, begun already, one DEBUG line. `answers_before`:
        `answers(host)` when the call's first attempt failed; `host` having answered other calls since, TikTok fails
        this request, not the host: no outage, one DEBUG line. Another host's answers do not count (review55 F3)."""
        state = self._state(host)
        if answers_before is not None and state.answers > answers_before:
            logger.debug("tiktok %s %s (TikTok answered other calls meanwhile: no outage)", what, why)
            return
        with self._lock:
            state.gave_up += 1
            begins = not state.out
            state.out = True
            if state.failing_since is None:  # `failed` precedes `gave_up`; kept whole if a caller skipped it
                state.failing_since = self._clock()
            since, attempts = state.failing_since, state.failed_attempts
        if not begins:
            logger.debug("tiktok %s %s (TikTok unavailable at %s, said once)", what, why, self._part(host))
            return
        logger.warning(
            "TikTok is unavailable to app %s at %s since %s: %s %s; %d attempts failed so far. Calls go on, each "
            "retried, and the queue retries the work; one line when that host answers again",
            self.app_key, self._part(host), _utc(since), what, why, attempts,
        )  # fmt: skip

    def answered(self, host: str) -> None:
        """TikTok's `host` (a base URL, as `answers` takes it) answered a call (a success, or a refusal that is no
        outage): that host's outage under way ends; another host's goes on (outage56)."""
        state = self._state(host)
        state.answers += 1
        if state.failing_since is None:  # the common case, read without the lock: a stale None is the next call's
            return
        with self._lock:
            if state.failing_since is None:  # another thread's answer ended it meanwhile
                return
            since, attempts, gave_up, out = state.failing_since, state.failed_attempts, state.gave_up, state.out
            state.failing_since, state.failed_attempts, state.gave_up, state.out = None, 0, 0, False
        lasted = self._clock() - since
        logger.log(
            logging.INFO if out else logging.DEBUG,
            "TikTok answers app %s again at %s after %.1f s unavailable (since %s): %d attempts failed, %d calls "
            "gave up",
            self.app_key, self._part(host), lasted, _utc(since), attempts, gave_up,
        )  # fmt: skip


_shared: weakref.WeakValueDictionary[tuple[str, str, str], Availability] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def shared(app_key: str, api_url: str, auth_url: str) -> Availability:
    """This process's one `Availability` of app `app_key` on TikTok's hosts `api_url` and `auth_url` (on the wall
    clock), for every client that calls them: an outage is one pair of lines per process and host, however many
    clients it holds (the embedded demo: the API's and the worker pool's). Kept while a client holds it."""
    key = (app_key, api_url, auth_url)
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = Availability(app_key, time.time, host_names(api_url, auth_url))
        return found


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
