"""Item search keys computed again, ignoring width: `inventoryItems(query: "ＳＫＵ-１")` finds SKU-1, and the reverse.

The key (`inventory_items.sku_search`, 0007, 0014) was the SKU's canonical caseless form: full-width letters and
digits (U+FF01 to U+FF5E, as a CJK input method types them), half-width katakana and the other compatibility
variants stayed apart from their usual forms, so a merchant searching "ＡＢＣ" did not find ABC-1. It is now the
compatibility caseless form, composed again (`domain.inventory.items.sku_search_key`: Unicode D146, then NFKC, its
first 1,024 characters). The SKUs themselves are left as they are (a full-width SKU stays its own item). This
revision computes every item's key again, writing only those that differ (none among SKUs without a compatibility
character). Rows a release before this one writes meanwhile (a rolling deploy) get the old key, which finds them as
before. The downgrade leaves the keys as they are (an old key of a SKU with no such character is the same).

Revision ID: 0029_sku_search_width
Revises: 0028_sync_failed_attempts
Create Date: 2026-12-04 18:30:00
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_sku_search_width"
down_revision: str | None = "0028_sync_failed_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def _search_key(sku: str) -> str:
    # `domain.inventory.items.sku_search_key` as of this revision (a migration keeps its own copy of the rule)
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFD", sku).casefold())
    return unicodedata.normalize("NFKC", decomposed.casefold())[:1024]


def upgrade() -> None:
    items = sa.table("inventory_items", sa.column("id", sa.String), sa.column("sku", sa.String),
                     sa.column("sku_search", sa.String))  # fmt: skip
    connection = op.get_bind()
    changes = [
        {"item_id": row.id, "key": _search_key(row.sku)}
        for row in connection.execute(sa.select(items.c.id, items.c.sku, items.c.sku_search).order_by(items.c.id))
        if _search_key(row.sku) != row.sku_search
    ]
    statement = sa.update(items).where(items.c.id == sa.bindparam("item_id")).values(sku_search=sa.bindparam("key"))
    for start in range(0, len(changes), _BATCH):
        connection.execute(statement, changes[start : start + _BATCH])


def downgrade() -> None:
    pass
