"""Shop names hold 64 characters as a merchant counts them: `shops.name`, `authorization_requests.name` VARCHAR(1024).

The name's limit is 64 user-perceived characters (extended grapheme clusters, UAX #29: `domain.shops.parse_shop_name`),
but both columns were VARCHAR(64), which PostgreSQL counts in code points: a name of 10 family emojis (7 code points
each) or 33 flags (2 each) did not fit, and was refused as "too long to store". One user-perceived character is at
most ~11 code points in Unicode's emoji sequences (a kiss with two skin tones: 10; a family with four: 11), so 64 of
them fit in 1,024, which stays the bound in code points (`domain.shops.NAME_MAX_CODE_POINTS`: a cluster can otherwise
carry any number of combining marks). Widening a VARCHAR rewrites nothing on PostgreSQL; SQLite enforces no length,
and batch mode rebuilds the two tables with the new declaration.

Downgrade: names longer than 64 code points are cut to their first 64 (a release before this one refuses them).

Revision ID: 0022_shop_name_length
Revises: 0021_seeded_item
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_shop_name_length"
down_revision: str | None = "0021_seeded_item"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("shops", "authorization_requests")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch:
            batch.alter_column("name", existing_type=sa.String(length=64), type_=sa.String(length=1024))


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"UPDATE {table} SET name = substr(name, 1, 64) WHERE length(name) > 64")
        with op.batch_alter_table(table, schema=None) as batch:
            batch.alter_column("name", existing_type=sa.String(length=1024), type_=sa.String(length=64))
