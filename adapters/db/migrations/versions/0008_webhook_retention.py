"""The webhook inbox is pruned: an index lets the retention sweep find the oldest events of every shop at once.

`webhook_events.received_at` gets an index of its own: the sweep (`domain.services.inbox.prune_settled_events`)
deletes settled events received before `now - SHOPBRIDGE_WEBHOOK_RETENTION`, oldest first, a bounded batch per
transaction; the existing indexes all lead with `shop_id`, so without this one each batch scanned the table.

Revision ID: 0008_webhook_retention
Revises: 0007_sku_search
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_webhook_retention"
down_revision: str | None = "0007_sku_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_webhook_events_received_at"), "webhook_events", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_events_received_at"), table_name="webhook_events")
