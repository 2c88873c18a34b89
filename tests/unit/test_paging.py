"""`CursorGuard`: a paging run that does not advance ends with CursorStuckError; one that advances never does."""

from __future__ import annotations

import pytest

from domain.paging import MAX_EMPTY_PAGES, CursorGuard
from domain.ports import CursorStuckError


def test_a_run_that_advances_is_left_alone_even_through_a_few_empty_pages() -> None:
    guard = CursorGuard("a search")
    sent: str | None = None
    for page in range(50):
        ids = [] if page % 10 < MAX_EMPTY_PAGES else [f"r{page}-{i}" for i in range(3)]
        guard.check_page(ids, f"t{page + 1}")
        guard.advance(sent, f"t{page + 1}")
        sent = f"t{page + 1}"


@pytest.mark.parametrize("cycle", [["a"], ["a", "b"], ["a", "b", "c"]])
def test_a_token_sent_before_coming_back_is_stuck(cycle: list[str]) -> None:
    guard = CursorGuard("a search")
    sent: str | None = None
    answers = [*cycle, cycle[0]]
    with pytest.raises(CursorStuckError, match="already sent"):
        for page, token in enumerate(answers):
            guard.check_page([f"r{page}"], token)
            guard.advance(sent, token)
            sent = token


def test_the_same_page_under_a_new_token_is_stuck() -> None:
    guard = CursorGuard("a search")
    guard.check_page(["r1", "r2"], "t1")
    guard.advance(None, "t1")
    with pytest.raises(CursorStuckError, match="nothing new"):
        guard.check_page(["r1", "r2"], "t2")


def test_empty_pages_that_keep_promising_more_are_stuck_after_a_few() -> None:
    guard = CursorGuard("a search")
    for page in range(MAX_EMPTY_PAGES):
        guard.check_page([], f"t{page}")
    with pytest.raises(CursorStuckError, match="empty pages"):
        guard.check_page([], "t-last")


def test_a_restart_forgets_the_run() -> None:
    guard = CursorGuard("a search")
    guard.check_page(["r1"], "t1")
    guard.advance(None, "t1")
    guard.restart()  # e.g. a refused token restarted the window: the same pages come again, legitimately
    guard.check_page(["r1"], "t1")
    guard.advance(None, "t1")


def test_a_restart_forgets_a_row_of_empty_pages_too() -> None:
    guard = CursorGuard("a search")
    for _ in range(MAX_EMPTY_PAGES):
        guard.check_page([], "more")
    guard.restart()
    for _ in range(MAX_EMPTY_PAGES):
        guard.check_page([], "more")
    with pytest.raises(CursorStuckError, match="4 empty pages"):
        guard.check_page([], "more")


def stuck_message(guard: CursorGuard, *steps: tuple[list[str], str | None, str | None]) -> str:
    """Feed pages (record ids, token sent for it, next_page_token) until the guard refuses one; its message."""
    with pytest.raises(CursorStuckError) as refused:
        for ids, sent, next_token in steps:
            guard.check_page(ids, next_token)
            guard.advance(sent, next_token)
    return str(refused.value)


def test_each_refusal_says_which_search_and_why_in_words_an_operator_reads() -> None:
    what = "the order search of update_time [1000, 2000)"
    empties = stuck_message(CursorGuard(what), *[([], f"t{n}" if n else None, f"t{n + 1}") for n in range(4)])
    assert empties == (
        "TikTok's paging does not advance: the order search of update_time [1000, 2000) answered 4 empty pages "
        "in a row, each promising a next page"
    )
    repeated = stuck_message(CursorGuard(what), (["r1", "r2", "r3"], None, "t1"), (["r1", "r2", "r3"], "t1", "t2"))
    assert repeated == (
        "TikTok's paging does not advance: the order search of update_time [1000, 2000) answered a page it had "
        "already answered (3 records, nothing new)"
    )
    token_again = stuck_message(
        CursorGuard(what), (["r1"], None, "t1"), (["r2"], "t1", "t2"), (["r3"], "t2", "t3"), (["r4"], "t3", "t1")
    )
    assert token_again == (
        "TikTok's paging does not advance: the order search of update_time [1000, 2000) answered a "
        "next_page_token that was already sent in this search (3 pages in)"
    )


def test_only_empty_pages_in_a_row_that_promise_more_count() -> None:
    guard = CursorGuard("a search")
    for _ in range(MAX_EMPTY_PAGES):
        guard.check_page([], "more")
    guard.check_page([], None)  # an empty last page promises nothing: the row is broken
    for _ in range(MAX_EMPTY_PAGES):
        guard.check_page([], "more")
    guard.check_page(["r1"], "more")  # a page with records breaks it too
    for _ in range(MAX_EMPTY_PAGES):
        guard.check_page([], "more")
    with pytest.raises(CursorStuckError, match="4 empty pages"):
        guard.check_page([], "more")


def test_the_first_page_of_a_run_was_sent_without_a_token_and_a_last_page_has_none() -> None:
    guard = CursorGuard("a search")
    guard.check_page(["r1"], "t1")
    guard.advance(None, "t1")  # the first page: asked for without a page token
    guard.check_page(["r2"], None)
    guard.advance("t1", None)  # the last page: no next token, nothing to compare
    guard.check_page(["r3"], None)
    guard.advance(None, None)
