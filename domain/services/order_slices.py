"""The orders window cut into time slices, each resumable from the last `create_time` it stored.

Why not persist TikTok's page tokens: their lifetime is undocumented, so a token saved before a crash may be
refused an hour later. A slice instead restarts its search at the create time of the last order it stored
(TikTok's bounds are whole seconds, `create_time_ge` inclusive) and skips the ids it already stored at that
second, so a resume neither misses nor double-counts an order. Past `SEEN_IDS_CAP` orders sharing one second,
the surplus is fetched again and counted as unchanged: the data stays exact, only the counts drift.

The polling backstop reads its window the same way, by `update_time` instead (`by=UPDATE_TIME`): TikTok sorts
the search by the field the window filters on, ascending (live-sync.md §3.3).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from itertools import pairwise
from typing import Any

from domain.catalog import Order
from domain.paging import CursorGuard
from domain.ports import Page
from domain.services.pipeline import Chunk
from domain.stored import OrderRecord, StoredOrder
from domain.sync import RecordFailure, SyncTask

SEEN_IDS_CAP = 500
_ORDER_TYPES = (StoredOrder, Order)  # a tuple: `StoredOrder | Order` would build a union at every isinstance
CREATE_TIME = "create_time"
UPDATE_TIME = "update_time"
# One page of orders in [ge, lt) of the slice's time field, ascending: (page_size, page_token, ge, lt) -> page.
SliceSearch = Callable[[int, str | None, int, int], Awaitable[Page[OrderRecord]]]


@dataclass(frozen=True, slots=True)
class OrderSlice:
    """Orders created in [ge, lt) (Unix seconds); the next search starts at `resume_ge`."""

    ge: int
    lt: int
    resume_ge: int
    seen: tuple[str, ...] = ()  # ids created at `resume_ge` that are already stored
    total: int | None = None  # TikTok's count for the whole slice, from its first page
    done: bool = False
    by: str = CREATE_TIME  # the time field the window and the resume point are on

    @property
    def fresh(self) -> bool:
        return self.resume_ge == self.ge and not self.seen

    def after_page(self, page: Page[OrderRecord], first_of_run: bool) -> OrderSlice:
        """The slice once `page` is stored. `first_of_run`: the first page this run fetched for the slice.

        Orders the slice already stored (see `news`) do not move it: a page TikTok repeats never moves it back."""
        return self._after(page, self._news(page.items)[1], first_of_run)

    def news(self, items: Sequence[OrderRecord | RecordFailure]) -> list[OrderRecord | RecordFailure]:
        """The page without the orders this slice already stored: before `resume_ge` in the slice's time field
        (pages come oldest first), or at it and in `seen` (the overlap of a resume, or a page TikTok answered
        again)."""
        return self._news(items)[0]

    def _news(
        self, items: Sequence[OrderRecord | RecordFailure]
    ) -> tuple[list[OrderRecord | RecordFailure], list[tuple[int, OrderRecord]]]:
        """`news`, and the orders among them with their second in the slice's time field: read once an order
        (`slice_pages` hands both to `_after`)."""
        seen, resume_ge, by_update = set(self.seen), self.resume_ge, self.by == UPDATE_TIME
        news: list[OrderRecord | RecordFailure] = []
        orders: list[tuple[int, OrderRecord]] = []
        for item in items:
            if isinstance(item, _ORDER_TYPES):
                second = _seconds(item.updated_at if by_update else item.created_at)
                if second < resume_ge or (second == resume_ge and item.tiktok_order_id in seen):
                    continue
                orders.append((second, item))
            news.append(item)
        return news, orders

    def _after(self, page: Page[OrderRecord], orders: list[tuple[int, OrderRecord]], first_of_run: bool) -> OrderSlice:
        """`after_page`, given the page's new orders with their seconds (`_news`)."""
        resume_ge, seen = self.resume_ge, self.seen
        if orders:
            last = max(second for second, _ in orders)
            at_last = tuple(order.tiktok_order_id for second, order in orders if second == last)
            seen = (seen + at_last if last == resume_ge else at_last)[-SEEN_IDS_CAP:]
            resume_ge = last
        total = self.total
        if total is None and first_of_run and self.fresh:
            total = page.total_count
        return replace(self, resume_ge=resume_ge, seen=seen, total=total, done=not page.next_page_token)

    def to_json(self) -> dict[str, Any]:
        data = {
            "ge": self.ge,
            "lt": self.lt,
            "resume_ge": self.resume_ge,
            "seen": list(self.seen),
            "total": self.total,
            "done": self.done,
        }
        if self.by != CREATE_TIME:
            data["by"] = self.by
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderSlice:
        return cls(
            ge=int(data["ge"]),
            lt=int(data["lt"]),
            resume_ge=int(data["resume_ge"]),
            seen=tuple(str(i) for i in data.get("seen", ())),
            total=None if data.get("total") is None else int(data["total"]),
            done=bool(data.get("done")),
            by=str(data.get("by", CREATE_TIME)),
        )


