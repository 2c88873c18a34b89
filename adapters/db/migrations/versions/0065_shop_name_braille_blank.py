"""Shop names whose words stand apart by U+2800 BRAILLE PATTERN BLANK are one name with the spaced one: `shops.name_key` recomputed, look-alikes numbered.

tryout65 (review63 F6's leftover): U+2800 renders as a blank the width of a letter, so "Maple" + U+2800 + "US" showed
as "Maple US" beside a shop "Maple US" in every picker, yet the fold (`domain.shops.folded_shop_name`) took it for a
letter: two of a merchant's shops looked alike. The fold now takes U+2800 as a space (a run of them and of spaces is
one space, at either end none); the keys stored were made with 0061's fold, so they are recomputed here with the
running code's, and a shop whose name now folds as an earlier one's of the same merchant is numbered as 0057 and
0061 number ("Maple\u2800US" created after "Maple US" becomes "Maple\u2800US (2)"), by the same functions
(`adapters.db.migrations.shop_names`), one WARNING line per shop renamed. The unique index on (merchant_id,
name_key) is dropped for the rewrite and made again after, as in 0061.

The downgrade recomputes the keys with 0061's fold (copied here: the code's is this revision's), which no two names
of a merchant can share once they differ under this one; the names this revision numbered keep their numbers.


Revision ID: 0065_shop_name_braille_blank
Revises: 0064_push_rebase
Create Date: 2026-12-06 17:50:00
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.db.migrations.shop_names import keep_shop_names_distinct
from domain.text import is_zero_width

revision: str = "0065_shop_name_braille_blank"
down_revision: str | None = "0064_push_rebase"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_shops_merchant_id_name_key"
_BATCH = 1000


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="shops")
    keep_shop_names_distinct(op.get_bind(), "0065")
    _create_index()


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="shops")
    shops = sa.table(
        "shops", sa.column("id", sa.String), sa.column("name", sa.String), sa.column("name_key", sa.String)
    )
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
    """0061's `shop_name_key`: trimmed, NFC, casefolded, NFC, zero-width characters dropped, NFC, whitespace runs one
    space; U+2800 kept as a character."""
    nfc = unicodedata.normalize
    folded = nfc("NFC", nfc("NFC", name).casefold())
    visible = nfc("NFC", "".join(ch for ch in folded if not is_zero_width(ch)))
    return hashlib.sha256(" ".join(visible.split()).encode()).hexdigest()
