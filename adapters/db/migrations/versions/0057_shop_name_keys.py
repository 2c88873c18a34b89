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
number whose name folds like no shop of the merchant's (`domain.shops.numbered_shop_name`, which cuts a long name to
keep within 64 characters). The backfill calls the domain's functions rather than copies (as 0015 does): the key is
only ever compared with what the running code computes.

The downgrade drops the index and the column; the names this revision numbered keep their numbers.

Revision ID: 0057_shop_name_keys
Revises: 0056_held_items
Create Date: 2026-12-06 05:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.shops import numbered_shop_name, shop_name_key

revision: str = "0057_shop_name_keys"
down_revision: str | None = "0056_held_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_INDEX = "ix_shops_merchant_id_name_key"


def upgrade() -> None:
    op.add_column("shops", sa.Column("name_key", sa.String(length=64), nullable=True))
    shops = sa.table(
        "shops",
        sa.column("id", sa.String),
        sa.column("merchant_id", sa.String),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(shops.c.id, shops.c.merchant_id, shops.c.name).order_by(
            shops.c.merchant_id, shops.c.created_at, shops.c.id
        )
    ).all()
    named = _named([(row.id, row.merchant_id, row.name) for row in rows])
    changes = [{"shop_id": shop_id, "name": name, "key": key} for shop_id, name, key in named]
    statement = (
        sa.update(shops)
        .where(shops.c.id == sa.bindparam("shop_id"))
        .values(name=sa.bindparam("name"), name_key=sa.bindparam("key"))
    )
    for start in range(0, len(changes), _BATCH):
        connection.execute(statement, changes[start : start + _BATCH])
    with op.batch_alter_table("shops", schema=None) as batch:
        batch.alter_column("name_key", existing_type=sa.String(length=64), nullable=False)
    # partial, its predicate always true: a rename then stays a no-key update on PostgreSQL (tables.py says why)
    where = sa.text("name_key IS NOT NULL")
    op.create_index(
        _INDEX, "shops", ["merchant_id", "name_key"], unique=True, postgresql_where=where, sqlite_where=where
    )


def _named(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(shop id, name, name key) of every shop, `rows` (shop id, merchant id, name) in merchant then creation order: the first shop of a folded
    name keeps it, a later one takes the first "Name (n)" (n >= 2) whose key no shop of the merchant has (neither an
    original name nor one given here)."""
    named: list[tuple[str, str, str]] = []
    by_merchant: dict[str, list[tuple[str, str]]] = {}
    for shop_id, merchant_id, name in rows:
        by_merchant.setdefault(merchant_id, []).append((shop_id, name))
    for shops in by_merchant.values():
        taken = {shop_name_key(name) for _, name in shops}  # every original name stays the first holder's
        kept: set[str] = set()
        for shop_id, name in shops:
            key = shop_name_key(name)
            if key not in kept:
                kept.add(key)
                named.append((shop_id, name, key))
                continue
            number = 2
            while shop_name_key(numbered_shop_name(name, number)) in taken:
                number += 1
            numbered = numbered_shop_name(name, number)
            taken.add(shop_name_key(numbered))
            named.append((shop_id, numbered, shop_name_key(numbered)))
    return named


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="shops")
    with op.batch_alter_table("shops", schema=None) as batch:
        batch.drop_column("name_key")
