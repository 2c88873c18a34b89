"""The orders window's time slices: planning, resuming at the last stored second, the checkpoint, and paging."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.ports import CursorStuckError, Page
from domain.services.order_slices import (
    OrderSlice,
    load_slices,
    mark_slice,
    plan_slices,
    slice_pages,
    store_slice,
)
from domain.stored import OrderRecord
from domain.sync import RecordFailure, SyncKind, SyncTask, SyncTrigger
from tests.fakes import T0, make_order

G = int(T0.timestamp())  # 1748779200


def _at(index: int, second: int, updated: int | None = None) -> OrderRecord:
    order = make_order(index, T0 + timedelta(seconds=second))
    return order if updated is None else replace(order, updated_at=T0 + timedelta(seconds=updated))


# -- planning ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "count", "bounds"),
    [
        (10, 3, [(0, 3), (3, 6), (6, 10)]),  # nearly equal, whole seconds
        (10, 1, [(0, 10)]),
        (3, 16, [(0, 1), (1, 2), (2, 3)]),  # never shorter than a second
        (10, 0, [(0, 10)]),  # at least one slice
        (10, -2, [(0, 10)]),
        (0, 16, []),  # an empty window has nothing to fetch
    ],
)
def test_a_window_is_cut_into_contiguous_fresh_slices(seconds: int, count: int, bounds: list[tuple[int, int]]) -> None:
    slices = plan_slices(T0, T0 + timedelta(seconds=seconds), count)
    assert [(s.ge - G, s.lt - G) for s in slices] == bounds
    assert all(
        (s.resume_ge, s.seen, s.total, s.done, s.by, s.fresh) == (s.ge, (), None, False, "create_time", True)
        for s in slices
    )


def test_slices_are_loaded_from_the_checkpoint_or_planned_when_it_has_none() -> None:
    since, until = T0, T0 + timedelta(seconds=10)
    stored = {"orders": {"slices": [{"ge": G + 2, "lt": G + 4, "resume_ge": G + 3}]}}
    assert load_slices(stored, since, until, 2) == [OrderSlice(G + 2, G + 4, G + 3)]
    for checkpoint in ({}, {"orders": {}}, {"orders": {"slices": []}}, {"products": {"slices": [1]}}):
        assert load_slices(checkpoint, since, until, 2) == [OrderSlice(G, G + 5, G), OrderSlice(G + 5, G + 10, G + 5)]


# -- resuming ---------------------------------------------------------------------------------------------------


def test_fresh_means_not_yet_moved_from_its_start() -> None:
    assert OrderSlice(G, G + 9, G).fresh
    assert not OrderSlice(G, G + 9, G + 1).fresh
    assert not OrderSlice(G, G + 9, G, seen=("o1",)).fresh


def test_a_page_moves_the_slice_to_its_latest_second_remembering_the_ids_there() -> None:
    state = OrderSlice(G, G + 100, G)
    page = Page([_at(1, 7), _at(2, 9), RecordFailure("bad", "unreadable"), _at(3, 9), _at(4, 8)], "t2", 40)
    after = state.after_page(page, first_of_run=True)
    assert (after.resume_ge, after.seen, after.total, after.done) == (G + 9, ("o000002", "o000003"), 40, False)
    # a later second replaces the remembered ids; the same second adds to them
    later = after.after_page(Page([_at(5, 12)], "t3", 99), first_of_run=False)
    assert (later.resume_ge, later.seen, later.total) == (G + 12, ("o000005",), 40)
    same = later.after_page(Page([_at(6, 12)], "t4", None), first_of_run=False)
    assert (same.resume_ge, same.seen) == (G + 12, ("o000005", "o000006"))


@pytest.mark.parametrize(
    ("state", "first_of_run", "total"),
    [
        (OrderSlice(G, G + 100, G), True, 40),  # TikTok's count of the whole slice, from its first page
        (OrderSlice(G, G + 100, G), False, None),  # a later page's count is of what is left
        (OrderSlice(G, G + 100, G + 5), True, None),  # a resumed slice's search covers only what is left
        (OrderSlice(G, G + 100, G, seen=("o1",)), True, None),
        (OrderSlice(G, G + 100, G, total=12), True, 12),  # told once, kept
    ],
)
def test_the_total_is_taken_from_a_fresh_slices_first_page_only(
    state: OrderSlice, first_of_run: bool, total: int | None
) -> None:
    assert state.after_page(Page([], "t", 40), first_of_run).total == total


@pytest.mark.parametrize(("token", "done"), [("t", False), ("", True), (None, True)])
def test_a_slice_is_done_once_a_page_promises_no_next_one(token: str | None, done: bool) -> None:
    state = OrderSlice(G, G + 100, G + 3, seen=("o1",))
    after = state.after_page(Page([], token, None), first_of_run=False)
    assert (after.done, after.resume_ge, after.seen) == (done, G + 3, ("o1",))


@pytest.mark.parametrize(("at_one_second", "kept"), [(500, 500), (501, 500)])
def test_the_ids_remembered_at_one_second_are_capped_keeping_the_latest(at_one_second: int, kept: int) -> None:
    state = OrderSlice(G, G + 100, G)
    after = state.after_page(Page([_at(i, 4) for i in range(at_one_second)], "t", None), first_of_run=True)
    assert len(after.seen) == kept and after.seen[-1] == f"o{at_one_second - 1:06d}"
    assert after.seen[0] == f"o{at_one_second - kept:06d}"


def test_news_drops_what_the_slice_stored_already_and_keeps_failures() -> None:
    state = OrderSlice(G, G + 100, G + 5, seen=("o000002",))
    failure = RecordFailure("o000009", "unreadable")
    items = [_at(1, 4), _at(2, 5), _at(3, 5), _at(4, 6), failure]
    assert state.news(items) == [items[2], items[3], failure]


def test_a_poll_slice_resumes_on_the_update_time() -> None:
    state = OrderSlice(G, G + 100, G + 5, seen=("o000002",), by="update_time")
    # created long before the window, changed within it
    items = [_at(1, -900, updated=4), _at(2, -900, updated=5), _at(3, 50, updated=5), _at(4, -900, updated=6)]
    assert state.news(items) == [items[2], items[3]]
    after = state.after_page(Page(items[2:], None, None), first_of_run=False)
    assert (after.resume_ge, after.seen, after.by) == (G + 6, ("o000004",), "update_time")


# -- the checkpoint ---------------------------------------------------------------------------------------------


def test_a_slice_round_trips_through_json_naming_its_field_only_when_not_the_create_time() -> None:
    state = OrderSlice(G, G + 9, G + 3, ("o1", "o2"), 40, True)
    data = {"ge": G, "lt": G + 9, "resume_ge": G + 3, "seen": ["o1", "o2"], "total": 40, "done": True}
    assert state.to_json() == data and OrderSlice.from_json(data) == state
    polled = replace(state, by="update_time")
    assert polled.to_json() == {**data, "by": "update_time"} and OrderSlice.from_json(polled.to_json()) == polled


def test_a_slice_read_from_json_has_defaults_for_what_was_not_stored_and_normalised_types() -> None:
    assert OrderSlice.from_json({"ge": "1", "lt": 9.0, "resume_ge": "2"}) == OrderSlice(1, 9, 2, (), None, False)
    loaded = OrderSlice.from_json({"ge": 1, "lt": 9, "resume_ge": 2, "seen": [7], "total": "4", "done": 1})
    assert loaded == OrderSlice(1, 9, 2, ("7",), 4, True, "create_time")
    assert OrderSlice.from_json({"ge": 1, "lt": 9, "resume_ge": 2, "total": None}).total is None


def test_storing_a_slice_saves_the_whole_plan_and_the_sum_once_every_slice_told_its_total() -> None:
    plan = [OrderSlice(G, G + 5, G), OrderSlice(G + 5, G + 10, G + 5)]
    checkpoint: dict[str, object] = {"products": {"kept": True}}
    assert store_slice(checkpoint, plan, 1, replace(plan[1], total=0)) is None
    assert checkpoint == {
        "products": {"kept": True},
        "orders": {"slices": [plan[0].to_json(), {**plan[1].to_json(), "total": 0}]},
    }
    assert store_slice(checkpoint, plan, 0, replace(plan[0], resume_ge=G + 2, total=0)) == 0
    assert store_slice(checkpoint, plan, 0, replace(plan[0], total=6)) == 6
    assert checkpoint["orders"]["slices"][0]["resume_ge"] == G  # type: ignore[index]


def test_marking_a_stored_page_sets_the_tasks_total_only_once_all_slices_told_it() -> None:
    task = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    plan = [OrderSlice(G, G + 5, G), OrderSlice(G + 5, G + 10, G + 5)]
    mark_slice(plan, 0, replace(plan[0], total=3), task)
    assert task.total is None and task.checkpoint["orders"]["slices"][0]["total"] == 3
    mark_slice(plan, 1, replace(plan[1], total=4), task)
    assert task.total == 7


# -- paging -----------------------------------------------------------------------------------------------------


class Search:
    """TikTok's order search, answering scripted pages and recording what was asked."""

    def __init__(self, *pages: Page[OrderRecord]) -> None:
        self.pages = list(pages)
        self.asked: list[tuple[int, str | None, int, int]] = []

    async def __call__(self, page_size: int, token: str | None, ge: int, lt: int) -> Page[OrderRecord]:
        self.asked.append((page_size, token, ge, lt))
        return self.pages.pop(0)


