"""The product scan's walk (`adapters.tiktok.product_scan`) over a fake Search Products: windows of `update_time`
inclusive at both ends, split in halves past the cap, checkpoints written out as literals, refused page tokens."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.tiktok.errors import PageTokenRejectedError, SearchCapExceededError
from adapters.tiktok.product_scan import scan_products
from domain.ports import CursorStuckError, Page
from domain.sync import RecordFailure


class Search:
    """Search Products over products updated at the given times (id "p<time>"): pages of `page_size`, the token
    being the offset; `refuse_tokens` refuses that many page tokens; `cap` answers 12052180 past that many."""

    def __init__(self, times: list[int], *, cap: int | None = None, refuse_tokens: int = 0) -> None:
        self.times = sorted(times)
        self.cap = cap
        self.refuse_tokens = refuse_tokens
        self.asked: list[tuple[int, int | None, str | None]] = []

    async def __call__(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Page[Any]:
        self.asked.append((update_time_ge, update_time_le, page_token))
        if page_token is not None and self.refuse_tokens:
            self.refuse_tokens -= 1
            raise PageTokenRejectedError("Invalid page token", code=12019108)
        found = [t for t in self.times if t >= update_time_ge and (update_time_le is None or t <= update_time_le)]
        offset = int(page_token or 0)
        if self.cap is not None and offset + page_size > self.cap and len(found) > self.cap:
            raise SearchCapExceededError("The total number of search results can not exceed 10000.", code=12052180)
        batch = found[offset : offset + page_size]
        more = offset + page_size < len(found)
        return Page([RecordFailure(f"p{t}", "") for t in batch], str(offset + page_size) if more else None, len(found))


async def walk(search: Search, checkpoint: dict[str, Any] | None = None, **options: Any) -> list[tuple[Any, ...]]:
    """(ids, windows left, page token, total) of every page yielded."""
    return [
        (
            [item.tiktok_id for item in scan.page.items],
            scan.checkpoint["windows"], scan.checkpoint["page_token"], scan.total_count,
        )
        async for scan in scan_products(search, checkpoint, **{"now": lambda: 1060, **options})
    ]  # fmt: skip


async def test_a_catalog_over_the_cap_is_walked_in_halves_from_the_start_of_the_scan() -> None:
    # given 10 products updated at 100, 200 ... 1000, a cap of 4, and a scan starting at 1060 (horizon 1000)
    search = Search([100 * n for n in range(1, 11)])
    pages = await walk(search, page_size=10, cap=4)
    # then [0, 1000] is split into [0, 500] and [501, 1000], and each again, and every product comes once
    assert pages == [
        (["p100", "p200"], [[251, 500], [501, 1000], [1001, None]], None, 10),
        (["p300", "p400", "p500"], [[501, 1000], [1001, None]], None, 10),
        (["p600", "p700"], [[751, 1000], [1001, None]], None, 10),
        (["p800", "p900", "p1000"], [[1001, None]], None, 10),
        ([], [], None, 10),  # the last window, empty: the final checkpoint
    ]
    assert search.asked[:3] == [(0, 1000, None), (0, 500, None), (0, 250, None)]


async def test_an_open_window_over_the_cap_is_closed_at_the_horizon_first() -> None:
    search = Search([100 * n for n in range(1, 11)] + [1030])
    pages = await walk(search, {"windows": [[0, None]], "page_token": None}, page_size=10, cap=8)
    assert [p[0] for p in pages] == [
        ["p100", "p200", "p300", "p400", "p500"],
        ["p600", "p700", "p800", "p900", "p1000"],
        ["p1030"],
    ]
    assert search.asked[:2] == [(0, None, None), (0, 500, None)]
    assert pages[0][1:] == ([[501, 1000], [1001, None]], None, 11)


async def test_a_window_paged_past_the_cap_splits_and_pages_continue_with_tokens() -> None:
    search = Search([10, 20, 30, 40, 50, 60], cap=3)
    pages = await walk(search, {"windows": [[0, 60]]}, page_size=2)
    # the second page hits the cap: the window is split and walked again from its first page (those upserted twice)
    assert [p[0] for p in pages] == [["p10", "p20"], ["p10", "p20"], ["p30"], ["p40", "p50"], ["p60"]]
    assert pages[0][1:] == ([[0, 60]], "2", None) and pages[1][1:] == ([[0, 30], [31, 60]], "2", None)


async def test_more_than_the_cap_within_one_second_is_refused() -> None:
    search = Search([7, 7, 7, 7], cap=2)
    with pytest.raises(SearchCapExceededError):
        await walk(search, {"windows": [[7, 7]]}, page_size=2, cap=2)


async def test_a_refused_page_token_restarts_its_window_at_most_three_times() -> None:
    search = Search([10, 20, 30], refuse_tokens=1)
    pages = await walk(search, {"windows": [[0, 30]], "page_token": "1"}, page_size=2)
    assert [p[0] for p in pages] == [["p10", "p20"], ["p30"]]
    assert search.asked[:2] == [(0, 30, "1"), (0, 30, None)]
    with pytest.raises(PageTokenRejectedError):
        await walk(Search([10, 20, 30], refuse_tokens=4), {"windows": [[0, 30]], "page_token": "1"}, page_size=1)
    pages = await walk(Search([10, 20, 30], refuse_tokens=3), {"windows": [[0, 30]], "page_token": "1"}, page_size=1)
    assert [p[0] for p in pages] == [["p10"], ["p10"], ["p10"], ["p20"], ["p30"]]


async def test_a_checkpoint_is_read_leniently_and_a_finished_one_yields_nothing() -> None:
    search = Search([10])
    checkpoint = {"windows": [["0", "20"]], "page_token": "", "total_count": "many"}
    assert await walk(search, checkpoint, page_size=5) == [(["p10"], [], None, None)]
    assert await walk(search, {"windows": []}, page_size=5) == []


async def test_an_open_window_starting_at_the_horizon_cannot_be_split_and_is_paged() -> None:
    # given the last window, [1000, now), the horizon being 1000 too, and more products in it than the cap
    search = Search([1000, 1010, 1020])
    pages = await walk(search, {"windows": [[1000, None]]}, page_size=5, cap=2)
    # then it is paged as it is: nothing narrower to ask for
    assert search.asked == [(1000, None, None)] and pages == [(["p1000", "p1010", "p1020"], [], None, None)]


async def test_a_scan_begun_within_the_clock_margin_of_the_epoch_starts_its_windows_at_zero() -> None:
    # given a clock at 30 s (the horizon, 60 s earlier, would be negative) and products updated at 0 and 5
    pages = await walk(Search([0, 5]), page_size=5, now=lambda: 30)
    # then the windows are [0, 0] and [1, now): the first is the whole catalog before the walk
    assert pages == [(["p0"], [[1, None]], None, 1), (["p5"], [], None, 1)]


async def test_the_checkpoint_is_the_documented_json_and_a_resumed_walk_keeps_its_total() -> None:
    search = Search([10, 20, 30, 1030])
    scans = [scan async for scan in scan_products(search, None, page_size=2, now=lambda: 1060)]
    assert [scan.checkpoint for scan in scans] == [
        {"version": 1, "windows": [[0, 1000], [1001, None]], "page_token": "2", "total_count": 3, "window_count": 3,
         "rewalks": 0},
        {"version": 1, "windows": [[1001, None]], "page_token": None, "total_count": 3, "window_count": None,
         "rewalks": 0},
        {"version": 1, "windows": [], "page_token": None, "total_count": 3, "window_count": None, "rewalks": 0},
    ]  # fmt: skip
    # when the walk resumes from its first checkpoint, the catalog's total (taken on the first page) is kept
    resumed = {"version": 1, "windows": [[0, 1000], [1001, None]], "page_token": "2", "total_count": 3}
    assert await walk(Search([10, 20, 30, 1030]), resumed, page_size=2) == [
        (["p30"], [[1001, None]], None, 3),
        (["p1030"], [], None, 3),
    ]
    # and a checkpoint without windows (an older shape) starts over
    assert await walk(Search([10]), {"version": 1, "page_token": "9"}, page_size=5) == [
        (["p10"], [[1001, None]], None, 1),
        ([], [], None, 1),
    ]


@pytest.mark.parametrize(("cap", "asked"), [(4, [(0, 1000), (1001, None)]), (3, [(0, 1000), (0, 500)])])
async def test_a_window_is_split_only_when_its_total_exceeds_the_cap(cap: int, asked: list[Any]) -> None:
    search = Search([100, 200, 300, 400])
    await walk(search, page_size=10, cap=cap)
    assert [(ge, le) for ge, le, _ in search.asked[:2]] == asked


@pytest.mark.parametrize(("total", "asked"), [(10_000, [(0, 1000), (1001, None)]), (10_001, [(0, 1000), (0, 500)])])
async def test_the_cap_is_tiktoks_10000_search_results_by_default(total: int, asked: list[Any]) -> None:
    # given a first page reporting `total` results (the walk's default cap: Search Products' 10,000, 12052180)
    windows: list[tuple[int, int | None]] = []

    async def fetch(
        *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Page[Any]:
        windows.append((update_time_ge, update_time_le))
        return Page([], None, total if len(windows) == 1 else 0)

    _ = [scan async for scan in scan_products(fetch, None, page_size=100, now=lambda: 1060)]
    assert windows[:2] == asked


async def test_a_total_that_grows_past_the_cap_after_the_first_page_does_not_split_the_window() -> None:
    # given a window whose second page reports more products than the cap (updated during the walk)
    asked: list[str | None] = []

    async def fetch(
        *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Page[Any]:
        asked.append(page_token)
        if page_token is None:
            return Page([RecordFailure("p1", "")], "t2", 2)
        return Page([RecordFailure("p2", "")], None, 9)

    pages = [
        (scan.checkpoint["windows"], scan.total_count)
        async for scan in scan_products(fetch, {"windows": [[0, 50]]}, page_size=1, now=lambda: 1060, cap=4)
    ]
    # then the window is paged to its end as it was begun
    assert asked == [None, "t2"] and pages == [([[0, 50]], None), ([], None)]


async def test_refused_page_tokens_are_counted_per_window() -> None:
    # given a first window with no refusal, then a second whose page token is refused three times
    search = Search([10, 30, 40, 50], refuse_tokens=3)
    pages = await walk(search, {"windows": [[0, 20], [21, 60]]}, page_size=1)
    # then the second window restarts three times, as a window may, and is walked to its end
    assert [p[0] for p in pages] == [["p10"], ["p30"], ["p30"], ["p30"], ["p30"], ["p40"], ["p50"]]


@pytest.mark.parametrize(
    ("window", "named"), [([0, 1000], "[0, 1000]"), ([1001, None], "[1001, now]")], ids=["closed", "open"]
)
async def test_a_page_answered_twice_ends_the_walk_naming_its_window(window: list[Any], named: str) -> None:
    # given Search Products answering the same page for the next page token as for the first page
    async def fetch(
        *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Page[Any]:
        return Page([RecordFailure("p1", "")], "t2", 1)

    with pytest.raises(CursorStuckError) as stuck:
        _ = [scan async for scan in scan_products(fetch, {"windows": [window]}, page_size=1, now=lambda: 1060)]
    # then the error (a task's errorMessage) says which search does not advance
    assert str(stuck.value) == (
        f"TikTok's paging does not advance: the product search of update_time {named} answered a page it had "
        "already answered (1 records, nothing new)"
    )


async def test_windows_are_split_at_whole_seconds() -> None:
    # given an open window over the cap whose bounds add up to an odd number (0 and the horizon 1001)
    search = Search([100 * n for n in range(1, 11)])
    pages = await walk(search, {"windows": [[0, None]]}, page_size=10, cap=8, now=lambda: 1061)
    # then its halves end and start on whole seconds: [0, 500], [501, 1001], and [1002, now) after them
    assert search.asked[:2] == [(0, None, None), (0, 500, None)]
    assert pages[0][1] == [[501, 1001], [1002, None]] and all(type(b) is int for b in pages[0][1][0])


class Leaving(Search):
    """`Search` whose products at `leave` (update times) are updated once the page at offset `after_offset` was
    answered, each to a time past every window asked: gone from the window being walked, as at TikTok."""

    def __init__(self, times: list[int], leave: list[list[int]], after_offset: str) -> None:
        super().__init__(times)
        self.leave, self.after_offset = leave, after_offset

    async def __call__(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
    ) -> Page[Any]:
        page = await super().__call__(
            page_size=page_size, page_token=page_token, update_time_ge=update_time_ge, update_time_le=update_time_le
        )
        if page_token == self.after_offset and self.leave:
            gone = self.leave.pop(0)
            self.times = sorted([t for t in self.times if t not in gone] + [5000 + t for t in gone])
        return page


async def test_a_window_that_products_left_while_walked_is_walked_again_and_none_is_skipped() -> None:
    # given a window [0, 100] of six products paged by two, offset paging, and p10 (on the first page) updated at
    # TikTok once the second page was answered: p50, first of the third page, moves onto the second
    search = Leaving([10, 20, 30, 40, 50, 60], [[10]], after_offset="2")
    pages = await walk(search, {"windows": [[0, 100]]}, page_size=2)
    # then the last page counts 5 where the first counted 6, and the window is walked again from its first page
    assert [p[0] for p in pages] == [["p10", "p20"], ["p30", "p40"], ["p60"], ["p20", "p30"], ["p40", "p50"], ["p60"]]
    assert [(ge, le, token) for ge, le, token in search.asked] == [
        (0, 100, None), (0, 100, "2"), (0, 100, "4"), (0, 100, None), (0, 100, "2"), (0, 100, "4"),
    ]  # fmt: skip
    # and every product still in the window was read: p50 too
    assert {f"p{t}" for t in search.times if t <= 100} <= {i for p in pages for i in p[0]}
    # and the checkpoint of the page that ended the first walk says so: the window again, from its first page
    assert pages[2][1:3] == ([[0, 100]], None)


async def test_a_window_is_walked_again_at_most_three_times() -> None:
    # given a window whose products keep leaving it at every walk
    search = Leaving(list(range(10, 110, 10)), [[10], [20], [30], [40], [50]], after_offset="2")
    pages = await walk(search, {"windows": [[0, 100]]}, page_size=2)
    # then it is walked four times in all, and the walk ends
    assert [token for _, _, token in search.asked].count(None) == 4
    assert pages[-1][1] == []
