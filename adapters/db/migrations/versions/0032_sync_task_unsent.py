"""A sync task whose message could not be sent is marked so: `sync_tasks.unsent`.

A task is committed QUEUED, then its message is sent to the broker. With Redis down (production mode) that send
failed and the task stayed QUEUED with no message until the stale sweep re-sent it, `SHOPBRIDGE_SYNC_STALE_AFTER`
(5 min) to twice that later; meanwhile `syncStart` and the polls of its shop and kind were refused or skipped as
already running. The failed send now marks the task `unsent`, and the scheduler's tick (every few seconds, at most
30) re-sends the marked tasks once the broker takes messages again, each claimed by one conditional UPDATE
(`domain.services.sync.resend_unsent_tasks`).

No index: the tick reads the QUEUED tasks through `(status, heartbeat_at)` and filters them. An `ADD COLUMN` with a
constant default (PostgreSQL: no table rewrite); existing rows and the rows a release before this one writes (a
rolling deploy) are not marked: their lost messages are the sweep's, as before.

Revision ID: 0032_sync_task_unsent
Revises: 0031_deleted_shop_lines
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_sync_task_unsent"
down_revision: str | None = "0031_deleted_shop_lines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sync_tasks", sa.Column("unsent", sa.Boolean(), server_default=sa.text("false"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sync_tasks", schema=None) as batch:
        batch.drop_column("unsent")
