"""A partial index of each item's movements of the merchant's hand (STOCK_COPIED's "not settled").

`inventory_movements (inventory_item_id) WHERE kind IN ('ADJUSTED', 'CREATED', 'SET')`.

review72c F1: `Shop.attention`'s STOCK_COPIED (migration 0069, `adapters.db.shop_facts.copied_stock_query`) asks
whether the seeded item has a movement of the merchant's hand (`domain.inventory.items.HAND_MADE`). The only index of
the movements, `(inventory_item_id, created_at, id)`, left the kind to each row: the read walked every movement of the
item (2 per unit sold) to find none, exactly while the notice stands, on every read of the shop's attention
(PostgreSQL, 200,000 movements of the item: 183-280 ms and 83,745 buffers a read; with this index 0.24-0.63 ms).
Partial: the hand makes few movements. The query states the kinds literally, in this order, so that SQLite and
PostgreSQL's generic plans use it.

Revision ID: 0070_movements_hand_made_index
Revises: 0069_links_copied_seed_index
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0070_movements_hand_made_index"
down_revision: str | None = "0069_links_copied_seed_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_inventory_movements_hand_made"
_HAND_MADE = sa.text("kind IN ('ADJUSTED', 'CREATED', 'SET')")


def upgrade() -> None:
    op.create_index(
        _INDEX,
        "inventory_movements",
        ["inventory_item_id"],
        unique=False,
        sqlite_where=_HAND_MADE,
        postgresql_where=_HAND_MADE,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="inventory_movements")
