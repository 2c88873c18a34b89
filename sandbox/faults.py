"""Fault injection for business API calls: which fault, if any, hits the next request (seeded, so reproducible)."""

from __future__ import annotations

import random
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Any

# `http_408`: a gateway's bare 408 Request Timeout (no envelope, the connection closed); `bad_gzip`: a success
# labelled `Content-Encoding: gzip` whose body is plain JSON (a misconfigured proxy). Both may be sent again.
FAULT_KINDS = (
    "http_500", "http_503", "http_429", "slow", "drop", "malformed_json", "expired_token", "http_408", "bad_gzip",
)  # fmt: skip
# Refusals no retry can fix, and a cursor that never advances: aim them at one API with `paths`.
REFUSAL_KINDS = ("missing_scope", "missing_parameter", "invalid_sign", "repeat_page_token")
# HTTP 429 with `Retry-After: RETRY_AFTER_SECONDS` (TikTok documents no such header, tiktok-api.md sec. 11, but a
# gateway in front of it may send one): a client that honours it waits that long before its next attempt.
THROTTLE_KINDS = ("http_429_retry_after",)
RETRY_AFTER_SECONDS = 1
# A call answered (its effect applied) whose body then arrives one space every `TRICKLE_STEP_SECONDS` for
# `slow_seconds`: no read waits long, so a per-read timeout never fires. Aim it with `paths`.
STALL_KINDS = ("trickle",)
TRICKLE_STEP_SECONDS = 0.05


@dataclass
class Faults:
    """Rate 0..1 of requests that get one of `kinds`, chosen by a seeded random generator."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ()
    seed: int | None = None
    slow_seconds: float = 15.0
    paths: tuple[str, ...] = ()  # the API paths (route templates) faults strike; empty: every business call
    # +1 at each `end_trickles`: a trickle begun before it sends the rest of its body at once
    trickles_ended: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def configure(
        self, rate: float, kinds: tuple[str, ...], seed: int | None, slow_seconds: float, paths: tuple[str, ...] = ()
    ) -> None:
        known = FAULT_KINDS + REFUSAL_KINDS + STALL_KINDS + THROTTLE_KINDS
        unknown = sorted(set(kinds) - set(known))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(known)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if rate > 0 and not kinds:
            raise ValueError("kinds must not be empty when rate > 0")
        self.rate, self.kinds, self.seed, self.slow_seconds = rate, kinds, seed, slow_seconds
        self.paths = paths
        self._rng = random.Random(seed)

    def end_trickles(self) -> None:
        """Every trickle under way sends the rest of its body now (`POST /_sandbox/faults/trickles/end`): a test's
        gate to order a late answer after what it does meanwhile, instead of racing `slow_seconds`."""
        self.trickles_ended += 1

    def off(self, slow_seconds: float) -> None:
        self.configure(0.0, (), None, slow_seconds)

    def pick(self, path: str | None = None) -> str | None:
        """The fault for this request to `path` (its route template), or None."""
        if self.rate <= 0 or not self.kinds:
            return None
        if self.paths and path not in self.paths:
            return None
        # rate 1 always faults without consuming randomness for the decision, which keeps sequences simple.
        if self.rate < 1.0 and self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.kinds)

    def describe(self) -> dict[str, object]:
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "slow_seconds": self.slow_seconds,
            "paths": list(self.paths),
        }


def unreadable_order(order: dict[str, Any]) -> dict[str, Any]:
    """`order` as TikTok served one that Shopbridge cannot read (try-out livesync52): `create_time: 0`, an int64
    TikTok did not set; every other field, `update_time` included, as it is."""
    return {**order, "create_time": 0}


def unreadable_product(product: dict[str, Any]) -> dict[str, Any]:
    """`product` served with `create_time: null` (a field TikTok documents on every product); the rest as it is."""
    return {**product, "create_time": None}


def served(
    records: list[dict[str, Any]], unreadable: Set[str], garble: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """`records` as answered: those whose `id` is in `unreadable` (`World.unreadable_records`) through `garble`
    (`unreadable_order` / `unreadable_product`); the list itself when none is (the common case: one length test)."""
    if not unreadable or not any(record["id"] in unreadable for record in records):
        return records
    return [garble(record) if record["id"] in unreadable else record for record in records]
