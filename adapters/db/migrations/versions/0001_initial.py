"""Initial schema: shops, authorization requests, products, SKUs, inventory links, orders, line items, sync tasks.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 20:39:24.530301
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shops',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('merchant_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('tiktok_shop_id', sa.String(length=64), nullable=False),
    sa.Column('tiktok_shop_name', sa.String(length=255), nullable=False),
    sa.Column('tiktok_shop_cipher', sa.String(length=255), nullable=False),
    sa.Column('tiktok_shop_code', sa.String(length=64), nullable=True),
    sa.Column('seller_name', sa.String(length=255), nullable=True),
    sa.Column('access_token_encrypted', sa.Text(), nullable=False),
    sa.Column('access_token_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refresh_token_encrypted', sa.Text(), nullable=False),
    sa.Column('refresh_token_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('token_seller_name', sa.String(length=255), nullable=True),
    sa.Column('token_open_id', sa.String(length=255), nullable=True),
    sa.Column('authorized_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shops')),
    sa.UniqueConstraint('tiktok_shop_id', name=op.f('uq_shops_tiktok_shop_id'))
    )
    op.create_index(op.f('ix_shops_merchant_id_created_at_id'), 'shops', ['merchant_id', 'created_at', 'id'], unique=False)

    op.create_table('authorization_requests',
    sa.Column('state_digest', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.String(length=128), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_authorization_requests_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('state_digest', name=op.f('pk_authorization_requests'))
    )
    op.create_index(op.f('ix_authorization_requests_shop_id'), 'authorization_requests', ['shop_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=False),
    sa.Column('tiktok_order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total_amount', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('buyer_user_id', sa.String(length=128), nullable=True),
    sa.Column('recipient_name', sa.String(length=255), nullable=True),
    sa.Column('recipient_region', sa.String(length=16), nullable=True),
    sa.Column('fingerprint', sa.String(length=32), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_orders_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('shop_id', 'tiktok_order_id', name=op.f('uq_orders_shop_id_tiktok_order_id'))
    )
    op.create_index(op.f('ix_orders_shop_id_created_at_id'), 'orders', ['shop_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_orders_shop_id_status_created_at_id'), 'orders', ['shop_id', 'status', 'created_at', 'id'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=False),
    sa.Column('tiktok_product_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fingerprint', sa.String(length=32), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_products_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('shop_id', 'tiktok_product_id', name=op.f('uq_products_shop_id_tiktok_product_id'))
    )
    op.create_index(op.f('ix_products_shop_id_created_at_id'), 'products', ['shop_id', 'created_at', 'id'], unique=False)

    op.create_table('sync_tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=False),
    sa.Column('merchant_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('processed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('created', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('unchanged', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('failed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('failures', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('checkpoint', sa.Text(), nullable=False),
    sa.Column('orders_created_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('orders_created_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sync_tasks_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_tasks'))
    )
    op.create_index(op.f('ix_sync_tasks_merchant_id_created_at_id'), 'sync_tasks', ['merchant_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_sync_tasks_shop_id'), 'sync_tasks', ['shop_id'], unique=False)
    op.create_index(op.f('ix_sync_tasks_status_heartbeat_at'), 'sync_tasks', ['status', 'heartbeat_at'], unique=False)
    op.create_index('uq_sync_tasks_active_shop_kind', 'sync_tasks', ['shop_id', 'kind'], unique=True, sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"), postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"))

    op.create_table('line_items',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=False),
    sa.Column('tiktok_line_item_id', sa.String(length=64), nullable=False),
    sa.Column('tiktok_sku_id', sa.String(length=64), nullable=False),
    sa.Column('tiktok_product_id', sa.String(length=64), nullable=True),
    sa.Column('seller_sku', sa.String(length=255), nullable=True),
    sa.Column('product_name', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('sale_price_amount', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_line_items_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_line_items_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_line_items'))
    )
    op.create_index(op.f('ix_line_items_order_id'), 'line_items', ['order_id'], unique=False)
    op.create_index(op.f('ix_line_items_shop_id'), 'line_items', ['shop_id'], unique=False)

    op.create_table('skus',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('product_id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=False),
    sa.Column('tiktok_sku_id', sa.String(length=64), nullable=False),
    sa.Column('seller_sku', sa.String(length=255), nullable=True),
    sa.Column('price_amount', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_skus_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_skus_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skus')),
    sa.UniqueConstraint('shop_id', 'tiktok_sku_id', name=op.f('uq_skus_shop_id_tiktok_sku_id'))
    )
    op.create_index(op.f('ix_skus_product_id'), 'skus', ['product_id'], unique=False)

    op.create_table('inventory_links',
    sa.Column('sku_id', sa.String(length=32), nullable=False),
    sa.Column('warehouse_id', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_inventory_links_shop_id_shops'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_inventory_links_sku_id_skus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sku_id', 'warehouse_id', name=op.f('pk_inventory_links'))
    )
    op.create_index(op.f('ix_inventory_links_shop_id'), 'inventory_links', ['shop_id'], unique=False)



def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents for the foreign keys.
    for table in ("inventory_links", "skus", "line_items", "sync_tasks", "products", "orders",
                  "authorization_requests", "shops"):
        op.drop_table(table)
