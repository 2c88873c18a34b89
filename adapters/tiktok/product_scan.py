"""A resumable walk over every product of a shop, page by page, under TikTok's 10,000-result search cap.

Search Products stops at 10,000 results (12052180). The walk covers `update_time` with windows, inclusive at both
ends as TikTok's `_ge`/`_le` are. It starts with [0, h] and [h+1, ∞), h being the scan's start on our clock less a
margin for skew with TikTok's: a product updated during the walk leaves the windows already walked (where paging
would miss it) for the last one, walked last. A window whose first page reports more than the cap, or that hits
12052180, is split in halves, [ge, mid] and [mid+1, le], recursively; an open-ended window is first closed at
the current horizon, leaving [horizon+1, ∞) for products updated later.

Search Products pages by offset (its tokens are opaque, but the sandbox's are offsets and TikTok's are not
documented to be otherwise): a product updated while its window is walked leaves that window (its update_time is
now past it), so every product after it moves one place up, and the first product of the next page lands on a page
already read: skipped, and never read again, as its own update_time is older than any later poll's window. A closed
window's count can only fall while it is walked (no product can enter a window that ended in the past), so a
window whose last page reports fewer products than its first page did is walked again from its first page, at most
`MAX_WINDOW_REWALKS` times (then a WARNING names it); the pages read again are upserted again, which changes nothing.

Page tokens may expire (a resumed import may send one days old): a token TikTok refuses (12019108) restarts its
window from the first page; the pages fetched again are upserted again, which changes nothing. A cursor that does
not advance (the same page token again, a page repeated) ends the walk with `CursorStuckError` (`domain.paging`).

The checkpoint is JSON-simple: `{"version": 1, "windows": [[ge, le|null], ...], "page_token": str|null,
"total_count": int|null, "window_count": int|null, "rewalks": int}`, the windows still to walk (the first is in
progress at `page_token`; `window_count` is the count its first page reported, `rewalks` how many times it was
walked again). An empty dict or None starts over; `windows == []` means done; the last two keys may be absent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.tiktok.errors import PageTokenRejectedError, SearchCapExceededError
from domain.paging import CursorGuard
from domain.ports import Page, ProductScan
from domain.stored import ProductRecord
from domain.sync import RecordFailure

SEARCH_CAP = 10_000
CHECKPOINT_VERSION = 1
# Our clock may run up to 30 s ahead of TikTok's (TikTok refuses requests beyond that): a product updated just
# after the scan began may carry an update_time a little before our start. Products updated within the margin
# before the start are simply walked in the last window.
CLOCK_MARGIN_SECONDS = 60
MAX_TOKEN_RESTARTS = 3  # a window whose fresh page tokens keep being refused has a bigger problem
MAX_WINDOW_REWALKS = 3  # walks again of a window whose products kept leaving it while it was walked
Window = list[int | None]  # [update_time_ge, update_time_le or None for "no upper bound"]
logger = logging.getLogger("adapters.tiktok")


class FetchProducts(Protocol):
    def __call__(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Awaitable[Page[ProductRecord]]: ...


@dataclass(slots=True)
class ScanState:
    windows: list[Window]
    page_token: str | None = None
    total_count: int | None = None
    window_count: int | None = None  # what the current window's first page counted
    rewalks: int = 0  # times the current window was walked again (products left it while it was walked)

    @classmethod
    def begin(cls, horizon: int) -> ScanState:
        """A new walk: what was updated up to `horizon`, then whatever is updated after it (during the walk)."""
        horizon = max(0, horizon)
        return cls(windows=[[0, horizon], [horizon + 1, None]])

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any] | None, horizon: int) -> ScanState:
        if not checkpoint or "windows" not in checkpoint:
            return cls.begin(horizon)
        windows = [[int(w[0]), None if w[1] is None else int(w[1])] for w in checkpoint["windows"]]
        token = checkpoint.get("page_token")
        total, window_count, rewalks = (checkpoint.get(key) for key in ("total_count", "window_count", "rewalks"))
        return cls(
            windows=windows,
            page_token=token or None,
            total_count=total if isinstance(total, int) else None,
            window_count=window_count if isinstance(window_count, int) and token else None,
            rewalks=rewalks if isinstance(rewalks, int) else 0,
        )

    def checkpoint(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "windows": [list(w) for w in self.windows],
            "page_token": self.page_token,
            "total_count": self.total_count,
            "window_count": self.window_count,
            "rewalks": self.rewalks,
        }

    def covers_catalog(self) -> bool:
        """Whether the current window is everything updated before the walk began (its count: the catalog's)."""
        ge, le = self.windows[0]
        if ge != 0:
            return False
        return le is None or (len(self.windows) > 1 and self.windows[1] == [le + 1, None])

    def split_current(self, horizon: int) -> bool:
        """Replace the current window by its halves (restarting its paging); False when it is one second wide."""
        ge, le = self.windows[0]
        assert ge is not None
        halves: list[Window]
        if le is None:
            if horizon <= ge:
                return False
            mid = (ge + horizon) // 2
            halves = [[ge, mid], [mid + 1, horizon], [horizon + 1, None]]
        else:
            if le <= ge:
                return False
            mid = (ge + le) // 2
            halves = [[ge, mid], [mid + 1, le]]
        self.windows[0:1] = halves
        self.page_token, self.window_count, self.rewalks = None, None, 0
        return True

    def advance(self, next_page_token: str | None, last_total: int | None) -> None:
        """After a page of the current window: on to `next_page_token`; or, its last page read, to the next window,
        unless the window shrank while walked (`last_total`, this page's count, below its first page's): then it
        is walked again from its first page (module docstring), at most `MAX_WINDOW_REWALKS` times."""
        if next_page_token:
            self.page_token = next_page_token
            return
        self.page_token = None
        counted = self.window_count
        shrank = counted is not None and last_total is not None and last_total < counted
        if shrank and self.rewalks < MAX_WINDOW_REWALKS:
            self.rewalks += 1
            logger.info(
                "product search of update_time %s: it counted %s products, then %s, as some left it while it was "
                "walked; walking it again",
                self.windows[0], counted, last_total,
            )  # fmt: skip
            return
        if shrank:
            logger.warning(
                "product search of update_time %s: products kept leaving it while it was walked (walked %d times); "
                "a product may have been missed until the next import",
                self.windows[0], self.rewalks + 1,
            )  # fmt: skip
        self.windows.pop(0)
        self.window_count, self.rewalks = None, 0


async def scan_products(
    fetch: FetchProducts,
    checkpoint: dict[str, Any] | None,
    *,
    page_size: int,
    now: Callable[[], int],
    cap: int = SEARCH_CAP,
) -> AsyncIterator[ProductScan]:
    """Yield every non-empty page (and always a last one, so the caller sees the final checkpoint)."""

    def horizon() -> int:
        return now() - CLOCK_MARGIN_SECONDS

    state = ScanState.from_checkpoint(checkpoint, horizon())
    restarts = 0  # of the current window, after a refused page token
    guard = CursorGuard("the product search")
    while state.windows:
        ge, le = state.windows[0]
        assert ge is not None
        first_page = state.page_token is None
        if first_page:
            guard.restart()  # a new window, a split or a restarted one: a new paging run
        guard.what = f"the product search of update_time [{ge}, {'now' if le is None else le}]"
        sent_token = state.page_token
        try:
            page = await fetch(page_size=page_size, page_token=sent_token, update_time_ge=ge, update_time_le=le)
        except SearchCapExceededError:
            if not state.split_current(horizon()):
                raise  # over 10,000 products updated within one second: nothing narrower to ask for
            continue
        except PageTokenRejectedError as exc:
            if first_page or restarts >= MAX_TOKEN_RESTARTS:
                raise
            restarts += 1
            logger.info("tiktok refused a product page token (request_id=%s); restarting its window", exc.request_id)
            state.page_token = None
            continue
        if first_page and page.total_count is not None:
            if state.total_count is None and state.covers_catalog():
                state.total_count = page.total_count  # the whole catalog's size, for progress
            # Splitting before paging costs this one page, and spares the duplicates a mid-window 12052180 causes.
            if page.total_count > cap and state.split_current(horizon()):
                continue
        if first_page:
            state.window_count = page.total_count
        guard.check_page([_record_id(item) for item in page.items], page.next_page_token)
        state.advance(page.next_page_token, page.total_count)
        if state.page_token is None:
            restarts = 0  # the window is done: the next one starts afresh
        if page.items or not state.windows:
            yield ProductScan(page=page, checkpoint=state.checkpoint(), total_count=state.total_count)
        guard.advance(sent_token, state.page_token)


def _record_id(item: ProductRecord | RecordFailure) -> str:
    return item.tiktok_id if isinstance(item, RecordFailure) else item.tiktok_product_id
