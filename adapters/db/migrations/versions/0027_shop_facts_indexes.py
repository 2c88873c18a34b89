"""A shop's sync facts (`Shop.attention`) by index seeks, not by grouping the shop's whole task history.

`adapters.db.shop_facts.shop_sync_facts` runs on every `shops` read and every read of the shop feeds. It grouped
every task of the shops asked (max(finished_at) of the polls that found a change; the latest finished task per kind
by max then a join back): for a shop with 30,000 tasks 720,726 SQLite VM steps (25-41 ms) and 741 PostgreSQL
shared buffers (25-34 ms) a call, growing with the history (retention keeps 30 days: ~17,000 tasks of a polled
shop); 128 steps and 18 buffers (3-5 ms) with these two indexes, each fact one seek, newest first, LIMIT 1:

- `ix_sync_tasks_finished_shop_id_kind_finished_at_id`: the finished tasks (`finished_at IS NOT NULL`) by shop,
  kind and finish (the id breaks a tie): the latest finished task of each kind.
- `ix_sync_tasks_changes_found_shop_id_finished_at`: the polls that found a change (`CHANGES_FOUND_WHERE`), by shop
  and finish: when a poll last found one.

Both are partial, so a running task's progress updates (which change neither predicate: a running task has no
`finished_at` and is not `SUCCEEDED`) add no entry to them; a task enters the first when it finishes and the second
when it finishes a poll that found a change. (On PostgreSQL a progress update was already no HOT update, since it
moves `heartbeat_at`, which `(status, heartbeat_at)` indexes: the predicates' columns cost it nothing more.) Their
predicates are repeated by the read as literals: both databases
use a partial index only for a query whose condition they can see implies it (a bound parameter would not do on
PostgreSQL's generic plans).

No index goes: `(finished_at)` is retention's walk of the oldest finished tasks of every shop, and
`(shop_id, kind, status, trigger, created_at)` its superseded probes, `last_succeeded` and `fold_empty_polls`.

A plain `CREATE INDEX`, not `CONCURRENTLY` (as 0009, 0025 and 0026): it runs in the migration's transaction and
writes to `sync_tasks` wait while PostgreSQL builds them (30,000 tasks: 80-100 ms for the finished tasks' index,
20-23 ms for the changes found), and retention bounds the table to 30 days of finished tasks.

Revision ID: 0027_shop_facts_indexes
Revises: 0026_active_task_index
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_shop_facts_indexes"
down_revision: str | None = "0026_active_task_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FINISHED = sa.text("finished_at IS NOT NULL")  # adapters.db.tables.FINISHED_TASK_WHERE
# adapters.db.tables.CHANGES_FOUND_WHERE
_CHANGES_FOUND = sa.text("\"trigger\" = 'SCHEDULED' AND status = 'SUCCEEDED' AND (created > 0 OR updated > 0)")


def upgrade() -> None:
    op.create_index(
        "ix_sync_tasks_finished_shop_id_kind_finished_at_id",
        "sync_tasks",
        ["shop_id", "kind", "finished_at", "id"],
        sqlite_where=_FINISHED,
        postgresql_where=_FINISHED,
    )
    op.create_index(
        "ix_sync_tasks_changes_found_shop_id_finished_at",
        "sync_tasks",
        ["shop_id", "finished_at"],
        sqlite_where=_CHANGES_FOUND,
        postgresql_where=_CHANGES_FOUND,
    )


def downgrade() -> None:
    op.drop_index("ix_sync_tasks_changes_found_shop_id_finished_at", table_name="sync_tasks")
    op.drop_index("ix_sync_tasks_finished_shop_id_kind_finished_at_id", table_name="sync_tasks")
