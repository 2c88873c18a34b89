"""When a sync task waiting for the queue's retry of a failed run runs again: `sync_tasks.retry_at`.

During a TikTok outage a task flips RUNNING/QUEUED for minutes, and the Task Center could not say when its next run
was due (try-out livesync52). The worker draws the retry's delay before the run (`workers.outages`), and a run that
fails on the outage stores `now + delay` with the task QUEUED (`domain.sync.SyncTask.fail_attempt`); a run that
begins clears it. GraphQL `SyncTask.retryAt`.

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite); rows a release before this one writes (a rolling deploy)
leave it null: the Task Center then says only that the task runs again by itself, as before.

Revision ID: 0038_sync_task_retry_at
Revises: 0037_line_item_status
Create Date: 2026-12-05 07:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038_sync_task_retry_at"
down_revision: str | None = "0037_line_item_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sync_tasks", sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_tasks", schema=None) as batch:
        batch.drop_column("retry_at")
