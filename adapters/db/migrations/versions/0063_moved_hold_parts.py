"""The two parts of a link's moved hold: `sku_links.moved_hold_item_quantity`, `moved_hold_rest_item_id`.

review62 R1, its read variant.

A hand move whose fence starts anew (the products read later than the link's last push, `links._fence_anew`) keeps
the link's sales of other items made before the read and not ingested as its moved hold (0054), one item per link:
the one with more units. A split hold (0059/0062) has two: CAP pushed 20, 3 sold under CAP unseen, the SKU linked by
hand to HAT (whose push held CAP's 3), 2 more sold under HAT, HAT's push split the hold 3 CAP / 2 HAT; a products
read, then the SKU linked on to SOCK: the moved hold kept CAP's 3 and dropped HAT's 2, so HAT's other shops sold
them again (51 where HAT's shelf had 49) and a delete of the shop left HAT 51 for good. Now the moved hold is split
as the link's own hold is (`domain.inventory.links.hold_parts`): of `moved_hold_quantity`, the units of
`moved_hold_item_id` not applied yet (`moved_hold_item_quantity`), the rest of `moved_hold_rest_item_id`.

Additive, nullable: NULL is "the whole moved hold is `moved_hold_item_id`'s", as before. A partial index on the
rest's item (where the moved hold is split) is the other part's arm of the push's read of the holds of each link's
item (`inventory_push_links._held_elsewhere`). The downgrade drops both (a split moved hold then reads as wholly its
larger part's item's, as before this migration).

Revision ID: 0063_moved_hold_parts
Revises: 0062_held_rest_item
Create Date: 2026-12-06 11:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0063_moved_hold_parts"
down_revision: str | None = "0062_held_rest_item"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SPLIT = "moved_hold_item_quantity IS NOT NULL"


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("moved_hold_item_quantity", sa.Integer(), nullable=True))
    op.add_column("sku_links", sa.Column("moved_hold_rest_item_id", sa.String(length=32), nullable=True))
    where = sa.text(_SPLIT)
    op.create_index(
        op.f("ix_sku_links_moved_hold_rest_item_id"), "sku_links", ["moved_hold_rest_item_id"], sqlite_where=where,
        postgresql_where=where,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_links_moved_hold_rest_item_id"), table_name="sku_links")
    with op.batch_alter_table("sku_links") as batch:
        batch.drop_column("moved_hold_rest_item_id")
        batch.drop_column("moved_hold_item_quantity")
