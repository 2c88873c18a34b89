"""When TikTok's success of a link's last push was recorded: `sku_links.push_landed_at`.

`Sku.quantity` is TikTok's stock as last known, the newer of the product's last read and the link's last push
(`domain.stock_levels.last_known_stock`). The push was dated by `pushed_at`, when it computed its targets, before it
sent them; a products read sent after that but before TikTok applied the push (a call slow to answer, or held) showed
the stock before the push, yet stood over it: "Sku.quantity=200" while TikTok had the 220 pushed, for good, as a poll
reads only the products updated since (tryout48-read-during-push). The push now wins over a read sent before it
landed (`push_landed_at`, written with the push's record in the transaction that records TikTok's answer).
`pushed_at` keeps its meaning: the fence counts the sales since the push read the pool from it.

A nullable column, no backfill, no index: rows pushed before this revision (and by a release before it, a rolling
deploy) have none, or an older push's, and are taken as landed when computed (`pushed_at`, the later of the two:
the rule before this revision) until their next push.

Revision ID: 0035_sku_links_push_landed_at
Revises: 0034_deleted_shop_holds
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_sku_links_push_landed_at"
down_revision: str | None = "0034_deleted_shop_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("push_landed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("push_landed_at")
