"""A hold of a SKU's push under an item, kept on its link when the merchant moves it elsewhere: `sku_links.moved_hold_*`.

review60 F3 and F2's move and back.

A link's hold (`held_quantity`, `held_since`: units its last push held back as sold at TikTok and not yet ingested)
is forgotten with that push's record when a hand link change starts the SKU's fence anew on another item
(`links._fence_anew`, review60 F1): the new item's fence starts from a later stock read that already left the sale
out. The sale still left the shelf of the item it was made under. Kept here with that item, it stands as the hold did
(`domain.inventory_push.standing_units`: within the hold's horizon, less the units the ledger applied for the SKU
since that push), and a delete of the shop takes the units standing off that item's on-hand (before, none at all:
that item kept the sale's units for good, 21 where its shelf had 18). A sale made under the item after its push and
left out of the read is kept the same way (the fence of that item measured against the read), and a link moved back
to the item holds it all again (before: CAP's push wrote 20 where its shelf had 17). `moved_hold_sold_before`: the
read's time, before which those sales were made (`deleted_shop_holds.sold_before` once a delete records them).

Additive, no backfill: a hold forgotten before this migration stays forgotten. No foreign key on
`moved_hold_item_id` (a removed item's cascade would write links out of the order the pool locks them in): a delete
reads only the items that still exist. The downgrade drops the columns, losing only those holds.

Revision ID: 0054_moved_holds
Revises: 0053_restored_since
Create Date: 2026-12-06 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0054_moved_holds"
down_revision: str | None = "0053_restored_since"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "moved_hold_item_id", "moved_hold_quantity", "moved_hold_since", "moved_hold_ingested_at_push",
    "moved_hold_sold_before",
)  # fmt: skip


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("moved_hold_item_id", sa.String(length=32), nullable=True))
    op.add_column(
        "sku_links", sa.Column("moved_hold_quantity", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("sku_links", sa.Column("moved_hold_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sku_links", sa.Column("moved_hold_ingested_at_push", sa.Integer(), nullable=True))
    op.add_column("sku_links", sa.Column("moved_hold_sold_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
