"""Item SKUs in NFC, and their search keys computed again: "CAFÉ-1" with a precomposed É and with E + U+0301.

A SKU was stored as typed (or as TikTok's seller SKU spelled it), so "CAFÉ-1" in its two Unicode spellings made two
items that show alike, and `inventoryItems(query: "café")` found one: its key (0007) was the SKU case-folded, which
keeps the spelling. SKUs are now taken in NFC (`domain.inventory.items.checked_sku`, `domain.inventory.links.trimmed`)
and keyed by `sku_search_key` (canonical caseless, composed again). This revision rewrites each item SKU not in NFC
to its NFC form, unless the merchant already has an item of that SKU (two items the old rules let in: both are kept
as they are, for the merchant to tell apart, rather than merge counts silently), and computes every item's
`sku_search` again (written where it differs). The seller SKUs TikTok sent (`skus.seller_sku`) are left as they are: matching normalizes them.
The downgrade leaves both as they are (the NFC spelling is the same text; the old key finds it as before).

Revision ID: 0014_nfc_sku_keys
Revises: 0013_webhook_address
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_nfc_sku_keys"
down_revision: str | None = "0013_webhook_address"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def _search_key(sku: str) -> str:
    # `domain.inventory.items.sku_search_key` as of this revision (a migration keeps its own copy of the rule)
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", sku).casefold())


def upgrade() -> None:
    items = sa.table(
        "inventory_items",
        sa.column("id", sa.String),
        sa.column("merchant_id", sa.String),
        sa.column("sku", sa.String),
        sa.column("sku_search", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(items.c.id, items.c.merchant_id, items.c.sku, items.c.sku_search).order_by(items.c.id)
    ).all()
    taken = {(row.merchant_id, row.sku) for row in rows}
    changes = []
    for row in rows:
        sku = unicodedata.normalize("NFC", row.sku)
        if sku != row.sku and (row.merchant_id, sku) not in taken:
            taken.add((row.merchant_id, sku))
        else:
            sku = row.sku
        if sku != row.sku or _search_key(sku) != row.sku_search:  # rows already right are not written
            changes.append({"item_id": row.id, "new_sku": sku, "key": _search_key(sku)})
    statement = (
        sa.update(items)
        .where(items.c.id == sa.bindparam("item_id"))
        .values(sku=sa.bindparam("new_sku"), sku_search=sa.bindparam("key"))
    )
    for start in range(0, len(changes), _BATCH):
        connection.execute(statement, changes[start : start + _BATCH])


def downgrade() -> None:
    pass
