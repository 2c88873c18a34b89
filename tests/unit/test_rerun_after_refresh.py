"""review70 F3 over fakes: a token refresh that lifts a revocation (`Shop.refresh_tokens`: TikTok renewed the very
pair it had refused, a token the refresh retired) queues again, in its own transaction, the import the lost
authorization failed, as a re-authorization does (no poll can hold the kind then). Before, the shop was ACTIVE again
with its failed window unread until a later re-authorization. review71: no re-run for a shop that cannot sync, none
at a poll for a failure an older release's lift left, and the texts and log lines that say so."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, build_schema

from domain.errors import ErrorCode
from domain.polling import PollSettings
from domain.ports import AuthorizationLostError
from domain.services.inventory_push import PushDeps, push_shop
from domain.services.polling import start_poll
from domain.services.shop_tokens import StoredShopTokens
from domain.services.sync import resend_unsent_tasks
from domain.shops import Revocation, ShopStatus, TokenSet
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import T0, FakeClock, FakeStore, FakeTaskQueue, FakeUnitOfWork, make_shop, make_tokens
from tests.fakes_inventory_push import FakeInventoryApi, FakeLink, FakeOutboxRow
from tests.unit.test_sync_importer import World

POLLS = PollSettings(interval=timedelta(minutes=5), overlap=timedelta(minutes=10), settle=timedelta(seconds=30))
ROOT = Path(__file__).resolve().parents[2]


async def _orders_import_refused_with_the_stored_pair() -> tuple[World, FakeTaskQueue, SyncTask]:
    """An ORDERS import [T0 - 30 d, T0) whose third call TikTok refused with the pair stored: FAILED
    REAUTHORIZATION_REQUIRED, the shop REVOKED for a refusal of that pair (PAIR_REFUSED, which a refresh of it
    lifts)."""
    world = World()
    queue = FakeTaskQueue()
    world.deps = replace(world.deps, queue=queue)
    failed = world.queue(SyncKind.ORDERS)
    world.api.failures[2] = AuthorizationLostError("refused")
    await world.run(failed)
    assert world.task(failed.id).error_code == ErrorCode.REAUTHORIZATION_REQUIRED
    assert world.store.shops[world.shop.id].revoked_because is Revocation.PAIR_REFUSED
    return world, queue, world.task(failed.id)


def _session_tokens(world: World, queue: FakeTaskQueue | None) -> StoredShopTokens:
    """The tokens of a session (another process's import, say) that loaded the shop with the pair stored now."""
    shop = world.store.shops[world.shop.id]
    return StoredShopTokens(lambda: FakeUnitOfWork(world.store), world.clock, shop, world.events, queue)


async def _poll(world: World, queue: FakeTaskQueue) -> str | None:
    """An ORDERS poll started as the scheduler starts one (None: refused, or not due)."""
    return await start_poll(
        lambda: FakeUnitOfWork(world.store), queue, world.events, world.clock, POLLS, world.shop.id, SyncKind.ORDERS
    )


def _renewed(world: World) -> TokenSet:
    return replace(make_tokens(world.clock.now()), access_token="renewed-access", refresh_token="renewed-refresh")


def _others(world: World, *known: SyncTask) -> list[SyncTask]:
    ids = {task.id for task in known}
    return [task for task in world.store.tasks.values() if task.id not in ids]


async def test_a_refresh_that_lifts_the_revocation_queues_the_failed_import_again_once() -> None:
    # given an ORDERS import failed by TikTok refusing the stored pair (the shop REVOKED, PAIR_REFUSED)
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    # when a session's refresh of that very pair is stored a minute later (TikTok renewed it: the refusal was of a
    # token this refresh retired), lifting the revocation
    world.clock.advance(timedelta(minutes=1))
    assert await _session_tokens(world, queue).refreshed(_renewed(world)) is None
    shop = world.store.shops[world.shop.id]
    assert (shop.status(world.clock.now()), shop.authorized_at) == (ShopStatus.ACTIVE, T0)  # not re-authorized
    # then the failed import is queued again in that transaction, said to be a re-run, from the failed window's start
    # to now, and sent after the commit
    (again,) = _others(world, failed)
    assert (again.status, again.kind, again.trigger) == (
        SyncTaskStatus.QUEUED, SyncKind.ORDERS, SyncTrigger.REAUTHORIZATION,
    )  # fmt: skip
    assert (again.orders_created_since, again.orders_created_until) == (
        failed.orders_created_since,
        world.clock.now(),
    )
    assert (queue.enqueued, again.unsent) == ([again.id], False)
    # and its run, with the renewed pair, stores every order of the window
    await world.run(again)
    assert world.task(again.id).status is SyncTaskStatus.SUCCEEDED
    assert world.store.shop_orders(world.shop.id) == world.expected_orders()
    # and a later refresh, which lifts nothing, queues nothing more
    world.clock.advance(timedelta(days=6))
    later = replace(_renewed(world), access_token="later-access", refresh_token="later-refresh")
    assert await _session_tokens(world, queue).refreshed(later) is None
    assert _others(world, failed, again) == [] and queue.enqueued == [again.id]


async def test_a_lift_by_a_session_without_a_queue_leaves_the_rerun_to_the_schedulers_tick() -> None:
    # given the failed import, and a session built with no queue (none of a worker's since rerun72: the fallback)
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    world.clock.advance(timedelta(minutes=1))
    # when its refresh lifts the revocation
    await _session_tokens(world, None).refreshed(_renewed(world))
    # then the re-run is queued all the same, marked unsent, which the scheduler's tick sends
    (again,) = _others(world, failed)
    assert (again.trigger, again.status, again.unsent) == (SyncTrigger.REAUTHORIZATION, SyncTaskStatus.QUEUED, True)
    assert queue.enqueued == []


async def test_no_poll_of_the_kind_can_hold_it_at_a_lift() -> None:
    """Evidence for review71 F1 (the poll's rule reads `authorized_at`, not the pair's refresh): a poll cannot be
    active at a lift, so the lift never leaves its re-run to a poll."""
    # given the failed import (the shop REVOKED in the failure's transaction)
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    world.clock.advance(timedelta(minutes=1))
    # then no poll of the kind starts while the shop is revoked
    assert await _poll(world, queue) is None
    # when the refresh lifts the revocation, it queues the re-run itself
    assert await _session_tokens(world, queue).refreshed(_renewed(world)) is None
    (again,) = _others(world, failed)
    assert again.trigger is SyncTrigger.REAUTHORIZATION
    # and that re-run holds the kind: no poll starts until it has run
    world.clock.advance(timedelta(minutes=5))
    assert await _poll(world, queue) is None


async def test_a_poll_reruns_no_failure_a_lift_of_the_release_before_left() -> None:
    """review71 F1: rerun71's poll rule (the pair's refresh time) re-ran, at their first poll after the upgrade,
    every failure an older release's lift had left (it queued nothing), all within one poll interval; the lift's
    own re-run is the fix, the upgrade queues no burst (README Upgrading lists those shops)."""
    # given the failed import, and three days later a refresh that lifted the revocation the way the release before
    # did: the shop ACTIVE again, nothing queued
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    world.clock.advance(timedelta(days=3))
    shop = world.store.shops[world.shop.id]
    assert shop.refresh_tokens(_renewed(world), world.clock.now())
    assert _others(world, failed) == []
    # when, after the upgrade, the shop's first ORDERS poll succeeds
    world.clock.advance(timedelta(minutes=10))
    poll_id = await _poll(world, queue)
    assert poll_id is not None
    await world.run(world.task(poll_id))
    assert world.task(poll_id).status is SyncTaskStatus.SUCCEEDED
    # then it queues no re-run: the failed task stays the kind's newest import (a re-authorization re-runs it)
    assert [t.trigger for t in _others(world, failed)] == [SyncTrigger.SCHEDULED]
    assert queue.enqueued == [poll_id]


async def test_a_lift_of_a_shop_that_cannot_sync_queues_no_rerun() -> None:
    """review71 F2: a refresh TikTok answered before webhook 7's announced end, stored after it, lifts the revocation
    of an EXPIRED shop; a re-run queued then failed at its begin, a second FAILED task (review70 F4's case)."""
    # given the failed import, and the authorization's announced end 30 s later
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    shop = world.store.shops[world.shop.id]
    shop.authorization_expires_at = world.clock.now() + timedelta(seconds=30)
    # when a session's refresh of the stored pair is stored a minute later, past that end
    world.clock.advance(timedelta(minutes=1))
    await _session_tokens(world, queue).refreshed(_renewed(world))
    assert world.store.shops[world.shop.id].status(world.clock.now()) is ShopStatus.EXPIRED
    # then nothing is queued or sent: the failed task stays the kind's newest import
    assert _others(world, failed) == [] and queue.enqueued == []


async def test_the_ticks_line_for_a_rerun_never_sent_says_no_send_failed(caplog: pytest.LogCaptureFixture) -> None:
    """review71 F3: the tick said of a lift's re-run queued with no queue that its send had failed and the queue
    takes messages again; no send was tried and the queue never stopped."""
    # given a lift in a session with no queue, whose re-run is marked unsent
    world, _, failed = await _orders_import_refused_with_the_stored_pair()
    world.clock.advance(timedelta(minutes=1))
    with caplog.at_level(logging.INFO, logger="domain.services.sync"):
        await _session_tokens(world, None).refreshed(_renewed(world))
        (again,) = _others(world, failed)
        assert again.unsent
        # when the scheduler's tick sends it
        tick = FakeTaskQueue()
        assert await resend_unsent_tasks(lambda: FakeUnitOfWork(world.store), tick, world.clock) == [again.id]
    # then the lift's line says the tick sends it, and the tick's line does not say a send failed
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.endswith("(no queue in this session: the scheduler's tick sends it)") for line in lines), lines
    (sent,) = [line for line in lines if line.startswith("sent 1 sync task(s)")]
    assert "whose send had failed" not in sent and "never" not in sent
    assert "session with no queue" in sent and tick.enqueued == [again.id]


