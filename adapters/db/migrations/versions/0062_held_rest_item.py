"""The item of the other part of a split hold: `sku_links.held_rest_item_id`.

review62 R1.

A split hold (0059: `held_item_quantity` units of `held_item_id`, the rest of the hold of another item) read its rest
as the item of the link's push record (`pushed_item_id`). A push that carried the split rewrote that column to the
item pushed now: CAP pushed 20, 3 sold under CAP unseen, the SKU linked by hand to HAT (whose push held CAP's 3), 2
more sold under HAT, HAT's push split the hold 3 CAP / 2 HAT; linked on to SOCK (or straight back to CAP), SOCK's
push carried the hold and HAT's 2 became SOCK's: HAT's other shops sold them again (51 where HAT's shelf had 49) and
a delete of the shop left HAT 51 and SOCK 28 for good. Now the rest's item is kept in its own column, written with
the split and kept while the hold is carried, whatever item a later push is made for.

Additive, nullable: NULL with `held_item_quantity` NULL is "the whole hold is `held_item_id`'s", as before. A split
stored before this migration has its rest's item from `pushed_item_id` (what 0059's rows meant by it). The partial
index of 0059 (`pushed_item_id` where the hold is split) becomes one on this column: the other part's arm of the
push's read of the holds of each link's item (`inventory_push_links._held_elsewhere`). The downgrade puts 0059's
index back and drops the column (a split carried since under another item reads its rest as that item's again).

Revision ID: 0062_held_rest_item
Revises: 0061_shop_name_zero_width
Create Date: 2026-12-06 09:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0062_held_rest_item"
down_revision: str | None = "0061_shop_name_zero_width"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SPLIT = "held_item_quantity IS NOT NULL"


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("held_rest_item_id", sa.String(length=32), nullable=True))
    op.execute(f"UPDATE sku_links SET held_rest_item_id = pushed_item_id WHERE {_SPLIT}")  # noqa: S608 - fixed text
    op.drop_index(op.f("ix_sku_links_pushed_item_id"), table_name="sku_links")
    where = sa.text(_SPLIT)
    op.create_index(
        op.f("ix_sku_links_held_rest_item_id"), "sku_links", ["held_rest_item_id"], sqlite_where=where,
        postgresql_where=where,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_links_held_rest_item_id"), table_name="sku_links")
    where = sa.text(_SPLIT)
    op.create_index(
        op.f("ix_sku_links_pushed_item_id"), "sku_links", ["pushed_item_id"], sqlite_where=where, postgresql_where=where
    )
    with op.batch_alter_table("sku_links") as batch:
        batch.drop_column("held_rest_item_id")
