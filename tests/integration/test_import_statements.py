"""An orders import's statements on PostgreSQL, counted: the work of a batch is a fixed number of statement
executions, not one per SKU or per row (each is a round trip and a run of the server's executor).

A small shop (benchmark 1's engine side at the suite's size, `bench.import_bench.one_round` with the sync alone: a
products import that links and seeds items, then the orders of the last 30 days) is imported into the suite's
PostgreSQL, every statement the engine sends counted by a listener on SQLAlchemy's engines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.harness import Harness
from bench.import_bench import Sizes, one_round
from tests.fixtures.servers import DatabasesAhead, PostgresServer

SIZES = Sizes(products=50, orders=300, runs=1)
_ADDS_TO_INGESTED = re.compile(r"SET ingested_at_push\s*=")


@pytest.fixture
def harness(postgres_server: PostgresServer, postgres_template: DatabasesAhead) -> Iterator[Harness]:
    with Harness(postgres=postgres_server, postgres_template=postgres_template.template) as harness:
        yield harness


async def _imported_seen_by(harness: Harness, record: Callable[..., None]) -> dict[str, Any]:
    """The sides of one round of the engine's import (products, then orders) on PostgreSQL, `record` listening to
    every statement sent (SQLAlchemy's `before_cursor_execute`) while it runs."""
    event.listen(Engine, "before_cursor_execute", record)
    try:
        return await one_round(harness, "postgres", SIZES, order=("sync",))
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_a_batchs_seeded_units_reach_their_links_in_one_execution(harness: Harness) -> None:
    """Lines of open orders the seeding stock read left out count as units the link's last push had seen
    (`ledger._counted_before_push`, `sku_links.ingested_at_push`): a batch of 500 orders names ~170 such SKUs at
    benchmark 1's size. Sent as an executemany, PostgreSQL ran the UPDATE once per SKU (0.21 s of the server's CPU in
    an import of 14,935 orders, bench/README.md)."""
    executions: list[int] = []  # per UPDATE of the count sent: the rows it ran for

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().startswith("UPDATE sku_links") and _ADDS_TO_INGESTED.search(statement):
            executions.append(len(parameters) if executemany else 1)

    # when the shop's products, then its orders, are imported
    sides = await _imported_seen_by(harness, record)

    # then the import had seeded units to count (or this test proves nothing), each batch's in one execution
    stored = sides["sync"]["stored"]["same"]
    assert stored["orders"] > 0 and stored.get("order_line_stock.RESERVED", 0) > 0, stored
    assert executions, "no batch counted seeded units: the data no longer has the case"
    assert executions == [1] * len(executions), executions


async def test_a_batchs_transaction_takes_each_turn_once_and_forgets_marks_in_its_fingerprint_read(
    harness: Harness,
) -> None:
    """Each statement of a batch's transaction is a round trip (stop 66: eleven small ones besides the COPYs, 2.5 s
    of benchmark 2's 26 instrumented). Two of them added nothing: the ledger took the turn of the shop's order writers
    again (`catalog.hold_writers`, re-entrant: the catalog's upsert held it already), and the unreadable marks of the
    batch's records were forgotten by a DELETE of their own. Now the turn is taken once a transaction, and the marks'
    DELETE travels in the fingerprint read (a data-modifying CTE) on PostgreSQL."""
    open_: dict[Any, list[str]] = {}  # per connection, the statements of its transaction under way
    transactions: list[list[str]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        locks = statement.lstrip().startswith("SELECT pg_advisory_xact_lock")
        open_.setdefault(conn, []).append(f"{statement} {parameters!r}" if locks else statement)

    def ended(conn: Any) -> None:
        transactions.append(open_.pop(conn, []))

    event.listen(Engine, "before_cursor_execute", record)
    event.listen(Engine, "commit", ended)
    event.listen(Engine, "rollback", ended)
    try:
        # when the shop's products, then its orders, are imported
        sides = await one_round(harness, "postgres", SIZES, order=("sync",))
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        event.remove(Engine, "commit", ended)
        event.remove(Engine, "rollback", ended)

    assert sides["sync"]["stored"]["same"]["orders"] > 0
    batches = [t for t in transactions if any("unnest" in s and "AS stored" in s for s in t)]  # (the fingerprint read)
    assert len(batches) >= 2, "not a batch of products and one of orders seen: the test proves nothing"
    for statements in transactions:
        # then no transaction takes a turn it holds already
        turns = [s for s in statements if s.lstrip().startswith("SELECT pg_advisory_xact_lock(")]
        assert len(turns) == len(set(turns)), turns
    for statements in batches:
        # and each batch's marks are forgotten with its fingerprints, not by a DELETE of their own
        assert not [s for s in statements if s.lstrip().startswith("DELETE FROM unreadable_records")], statements
        assert any("DELETE FROM unreadable_records" in s and "stored" in s for s in statements), statements


async def test_a_batchs_links_reach_sku_links_in_one_statement_not_one_per_row(harness: Harness) -> None:
    """A products import links each new SKU (`links.upsert_links`): a batch of 2,000 products writes ~6,000 link rows.
    Sent as an executemany of the upsert, PostgreSQL ran the statement once per row (14.0 s of a 2,000-product first
    import's 46.8 s at load 17, bench/README.md "Benchmark 1's products import, stop 73"); now the rows travel by COPY
    into a temporary table and one INSERT ... SELECT moves them, with the same rule."""
    per_row: list[int] = []  # per upsert of link rows sent as an executemany: its rows

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if executemany and statement.lstrip().startswith("INSERT INTO sku_links"):
            per_row.append(len(parameters))

    # when the shop's products, then its orders, are imported
    sides = await _imported_seen_by(harness, record)

    # then every SKU of a live product was linked (AUTO: the seller SKU's item, or AMBIGUOUS...), none row by row
    stored = sides["sync"]["stored"]["same"]
    assert stored["skus"] > 0 and stored["sku_links"] > 0 and stored.get("sku_links.LINKED", 0) > 0, stored
    assert per_row == [], per_row
