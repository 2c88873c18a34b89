"""The sandbox's clock: the configured wall clock plus an offset that `POST /_sandbox/clock` advances.

Token expiry, order and product times, webhook timestamps and authorization-expiration notices all read it, so a
test can jump days ahead in a second. Only the gateway's request-timestamp window reads `wall()`: a client's clock
does not move with the simulation, and TikTok compares the signed `timestamp` with real time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

YEAR_SECONDS = 365 * 86_400
MAX_ADVANCE_SECONDS = 10 * YEAR_SECONDS  # one advance: a finite number of seconds from 0 to 10 years
MAX_OFFSET_SECONDS = 100 * YEAR_SECONDS  # all advances together: every date stays a year a datetime can hold


class SandboxClock:
    """Callable like `time.time`: Unix seconds (float, UTC) of the simulated now."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self.offset = 0.0

    def __call__(self) -> float:
        return self.wall() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the simulated now forward by `seconds` (a finite number from 0 to `MAX_ADVANCE_SECONDS`, 10 years:
        time never runs backwards), the offset staying within `MAX_OFFSET_SECONDS` (100 years); ValueError, saying
        the bound, otherwise (1e308 or infinity would make every token's expiry and every date unusable). Returns
        the offset."""
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_ADVANCE_SECONDS:
            raise ValueError(
                f"advance_seconds must be a finite number from 0 to {MAX_ADVANCE_SECONDS} (10 years): the clock "
                "only moves forward"
            )
        if self.offset + seconds > MAX_OFFSET_SECONDS:
            raise ValueError(
                f"the clock is {self.offset:g} s ahead already and may be at most {MAX_OFFSET_SECONDS} s (100 years) "
                "ahead: restart the sandbox without its saved state to start over"
            )
        self.offset += seconds
        return self.offset

    def describe(self) -> dict[str, float]:
        """`{"offset_seconds", "now"}` for the control surface."""
        return {"offset_seconds": self.offset, "now": self()}
