"""When a record kept as unreadable was last read again by id and failed again: `unreadable_records.reread_at`.

A mark (0039) waited for a read of its record to be stored: by a poll or an import whose window reached it, or a
webhook. A record whose next version never came (or an order with `create_time: 0`, outside every import window)
kept its mark, and the shop its RECORDS_UNREADABLE, until retention forgot it 30 days later. Each poll now reads a
few marks again by id (`domain.services.rereads`: Get Order Detail, Get Product); one still unreadable keeps its
mark with the new reason and this time, which orders the next reads (never re-read first, then the longest ago) and
makes its WARNING line once per mark (the first failed re-read sets it from null), not once per poll.

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite); marks made before this revision start null (never re-read).

Revision ID: 0040_unreadable_reread_at
Revises: 0039_unreadable_records
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040_unreadable_reread_at"
down_revision: str | None = "0039_unreadable_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("unreadable_records", sa.Column("reread_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unreadable_records", schema=None) as batch:
        batch.drop_column("reread_at")
