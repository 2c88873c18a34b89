"""Links are found by the item their hold or moved hold belongs to: indexes on `sku_links.held_item_id` and `moved_hold_item_id`.

fence61.

Each link a push reads subtracts the holds of its item's other links (`inventory_push_links._held_elsewhere`, a
correlated subquery per link read). A hold now counts for the item it recorded (`held_item_id`, migration 0056;
`domain.inventory.links.hold_item`) and a moved hold for its item (`moved_hold_item_id`, migration 0054): neither is
the item the holding link names, so without an index each link read scanned `sku_links`. Partial (`IS NOT NULL`):
few links hold anything, and both databases use such an index for the subquery's `= item` arm, as for
`unlinked_item_id` (migration 0025).

Revision ID: 0058_hold_item_indexes
Revises: 0057_shop_name_keys
Create Date: 2026-12-06 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0058_hold_item_indexes"
down_revision: str | None = "0057_shop_name_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("held_item_id", "moved_hold_item_id"):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            op.f(f"ix_sku_links_{column}"), "sku_links", [column], sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for column in ("moved_hold_item_id", "held_item_id"):
        op.drop_index(op.f(f"ix_sku_links_{column}"), table_name="sku_links")
