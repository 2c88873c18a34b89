"""The shared inventory pool: items, SKU links, the order ledger, movements, the push outbox, shop policies.

Also renames `inventory_links` (TikTok's per-warehouse stock of a SKU) to `warehouse_stocks`: the pool's links are
`sku_links`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 11:15:10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("safety_stock", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_items")),
        sa.UniqueConstraint("merchant_id", "sku", name=op.f("uq_inventory_items_merchant_id_sku")),
    )
    with op.batch_alter_table("inventory_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_items_merchant_id_created_at_id"),
            ["merchant_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "inventory_movements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("on_hand_delta", sa.Integer(), nullable=False),
        sa.Column("reserved_delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("shop_id", sa.String(length=32), nullable=True),
        sa.Column("tiktok_order_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_inventory_movements_inventory_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_inventory_movements_shop_id_shops"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_movements")),
    )
    with op.batch_alter_table("inventory_movements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_movements_inventory_item_id_created_at_id"),
            ["inventory_item_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "inventory_push_outbox",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_product_id", sa.String(length=64), nullable=False),
        sa.Column("dirty_version", sa.Integer(), nullable=False),
        sa.Column("pushed_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_inventory_push_outbox_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "tiktok_product_id", name=op.f("pk_inventory_push_outbox")),
    )
    with op.batch_alter_table("inventory_push_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_push_outbox_next_attempt_at"), ["next_attempt_at"], unique=False)

    op.create_table(
        "order_line_stock",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_order_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_line_item_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("tiktok_sku_id", sa.String(length=64), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("wanted", sa.String(length=16), nullable=False),
        sa.Column("order_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_order_line_stock_inventory_item_id_inventory_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_order_line_stock_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "tiktok_order_id", "tiktok_line_item_id", name=op.f("pk_order_line_stock")),
    )
    with op.batch_alter_table("order_line_stock", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_line_stock_inventory_item_id_state"), ["inventory_item_id", "state"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_order_line_stock_shop_id_tiktok_sku_id_state"),
            ["shop_id", "tiktok_sku_id", "state"],
            unique=False,
        )

    op.create_table(
        "shop_inventory_policies",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("push_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("share_percent", sa.Integer(), server_default=sa.text("100"), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=True),
        sa.Column("out_of_stock_threshold", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_shop_inventory_policies_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_inventory_policies")),
    )
    op.create_table(
        "sku_links",
        sa.Column("sku_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=True),
        sa.Column("tiktok_product_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_sku_id", sa.String(length=64), nullable=False),
        sa.Column("seller_sku", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stock_counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("pushed_quantity", sa.Integer(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("push_error_code", sa.String(length=32), nullable=True),
        sa.Column("push_error_message", sa.Text(), nullable=True),
        sa.Column("observed_quantity", sa.Integer(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drift_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_sku_links_inventory_item_id_inventory_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_sku_links_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sku_id", name=op.f("pk_sku_links")),
    )
    with op.batch_alter_table("sku_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sku_links_inventory_item_id"), ["inventory_item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sku_links_shop_id_state"), ["shop_id", "state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sku_links_shop_id_tiktok_product_id"), ["shop_id", "tiktok_product_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sku_links_shop_id_tiktok_sku_id"), ["shop_id", "tiktok_sku_id"], unique=False)

    _rename_stock_table("inventory_links", "warehouse_stocks")
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle", sa.Boolean(), server_default=sa.text("false"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_column("bundle")
    _rename_stock_table("warehouse_stocks", "inventory_links")
    with op.batch_alter_table("sku_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sku_links_shop_id_tiktok_sku_id"))
        batch_op.drop_index(batch_op.f("ix_sku_links_shop_id_tiktok_product_id"))
        batch_op.drop_index(batch_op.f("ix_sku_links_shop_id_state"))
        batch_op.drop_index(batch_op.f("ix_sku_links_inventory_item_id"))

    op.drop_table("sku_links")
    op.drop_table("shop_inventory_policies")
    with op.batch_alter_table("order_line_stock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_line_stock_shop_id_tiktok_sku_id_state"))
        batch_op.drop_index(batch_op.f("ix_order_line_stock_inventory_item_id_state"))

    op.drop_table("order_line_stock")
    with op.batch_alter_table("inventory_push_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_push_outbox_next_attempt_at"))

    op.drop_table("inventory_push_outbox")
    with op.batch_alter_table("inventory_movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_movements_inventory_item_id_created_at_id"))

    op.drop_table("inventory_movements")
    with op.batch_alter_table("inventory_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_items_merchant_id_created_at_id"))

    op.drop_table("inventory_items")


def _rename_stock_table(old: str, new: str) -> None:
    """Rename the table with its index and (PostgreSQL) constraint names; the rows stay."""
    op.rename_table(old, new)
    op.drop_index(f"ix_{old}_shop_id", table_name=new)
    op.create_index(f"ix_{new}_shop_id", new, ["shop_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for constraint in ("pk_{}", "fk_{}_shop_id_shops", "fk_{}_sku_id_skus"):
            op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {constraint.format(old)} TO {constraint.format(new)}")
