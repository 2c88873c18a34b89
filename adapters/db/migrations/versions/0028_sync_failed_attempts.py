"""A sync task counts its failed runs apart from its runs: `sync_tasks.failed_attempts`, the retry budget.

`attempts` was both the lease generation (every run begun takes a new one, so an older run still alive stops at its
next write) and the failure budget (`SHOPBRIDGE_SYNC_MAX_ATTEMPTS`). A run that did not fail but was interrupted
(a worker's shutdown or a deploy handing its message back, a stale-task sweep, a redelivery) began a new attempt
too: after three deploys during a long import a single TikTok outage past the client's retries failed it with no
retry left, and the Task Center's `attempts` counted deploys as failures. `attempts` stays the runs begun (the
lease); `failed_attempts` counts the runs that failed (`domain.sync.SyncTask.fail_attempt`, `fail_run`) or never
ended (a worker killed: counted by the next begin, or by the sweep's requeue), and only they spend the budget.

Existing rows: a FAILED task gets its `attempts`, the count its failure was judged by (no record tells which of its
runs a deploy interrupted); every other task 0. A QUEUED or RUNNING task may have runs a deploy interrupted among
its attempts as well as failed ones, and no record tells them apart: it starts a fresh budget, at most
`SHOPBRIDGE_SYNC_MAX_ATTEMPTS` more failed runs (each resumes from its checkpoint) rather than keep the deploys
counted. A run the deploy bringing this revision interrupts is counted once by the new release (the release before
it does not hand a task back QUEUED at shutdown, so the next begin finds it RUNNING, as a killed worker's). Rows a
release before this one writes (a rolling deploy) get the server default 0.

An `ADD COLUMN` with a constant default (PostgreSQL: no table rewrite) and one `UPDATE` of the FAILED tasks, which
retention bounds to 30 days of history.

Revision ID: 0028_sync_failed_attempts
Revises: 0027_shop_facts_indexes
Create Date: 2026-12-03 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_sync_failed_attempts"
down_revision: str | None = "0027_shop_facts_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_tasks", sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.execute(sa.text("UPDATE sync_tasks SET failed_attempts = attempts WHERE status = 'FAILED'"))


def downgrade() -> None:
    with op.batch_alter_table("sync_tasks", schema=None) as batch:
        batch.drop_column("failed_attempts")
