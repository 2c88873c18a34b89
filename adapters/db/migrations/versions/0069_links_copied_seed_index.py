"""A partial index of each shop's links whose item was seeded as a copy of another item's count (STOCK_COPIED).

`sku_links (shop_id, seeded_from_item_id) WHERE seeded_from_item_id IS NOT NULL`.

tryout72 F1: `Shop.attention` tells the merchant of a SKU whose seller SKU's rename seeded a new item from TikTok's
stock, a copy of the item it drew on (STOCK_COPIED, `adapters.db.shop_facts.copied_stock_query`). Every read of a
shop's attention (a page of shops, `shopUpdated`, the `shopsUpdated` feed's full read every 30 s) asks for those
links; without this index it read every LINKED link of the shop (`(shop_id, state)`), thousands for a big catalog,
to find the few, usually none, that copied a count. Partial: almost no link copied one. The query states the
index's term literally, so that SQLite and PostgreSQL's generic plans use it.

Revision ID: 0069_links_copied_seed_index
Revises: 0068_ledger_sku_index_partial
Create Date: 2026-12-07 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0069_links_copied_seed_index"
down_revision: str | None = "0068_ledger_sku_index_partial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_sku_links_shop_id_seeded_from_item_id"
_COPIED = sa.text("seeded_from_item_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        _INDEX,
        "sku_links",
        ["shop_id", "seeded_from_item_id"],
        unique=False,
        sqlite_where=_COPIED,
        postgresql_where=_COPIED,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="sku_links")
