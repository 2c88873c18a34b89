"""No two of a merchant's shops share a name: `shops.name_key`, UNIQUE with `merchant_id`; duplicates numbered.

tryout60 F3: two shops of one merchant could carry one custom name ("for easy identification", the seed says), and
every picker showed two identical entries. The name is now compared trimmed, in NFC and caseless
(`domain.shops.folded_shop_name`); `name_key` is its SHA-256 (`domain.shops.shop_name_key`), computed in Python when
SqlShopRepository writes the row, because Python's case folding is not SQL's (SQLite's lower() folds ASCII only,
PostgreSQL's follows the collation, neither folds "ß" to "ss"), so an expression index could not hold the same rule
on both databases. The unique index is the last guard against two concurrent renames or connects on PostgreSQL; it
is partial (`WHERE name_key IS NOT NULL`, always true) so that PostgreSQL does not count it as a key a foreign key
could use: an UPDATE changing such a key takes the row FOR UPDATE, and a rename would wait for every import batch
holding the shop FOR KEY SHARE.

Duplicates already stored are renamed here, deterministically: per merchant, in creation order (`created_at`, then
`id`), the first shop of a folded name keeps it; each later one becomes "Name (2)", "Name (3)" ... , the first
number whose name folds like no shop of the merchant's (`domain.shops.distinct_shop_names`, `numbered_shop_name`,
which cuts a long name to keep within 64 characters), each said in a WARNING line naming the shop, the merchant, the
old and the new name (`adapters.db.migrations.shop_names`; tryout62 M3: `migrate` named none). The backfill calls
the domain's functions rather than copies (as 0015 does): the key is only ever compared with what the running code
computes (0061 recomputes the keys for the fold's later change).

The downgrade drops the index and the column; the names this revision numbered keep their numbers.

Revision ID: 0057_shop_name_keys
Revises: 0056_held_items
Create Date: 2026-12-06 05:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.db.migrations.shop_names import keep_shop_names_distinct

revision: str = "0057_shop_name_keys"
down_revision: str | None = "0056_held_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_shops_merchant_id_name_key"


def upgrade() -> None:
    op.add_column("shops", sa.Column("name_key", sa.String(length=64), nullable=True))
    keep_shop_names_distinct(op.get_bind(), "0057")  # one WARNING line per shop renamed (tryout62 M3)
    with op.batch_alter_table("shops", schema=None) as batch:
        batch.alter_column("name_key", existing_type=sa.String(length=64), nullable=False)
    # partial, its predicate always true: a rename then stays a no-key update on PostgreSQL (tables.py says why)
    where = sa.text("name_key IS NOT NULL")
    op.create_index(
        _INDEX, "shops", ["merchant_id", "name_key"], unique=True, postgresql_where=where, sqlite_where=where
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="shops")
    with op.batch_alter_table("shops", schema=None) as batch:
        batch.drop_column("name_key")
