"""A cursor must advance: one paging run of a TikTok search, watched for loops.

TikTok pages with opaque tokens (`next_page_token` back as `page_token`, tiktok-api.md sec. 7 and 8). Followed
blindly, a token that comes back again, or pages that repeat, loop forever while the task's counts climb past the
total. A run (one search, from its first page or a resumed token) therefore ends with `CursorStuckError` when:

- the answer's `next_page_token` was already sent in this run (the same token again, or a cycle);
- a page repeats one this run already had, record for record (it brings nothing new);
- more than `MAX_EMPTY_PAGES` empty pages in a row still promise a next page.

Memory: one token and one small hash per page of the run, never the records.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.ports import CursorStuckError

MAX_EMPTY_PAGES = 3  # empty pages in a row that still promise more, tolerated before calling the cursor stuck


class CursorGuard:
    """Watches one paging run; `what` names the search in the error ("orders created in [ge, lt)")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._sent: set[str] = set()
        self._pages: set[int] = set()
        self._empty_in_a_row = 0

    def restart(self) -> None:
        """The search starts again from its first page (a new window, a refused token): forget the run."""
        self._sent.clear()
        self._pages.clear()
        self._empty_in_a_row = 0

    def check_page(self, record_ids: Sequence[str], next_page_token: str | None) -> None:
        """Before a page is used: raise `CursorStuckError` if it repeats a page of this run, or if it is one empty
        page too many that still promises a next one. `record_ids`: the TikTok ids on the page, in order."""
        if not record_ids:
            self._empty_in_a_row = self._empty_in_a_row + 1 if next_page_token else 0
            if self._empty_in_a_row > MAX_EMPTY_PAGES:
                raise CursorStuckError(
                    f"TikTok's paging does not advance: {self.what} answered {self._empty_in_a_row} empty pages in "
                    "a row, each promising a next page"
                )
            return
        self._empty_in_a_row = 0
        fingerprint = hash(tuple(record_ids))
        if fingerprint in self._pages:
            raise CursorStuckError(
                f"TikTok's paging does not advance: {self.what} answered a page it had already answered "
                f"({len(record_ids)} records, nothing new)"
            )
        self._pages.add(fingerprint)

    def advance(self, sent_page_token: str | None, next_page_token: str | None) -> None:
        """After the page is used: raise `CursorStuckError` if `next_page_token` was already sent in this run."""
        if sent_page_token:
            self._sent.add(sent_page_token)
        if next_page_token and next_page_token in self._sent:
            raise CursorStuckError(
                f"TikTok's paging does not advance: {self.what} answered a next_page_token that was already sent "
                f"in this search ({len(self._sent)} pages in)"
            )
