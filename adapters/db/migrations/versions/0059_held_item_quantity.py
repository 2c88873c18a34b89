"""How many units of a link's hold are of its hold's item: `sku_links.held_item_quantity`.

review61 F2.

A hold was one number with one item (`held_item_id`, 0056). CAP pushed 20, a sale of 3 under CAP unseen, the SKU
linked by hand to HAT (CAP's record kept), whose push held CAP's 3 (`held_item_id` CAP); 2 more sold under HAT, and
HAT's next push carried the 3 and held the 2 anew: the hold restarted (TikTok sold since the last push) and the whole
5 was labelled HAT. Linked back to CAP, the link kept nothing on CAP and CAP's push wrote 20 where its shelf had 17.
Now a push that restarts a hold carrying units of another item keeps that item in `held_item_id` with its units in
`held_item_quantity`; the rest of the hold, the sales since the last push, is of the item the push was made for
(`pushed_item_id`).

Additive, nullable, no backfill: NULL is "the whole hold is `held_item_id`'s", as every row before this migration
reads. A partial index on `pushed_item_id` where the hold is split: the other part's arm of the push's read of the
holds of each link's item (`inventory_push_links._held_elsewhere`, as 0058's). The downgrade drops both, losing only
the split (the whole hold is then read as `held_item_id`'s).

Revision ID: 0059_held_item_quantity
Revises: 0058_hold_item_indexes
Create Date: 2026-12-06 06:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0059_held_item_quantity"
down_revision: str | None = "0058_hold_item_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("held_item_quantity", sa.Integer(), nullable=True))
    # the other part's item, an arm of the push's read of the holds of each link's item (`_held_elsewhere`)
    where = sa.text("held_item_quantity IS NOT NULL")
    op.create_index(
        op.f("ix_sku_links_pushed_item_id"), "sku_links", ["pushed_item_id"], sqlite_where=where, postgresql_where=where
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_links_pushed_item_id"), table_name="sku_links")
    with op.batch_alter_table("sku_links") as batch:
        batch.drop_column("held_item_quantity")
