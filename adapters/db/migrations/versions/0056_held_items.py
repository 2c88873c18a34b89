"""The item a link's push record was made for and the item its hold's sales were made under: `sku_links.pushed_item_id`, `held_item_id`.

review60b F1.

A hand link change inferred both from the item the link named at the change. A SKU linked by hand from CAP to HAT
(read older than CAP's push: CAP's record kept) had HAT's push measure from CAP's record and hold CAP's unseen sale;
linked back to CAP after a later read, that hold was taken for HAT's, forgotten with the fence started anew, and
CAP's push wrote 20 where its shelf had 17. A push now records the item it was made for (`pushed_item_id`) and, when
a hold starts, the item of the record it measured from (`held_item_id`; a carried hold keeps it): a link back to that
item keeps the hold (`links._fence_anew`), a move elsewhere keeps it as a moved hold of it (`links._moved_hold`).

Additive, nullable, no backfill: a row pushed before this migration has neither, and is read as before (the item the
link names, or remembers). No foreign keys (a removed item's cascade would write links out of the order the pool
locks them in). The downgrade drops the columns, losing only that.

Revision ID: 0056_held_items
Revises: 0055_completed_shop
Create Date: 2026-12-06 04:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0056_held_items"
down_revision: str | None = "0055_completed_shop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("pushed_item_id", sa.String(length=32), nullable=True))
    op.add_column("sku_links", sa.Column("held_item_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links") as batch:
        batch.drop_column("held_item_id")
        batch.drop_column("pushed_item_id")
