"""`order_line_stock`'s index by SKU becomes partial: `WHERE state <> 'HISTORICAL'`.

perf68 (issue 9, benchmark 2 on SQLite): a line first seen shipped or cancelled is HISTORICAL (it moves nothing),
most of a 30-day import's lines, linked or not (the sandbox's: ~85 %). Its entry in `(shop_id, tiktok_sku_id,
state)` landed at its SKU's place, a leaf page dirtied per line per batch, and no reader by SKU asks for it but two,
for the lines of orders made since a stock read (`links._keep_join_baselines`, `links._open_pending_units`), which now
find those through `orders (shop_id, created_at)` and the ledger's key. Every other reader by SKU states the index's
term literally (`tables.LEDGER_BY_SKU`): SQLite uses a partial index only for a query carrying its WHERE term, and
PostgreSQL cannot prove it from a generic plan's bound parameters. Plans in bench/README.md, "stop 68".

Revision ID: 0068_ledger_sku_index_partial
Revises: 0067_ledger_item_index_partial
Create Date: 2026-12-07 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0068_ledger_sku_index_partial"
down_revision: str | None = "0067_ledger_item_index_partial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_order_line_stock_shop_id_tiktok_sku_id_state"
_COLUMNS = ["shop_id", "tiktok_sku_id", "state"]
_NOT_HISTORY = sa.text("state <> 'HISTORICAL'")


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="order_line_stock")
    op.create_index(
        _INDEX, "order_line_stock", _COLUMNS, unique=False, sqlite_where=_NOT_HISTORY, postgresql_where=_NOT_HISTORY
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="order_line_stock")
    op.create_index(_INDEX, "order_line_stock", _COLUMNS, unique=False)
