"""A ledger line left out of its SKU's seed says of which item: `order_line_stock.left_out_of_seed`.

An open order made before the stock read that seeded an item (TikTok's available had already lost its units), first
seen while its SKU was away from that item (its seller SKU renamed to another item's, or unlinked by hand), reserves
there as any sale or waits for a link. Back on the seeded item, it must count into the seed as it would have first
seen there (on-hand and reserved + its units, `available` unchanged); a line reserved in the seed before the SKU went
away counted already and moves as it is. The two looked alike in the ledger, so the first one moved back as a plain
reservation: the item one unit short for good (review34: 10 on hand, 1 reserved, 9 available instead of 11/1/10).
This column marks the first kind (`domain.inventory.ledger.left_out_of_seed`) until it is counted in.

Existing rows get null (nothing owed: relinked as before). No rule tells the two kinds apart among them: a line counted
in a seed shows no mark either (one a renamed SKU's new item counted in `seed_on_hand`'s open units has no movement of
its own, and one moved since sits on another item or waits as the other kind does). Null keeps the rule those rows
were written under: at worst such a line stays one unit short, as before; a guessed mark could count a unit twice
(an oversell). Rows a release before this one writes (a rolling deploy) get null too.

Revision ID: 0023_left_out_of_seed
Revises: 0022_shop_name_length
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_left_out_of_seed"
down_revision: str | None = "0022_shop_name_length"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_line_stock", sa.Column("left_out_of_seed", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_line_stock", schema=None) as batch:
        batch.drop_column("left_out_of_seed")
