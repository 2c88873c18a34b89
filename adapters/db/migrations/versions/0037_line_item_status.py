"""Each line item's own status and cancellation: `line_items.display_status`, `cancel_reason`, `cancel_user`.

Until try-out 52 the catalog kept an order's status only: an order of three lines, one of which the seller cancelled
alone at TikTok (item-level cancellation, live-sync.md §3.2), showed three identical lines AWAITING_SHIPMENT on the
orders page, while the pool had released the cancelled one; someone packing from the page shipped three. TikTok gives
each line's status (Get Order List/Detail `line_items[].display_status`, tiktok-api.md §8) and, once it is cancelled,
`cancel_reason` and `cancel_user` (live-sync.md §3.2): the catalog now stores them with the line, and GraphQL's
`LineItem` answers them (`displayStatus`, `cancelReason`, `cancelUser`).

Three nullable columns, no backfill (the catalog never kept these; the pool's `order_line_stock` keeps the effect
applied, not TikTok's status): a line stored before this revision reads null (not given) until TikTok's next version of
its order is stored (a webhook, a poll or an import: its fingerprint, a digest of the stored values, differs from the
one stored, so the same version read again rewrites it too).

Revision ID: 0037_line_item_status
Revises: 0036_sku_links_unlinked_at
Create Date: 2026-12-05 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037_line_item_status"
down_revision: str | None = "0036_sku_links_unlinked_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("line_items", sa.Column("display_status", sa.String(length=32), nullable=True))
    op.add_column("line_items", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.add_column("line_items", sa.Column("cancel_user", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("line_items", schema=None) as batch:
        batch.drop_column("cancel_user")
        batch.drop_column("cancel_reason")
        batch.drop_column("display_status")
