"""The orders window cut into time slices, each resumable from the last `create_time` it stored.

Why not persist TikTok's page tokens: their lifetime is undocumented, so a token saved before a crash may be
refused an hour later. A slice instead restarts its search at the create time of the last order it stored
(TikTok's bounds are whole seconds, `create_time_ge` inclusive) and skips the ids it already stored at that
second, so a resume neither misses nor double-counts an order. Past `SEEN_IDS_CAP` orders sharing one second,
the surplus is fetched again and counted as unchanged: the data stays exact, only the counts drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from domain.catalog import Order
from domain.ports import Page
from domain.stored import OrderRecord, StoredOrder
from domain.sync import RecordFailure

SEEN_IDS_CAP = 500


@dataclass(frozen=True, slots=True)
class OrderSlice:
    """Orders created in [ge, lt) (Unix seconds); the next search starts at `resume_ge`."""

    ge: int
    lt: int
    resume_ge: int
    seen: tuple[str, ...] = ()  # ids created at `resume_ge` that are already stored
    total: int | None = None  # TikTok's count for the whole slice, from its first page
    done: bool = False

    @property
    def fresh(self) -> bool:
        return self.resume_ge == self.ge and not self.seen

    def after_page(self, page: Page[OrderRecord], first_of_run: bool) -> OrderSlice:
        """The slice once `page` is stored. `first_of_run`: the first page this run fetched for the slice.

        Orders the slice already stored (see `news`) do not move it: a page TikTok repeats never moves it back."""
        orders = [item for item in self.news(page.items) if isinstance(item, StoredOrder | Order)]
        resume_ge, seen = self.resume_ge, self.seen
        if orders:
            last = max(_seconds(order.created_at) for order in orders)
            at_last = tuple(order.tiktok_order_id for order in orders if _seconds(order.created_at) == last)
            seen = (seen + at_last if last == resume_ge else at_last)[-SEEN_IDS_CAP:]
            resume_ge = last
        total = self.total
        if total is None and first_of_run and self.fresh:
            total = page.total_count
        return replace(self, resume_ge=resume_ge, seen=seen, total=total, done=not page.next_page_token)

    def news(self, items: Sequence[OrderRecord | RecordFailure]) -> list[OrderRecord | RecordFailure]:
        """The page without the orders this slice already stored: created before `resume_ge` (pages come oldest
        first), or at it and in `seen` (the overlap of a resume, or a page TikTok answered again)."""
        seen = set(self.seen)
        return [
            item
            for item in items
            if not (
                isinstance(item, StoredOrder | Order)
                and (
                    (second := _seconds(item.created_at)) < self.resume_ge
                    or (second == self.resume_ge and item.tiktok_order_id in seen)
                )
            )
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "ge": self.ge,
            "lt": self.lt,
            "resume_ge": self.resume_ge,
            "seen": list(self.seen),
            "total": self.total,
            "done": self.done,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderSlice:
        return cls(
            ge=int(data["ge"]),
            lt=int(data["lt"]),
            resume_ge=int(data["resume_ge"]),
            seen=tuple(str(i) for i in data.get("seen", ())),
            total=None if data.get("total") is None else int(data["total"]),
            done=bool(data.get("done", False)),
        )


def plan_slices(since: datetime, until: datetime, count: int) -> list[OrderSlice]:
    """[since, until) cut into `count` contiguous slices of (nearly) equal length, whole seconds."""
    ge, lt = _seconds(since), _seconds(until)
    count = max(1, min(count, lt - ge))
    bounds = [ge + (lt - ge) * i // count for i in range(count + 1)]
    return [OrderSlice(ge=a, lt=b, resume_ge=a) for a, b in pairwise(bounds) if a < b]


def load_slices(checkpoint: dict[str, Any], since: datetime, until: datetime, count: int) -> list[OrderSlice]:
    """The slices stored in the task's checkpoint; planned afresh on the first run."""
    stored = checkpoint.get("orders", {}).get("slices")
    if stored:
        return [OrderSlice.from_json(item) for item in stored]
    return plan_slices(since, until, count)


def store_slice(checkpoint: dict[str, Any], plan: Sequence[OrderSlice], index: int, state: OrderSlice) -> int | None:
    """Record one slice's state in the checkpoint; returns the total of all slices once each has told it.

    `plan` is the list of slices the run started from: the first page stored saves the whole plan with it.
    """
    orders = checkpoint.setdefault("orders", {})
    slices: list[dict[str, Any]] = orders.setdefault("slices", [item.to_json() for item in plan])
    slices[index] = state.to_json()
    totals = [item.get("total") for item in slices]
    if all(isinstance(total, int) for total in totals):
        return sum(int(total) for total in totals if total is not None)
    return None


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
