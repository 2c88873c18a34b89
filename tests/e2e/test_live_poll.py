"""The polling backstop and the token sweep, through GraphQL over real HTTP, with no webhooks at all.

Shopbridge runs its embedded worker pool with the scheduler on and a short poll interval; the sandbox plays
TikTok. Waits are on observable events (a `shopUpdated` message, a row in the database), never on sleeps.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa

from domain.tokens import refresh_due_at
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.sync import settings_env
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, wait_until
from tests.fixtures.workers import spawn_worker, stop_workers

SHOP_UPDATED = """subscription($shopId: ID!) { shopUpdated(shopId: $shopId) {
  id name status orderCount productCount lastSyncedAt expiresAt attention { code message at } } }"""
ORDERS = """query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId status } } }
  syncTasks(first: 50) { edges { node { kind trigger status created updated } } } } }"""
SHOP = "query($id: ID!) { shop(id: $id) { status lastSyncedAt attention { code message at } } }"
RENAME = """mutation($id: ID!) { shopRename(input: {shopId: $id, name: "Renamed"}) { userErrors { code } } }"""


def live(app_factory: Callable[..., ShopbridgeServer], **overrides: Any) -> ShopbridgeServer:
    """A Shopbridge whose scheduler polls every second; webhooks play no part."""
    settings: dict[str, Any] = {
        "scheduler_enabled": True,
        "poll_interval_seconds": 1.0,
        "poll_settle_seconds": 0.0,
        "scheduler_tick": 0.2,
    }
    return app_factory(**{**settings, **overrides})


def db_row(app: ShopbridgeServer, sql: str, **params: Any) -> Any:
    with app._db.connect() as conn:
        return conn.execute(sa.text(sql), params).mappings().first()


async def next_shop(
    op: Any, until: Callable[[dict[str, Any]], bool], timeout: float = DEADLINE_SECONDS
) -> dict[str, Any]:
    """The first `shopUpdated` message that satisfies `until`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no shopUpdated message satisfied the condition")
        shop = (await op.next(timeout=left))["shopUpdated"]
        if until(shop):
            return dict(shop)


def test_without_webhooks_a_new_and_a_changed_order_arrive_through_a_poll(app_factory) -> None:
    # given a connected shop, imported, with the scheduler polling every second and no webhooks at all
    app = live(app_factory)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    newest = max(app.sandbox.control("GET", f"/shops/{tiktok_id}/orders")["orders"], key=lambda o: o["create_time"])
    new_status = "CANCELLED" if newest["status"] != "CANCELLED" else "DELIVERED"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m1") as op:
            first = await next_shop(op, lambda s: True)
            # when, at TikTok, a buyer places an order and an existing order is cancelled
            changed = await asyncio.to_thread(
                app.sandbox.control,
                "POST",
                f"/shops/{tiktok_id}/orders",
                {"orders": [{}, {"id": newest["id"], "status": new_status}]},
            )
            # then, without any webhook or syncStart, the shop shows one more order
            later = await next_shop(op, lambda s: s["orderCount"] == first["orderCount"] + 1)
        return first, later, changed["orders"]

    _first, later, changed = asyncio.run(scenario())
    view = app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]
    statuses = {edge["node"]["tiktokOrderId"]: edge["node"]["status"] for edge in view["orders"]["edges"]}
    assert statuses[changed[0]["id"]] == "AWAITING_SHIPMENT"
    assert statuses[newest["id"]] == new_status
    # and the polls are in the Task Center as SCHEDULED tasks; the one that found the changes says so
    polls = [e["node"] for e in view["syncTasks"]["edges"] if e["node"]["trigger"] == "SCHEDULED"]
    assert any(p["kind"] == "ORDERS" and p["created"] == 1 and p["updated"] == 1 for p in polls), polls
    # and lastSyncedAt moves with the polls
    wait_until(
        lambda: app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"]["lastSyncedAt"] > later["lastSyncedAt"],
        what="lastSyncedAt to move with a poll",
    )