def test_the_texts_of_a_rerun_name_the_lift_and_claim_nothing_tiktok_does_not_document() -> None:
    """review71 D1: the trigger's and ordersCreatedUntil's descriptions and the Task Center's label said a
    REAUTHORIZATION task follows a re-authorization only (a lift queues one too), ordersCreatedUntil omitted the
    90 days; the README stated as TikTok's what only the sandbox does (the shared tiktok-api.md documents nothing of
    the old access token after a refresh, §3)."""
    schema = build_schema((ROOT / "schema.graphql").read_text())
    trigger = schema.get_type("SyncTrigger")
    assert isinstance(trigger, GraphQLEnumType)
    assert "token refresh lifts" in (trigger.values["REAUTHORIZATION"].description or "")
    task = schema.get_type("SyncTask")
    assert isinstance(task, GraphQLObjectType)
    until = task.fields["ordersCreatedUntil"].description or ""
    assert "90 days" in until and "token refresh" in until
    labels = (ROOT / "gql/console/static/js/tasks.js").read_text()
    assert 'REAUTHORIZATION: "re-run after re-authorization"' not in labels
    readme = (ROOT / "README.md").read_text()
    assert "TikTok ends the old access token at once" not in readme
    assert "whether TikTok does is [UNCERTAIN]" in readme


