"""Live sync: the webhook inbox, and the shop's authorization end date, webhook registration and traffic.

`webhook_events.shop_id` cascades on shop delete, like every row of a shop: deleting a shop removes everything
Shopbridge holds of it (README, "Store management"), and the event's data is the shop's. A notification for no
connected shop is kept with `shop_id` NULL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 08:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHOP_COLUMNS = ('authorization_expires_at', 'webhooks_registered_at', 'webhook_registration_error', 'last_webhook_at')


def upgrade() -> None:
    op.create_table('webhook_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('notification_key', sa.String(length=80), nullable=False),
    sa.Column('type', sa.Integer(), nullable=False),
    sa.Column('tiktok_shop_id', sa.String(length=64), nullable=True),
    sa.Column('shop_id', sa.String(length=32), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_webhook_events_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('notification_key', name=op.f('uq_webhook_events_notification_key'))
    )
    op.create_index(op.f('ix_webhook_events_shop_id_outcome_received_at'), 'webhook_events', ['shop_id', 'outcome', 'received_at'], unique=False)
    op.create_index(op.f('ix_webhook_events_shop_id_received_at_id'), 'webhook_events', ['shop_id', 'received_at', 'id'], unique=False)
    op.add_column('shops', sa.Column('authorization_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('shops', sa.Column('webhooks_registered_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('shops', sa.Column('webhook_registration_error', sa.Text(), nullable=True))
    op.add_column('shops', sa.Column('last_webhook_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table('webhook_events')
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): batch mode would copy and drop `shops`, and dropping it
    # would cascade into every table that references it.
    for column in SHOP_COLUMNS:
        op.drop_column('shops', column)
