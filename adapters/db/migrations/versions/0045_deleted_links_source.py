"""A deleted shop's link made by hand comes back by hand: `deleted_shop_links.source`.

A SKU the merchant linked by hand (`skuLink`, MANUAL) to an item other than the one its seller SKU names was linked by
seller SKU again when its shop was deleted and the same TikTok shop connected again: the delete kept when the link
took effect and its item (`deleted_shop_links`, 0042), not that it was the merchant's. A sale made under the hand link
and first seen by the reconnect's import then counted on the seller SKU's item, and an open order's reservation moved
there too: stock wrong on every shop of both items (poolfix54 finding 3). The column keeps the link's source
(`sku_links.source`, AUTO or MANUAL) for a row of a link that named its item at the delete (LINKED, or DROPPED with
it); the reconnect's products import links such a SKU by hand to that item again when the row the TikTok shop's
latest delete kept of it is MANUAL and the item still exists (`domain.inventory.links.relinked_by_hand`). An index on
(merchant, TikTok shop, `deleted_at`) finds that latest delete with a seek, for every products batch of a reconnect.

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite) and an index (built under the table's lock: the table holds a
row per kept link of the deleted shops of the last 97 days, `DELETED_LINE_KEPT`). Null for a period of a link left without its item (it only
remembers one) and for the rows of a release before this one: their SKUs link by seller SKU at a reconnect, as they
did. A release before this one leaves the column as it is (it writes null, which reads as above).
The downgrade drops the index and the column, and so loses which kept links were made by hand: a reconnect after it
links every SKU by seller SKU (the behaviour before this revision), hand links included; the link periods stay.

Revision ID: 0045_deleted_links_source
Revises: 0044_authorization_completed
Create Date: 2026-12-05 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0045_deleted_links_source"
down_revision: str | None = "0044_authorization_completed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deleted_shop_links", sa.Column("source", sa.String(length=8), nullable=True))
    op.create_index(
        op.f("ix_deleted_shop_links_merchant_id_tiktok_shop_id_deleted_at"),
        "deleted_shop_links",
        ["merchant_id", "tiktok_shop_id", "deleted_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_shop_links_merchant_id_tiktok_shop_id_deleted_at"), table_name="deleted_shop_links")
    with op.batch_alter_table("deleted_shop_links", schema=None) as batch:
        batch.drop_column("source")
