"""The pool's concurrency test (issue 8, "Concurrency"), on SQLite and PostgreSQL: 200 order events for one SKU from
three shops, duplicated and shuffled, applied at once by four worker processes. Whatever the interleaving, the
counters end equal to the ledger: reserved is the sum of RESERVED lines, on-hand dropped by exactly the DEDUCTED
ones, every line is in a state its order's newest status allows, the movements add up to the counters, and each
shop's running units of the SKU (`sku_ledger_units`) to its lines."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.tables import inventory_items, inventory_movements, order_line_stock
from domain.catalog import Money, Product, Sku, WarehouseStock
from domain.inventory.ledger import StockEffect, wanted_effect
from tests.fixtures.processes import parent_death_signal, register, unregister
from tests.integration.db_samples import NOW, add_shop, ledger_units, make_shop

REPO = Path(__file__).resolve().parents[2]
WORKERS = 4
PATHS = (
    ("UNPAID", "AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED"),
    ("UNPAID", "CANCELLED"),
    ("ON_HOLD", "AWAITING_SHIPMENT"),
    ("AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT"),
    ("UNPAID",),
    ("AWAITING_SHIPMENT", "CANCELLED"),
)


def order_events(shop_ids: list[str], rng: random.Random) -> list[dict[str, object]]:
    """Each order's statuses over time, one event per status, about 200 in all before duplicates; every order is
    created after the stock that seeded the item was read (an older one is already outside it: not what this
    test is about)."""
    after_seeding = datetime.now(UTC) + timedelta(minutes=1)
    events: list[dict[str, object]] = []
    n = 0
    while len(events) < 200:
        shop = shop_ids[n % len(shop_ids)]
        order_id = f"o{n}"
        lines = [f"{order_id}-{k}" for k in range(rng.randint(1, 3))]
        for step, status in enumerate(rng.choice(PATHS)):
            at = after_seeding + timedelta(minutes=n, seconds=step)
            events.append({"shop": shop, "order": order_id, "sku": f"sku-{shop}", "lines": lines,
                           "status": status, "at": at.isoformat()})  # fmt: skip
        n += 1
    return events


async def test_concurrent_workers_keep_the_counters_equal_to_the_ledger(
    database: Database, cipher: TokenCipher, database_url: str, tmp_path: Path
) -> None:
    # given one merchant SKU on three shops, seeded with 100 units by the first
    uows = uow_factory(database, cipher)
    shops = [await add_shop(uows, make_shop()) for _ in range(3)]
    for shop in shops:
        sku = Sku(f"sku-{shop.id}", "POOL-1", Money(Decimal(1), "USD"), (WarehouseStock("wh", 100),))
        async with uows() as uow:
            product = Product("p", "Tee", "ACTIVATE", NOW, NOW, (sku,))
            await uow.catalog.upsert_products(shop.id, [product])
            await uow.inventory.auto_link(shop.id, ["p"])
            await uow.commit()
    # and 200 order events of it, a fifth of them twice, in random order, dealt to four workers
    rng = random.Random(8)
    events = order_events([s.id for s in shops], rng)
    newest = {}
    for event in events:
        newest[(event["shop"], event["order"])] = event  # statuses come in time order per order
    dealt = events + rng.sample(events, len(events) // 5)
    rng.shuffle(dealt)
    go = tmp_path / "go"
    workers = []
    for index in range(WORKERS):
        share = tmp_path / f"events-{index}.json"
        share.write_text(json.dumps(dealt[index::WORKERS]))
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.pool_apply_worker", database_url, str(share), str(go)],
            cwd=REPO, start_new_session=True, preexec_fn=parent_death_signal(15),
        )  # fmt: skip
        workers.append((process, register(process.pid, "pool-worker")))

    # when they all go at once
    go.touch()
    try:
        codes = [process.wait(timeout=240) for process, _ in workers]
    finally:
        for process, record in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            unregister(record)
    assert codes == [0] * WORKERS

    # then the counters equal the ledger
    async with database.read_sessionmaker() as session:
        item = (await session.execute(select(inventory_items))).mappings().one()
        lines = (await session.execute(select(order_line_stock))).mappings().all()
        moved = (
            await session.execute(
                select(func.sum(inventory_movements.c.on_hand_delta), func.sum(inventory_movements.c.reserved_delta))
            )
        ).one()
    reserved = sum(line["quantity"] for line in lines if line["state"] == "RESERVED")
    deducted = sum(line["quantity"] for line in lines if line["state"] == "DEDUCTED")
    assert item["reserved"] == reserved
    assert item["on_hand"] == 100 - deducted
    assert (moved[0], moved[1]) == (item["on_hand"], item["reserved"])
    # every line is in a state its order's newest status allows
    allowed = {
        StockEffect.RESERVE: {"RESERVED"},
        StockEffect.DEDUCT: {"DEDUCTED", "HISTORICAL"},
        StockEffect.RELEASE: {"RELEASED", "HISTORICAL"},
    }
    assert len(lines) == sum(len(e["lines"]) for e in newest.values())  # type: ignore[arg-type]
    for line in lines:
        last = newest[(line["shop_id"], line["tiktok_order_id"])]
        wanted = wanted_effect(str(last["status"]))
        assert wanted is not None and line["state"] in allowed[wanted], (line, last)
        if line["state"] == "RESERVED":  # a final state stays as it was first reached; an open one follows TikTok
            assert line["order_updated_at"].isoformat() == last["at"]
    assert reserved > 0 and deducted > 0  # the run exercised both
    # and each shop's running units of the SKU (the push's fence reads them) equal its lines' sums
    running, summed = await ledger_units(database)
    assert running == summed and len(running) == 3