def plan_slices(since: datetime, until: datetime, count: int) -> list[OrderSlice]:
    """[since, until) cut into `count` contiguous slices of (nearly) equal length, whole seconds."""
    ge, lt = _seconds(since), _seconds(until)
    count = max(1, count)  # more slices than seconds: the empty ones are dropped below
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

    `plan` is the list of slices the run started from, each with TikTok's total as soon as its first page was
    fetched (`slice_pages`): the first page stored saves the whole plan with it, and every page stored copies into
    the checkpoint the totals told since, for slices whose own first page still waits to be stored. Such a slice
    is still fresh in the checkpoint (its `resume_ge` at `ge`): a resumed run asks its first page again and keeps
    the total (`OrderSlice._after`), so a resume shows the same total.
    """
    orders = checkpoint.setdefault("orders", {})
    slices: list[dict[str, Any]] = orders.setdefault("slices", [item.to_json() for item in plan])
    slices[index] = state.to_json()
    for item, told in zip(slices, plan, strict=True):
        if item.get("total") is None and told.total is not None:
            item["total"] = told.total
    totals = [item.get("total") for item in slices]
    if all(isinstance(total, int) for total in totals):
        return sum(int(total) for total in totals if total is not None)
    return None


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


async def slice_pages(search: SliceSearch, plan: list[OrderSlice], index: int, page_size: int) -> AsyncIterator[Chunk]:
    """One slice's pages, ascending by its time field, from where the last run stored up to.

    Only what the slice has not stored yet is passed on, so `processed` counts each order once; a cursor that
    does not advance ends the slice with `CursorStuckError` once the pages that were new are stored.

    TikTok's `total_count` of the slice, on its first page, goes into `plan[index]` as soon as that page is fetched
    (the plan is shared by the run's slices): the next page of any slice stored publishes the task's total once
    every slice has told it (`store_slice`). Waiting for each slice's first page to be *stored* left a big shop's
    import without a total for most of its run: the slices share one bounded queue and one writer, so the first
    pages of the slices that lost the race wait behind the others' later pages (try-out newcomer54)."""
    state = plan[index]
    start, token = state, None
    guard = CursorGuard(f"the order search of {start.by} [{start.resume_ge}, {start.lt})")
    while not state.done:
        page = await search(page_size, token, start.resume_ge, start.lt)
        guard.check_page([_record_id(item) for item in page.items], page.next_page_token)
        items, orders = state._news(page.items)
        state = state._after(page, orders, first_of_run=token is None)
        if state.total is not None and plan[index].total is None:
            plan[index] = replace(plan[index], total=state.total)  # told now, stored with any slice's next page
        sent, token = token, page.next_page_token or None
        yield Chunk(items, partial(mark_slice, plan, index, state))
        guard.advance(sent, token)  # the last page (no token, so `state.done`) ends the loop


def _record_id(item: OrderRecord | RecordFailure) -> str:
    return item.tiktok_id if isinstance(item, RecordFailure) else item.tiktok_order_id


def mark_slice(plan: list[OrderSlice], index: int, state: OrderSlice, task: SyncTask) -> None:
    """Once a page is stored: the slice's new state in the task's checkpoint, and the total once known."""
    total = store_slice(task.checkpoint, plan, index, state)
    if total is not None:
        task.total = total
