"""A resumable walk over every product of a shop, page by page, under TikTok's 10,000-result search cap.

Search Products stops at 10,000 results (12052180). The walk covers `update_time` with windows, inclusive at both
ends as TikTok's `_ge`/`_le` are, starting with one open-ended window [0, ∞). A window whose first page reports more
than the cap, or that hits 12052180, is split in halves, [ge, mid] and [mid+1, le], recursively; an open-ended
window is first closed at "now", leaving [now+1, ∞) for products updated during the walk.

The checkpoint is JSON-simple: `{"version": 1, "windows": [[ge, le|null], ...], "page_token": str|null,
"total_count": int|null}`, the windows still to walk (the first is in progress at `page_token`). An empty dict or
None starts over; `windows == []` means done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.tiktok.errors import SearchCapExceededError
from domain.catalog import Product
from domain.ports import Page, ProductScan

SEARCH_CAP = 10_000
CHECKPOINT_VERSION = 1
Window = list[int | None]  # [update_time_ge, update_time_le or None for "no upper bound"]


class FetchProducts(Protocol):
    def __call__(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Awaitable[Page[Product]]: ...


@dataclass(slots=True)
class ScanState:
    windows: list[Window] = field(default_factory=lambda: [[0, None]])
    page_token: str | None = None
    total_count: int | None = None

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any] | None) -> ScanState:
        if not checkpoint or "windows" not in checkpoint:
            return cls()
        windows = [[int(w[0]), None if w[1] is None else int(w[1])] for w in checkpoint["windows"]]
        token = checkpoint.get("page_token")
        total = checkpoint.get("total_count")
        return cls(windows=windows, page_token=token or None, total_count=total if isinstance(total, int) else None)

    def checkpoint(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "windows": [list(w) for w in self.windows],
            "page_token": self.page_token,
            "total_count": self.total_count,
        }

    def split_current(self, now: int) -> bool:
        """Replace the current window by its halves (restarting its paging); False when it is one second wide."""
        ge, le = self.windows[0]
        assert ge is not None
        halves: list[Window]
        if le is None:
            if now <= ge:
                return False
            mid = (ge + now) // 2
            halves = [[ge, mid], [mid + 1, now], [now + 1, None]]
        else:
            if le <= ge:
                return False
            mid = (ge + le) // 2
            halves = [[ge, mid], [mid + 1, le]]
        self.windows[0:1] = halves
        self.page_token = None
        return True

    def advance(self, next_page_token: str | None) -> None:
        if next_page_token:
            self.page_token = next_page_token
        else:
            self.windows.pop(0)
            self.page_token = None


async def scan_products(
    fetch: FetchProducts,
    checkpoint: dict[str, Any] | None,
    *,
    page_size: int,
    now: Callable[[], int],
    cap: int = SEARCH_CAP,
) -> AsyncIterator[ProductScan]:
    """Yield every non-empty page (and always a last one, so the caller sees the final checkpoint)."""
    state = ScanState.from_checkpoint(checkpoint)
    while state.windows:
        ge, le = state.windows[0]
        assert ge is not None
        first_page = state.page_token is None
        try:
            page = await fetch(page_size=page_size, page_token=state.page_token, update_time_ge=ge, update_time_le=le)
        except SearchCapExceededError:
            if not state.split_current(now()):
                raise  # over 10,000 products updated within one second: nothing narrower to ask for
            continue
        if first_page and page.total_count is not None:
            if state.total_count is None and [ge, le] == [0, None]:
                state.total_count = page.total_count  # the whole catalog's size, for progress
            # Splitting before paging costs this one page, and spares the duplicates a mid-window 12052180 causes.
            if page.total_count > cap and state.split_current(now()):
                continue
        state.advance(page.next_page_token)
        if page.items or not state.windows:
            yield ProductScan(page=page, checkpoint=state.checkpoint(), total_count=state.total_count)
