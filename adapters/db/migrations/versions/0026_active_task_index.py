"""A merchant's active sync tasks, newest first, from an index of the active tasks alone.

The task feed (`gql.feeds`) reads, per update of a running task, the merchant's active tasks newest first
(`adapters.db.queries.followed_sync_tasks`). Through `(merchant_id, created_at, id)` that walked the merchant's
whole history, finished tasks included, to find the few active ones (30,000 finished tasks: 12.5 ms a read on
SQLite, 4.3 ms on PostgreSQL; 1.7 and 2.7 ms with this index). This partial index holds only the `QUEUED` and
`RUNNING` tasks (at most one per shop and kind), so the read costs what is active. Its predicate is
`ACTIVE_TASK_WHERE`, which the read repeats as a literal: both databases use a partial index only for a query whose
condition they can see implies it (a bound parameter would not do on PostgreSQL's generic plans).

A plain `CREATE INDEX`, not `CONCURRENTLY` (as 0009 and 0025): it runs in the migration's transaction, and writes to
`sync_tasks` wait while PostgreSQL scans the table to build it, which retention keeps to 30 days of finished
tasks (30,000 tasks: 7-10 ms measured), and the index holds only the active ones. `CONCURRENTLY` cannot run in a
transaction block, and `migrate` runs each migration in one (its lock timeout, adapters.db.migrate).

Revision ID: 0026_active_task_index
Revises: 0025_unlinked_item_index
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_active_task_index"
down_revision: str | None = "0025_unlinked_item_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("status IN ('QUEUED', 'RUNNING')")  # adapters.db.tables.ACTIVE_TASK_WHERE


def upgrade() -> None:
    op.create_index(
        "ix_sync_tasks_active_merchant_id_created_at_id",
        "sync_tasks",
        ["merchant_id", "created_at", "id"],
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_sync_tasks_active_merchant_id_created_at_id", table_name="sync_tasks")
