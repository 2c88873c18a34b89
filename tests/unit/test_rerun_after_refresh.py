"""review70 F3 over fakes: a token refresh that lifts a revocation (`Shop.refresh_tokens`: TikTok renewed the very
pair it had refused, a token the refresh retired) queues again, in its own transaction, the import the lost
authorization failed, as a re-authorization does; a poll that held the kind at the lift queues it on its success.
Before, the shop was ACTIVE again with its failed window unread until a later re-authorization."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.errors import ErrorCode
from domain.polling import PollWindow, queue_poll
from domain.ports import AuthorizationLostError
from domain.services.shop_tokens import StoredShopTokens
from domain.shops import Revocation, ShopStatus, TokenSet
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import T0, FakeTaskQueue, FakeUnitOfWork, make_tokens
from tests.unit.test_sync_importer import World


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
    # given the failed import, and a session that has no queue of imports (a webhook registration's, a pool push's)
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    world.clock.advance(timedelta(minutes=1))
    # when its refresh lifts the revocation
    await _session_tokens(world, None).refreshed(_renewed(world))
    # then the re-run is queued all the same, marked unsent, which the scheduler's tick sends
    (again,) = _others(world, failed)
    assert (again.trigger, again.status, again.unsent) == (SyncTrigger.REAUTHORIZATION, SyncTaskStatus.QUEUED, True)
    assert queue.enqueued == []


async def test_a_poll_active_at_the_lift_queues_the_failed_import_again_when_it_succeeds() -> None:
    # given the failed import, and an ORDERS poll queued before the lift: it holds the kind's one active task
    world, queue, failed = await _orders_import_refused_with_the_stored_pair()
    now = int(T0.timestamp())
    poll = queue_poll(world.shop, SyncKind.ORDERS, PollWindow(now - 3600, now - 60), T0)
    world.store.tasks[poll.id] = poll
    # and the refresh that lifts the revocation, which therefore queues nothing
    world.clock.advance(timedelta(minutes=1))
    await _session_tokens(world, queue).refreshed(_renewed(world))
    assert _others(world, failed, poll) == []
    # when the poll succeeds
    world.clock.advance(timedelta(minutes=1))
    await world.run(poll)
    assert world.task(poll.id).status is SyncTaskStatus.SUCCEEDED
    # then the failed import is queued again, over the failed window's start to now, and sent (review69 R2's rule,
    # the authorization restored by the refresh rather than a re-authorization)
    (again,) = _others(world, failed, poll)
    assert (again.trigger, again.orders_created_since, again.orders_created_until) == (
        SyncTrigger.REAUTHORIZATION, failed.orders_created_since, world.clock.now(),
    )  # fmt: skip
    assert queue.enqueued == [again.id]


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
