"""The shop names migrations keep distinct per merchant (0057, 0061): each shop's `name_key` recomputed with the
running code's fold (`domain.shops.shop_name_key`), the later shops of a name that folds alike numbered
(`domain.shops.distinct_shop_names`), and one WARNING line per shop renamed, for the operator to tell its merchant
(tryout62 M3: `shopbridge migrate` named none of the shops 0057 renamed)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.shops import distinct_shop_names

_BATCH = 1000
log = logging.getLogger("shopbridge.migrate")


def keep_shop_names_distinct(connection: Connection, revision: str) -> int:
    """Recompute every shop's `name_key` and number the shops whose name now folds as an earlier one's of the same
    merchant (creation order: `created_at`, then `id`), writing only the rows that change; `revision` names the
    migration in the log lines (`migration 0057 renamed shop <id> of merchant <id> from '…' to '…'`). The caller
    drops the unique index on (merchant_id, name_key) first when keys already stored may collide midway. Returns how
    many shops were renamed."""
    shops = sa.table(
        "shops",
        sa.column("id", sa.String),
        sa.column("merchant_id", sa.String),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    rows = connection.execute(
        sa.select(shops.c.id, shops.c.merchant_id, shops.c.name, shops.c.name_key).order_by(
            shops.c.merchant_id, shops.c.created_at, shops.c.id
        )
    ).all()
    stored = {row.id: row for row in rows}
    named = distinct_shop_names([(row.id, row.merchant_id, row.name) for row in rows])
    changes = [
        {"shop_id": shop_id, "name": name, "key": key}
        for shop_id, name, key in named
        if (name, key) != (stored[shop_id].name, stored[shop_id].name_key)
    ]
    for change in changes:
        old = stored[change["shop_id"]]
        if change["name"] != old.name:
            log.warning(
                "migration %s renamed shop %s of merchant %s from %r to %r (its name folds as an earlier shop's of "
                "the merchant: no two of a merchant's shops share a name): tell the merchant",
                revision, old.id, old.merchant_id, old.name, change["name"],
            )  # fmt: skip
    statement = (
        sa.update(shops)
        .where(shops.c.id == sa.bindparam("shop_id"))
        .values(name=sa.bindparam("name"), name_key=sa.bindparam("key"))
    )
    for start in range(0, len(changes), _BATCH):
        connection.execute(statement, changes[start : start + _BATCH])
    return sum(1 for change in changes if change["name"] != stored[change["shop_id"]].name)
