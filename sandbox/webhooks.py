"""TikTok's webhook pushes (live-sync.md sec. 2): envelope, signature, delivery with TikTok's retry schedule, faults
and a delivery log like Partner Center's Webhook Log.

- Envelope `{"type", "tts_notification_id", "shop_id", "timestamp", "data"}`, compact JSON, `timestamp` = push time
  (sandbox clock, Unix s) [DOC webhook pages, sec. 2.3].
- Header `Authorization` = lowercase hex HMAC-SHA256(key=app_secret, msg=app_key + raw body) [sec. 2.1].
- One POST per attempt, 3 s timeout (`timeout_seconds`); only HTTP 200 ends a delivery; otherwise retried after
  2 min, 30 min, 3 h and 12 h (each divided by `retry_factor`), nothing after the 4th retry [DOC page
  650512b42f024f02be19755f, sec. 2.2].
- Faults (rates 0..1): `drop` never sends, `duplicate` sends twice, `reorder` holds a push until the next one has been
  sent (or 1 s passes), `delay_ms` waits before the first attempt, `bad_signature` sends a wrong `Authorization`.

Sending runs in asyncio tasks owned by this object, on one `httpx.AsyncClient`; `aclose()` cancels and awaits them.
Each task runs in an anyio cancel scope and is cancelled through it, never by `Task.cancel()`: httpcore (under
httpx) shields its clean-up from cancellation with anyio, which holds against a scope's cancellation only. A
`Task.cancel()` landed inside it, e.g. while a request closes the pooled connections its receiver had closed
(already out of the pool): the rest stayed open, and `aclose()` of the client never saw them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import httpx

RETRY_SCHEDULE_SECONDS = (120, 1800, 3 * 3600, 12 * 3600)
TIMEOUT_SECONDS = 3.0
HOLD_SECONDS = 1.0  # a reordered push waits at most this long for a successor
LOG_LIMIT = 20_000

logger = logging.getLogger(__name__)
# One TLS context for every sender of the process (the sandbox's own: it imports nothing of Shopbridge's): a client
# given none loads certifi's authorities again, ~25 ms of CPU per sandbox that pushes.
_tls_context = functools.cache(lambda: httpx.create_ssl_context(trust_env=False))
RATE_KEYS = ("drop", "duplicate", "reorder", "bad_signature")


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    """The `Authorization` header TikTok sends: hex HMAC-SHA256(app_secret, app_key + body) (sec. 2.1)."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


@dataclass
class PushSettings:
    """The app-wide URL and fault rates that `POST /_sandbox/webhooks` sets (the JSON keys are a contract)."""

    url: str | None = None
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: int = 0
    bad_signature: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Push:
    """One notification on its way to one URL."""

    notification_id: str
    type: int
    shop_id: str
    url: str
    body: bytes
    authorization: str
    copies: int = 1


