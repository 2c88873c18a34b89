"""The sandbox's clock: the configured wall clock plus an offset that `POST /_sandbox/clock` advances.

Token expiry, order and product times, webhook timestamps and authorization-expiration notices all read it, so a
test can jump days ahead in a second. Only the gateway's request-timestamp window reads `wall()`: a client's clock
does not move with the simulation, and TikTok compares the signed `timestamp` with real time.
"""

from __future__ import annotations

from collections.abc import Callable


class SandboxClock:
    """Callable like `time.time`: Unix seconds (float, UTC) of the simulated now."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self.offset = 0.0

    def __call__(self) -> float:
        return self.wall() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the simulated now forward by `seconds` (>= 0; time never runs backwards). Returns the offset."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        return self.offset

    def describe(self) -> dict[str, float]:
        """`{"offset_seconds", "now"}` for the control surface."""
        return {"offset_seconds": self.offset, "now": self()}
