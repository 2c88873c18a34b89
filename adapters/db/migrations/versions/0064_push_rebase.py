"""The push fence's re-base pending on a shop: `shop_inventory_policies.rebase_pending_since`.

tryout63 F1. A shop whose pushes could not run (push turned off, or the shop REVOKED or EXPIRED) may have had its stock
edited in TikTok Seller Center meanwhile. The push's fence measures TikTok's fall from the last push's baseline, so
such an edit downwards was held back as unseen sales on every shop of the item for the hold's horizon when pushes
resumed. Turning push on, or re-authorizing a REVOKED or EXPIRED shop, now marks the shop's fence for a re-base
(`domain.services.inventory_push.rebase_fence`): the next push run reads TikTok's available of the shop's links,
then the shop's orders since its orders poll cursor, and only once that read is stored takes the reading as the
links' baseline, paired with the ledger's counts after it. The column keeps that fact across a restart (a worker
killed between the steps leaves it set: the next run does it all again) until the re-base's transaction clears it.

Additive, nullable: NULL is "no re-base pending", every shop's state before this migration. The downgrade drops it
(a pending re-base is then forgotten: the fence holds, as before).

Revision ID: 0064_push_rebase
Revises: 0063_moved_hold_parts
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0064_push_rebase"
down_revision: str | None = "0063_moved_hold_parts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shop_inventory_policies", sa.Column("rebase_pending_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shop_inventory_policies") as batch:
        batch.drop_column("rebase_pending_since")
