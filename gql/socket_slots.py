"""How many GraphQL WebSockets one merchant holds open in this API process, and the cap on them.

Every open socket costs the process its subscription loops (up to 20 per socket, `TOO_MANY_OPERATIONS` beyond) and
their database reads; without a cap one merchant, or anyone holding a stolen session, could open thousands and
starve every other merchant. A socket takes a slot once its `connection_init` is authenticated, and gives it back
when its handler ends, whichever way the socket ended: the client closed it or went away, the server closed it (a
protocol violation, a message too big, a stop), or an operation failed. A socket whose token has expired can read
nothing any more (`Context.require_merchant`), so it does not hold its slot against a new one: the merchant's
next connection past the cap closes it (4403, as a bad token) and takes its place.

The count is per process (no shared state to leak when a process dies): behind a load balancer spreading one
merchant's sockets over N API processes, a merchant may hold up to N times the cap (README, Configuration).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("shopbridge.ws")

# RFC 6455 7.4.1 "Policy Violation": graphql-transport-ws has no close code for a limit on connections (its 4429 is a
# second connection_init), and the reference client (npm graphql-ws) does not retry 1008, where it retries 4403 and
# 4408: a merchant at the cap is told once, not hammered by its own clients' reconnects.
CLOSE_POLICY_VIOLATION = 1008
TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
CLOSE_TOKEN_EXPIRED = 4403  # how a bad token is refused at connection_init (gql.auth.SocketTokenRefusedError)
EXPIRED_REASON = "Forbidden: the token has expired"

Close = Callable[[int, str], Awaitable[None]]


class TooManyConnectionsError(Exception):
    """The merchant holds `limit` open sockets already in this process. `reason` is the close frame's reason:
    `TOO_MANY_CONNECTIONS: …`, at most 123 bytes as RFC 6455 allows."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reason = f"{TOO_MANY_CONNECTIONS}: at most {limit} open WebSockets per merchant; close one first."
        super().__init__(self.reason)


@dataclass(slots=True)
class _Slot:
    expires_at: float  # the socket's token: Unix seconds
    close: Close


class SocketSlots:
    """Open sockets per merchant, at most `limit` each (SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT). Sockets are keyed
    by a `holder` object of their own (the connection's GraphQL context); all calls run on the process's event loop.
    """

    def __init__(self, limit: int, now: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._now = now
        self._held: dict[str, dict[int, _Slot]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def acquire(self, merchant_id: str, holder: object, expires_at: float, close: Close) -> None:
        """Take a slot for `holder`'s socket, whose token expires at `expires_at` (Unix seconds). At the cap, the
        merchant's sockets whose token has expired are let go first (their slots freed now, each closed with 4403
        by `close(code, reason)` in the background). TooManyConnectionsError when no slot is left."""
        held = self._held.setdefault(merchant_id, {})
        if len(held) >= self.limit:
            now = self._now()
            for key in [key for key, slot in held.items() if slot.expires_at <= now]:
                self._close_in_background(held.pop(key).close)
        if len(held) >= self.limit:
            raise TooManyConnectionsError(self.limit)
        held[id(holder)] = _Slot(expires_at, close)

    def release(self, merchant_id: str | None, holder: object) -> None:
        """Give `holder`'s slot back; nothing when it holds none (refused, never authenticated, already let go)."""
        held = self._held.get(merchant_id) if merchant_id is not None else None
        if merchant_id is None or held is None:
            return
        held.pop(id(holder), None)
        if not held:
            del self._held[merchant_id]

    def held(self, merchant_id: str) -> int:
        """How many slots the merchant holds now."""
        return len(self._held.get(merchant_id, ()))

    def _close_in_background(self, close: Close) -> None:
        # Not awaited by the connection that asked: a close waits for the other end's closing handshake.
        task = asyncio.create_task(self._close(close))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(close: Close) -> None:
        try:
            await close(CLOSE_TOKEN_EXPIRED, EXPIRED_REASON)
        except Exception as exc:  # the socket may be gone already; its slot is free either way
            log.debug("closing a websocket whose token expired: %r", exc)
