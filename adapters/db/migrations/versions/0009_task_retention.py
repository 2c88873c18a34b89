"""Finished sync tasks and spent OAuth requests are pruned: indexes for the retention sweep's batches.

`sync_tasks.finished_at`: the sweep (`domain.services.retention.prune_finished_tasks`) deletes tasks finished
before `now - SHOPBRIDGE_TASK_RETENTION`, soonest finished first, a bounded batch per transaction. `sync_tasks
(shop_id, kind, status, trigger, created_at)`: a task goes only when a newer finished task of its shop, kind and
role (a succeeded import, a poll that found changes, or any) exists, one probe of this index per candidate; with
only `shop_id` indexed, each probe read every task of the shop. `authorization_requests.expires_at`: requests a
day past their expiry are deleted, soonest expired first (`prune_spent_authorizations`).

Revision ID: 0009_task_retention
Revises: 0008_webhook_retention
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_task_retention"
down_revision: str | None = "0008_webhook_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_sync_tasks_finished_at"), "sync_tasks", ["finished_at"], unique=False)
    op.create_index(
        op.f("ix_sync_tasks_shop_id_kind_status_trigger_created_at"),
        "sync_tasks",
        ["shop_id", "kind", "status", "trigger", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_authorization_requests_expires_at"), "authorization_requests", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_authorization_requests_expires_at"), table_name="authorization_requests")
    op.drop_index(op.f("ix_sync_tasks_shop_id_kind_status_trigger_created_at"), table_name="sync_tasks")
    op.drop_index(op.f("ix_sync_tasks_finished_at"), table_name="sync_tasks")
