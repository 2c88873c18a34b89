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
