"""A worker's background work waits for a schema it can run on: `await schema_current(db)`.

The sweep, retention and the scheduler (`workers.resources`) start as their process does. On a database `shopbridge
migrate` has not brought to this code's head (never migrated, or migrated by an earlier release) every query of
theirs failed on a missing table or column, which is a bug's error, not an outage's (`adapters.db.outage`): an
ERROR or WARNING traceback every turn of every loop, about once a second, until someone ran `migrate`. So they
first wait here: one WARNING line, `MIGRATIONS_PENDING`, naming the revisions and the fix, then a quiet check of the
revision every `RECHECK_SECONDS`, and one INFO line when `migrate` has run.

Waiting, not refusing to start: the README's deploy runs `migrate` once per release, from one host, while the new
release's processes may already be coming up (`/readyz` answers 503 `migrations` meanwhile); a refusal would have a
process manager restart them in a loop, with a growing back-off, after `migrate` had run. A later release's schema
(a revision this code does not know) is one this code runs on: migrations are expand-then-contract.

An outage at the first check is left to the loops, which report it in one line a turn and retry
(`workers.resources._will_retry`); a revision that cannot be read otherwise is logged once, and the work starts.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.db import Database, migrate
from adapters.db.migrate import SchemaPosition
from adapters.db.outage import describe, unavailable
from adapters.db.schema import applied_revisions

MIGRATIONS_PENDING = "MIGRATIONS_PENDING"  # the database is behind this code's migrations: run `shopbridge migrate`
RECHECK_SECONDS = 5.0  # how soon the work starts after `migrate` has run
WAITING = frozenset({SchemaPosition.EMPTY, SchemaPosition.BEHIND})

log = logging.getLogger(__name__)


async def schema_current(db: Database, *, recheck_seconds: float = RECHECK_SECONDS) -> None:
    """Return once `db` is at this code's head or at a later release's revision (module docstring); at once when
    the first check finds the database unavailable, or cannot read its revision."""
    head, known = migrate.head(), migrate.known_revisions()
    try:
        revisions = await applied_revisions(db)
    except Exception as exc:
        if not unavailable(exc):
            log.warning("could not read the database's migration revision; background work starts", exc_info=exc)
        return
    if migrate.schema_position(revisions, head, known) not in WAITING:
        return
    shown = ", ".join(sorted(revisions)) or "none (never migrated)"
    log.warning(
        "%s: the database is at revision %s, this release needs %s: run `shopbridge migrate`; until then this "
        "process's background work (stale task sweep, retention, polls, token refreshes, reconciles) waits",
        MIGRATIONS_PENDING,
        shown,
        head,
    )
    while True:
        await asyncio.sleep(recheck_seconds)
        try:
            revisions = await applied_revisions(db)
        except Exception as exc:  # an outage, or migrate's tables half made (SQLite's DDL is not transactional)
            log.debug("migration revision not readable (%s); checking again", describe(exc))
            continue
        if migrate.schema_position(revisions, head, known) not in WAITING:
            log.info("the database is at revision %s: background work starts", ", ".join(sorted(revisions)))
            return