@subject_not_the_database("the attention rule of an unreadable order")  # its SQL: tests/integration/test_db_catalog.py
def test_an_order_a_poll_cannot_read_stays_in_attention_after_the_polls_overlap_moved_past_it(app_factory) -> None:
    # given an imported shop polled every second, with a one-second overlap, and no webhooks
    app = live(app_factory, poll_overlap_seconds=1.0)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    # when, at TikTok, two orders are placed, one of which TikTok serves with `create_time: 0`
    placed = app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{}, {"create_time": 0}]})
    good, bad = (order["id"] for order in placed["orders"])
    polls = "SELECT failed, finished_at FROM sync_tasks WHERE shop_id = :shop AND kind = 'ORDERS' AND \"trigger\" = \
        'SCHEDULED' AND status = 'SUCCEEDED' AND {} ORDER BY finished_at DESC LIMIT 1"
    internal = _internal(shop["id"])
    wait_until(lambda: db_row(app, polls.format("failed > 0"), shop=internal), what="a poll that failed the order")
    failed_at = db_row(app, polls.format("failed > 0"), shop=internal)["finished_at"]
    # and a later poll no longer reads it (its update_time left the overlap: try-out livesync52, defect 5)
    wait_until(
        lambda: db_row(app, polls.format("failed = 0 AND finished_at > :at"), shop=internal, at=failed_at),
        what="a later poll that read nothing unreadable",
    )
    view = app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]
    stored = {edge["node"]["tiktokOrderId"] for edge in view["orders"]["edges"]}
    assert good in stored and bad not in stored
    # then the shop still shows it: one record (however many polls failed it), with TikTok's id and the reason
    attention = app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"]["attention"]
    (unreadable,) = [a for a in attention if a["code"] == "RECORDS_UNREADABLE"]
    assert unreadable["message"].startswith("1 record TikTok sent could not be read"), unreadable
    assert f"order {bad}: create_time is 0: TikTok gave no creation time" in unreadable["message"], unreadable


def test_shop_updated_sends_a_message_when_a_poll_that_found_nothing_moves_only_last_synced_at(app_factory) -> None:
    # given an imported shop polled every second, and a subscriber to it; TikTok has nothing new
    app = live(app_factory)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()

    async def scenario() -> None:
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m1") as op:
            before = await next_shop(op, lambda s: s["lastSyncedAt"] is not None)

            def only_synced_later(now: dict[str, Any]) -> bool:
                nonlocal before
                same = {k: v for k, v in now.items() if k != "lastSyncedAt"} == {
                    k: v for k, v in before.items() if k != "lastSyncedAt"
                }
                if same and now["lastSyncedAt"] > before["lastSyncedAt"]:
                    return True
                before = now  # something else changed too (e.g. an attention): wait for the next poll
                return False

            # when a poll finds nothing, then a message comes in which only lastSyncedAt moved (README: "when
            # the last sync changes"), whatever else was sent before it
            await next_shop(op, only_synced_later, timeout=60)

    asyncio.run(scenario())


def test_the_token_sweep_refreshes_before_expiry_and_a_dead_refresh_token_revokes(app_factory) -> None:
    # given a shop whose access tokens live 12 seconds (refreshed 6 s ahead: half the lifetime, the cap of the
    # lead; each refresh is a wait of that long); polls out of the way (hourly)
    app = live(app_factory, access_token_ttl=12, poll_interval_seconds=3600.0)
    with log_lines("domain.services.polling") as lines:
        shop = app.connect_shop("m1", "us-local", "US")
        shop_id = _internal(shop["id"])
        # (read before the imports end: on a loaded machine they can outlast the lead, and the sweep refresh first)
        first = db_row(app, "SELECT access_token_expires_at, authorized_at FROM shops WHERE id = :id", id=shop_id)
        first_expiry = _aware(first["access_token_expires_at"])
        app.wait_for_idle_sync()
        # when time passes, the sweep claims the refresh (at the time it decides, one line per claim) and then
        # refreshes. The first claim is read from its line, not from `access_token_refresh_claimed_at`: that column
        # keeps only the latest claim, and every 6 s a new pair is claimed again. An import that outlasts the first
        # refresh (in CI, one retried 10-20 s after a deadlock) left the test reading the third claim, 6 s after
        # the first token's expiry, though each was claimed on time.
        claim = lines.wait_for(f"claimed the token refresh of shop {shop_id} at ")
    parsed = re.fullmatch(r".* at (\S+): due at \S+, its access token expires at (\S+)", claim)
    assert parsed is not None, claim
    claimed_at, expires_at = (_aware(value) for value in parsed.groups())

    def refreshed_row() -> Any:
        return db_row(
            app,
            "SELECT tokens_refreshed_at, access_token_expires_at FROM shops "
            "WHERE id = :id AND tokens_refreshed_at IS NOT NULL",
            id=shop_id,
        )

    refreshed = wait_until(refreshed_row, what="a token refresh")
    # then the sweep's first claim was of the first token (nothing renewed it before), chosen once due and before the
    # expiry. When the refresh lands after that choice depends on the machine (a worker thread to run it, TikTok's
    # answer; at load 20 it landed after the 20 s token had expired, which a refresh survives: it takes the refresh
    # token), so the rule is checked where it is applied, on the time the tick claimed the refresh.
    assert expires_at == first_expiry
    due_at = refresh_due_at(shop_id, first_expiry, _aware(first["authorized_at"]))
    assert due_at <= claimed_at < first_expiry
    assert _aware(refreshed["tokens_refreshed_at"]) >= claimed_at
    assert _aware(refreshed["access_token_expires_at"]) > first_expiry
    assert app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
    counts = app.sandbox.control("GET", "/counters")["by_path"]
    assert counts["/api/v2/token/refresh"].get("ok", 0) >= 1

    async def revoked() -> dict[str, Any]:
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m1") as op:
            await next_shop(op, lambda s: True)
            # when the seller's grant dies at TikTok (the refresh token with it)
            await asyncio.to_thread(app.sandbox.control, "POST", "/sellers/us-local/revoke")
            # then the next refresh is refused and the shop is revoked, with what to do about it
            return await next_shop(op, lambda s: s["status"] == "REVOKED")

    shop_now = asyncio.run(revoked())
    assert [a["code"] for a in shop_now["attention"]] == ["REAUTHORIZATION_REQUIRED"]