async def test_a_slice_is_paged_from_its_resume_point_passing_on_only_what_is_new() -> None:
    plan = [OrderSlice(G, G + 100, G + 5, seen=("o000001",))]
    search = Search(
        Page([_at(1, 5), _at(2, 5), _at(3, 6)], "t2", 9),
        Page([_at(4, 8)], "", 9),
    )
    chunks = [chunk async for chunk in slice_pages(search, plan, 0, 3)]
    # the search keeps its bounds while following the page tokens
    assert search.asked == [(3, None, G + 5, G + 100), (3, "t2", G + 5, G + 100)]
    assert [[o.tiktok_order_id for o in chunk.items] for chunk in chunks] == [["o000002", "o000003"], ["o000004"]]
    # and each chunk, once stored, moves the task's checkpoint to the slice as it was after that page
    task = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    chunks[0].mark(task)
    assert task.checkpoint["orders"]["slices"] == [
        {"ge": G, "lt": G + 100, "resume_ge": G + 6, "seen": ["o000003"], "total": None, "done": False}
    ]
    chunks[1].mark(task)
    assert task.checkpoint["orders"]["slices"][0]["done"] is True and task.total is None


async def test_a_done_slice_asks_nothing_and_a_fresh_one_tells_the_total() -> None:
    assert [c async for c in slice_pages(Search(), [OrderSlice(G, G + 9, G + 9, done=True)], 0, 3)] == []
    task = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    plan = [OrderSlice(G, G + 9, G)]
    search = Search(Page([_at(1, 1)], "t2", 2), Page([_at(2, 2)], None, 1))
    async for chunk in slice_pages(search, plan, 0, 3):
        chunk.mark(task)
    assert task.total == 2 and len(search.asked) == 2


