"""Held business API calls: a test's gate to act while a call of a given API is in flight at "TikTok".

A held call has passed every check of the gateway (signature, token, shop, rate limit) and waits before its answer
is computed; it is answered as usual once released, with the data as it is then. A call whose client has gone
(timeout, shutdown) stops waiting and is answered 499, which nobody receives; when the server stops (`stop`) every
held call is answered and none is held any more. See sandbox/hold_control.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

DISCONNECT_CHECK_SECONDS = 0.05


class Holds:
    """The API paths (route templates) held now, and how many of their calls wait (`waiting`) or were held since
    the paths were last set (`held`)."""

    def __init__(self) -> None:
        # One gate per held path; made on the server's loop (by a control request), set to release its waiters.
        self._gates: dict[str, asyncio.Event] = {}
        self.waiting = 0
        self.held = 0
        self._stopped = False  # the server stops: nothing is held any more (`stop`)

    @property
    def paths(self) -> list[str]:
        return sorted(self._gates)

    def hold(self, paths: tuple[str, ...]) -> None:
        """Hold exactly `paths` from now: calls of a path no longer listed are released; `()` releases all."""
        for path in [p for p in self._gates if p not in paths]:
            self._gates.pop(path).set()
        for path in () if self._stopped else paths:
            self._gates.setdefault(path, asyncio.Event())
        self.held = 0

    def stop(self) -> None:
        """The server stops: the calls held now are answered, and none is held from now on."""
        self._stopped = True
        self.hold(())

    def release_waiting(self) -> int:
        """Answer the calls waiting now; the paths stay held for the next ones. Returns how many were waiting."""
        released = self.waiting
        for path, gate in self._gates.items():
            gate.set()
            self._gates[path] = asyncio.Event()
        return released

    async def wait(self, path: str, client_gone: Callable[[], Awaitable[bool]]) -> bool:
        """Wait while `path` is held; True once released (or at once when not held), False if the client left."""
        gate = self._gates.get(path)
        if gate is None:
            return True
        self.waiting += 1
        self.held += 1
        try:
            while not gate.is_set():
                try:
                    async with asyncio.timeout(DISCONNECT_CHECK_SECONDS):  # not wait_for: gh-86296 on 3.11
                        await gate.wait()
                except TimeoutError:
                    if await client_gone():
                        return False
            return True
        finally:
            self.waiting -= 1

    def describe(self) -> dict[str, object]:
        return {"paths": self.paths, "waiting": self.waiting, "held": self.held}
