"""A worker process of the pool's concurrency test: applies its share of order events, each in its own transaction,
exactly as the import and webhook paths do (catalog upsert, then the ledger, one unit of work).

    python -m tests.integration.pool_apply_worker <database url> <events.json> <go file>

It waits until the go file exists, so that every worker starts at once.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.catalog import LineItem, Money, Order

USD = Money(Decimal("10"), "USD")


def order_of(event: dict[str, object]) -> Order:
    at = datetime.fromisoformat(str(event["at"]))
    lines = tuple(
        LineItem(str(line), str(event["sku"]), "p", "POOL-1", "Tee", 1, USD)
        for line in event["lines"]  # type: ignore[attr-defined]
    )
    return Order(str(event["order"]), str(event["status"]), at, at, USD, lines)


async def main(url: str, events_file: str, go_file: str) -> None:
    events = json.loads(Path(events_file).read_text())
    deadline = time.monotonic() + 60
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        await asyncio.sleep(0.01)
    db = Database(url)
    uows = uow_factory(db, TokenCipher(Fernet.generate_key().decode()))
    try:
        for event in events:
            order = order_of(event)
            async with uows() as uow:
                await uow.catalog.upsert_orders(str(event["shop"]), [order])
                await uow.inventory.apply_orders(str(event["shop"]), [order])
                await uow.commit()
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
