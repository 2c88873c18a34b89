"""Every foreign key's column leads an index, so that a delete of the row it names finds the rows naming it without
scanning their table (for each row deleted: a shop's delete or a relink removing n items beside m rows cost n x m).
The one exception is stated with its reason."""

from __future__ import annotations

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

from adapters.db.tables import metadata

# (table, column): a foreign key left without an index, and why.
UNINDEXED = {
    # A shop's delete sets the shop of its movements to null (they stay in the items' history): one scan of the
    # table per shop deleted, where an index would cost every movement written, the pool's most frequent insert.
    ("inventory_movements", "shop_id"),
}


def _leading_columns() -> set[tuple[str, str]]:
    leading = set()
    for table in metadata.tables.values():
        for index in table.indexes:
            leading.add((table.name, next(iter(index.columns)).name))
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint) and constraint.columns:
                leading.add((table.name, next(iter(constraint.columns)).name))
    return leading


def test_every_foreign_key_column_leads_an_index_but_the_stated_ones() -> None:
    # given the tables in code
    foreign_keys = {(fk.parent.table.name, fk.parent.name) for t in metadata.tables.values() for fk in t.foreign_keys}
    # when the foreign keys whose column leads no index, primary key or unique constraint are listed
    unindexed = foreign_keys - _leading_columns()
    # then they are exactly the exceptions stated above
    assert unindexed == UNINDEXED
