"""A push writes what it is about to send before it sends it: `sku_links.push_intent`.

A worker that dies after TikTok applied an Update Inventory and before it recorded TikTok's answer (SIGKILL, or a
stop past its wait) left the link's baselines (`pushed_quantity`, `ingested_at_push`, ...) at the push before: the
next push's fence measured TikTok's new value against them and took the difference for sales it had not seen (the
pool's stock fell: units held back from every shop for the fence's horizon) or for units restored (the pool's stock
rose: sales made since went back on sale). A fenced push now commits, before the call, the record a success would
make (JSON: quantity, at, held, held_since, ingested, released, restored; `domain.inventory_push.PushIntent`); the
record of TikTok's answer clears it, and the next push settles one left behind (`domain.inventory_push.settled`).
Null: nothing in flight, or a row a release before this one wrote (a rolling deploy: it never writes one).

Revision ID: 0024_push_intent
Revises: 0023_left_out_of_seed
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_push_intent"
down_revision: str | None = "0023_left_out_of_seed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("push_intent", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("push_intent")
