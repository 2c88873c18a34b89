"""The address each shop's webhooks were registered with: `shops.webhooks_registered_address`.

Before, Shopbridge registered its address (`SHOPBRIDGE_PUBLIC_URL/webhooks/tiktok`) only after an authorization: a
process started under another public URL (`make run PORT=...` on the same data, a moved deployment) kept TikTok
pushing to the old address, while the shop showed its registration as done. The boot sweep now registers again every
shop whose registered address differs from the one the process would register (`domain.services.webhook_registration`).
Null: registered before this revision (the address is unknown), or never: such a shop is registered once more.

Revision ID: 0013_webhook_address
Revises: 0012_sku_ledger_units
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_webhook_address"
down_revision: str | None = "0012_sku_ledger_units"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shops", sa.Column("webhooks_registered_address", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch:
        batch.drop_column("webhooks_registered_address")