def test_attention_warns_of_the_authorization_ending_and_shop_updated_follows_a_rename(app_factory) -> None:
    # given a shop whose authorization (refresh token) ends in 10 days
    app = live(app_factory, refresh_token_ttl=10 * 86400, poll_interval_seconds=3600.0)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    # then its attention says so, dated when it ends
    attention = app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"]["attention"]
    assert [a["code"] for a in attention] == ["EXPIRING_SOON"]
    assert attention[0]["at"] == shop["expiresAt"] and "10 days" in attention[0]["message"]

    async def renamed() -> dict[str, Any]:
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m1") as op:
            await next_shop(op, lambda s: True)
            await app.agraphql(RENAME, {"id": shop["id"]}, "m1")
            return await next_shop(op, lambda s: s["name"] == "Renamed")

    assert asyncio.run(renamed())["name"] == "Renamed"


@subject_not_the_database("ownership checks")
def test_shop_updated_refuses_a_shop_of_another_merchant(app_factory) -> None:
    app = live(app_factory, poll_interval_seconds=3600.0)
    shop = app.connect_shop("m1", "us-local", "US")

    async def attempt() -> None:
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m2") as op:
            await op.next()

    with pytest.raises(Exception, match="not found"):
        asyncio.run(attempt())


@pytest.mark.redis
def test_two_worker_processes_on_redis_never_poll_one_shop_twice_at_once(app_factory, redis_server) -> None:
    # given an API on Redis and two worker processes, each running the scheduler loop; polls take a while (150 ms
    # a TikTok call) and are due every half second. Three threads a process leave two import slots, so a poll does
    # not wait behind the shop's first import for a slot (each such wait sends it again 1.5 s later).
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/2"
    app = live(app_factory, broker_url=broker_url, latency_ms=150, poll_interval_seconds=0.5)
    workers = [spawn_worker(settings_env(app.settings), threads=3) for _ in range(2)]
    try:
        shop = app.connect_shop("m1", "us-local", "US")
        shop_id = _internal(shop["id"])
        # when the polls run for a while (every poll task is seen: empty ones are kept for three intervals)
        seen: dict[str, dict[str, Any]] = {}

        def enough_polls() -> bool:
            with app._db.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT id, kind, status, started_at, finished_at FROM sync_tasks "
                        "WHERE shop_id = :s AND trigger = 'SCHEDULED'"
                    ),
                    {"s": shop_id},
                ).mappings()
                for row in rows:
                    seen[row["id"]] = dict(row)
            done = [p for p in seen.values() if p["status"] == "SUCCEEDED"]
            return all(sum(p["kind"] == kind for p in done) >= 5 for kind in ("ORDERS", "PRODUCTS"))

        wait_until(enough_polls, what="five polls of each kind")
        with app._db.connect() as conn:
            holders = conn.execute(sa.text("SELECT holder FROM scheduler_leases")).scalars().all()
    finally:
        stop_workers(*workers)
    # then one scheduler held the lease, and no two polls of a kind ever overlapped in time
    assert len(holders) == 1
    for kind in ("ORDERS", "PRODUCTS"):
        runs = sorted(
            (_aware(p["started_at"]), _aware(p["finished_at"]))
            for p in seen.values()
            if p["kind"] == kind and p["status"] == "SUCCEEDED"
        )
        assert all(end <= next_start for (_, end), (next_start, _) in pairwise(runs)), runs