async def test_the_total_is_published_once_every_slice_fetched_its_first_page_not_once_each_is_stored() -> None:
    # newcomer54: the slices share one queue and one writer, so the last slice's first page was stored near the end
    # of a big import, and the Task Center showed no total until then
    task = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    plan = [OrderSlice(G, G + 5, G), OrderSlice(G + 5, G + 10, G + 5)]
    first = slice_pages(Search(Page([_at(1, 1)], "t2", 3), Page([_at(2, 2)], "t3", 3)), plan, 0, 1)
    second = slice_pages(Search(Page([_at(4, 6)], "u2", 4)), plan, 1, 1)
    # given slice 0's first page stored: slice 1 has told nothing yet
    (await anext(first)).mark(task)
    assert task.total is None
    # when slice 1's first page is fetched (waiting behind slice 0's next page), and slice 0's next page is stored
    waiting = await anext(second)
    (await anext(first)).mark(task)
    # then the task has its total, though slice 1 has stored nothing yet
    assert task.total == 7
    slices = task.checkpoint["orders"]["slices"]
    assert [(s["resume_ge"], s["total"]) for s in slices] == [(G + 2, 3), (G + 5, 4)]
    # and a run resumed from this checkpoint keeps it: slice 1 is fresh (asked from its start) with its total
    resumed = load_slices(task.checkpoint, T0, T0 + timedelta(seconds=10), 2)
    assert resumed[1] == OrderSlice(G + 5, G + 10, G + 5, total=4)
    again = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    again.checkpoint = task.checkpoint
    (await anext(slice_pages(Search(Page([_at(4, 6)], "u2", 4)), resumed, 1, 1))).mark(again)
    assert again.total == 7
    # while the first run's page, stored late, changes nothing of it
    waiting.mark(task)
    assert task.total == 7 and task.checkpoint["orders"]["slices"][1]["resume_ge"] == G + 6


