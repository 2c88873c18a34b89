"""Shop names that differ only by zero-width characters are one name: `shops.name_key` recomputed, look-alikes numbered.

tryout62 F3: "Maple" + U+200D ZERO WIDTH JOINER (or + U+200C, + U+FE0F VARIATION SELECTOR-16, "Ma" + U+034F + "ple")
passed the look-alike rule (a joiner after a letter is part of a visible character) and the name key, so a merchant
had two shops shown "Maple" in every picker. The fold (`domain.shops.folded_shop_name`) now drops the zero-width
characters (format characters and the other Default_Ignorable_Code_Point code points); the keys stored were made
with the fold before (0057), so they are recomputed here with the running code's, and a shop whose name now folds as
an earlier one's of the same merchant is numbered as 0057 numbers ("Maple\u200d" created after "Maple" becomes
"Maple\u200d (2)"), by the same functions (`adapters.db.migrations.shop_names`), one WARNING line per shop renamed.
The unique index on (merchant_id, name_key) is dropped for the rewrite (a key recomputed may equal another row's
old key until that row is rewritten too) and made again after.

The downgrade recomputes the keys with 0057's fold (copied here: the code's is this revision's), which no two names
of a merchant can share once they differ under this one; the names this revision numbered keep their numbers.


Revision ID: 0061_shop_name_zero_width
Revises: 0060_authorization_push_enabled
Create Date: 2026-12-06 09:20:00
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.db.migrations.shop_names import keep_shop_names_distinct

revision: str = "0061_shop_name_zero_width"
down_revision: str | None = "0060_authorization_push_enabled"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_shops_merchant_id_name_key"
_BATCH = 1000


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="shops")
    keep_shop_names_distinct(op.get_bind(), "0061")
    _create_index()


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="shops")
    shops = sa.table("shops", sa.column("id", sa.String), sa.column("name", sa.String), sa.column("name_key", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(shops.c.id, shops.c.name)).all()
    changes = [{"shop_id": row.id, "key": _key_before(row.name)} for row in rows]
    statement = sa.update(shops).where(shops.c.id == sa.bindparam("shop_id")).values(name_key=sa.bindparam("key"))
    for start in range(0, len(changes), _BATCH):
        connection.execute(statement, changes[start : start + _BATCH])
    _create_index()


def _create_index() -> None:
    # partial, its predicate always true: a rename then stays a no-key update on PostgreSQL (0057, tables.py)
    where = sa.text("name_key IS NOT NULL")
    op.create_index(
        _INDEX, "shops", ["merchant_id", "name_key"], unique=True, postgresql_where=where, sqlite_where=where
    )


def _key_before(name: str) -> str:
    """0057's `shop_name_key`: trimmed, NFC, casefolded, NFC, whitespace runs one space; zero-width characters kept."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return hashlib.sha256(" ".join(folded.split()).encode()).hexdigest()
