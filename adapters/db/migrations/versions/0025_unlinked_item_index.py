"""Links are found by the item they remember: an index on `sku_links.unlinked_item_id`.

The column's foreign key (`ON DELETE SET NULL`, migration 0017) makes every delete of an item look for the links
naming it; without an index each item deleted scanned the whole `sku_links` table, on SQLite and PostgreSQL alike: a
shop's delete or a relink removing n items beside m links cost n x m row visits (8,000 items beside 8,000 links:
16.3 s on SQLite, holding its one writer; 0.35 s with the index). Partial (`IS NOT NULL`): most links remember no
item, and both databases use such an index for the foreign key's `= ?` lookup.

Revision ID: 0025_unlinked_item_index
Revises: 0024_push_intent
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_unlinked_item_index"
down_revision: str | None = "0024_push_intent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("unlinked_item_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        op.f("ix_sku_links_unlinked_item_id"),
        "sku_links",
        ["unlinked_item_id"],
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_links_unlinked_item_id"), table_name="sku_links")
