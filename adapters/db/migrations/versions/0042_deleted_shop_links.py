"""A deleted shop's links' times and its lines seen, for a sale shipped unseen before the delete: `deleted_shop_links`.

A sale made under a link and shipped while its webhooks were lost deducts when first seen on the same connection
(`after_link`). The shop deleted and connected again first, the new link's time was the reconnect's read: first seen
there, the sale was history and its units stayed on the item's on-hand for good (poolreview53 defect 2: 10/0/10 where
the shelf held 8). The delete now keeps each link's time by merchant, TikTok shop, SKU and item (`deleted_shop_links`),
and the lines its ledger had already applied, not only the open ones (`deleted_shop_lines.state`, RESERVED for those
before this revision): the reconnect's import deducts a line first seen shipped, made between that time and the
delete, that the old ledger never had (`domain.inventory.ledger.sold_while_linked_before`).

A new empty table and a `NOT NULL` column with a default (PostgreSQL 11+: no table rewrite); shops deleted before
this revision left no link times (their reconnects keep the old behaviour). The downgrade deletes the applied lines
(state not RESERVED) before it drops the column: the releases before read every row as a line the delete deducted.
The new rows break the expand-then-contract contract for a process of a release before this one that runs a
reconnect's import while the database is at it: deploy it from such a release with a stop (README "Rolling
deploys").

Revision ID: 0042_deleted_shop_links
Revises: 0041_deleted_lines_seed_read
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042_deleted_shop_links"
down_revision: str | None = "0041_deleted_lines_seed_read"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "deleted_shop_lines",
        sa.Column("state", sa.String(length=16), server_default=sa.text("'RESERVED'"), nullable=False),
    )
    op.create_table(
        "deleted_shop_links",
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("tiktok_shop_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_sku_id", sa.String(length=64), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_deleted_shop_links_inventory_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id",
            "tiktok_shop_id",
            "tiktok_sku_id",
            "inventory_item_id",
            "deleted_at",
            name=op.f("pk_deleted_shop_links"),
        ),
    )
    op.create_index(
        op.f("ix_deleted_shop_links_inventory_item_id"), "deleted_shop_links", ["inventory_item_id"], unique=False
    )
    op.create_index(op.f("ix_deleted_shop_links_deleted_at"), "deleted_shop_links", ["deleted_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_shop_links_deleted_at"), table_name="deleted_shop_links")
    op.drop_index(op.f("ix_deleted_shop_links_inventory_item_id"), table_name="deleted_shop_links")
    op.drop_table("deleted_shop_links")
    # The lines the delete's ledger had applied (any state but RESERVED) go before the column that tells them apart:
    # the releases before this revision read every row of the table as a line the delete deducted
    # (`back_with_its_shop`), and would put a cancelled one's units back on on-hand that never left it (review54b
    # finding 3: 11/0/11 where the shelf held 10). Without the link times they served, they serve nothing there.
    op.execute(sa.text("DELETE FROM deleted_shop_lines WHERE state <> 'RESERVED'"))
    with op.batch_alter_table("deleted_shop_lines", schema=None) as batch:
        batch.drop_column("state")