class WebhookSender:
    """Builds, signs and delivers notifications; `resolve(shop_id, type)` gives a shop's registered address."""

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        clock: Callable[[], float],
        retry_factor: float,
        url: str | None,
        seed: int,
        resolve: Callable[[str, int], str | None],
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        if retry_factor <= 0:
            raise ValueError("webhook_retry_factor must be > 0")
        self.app_key, self.app_secret, self.clock = app_key, app_secret, clock
        self.retry_factor = retry_factor
        self.timeout_seconds = timeout_seconds
        self.settings = PushSettings(url=url)
        self.resolve = resolve
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._rng = random.Random(seed)
        self._tasks: dict[asyncio.Task[None], anyio.CancelScope] = {}  # each task and the scope to cancel it by
        self._held: list[Push] = []
        self._client: httpx.AsyncClient | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tick: Callable[[], None] | None = None

    # -- sending ------------------------------------------------------------------------------------------------------

    def send(self, shop_id: str, type_: int, data: dict[str, Any]) -> str | None:
        """Sign and schedule one notification of `type_` about `shop_id`; its `tts_notification_id`, or None when
        neither the shop's registration nor the app-wide URL gives an address. Needs a running event loop."""
        url = self.resolve(shop_id, type_) or self.settings.url
        if not url:
            return None
        self.ensure_started()
        notification_id = str(7 * 10**18 + secrets.randbelow(10**18))
        envelope = {
            "type": type_,
            "tts_notification_id": notification_id,
            "shop_id": shop_id,
            "timestamp": int(self.clock()),
            "data": data,
        }
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        settings, rng = self.settings, self._rng
        if rng.random() < settings.drop:
            self._record(notification_id, type_, shop_id, url, 1, None, "dropped")
            return notification_id
        secret = self.app_secret if rng.random() >= settings.bad_signature else "not-" + self.app_secret
        push = Push(notification_id, type_, shop_id, url, body, webhook_signature(self.app_key, secret, body))
        push.copies = 2 if rng.random() < settings.duplicate else 1
        if rng.random() < settings.reorder:
            self._held.append(push)
            self._spawn(self._release_later(push))
        else:
            held, self._held = self._held, []
            self._dispatch(push, held)
        return notification_id

    def _dispatch(self, push: Push, held: list[Push] | None = None) -> None:
        """Start the push's deliveries; pushes held for reordering start once its first attempt is over."""
        for copy in range(push.copies):
            self._spawn(self._deliver(push, held if copy == 0 else None))

    async def _release_later(self, push: Push) -> None:
        await asyncio.sleep(HOLD_SECONDS)
        if push in self._held:
            self._held.remove(push)
            self._dispatch(push)

    async def _deliver(self, push: Push, then: list[Push] | None = None) -> None:
        if self.settings.delay_ms:
            await asyncio.sleep(self.settings.delay_ms / 1000)
        for attempt in range(1, len(RETRY_SCHEDULE_SECONDS) + 2):
            status, error = await self._post(push)
            self._record(push.notification_id, push.type, push.shop_id, push.url, attempt, status, error)
            for earlier in then or ():
                self._dispatch(earlier)
            then = None
            if status == 200 or attempt > len(RETRY_SCHEDULE_SECONDS):
                return
            await asyncio.sleep(RETRY_SCHEDULE_SECONDS[attempt - 1] / self.retry_factor)

    async def _post(self, push: Push) -> tuple[int | None, str | None]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds, trust_env=False, verify=_tls_context())
        headers = {"Authorization": push.authorization, "Content-Type": "application/json"}
        try:
            response = await self._client.post(push.url, content=push.body, headers=headers)
        except httpx.TimeoutException:
            return None, "timeout"
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"
        return response.status_code, None

    def _record(
        self, notification_id: str, type_: int, shop_id: str, url: str, attempt: int, status: int | None, error: Any
    ) -> None:
        self.log.append(
            {
                "tts_notification_id": notification_id,
                "type": type_,
                "shop_id": shop_id,
                "url": url,
                "attempt": attempt,
                "status_code": status,
                "error": error,
                "time": round(self.clock(), 3),
            }
        )

    # -- task ownership -----------------------------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:  # a cancelled scope ends here: the task then ends normally
                await coroutine

        task = asyncio.get_running_loop().create_task(run())
        self._tasks[task] = scope
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    def on_tick(self, tick: Callable[[], None]) -> None:
        """Call `tick()` about once a second while started (the authorization-expiration check)."""
        self._tick = tick

    def ensure_started(self) -> None:
        """Start the ticker in the running loop if it is not running (idempotent; the app's lifespan calls it)."""
        if self._tick is not None and (self._ticker is None or self._ticker.done()):
            self._ticker = asyncio.get_running_loop().create_task(self._run_ticker(self._tick))

    async def _run_ticker(self, tick: Callable[[], None]) -> None:
        while True:
            try:
                tick()
            except Exception:  # a bug in one tick must not end the notices for good
                logger.exception("sandbox webhook tick failed")
            await asyncio.sleep(1.0)

    @property
    def pending(self) -> int:
        """Deliveries and held pushes not finished yet (including retries waiting for their turn)."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Stop: cancel every delivery, retry wait and the ticker, await them all, close the HTTP client."""
        if self._ticker is not None:
            self._ticker.cancel()  # it sends nothing itself: a push it starts is a task of `_tasks`
            await asyncio.gather(self._ticker, return_exceptions=True)
        while self._tasks:  # until none is left: a delivery may start another one (a held push) as it ends
            tasks = list(self._tasks.items())
            for _, scope in tasks:
                scope.cancel()
            await asyncio.gather(*(task for task, _ in tasks), return_exceptions=True)
        self._held.clear()
        self._ticker = None
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
