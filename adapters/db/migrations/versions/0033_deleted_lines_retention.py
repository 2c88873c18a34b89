"""The retention sweep prunes `deleted_shop_lines` oldest first: an index on `deleted_shop_lines.deleted_at`.

The records of the open lines a shop's delete deducted (migration 0031) went only when that TikTok shop, connected
again, imported the line, or with its item: a shop deleted and never connected again kept a row per open line for
good. The sweep now deletes those older than `domain.inventory.ledger.DELETED_LINE_KEPT` (97 days: past any orders
import's window, `deleted_line_forgotten`), in bounded batches, oldest first (`adapters.db.retention`): this index
serves that order and condition, where each batch scanned the whole table. A plain `CREATE INDEX` (writes to the
table, a shop's delete or a reconnect's import, wait while it builds: the table is small, a row per open line of
the shops deleted since 0031).

Revision ID: 0033_deleted_lines_retention
Revises: 0032_sync_task_unsent
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0033_deleted_lines_retention"
down_revision: str | None = "0032_sync_task_unsent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_deleted_shop_lines_deleted_at"), "deleted_shop_lines", ["deleted_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_shop_lines_deleted_at"), table_name="deleted_shop_lines")
