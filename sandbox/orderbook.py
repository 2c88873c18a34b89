"""A shop's orders with sorted (time, id) indexes: keyset-paged search that stays correct under inserts and edits.

Orders are held as small metadata and rendered into full TikTok JSON on first read, so a shop of 100,000 orders
is ready in well under a second and only pays for the orders a client actually fetches.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.data import OrderMeta

SORT_FIELDS = ("create_time", "update_time")
Key = tuple[int, str]


@dataclass(frozen=True)
class OrderFilter:
    """Get Order List body filters: `_ge` inclusive, `_lt` strict, as TikTok documents."""

    create_time_ge: int | None = None
    create_time_lt: int | None = None
    update_time_ge: int | None = None
    update_time_lt: int | None = None
    status: str | None = None

    def window(self, field: str) -> tuple[int | None, int | None]:
        if field == "create_time":
            return self.create_time_ge, self.create_time_lt
        return self.update_time_ge, self.update_time_lt

    def matches_rest(self, meta: OrderMeta, sort_field: str) -> bool:
        """Everything but the sort field's window, which the index range already applies."""
        if self.status and meta.status != self.status:
            return False
        if sort_field == "create_time":
            low, high, value = self.update_time_ge, self.update_time_lt, meta.update_time
        else:
            low, high, value = self.create_time_ge, self.create_time_lt, meta.create_time
        return (low is None or value >= low) and (high is None or value < high)

    def has_rest(self, sort_field: str) -> bool:
        other = "update_time" if sort_field == "create_time" else "create_time"
        return bool(self.status) or self.window(other) != (None, None)


@dataclass
class OrderPage:
    orders: list[dict[str, Any]]
    next_key: Key | None
    total_count: int


class OrderBook:
    """Order metadata by id plus one sorted key list per sort field; a search bisects, it never sorts or copies."""

    def __init__(self, metas: list[OrderMeta], render: Callable[[OrderMeta], dict[str, Any]]) -> None:
        self._render = render
        self._meta: dict[str, OrderMeta] = {m.id: m for m in metas}
        self._rendered: dict[str, dict[str, Any]] = {}
        self._index: dict[str, list[Key]] = {
            "create_time": sorted((m.create_time, m.id) for m in metas),
            "update_time": sorted((m.update_time, m.id) for m in metas),
        }
        self._counts: dict[tuple[OrderFilter, str], int] = {}

    def __len__(self) -> int:
        return len(self._meta)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._meta

    def get(self, order_id: str) -> dict[str, Any] | None:
        """The full order (rendered once, then kept), or None."""
        order = self._rendered.get(order_id)
        if order is None:
            meta = self._meta.get(order_id)
            if meta is None:
                return None
            order = self._rendered[order_id] = self._render(meta)
        return order

    def put(self, order: dict[str, Any], sequence: int = -1) -> None:
        """Insert or replace a full order, keeping the indexes sorted."""
        order_id = order["id"]
        old = self._meta.get(order_id)
        meta = OrderMeta(
            order_id, old.sequence if old else sequence, order["status"], order["create_time"], order["update_time"]
        )
        for name in SORT_FIELDS:
            index = self._index[name]
            if old is not None:
                del index[bisect.bisect_left(index, (getattr(old, name), order_id))]
            bisect.insort(index, (getattr(meta, name), order_id))
        self._meta[order_id] = meta
        self._rendered[order_id] = order
        self._counts.clear()  # cached totals are stale once anything changes

    def created_since(self, since: int | None) -> list[dict[str, Any]]:
        """Ground truth: orders created at or after `since`, oldest first."""
        index = self._index["create_time"]
        start = 0 if since is None else bisect.bisect_left(index, (since, ""))
        return [self.require(order_id) for _, order_id in index[start:]]

    def search(
        self, order_filter: OrderFilter, sort_field: str, descending: bool, after: Key | None, limit: int
    ) -> OrderPage:
        """One page after the cursor key `after` (exclusive) in the requested order."""
        index = self._index[sort_field]
        low_time, high_time = order_filter.window(sort_field)
        # ("", ...) sorts before any real id, so these bounds honour `_ge` inclusive and `_lt` strict.
        low = 0 if low_time is None else bisect.bisect_left(index, (low_time, ""))
        high = len(index) if high_time is None else bisect.bisect_left(index, (high_time, ""))
        check_rest = order_filter.has_rest(sort_field)
        picked: list[str] = []
        if descending:
            start = high if after is None else min(high, bisect.bisect_left(index, after))
            positions = range(start - 1, low - 1, -1)
        else:
            start = low if after is None else max(low, bisect.bisect_right(index, after))
            positions = range(start, high)
        more = False
        for position in positions:
            order_id = index[position][1]
            if check_rest and not order_filter.matches_rest(self._meta[order_id], sort_field):
                continue
            if len(picked) == limit:
                more = True
                break
            picked.append(order_id)
        next_key = (getattr(self._meta[picked[-1]], sort_field), picked[-1]) if more and picked else None
        total = self._count(order_filter, sort_field, low, high, check_rest)
        return OrderPage([self.require(order_id) for order_id in picked], next_key, total)

    def require(self, order_id: str) -> dict[str, Any]:
        """The full order for an id known to exist."""
        order = self.get(order_id)
        assert order is not None, "indexes only hold known ids"
        return order

    def _count(self, order_filter: OrderFilter, sort_field: str, low: int, high: int, check_rest: bool) -> int:
        if not check_rest:
            return max(0, high - low)
        # A filtered count means a scan of the window; cache it so the later pages of one search stay cheap.
        cache_key = (order_filter, sort_field)
        if cache_key not in self._counts:
            if len(self._counts) > 256:
                self._counts.clear()
            index, metas = self._index[sort_field], self._meta
            self._counts[cache_key] = sum(
                1 for position in range(low, high) if order_filter.matches_rest(metas[index[position][1]], sort_field)
            )
        return self._counts[cache_key]