async def test_a_refresh_stored_after_a_deauthorization_queues_nothing() -> None:
    # given the failed import, and the seller removing the app (webhook 6) before the refresh is stored
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    world.clock.advance(timedelta(minutes=1))
    shop = world.store.shops[world.shop.id]
    shop.deauthorize(world.clock.now(), world.clock.now())
    # when the refresh is stored
    await _session_tokens(world, queue).refreshed(_renewed(world))
    # then the shop stays REVOKED (a deauthorization is never lifted), and nothing is queued
    assert world.store.shops[world.shop.id].status(world.clock.now()) is ShopStatus.REVOKED
    assert _others(world, failed) == [] and queue.enqueued == []


async def test_a_lift_by_a_pool_push_session_sends_the_rerun_right_after_its_commit() -> None:
    """rerun72: the pool's pushes have the worker's queue (`PushDeps.queue`), so a refresh of a push's session that
    lifts the revocation sends the re-run after its commit, as a re-authorization does, rather than mark it unsent
    for the scheduler's tick (up to `SHOPBRIDGE_SCHEDULER_TICK`, 30 s by default, later still with no scheduler)."""
    # given a shop with a product due for a push, pushed by a session with the worker's queue
    store, clock, api, queue = FakeStore(), FakeClock(T0 + timedelta(hours=1)), FakeInventoryApi(), FakeTaskQueue()
    shop = make_shop("m1", now=T0)
    store.shops[shop.id] = shop
    store.push.link(shop.id, FakeLink("a", "t-a", "p1", "item-a", 5))
    store.push.outbox[(shop.id, "p1")] = FakeOutboxRow(clock.now(), clock.now() - timedelta(seconds=30))
    deps = PushDeps(lambda: FakeUnitOfWork(store), api.factory, clock, "w1", queue=queue)
    failed = SyncTask.queue(shop.id, shop.merchant_id, SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, clock.now())
    failed.fail_run(ErrorCode.REAUTHORIZATION_REQUIRED, "TikTok refused the shop's authorization.", clock.now())

    async def meanwhile() -> None:
        # while its Update Inventory is under way: an import fails with the pair stored refused (the shop REVOKED,
        # PAIR_REFUSED, in the failure's transaction), then the push's session stores its refresh of that pair
        api.during_call = None
        assert store.shops[shop.id].revoke_refused(shop, clock.now(), shop.tokens.access_token)
        store.tasks[failed.id] = failed
        assert api.on_tokens_refreshed is not None
        renewed = replace(make_tokens(clock.now()), access_token="renewed-access", refresh_token="renewed-refresh")
        assert await api.on_tokens_refreshed.refreshed(renewed) is None

    api.during_call = meanwhile
    # when the shop is pushed
    await push_shop(shop.id, deps)
    # then the refresh lifted the revocation, queued the failed import again and sent it after its commit
    assert store.shops[shop.id].status(clock.now()) is ShopStatus.ACTIVE
    (again,) = [task for task in store.tasks.values() if task.id != failed.id]
    assert (again.trigger, again.status, again.unsent) == (SyncTrigger.REAUTHORIZATION, SyncTaskStatus.QUEUED, False)
    assert queue.enqueued == [again.id]
