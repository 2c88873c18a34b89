"""How many packages an order collected by the carrier left in: `orders.package_count` (review59 F1).

The pool dates a shipment by the carrier's collection only for an order of one package (`domain.inventory.ledger.
left_shelf_by`); the catalog stored the collection time (0050) but not the package count, so a line that waited for
its SKU's link (the reconnect's orders read before its products) was dated by its order version's update time when
its link moved it (`ledger.relink_lines`), and a count taken between the collection and that version did not cover
its shipment (undersold until the next count). Now the catalog stores the number of distinct `packages[].id` with an
order that has a `collection_time` (NULL otherwise), and `relink_lines` dates the waiting line as the order batch does.

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite; SQLite: an `ALTER TABLE ADD COLUMN`); deployable without a
stop: a release before this one ignores the column. Orders stored before it read NULL (unknown: dated by their update
time, as before); those with a collection time get a new fingerprint (the count is digested where a collection time
is), so their next import rewrites them with the count. The downgrade drops it, and clears the fingerprint of the
orders that had one, so that their next import rewrites them (as 0050 does).

Revision ID: 0052_orders_package_count
Revises: 0051_deleted_shop_connections
Create Date: 2026-12-06 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0052_orders_package_count"
down_revision: str | None = "0051_deleted_shop_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("package_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE orders SET fingerprint = '' WHERE package_count IS NOT NULL")
    with op.batch_alter_table("orders", schema=None) as batch:
        batch.drop_column("package_count")