async def test_a_slice_whose_page_token_comes_back_stops_naming_the_search() -> None:
    plan = [OrderSlice(G, G + 100, G)]
    search = Search(Page([_at(1, 1)], "t2", 9), Page([_at(2, 2)], "t2", 9))
    chunks = []
    with pytest.raises(CursorStuckError) as error:
        async for chunk in slice_pages(search, plan, 0, 3):
            chunks.append(chunk)
    assert str(error.value) == (
        f"TikTok's paging does not advance: the order search of create_time [{G}, {G + 100}) answered a "
        "next_page_token that was already sent in this search (1 pages in)"
    )
    assert len(chunks) == 2  # the new page is passed on before the search stops


async def test_a_page_answered_again_stops_the_slice_before_it_is_passed_on() -> None:
    plan = [OrderSlice(G, G + 100, G, by="update_time")]
    page = Page([_at(1, -9, updated=1), RecordFailure("o9", "unreadable")], "t2", 9)
    search = Search(page, replace(page, next_page_token="t3"))
    chunks = []
    with pytest.raises(CursorStuckError, match=rf"the order search of update_time \[{G}, {G + 100}\) answered a page"):
        async for chunk in slice_pages(search, plan, 0, 3):
            chunks.append(chunk)
    assert len(chunks) == 1


async def test_a_slice_answered_empty_pages_that_keep_promising_more_stops_after_three() -> None:
    plan = [OrderSlice(G, G + 100, G)]
    search = Search(*(Page([], f"t{n}", 9) for n in range(1, 6)))
    chunks = []
    with pytest.raises(CursorStuckError) as error:
        async for chunk in slice_pages(search, plan, 0, 3):
            chunks.append(chunk)
    assert str(error.value) == (
        f"TikTok's paging does not advance: the order search of create_time [{G}, {G + 100}) answered 4 empty "
        "pages in a row, each promising a next page"
    )
    assert len(chunks) == 3 and len(search.asked) == 4


def test_an_import_slice_resumes_on_the_create_time_whatever_the_update_time() -> None:
    state = OrderSlice(G, G + 100, G + 5, seen=("o000002",))
    items = [_at(1, 4, updated=90), _at(2, 5, updated=91), _at(3, 5, updated=2), _at(4, 6, updated=1)]
    assert state.news(items) == [items[2], items[3]]
    after = state.after_page(Page(items[2:], "t", None), first_of_run=False)
    assert (after.resume_ge, after.seen) == (G + 6, ("o000004",))