SOLD = """query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId } } } } }"""


# The cursors' SQL is tested on both in tests/integration/test_polling.py.
@subject_not_the_database("the scheduler's catch-up rule (`domain.polling.PollCursor.catch_up_due`)")
def test_sales_made_while_revoked_reach_the_pool_a_settle_after_the_reauthorization(app_factory) -> None:
    """Rule (README "Polling": a re-authorization's catch-up brings what changed while the shop was REVOKED at
    once, not a whole interval later). Try-out newcomer52: a sale 3 s before the re-authorization was younger than
    `SHOPBRIDGE_POLL_SETTLE` when the catch-up poll ran, so that poll left it to the next one, an interval later
    (5 min 50 s): the pool reserved nothing for it meanwhile. Now a follow-up poll runs once the settle has passed
    since the re-authorization (`domain.polling.PollCursor.catch_up_due`). And an order webhook that FAILED with
    REAUTHORIZATION_REQUIRED while the shop was revoked is replayed by the re-authorization
    (`domain.services.shops._replay_failed_events`)."""
    from tests.e2e.test_inventory_push import pooled_items, sellable_skus
    from tests.e2e.test_webhook_edges import deauthorize, reauthorize
    from tests.e2e.test_webhooks import envelope, push, stored_events

    # given a shop polled hourly (4 s settle), whose sandbox pushes no webhooks, and a pooled SKU buyers can order
    settle = 4.0
    app = live(app_factory, poll_interval_seconds=3600.0, poll_settle_seconds=settle)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    sellable = sellable_skus(app, tiktok_id)
    item, sku = next(
        (i, ln["sku"]["tiktokSkuId"]) for i in pooled_items(app, "SB-") for ln in i["links"]
        if ln["state"] == "LINKED" and ln["sku"]["tiktokSkuId"] in sellable
    )  # fmt: skip

    def reserved() -> int:
        return int(next(i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"])["reserved"])

    before = reserved()
    # and the seller removed the app (webhook 6): REVOKED in Shopbridge
    deauthorize(app, shop, int(time.time()))
    assert app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"]["status"] == "REVOKED"
    # when a buyer orders a unit whose webhook comes in while the shop is revoked (it fails: nothing may be asked)
    notified = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})["order_id"]
    assert push(app, envelope(1, tiktok_id, {"order_id": notified, "order_status": "UNPAID"})).status_code == 200
    wait_until(lambda: [e["outcome"] for e in stored_events(app) if e["type"] == 1] == ["FAILED"], what="FAILED")
    # and another unit with no webhook at all, just before the merchant re-authorizes the shop
    silent = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})["order_id"]
    reauthorize(app, shop)

    # then both orders are in, and the pool reserves both units, within the settle and a little (a poll interval
    # is an hour): the catch-up poll at the next tick left the silent sale, younger than the settle, to its follow-up
    def sold() -> bool:
        edges = app.graphql(SOLD, {"id": shop["id"]}, "m1")["shop"]["orders"]["edges"]
        return {notified, silent} <= {e["node"]["tiktokOrderId"] for e in edges}

    wait_until(sold, what="both sales in shop.orders", timeout=settle + 30)
    wait_until(lambda: reserved() == before + 2, what="both units reserved", timeout=10)
    # and the webhook that failed while the shop was revoked was replayed by the re-authorization: PROCESSED, no
    # longer asking to re-authorize a shop that is re-authorized (try-out livesync52)
    wait_until(lambda: [(e["outcome"], e["error_code"]) for e in stored_events(app) if e["type"] == 1]
               == [("PROCESSED", None)], what="the failed webhook replayed", timeout=30)  # fmt: skip


def _internal(global_id: str) -> str:
    from gql.ids import from_global_id

    parsed = from_global_id(global_id)
    assert parsed is not None
    return parsed[1]


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
