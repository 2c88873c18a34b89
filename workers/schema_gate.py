"""A worker's background work waits for a schema it can run on: `SchemaGate(db)`, `await gate.wait()`.

The sweep, retention and the scheduler (`workers.resources`) start as their process does. On a database `shopbridge
migrate` has not brought to this code's head (never migrated, or migrated by an earlier release) every query of
theirs failed on a missing table or column, which is a bug's error, not an outage's (`adapters.db.outage`): an
ERROR or WARNING traceback every turn of every loop, about once a second, until someone ran `migrate`. So they
first wait here: one WARNING line, `MIGRATIONS_PENDING`, naming the revisions and the fix, then a quiet check of the
revision every `RECHECK_SECONDS` (`SHOPBRIDGE_SCHEMA_RECHECK`), and one INFO line when `migrate` has run.

Waiting, not refusing to start: the README's deploy runs `migrate` once per release, from one host, while the new
release's processes may already be coming up (`/readyz` answers 503 `migrations` meanwhile); a refusal would have a
process manager restart them in a loop, with a growing back-off, after `migrate` had run. A later release's schema
(a revision this code does not know) is one this code runs on: migrations are expand-then-contract.

Actor messages wait too: one that arrives while the database is behind is not run (its code would fail on a table or
column the schema lacks, and spend its retries doing so) but sent again later, its retries untouched
(`workers.resources.Resources.serving`, which asks `await gate.current()`).

An outage at the first check is left to the loops, which report it in one line a turn and retry
(`workers.resources._will_retry`); a revision that cannot be read otherwise is logged once, and the work starts.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.db import Database, migrate
from adapters.db.migrate import SchemaPosition
from adapters.db.outage import describe, unavailable
from adapters.db.schema import applied_revisions, waiting_for_migrate

MIGRATIONS_PENDING = "MIGRATIONS_PENDING"  # the database is behind this code's migrations: run `shopbridge migrate`
RECHECK_SECONDS = 5.0  # how soon the work starts after `migrate` has run
WAITING = frozenset({SchemaPosition.EMPTY, SchemaPosition.BEHIND})
WORKER_WAITS = (
    "this process's background work (stale task sweep, retention, polls, token refreshes, reconciles) and the messages "
    "it takes wait"
)
WORKER_STARTS = "background work starts"

log = logging.getLogger(__name__)


class SchemaGate:
    """Whether `db` is at a schema this code runs on: `await gate.wait()` (one task per process) checks, logs one
    `MIGRATIONS_PENDING` WARNING line while it is behind, checks again every `recheck_seconds`, and returns once it
    is current (module docstring); `await gate.current()` says whether it is now.

    `waits` and `starts` end the WARNING line ("until then ...") and the INFO line once migrated; a worker's by
    default."""

    def __init__(
        self,
        db: Database,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        waits: str = WORKER_WAITS,
        starts: str = WORKER_STARTS,
    ) -> None:
        self._db = db
        self.recheck_seconds = recheck_seconds
        self._waits, self._starts = waits, starts
        self._checked = asyncio.Event()  # the first check is done
        self._current = False

    async def current(self) -> bool:
        """True once the database can be run on: at the first check's end, or as soon as `wait` saw it migrated."""
        await self._checked.wait()
        return self._current

    async def wait(self) -> None:
        """Return once the database is at this code's head or at a later release's revision; at once when the first
        check finds the database unavailable, or cannot read its revision."""
        try:
            await self._wait()
        finally:
            self._checked.set()  # cancelled before its first check: `current` must not wait for ever

    async def _wait(self) -> None:
        head, known = migrate.head(), migrate.known_revisions()
        try:
            revisions = await applied_revisions(self._db)
        except Exception as exc:
            if not unavailable(exc):
                log.warning("could not read the database's migration revision; %s", self._starts, exc_info=exc)
            self._pass()
            return
        if migrate.schema_position(revisions, head, known) not in WAITING:
            self._pass()
            return
        self._checked.set()
        shown = ", ".join(sorted(revisions)) or "none (never migrated)"
        log.warning(
            "%s: the database is at revision %s, this release needs %s: run `shopbridge migrate`; until then %s",
            MIGRATIONS_PENDING,
            shown,
            head,
            self._waits,
        )
        with waiting_for_migrate():  # meanwhile the API tells a request failing on the schema as not ready
            while True:
                await asyncio.sleep(self.recheck_seconds)
                try:
                    revisions = await applied_revisions(self._db)
                except Exception as exc:  # an outage, or migrate's tables half made (SQLite's DDL is not atomic)
                    log.debug("migration revision not readable (%s); checking again", describe(exc))
                    continue
                if migrate.schema_position(revisions, head, known) not in WAITING:
                    log.info("the database is at revision %s: %s", ", ".join(sorted(revisions)), self._starts)
                    self._pass()
                    return

    def _pass(self) -> None:
        self._current = True
        self._checked.set()
