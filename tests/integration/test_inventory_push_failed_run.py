"""A push run that meets an unexpected error (a database error while it records a product's result, a bug) hands the
claims it had not finished back before the error is raised: due after a failed push's backoff, the error noted
(`last_error`), so the actor's retry or another worker pushes them within seconds. Before, they stayed claimed until
their lease ran out (30 s), the retry finding nothing to claim, then waited for the scheduler's tick, while TikTok
showed the older, higher stock: an oversell window. The products the run finished stay as it finished them.

The database raises for real: a trigger the test creates refuses the record of one product's push. SQLite only: the
trigger is SQLite's (`RAISE(ABORT, ...)` in the trigger's body; PostgreSQL needs a plpgsql function for it), and what
is under test is the run's handling of the error, which is the same whichever database raised it."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from domain.inventory_push import push_backoff
from domain.services.inventory_push import push_shop
from tests.fakes import FakeClock
from tests.fixtures.servers import SQLITE_ONLY
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    now,
    outbox_row,
    updates,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push import pooled_product

pytestmark = SQLITE_ONLY

TRIGGER = "push_record_refused"
PUSH_LOG = "domain.services.inventory_push"


async def test_a_run_whose_record_fails_hands_its_unfinished_claim_back_after_a_backoff(
    world: PushWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # given two dirty products of a shop, and a database that refuses to record the second one as pushed
    shop = await imported_shop(world)
    product_ids = []
    for prefix in ("SB-00021-", "SB-00022-"):
        product, items, _ = await pooled_product(world, shop, prefix, on_hand=50)
        await change_stock(world, next(iter(items.values())), -5, [(shop.id, product["id"])])
        product_ids.append(product["id"])
    finished, failing = product_ids
    assert finished != failing and failing.isalnum()  # spelled into the trigger's SQL below
    async with world.db.write_sessionmaker() as session, session.begin():
        await session.execute(
            text(
                f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON inventory_push_outbox "
                f"WHEN NEW.tiktok_product_id = '{failing}' AND NEW.pushed_version > OLD.pushed_version "
                "BEGIN SELECT RAISE(ABORT, 'record refused'); END"
            )
        )
    clock = FakeClock(now())  # standing still: the backoff is exact

    # when the shop is pushed: both Update Inventory calls land, the second product's record fails
    with caplog.at_level(logging.WARNING, PUSH_LOG), pytest.raises(IntegrityError, match="record refused"):
        await push_shop(shop.id, world.deps(holder="failing", clock=clock))

    # then the error is raised, and the claim it left unfinished is back: no holder, no lease (not held for the
    # 30 s lease), due after a failed push's first backoff, the error noted
    row = await outbox_row(world.db, shop, failing)
    assert (row["claimed_by"], row["claimed_until"]) == (None, None), row
    assert row["dirty_version"] > row["pushed_version"] and row["attempts"] == 1, row
    assert row["next_attempt_at"] == clock.now() + push_backoff(1)
    assert row["last_error"].startswith("the push run failed: IntegrityError") and "record refused" in row["last_error"]
    # and the product the run finished stays as it finished it: pushed, not dirtied again
    done = await outbox_row(world.db, shop, finished)
    assert done["pushed_version"] == done["dirty_version"] and done["claimed_by"] is None, done
    assert done["attempts"] == 0 and done["last_error"] is None, done
    # and one WARNING says so, with the reason
    warned = [r.getMessage() for r in caplog.records if r.name == PUSH_LOG and r.levelno == logging.WARNING]
    assert len(warned) == 1 and "1 unfinished claim(s) handed back" in warned[0], warned
    assert "reason=IntegrityError" in warned[0] and "record refused" in warned[0], warned

    # when the database records again, and the backoff has passed
    async with world.db.write_sessionmaker() as session, session.begin():
        await session.execute(text(f"DROP TRIGGER {TRIGGER}"))
    clock.advance(push_backoff(1))
    report = await push_shop(shop.id, world.deps(holder="next", clock=clock))

    # then the next run claims and pushes it (the product finished before is not pushed again)
    assert (report.products, report.calls) == (1, 1)
    row = await outbox_row(world.db, shop, failing)
    assert row["pushed_version"] == row["dirty_version"] and row["claimed_by"] is None, row
    assert row["attempts"] == 0 and row["last_error"] is None, row
    assert len(updates(world.sandbox, shop, failing)) == 2
    assert len(updates(world.sandbox, shop, finished)) == 1
