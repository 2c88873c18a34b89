"""Contract of the persistence ports, run against the fake (tests/fakes.py), SQLite and PostgreSQL alike.

Every assertion goes through the ports (`domain.ports`), never through tables or the fake's store, so that the
fake the service tests trust is held to what the SQL adapter does: versions, uniqueness, foreign keys to the shop,
monotonic cursors, single-use states, the unit of work's commit and rollback and its after-commit callbacks.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Alias, Table

from adapters.db.tables import sync_tasks
from domain.authorization import AuthorizationPurpose, AuthorizationRequest
from domain.errors import DomainError, ErrorCode
from domain.intake import Notification, WebhookEvent, released_key
from domain.polling import PollCursor
from domain.ports import ConcurrentUpdateError, ShopGoneError
from domain.shops import Region, parse_shop_name
from domain.sync import SyncKind, SyncTaskStatus, SyncTrigger
from tests.fakes import FakeUnitOfWork
from tests.integration.contract import UowFactory, uows
from tests.integration.db_samples import NOW, make_product, make_shop, make_task, make_task_as

__all__ = ["uows"]  # the fixture, imported so that pytest finds it


async def _added(uows: UowFactory, merchant_id: str = "merchant-a"):
    shop = make_shop(merchant_id)
    async with uows() as uow:
        await uow.shops.add(shop)
        await uow.commit()
    return shop


async def test_a_shop_update_over_a_stale_version_is_refused_and_changes_nothing(uows: UowFactory) -> None:
    # given a shop that two callers read at the same version
    shop = await _added(uows)
    async with uows() as uow:
        first = await uow.shops.get(shop.id)
    async with uows() as uow:
        second = await uow.shops.get(shop.id)
    assert first is not None and second is not None and first.version == second.version

    # when the first renames it and commits, then the second writes its stale copy
    first.name = "First"
    async with uows() as uow:
        await uow.shops.update(first)
        await uow.commit()
    second.name = "Second"
    async with uows() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.shops.update(second)

    # then the first write stands, at the next version, and the updated copy can be written again
    async with uows() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None and stored.name == "First" and stored.version == shop.version + 1
        stored.name = "Third"
        await uow.shops.update(stored)
        stored.name = "Fourth"
        await uow.shops.update(stored)  # twice in one transaction: each update moves the version on
        await uow.commit()
    async with uows() as uow:
        final = await uow.shops.get(shop.id)
    assert final is not None and final.name == "Fourth" and final.version == shop.version + 3


async def test_an_update_of_a_deleted_shop_is_refused(uows: UowFactory) -> None:
    shop = await _added(uows)
    async with uows() as uow:
        loaded = await uow.shops.get(shop.id)
        assert await uow.shops.delete(shop.id) is True
        await uow.commit()
    assert loaded is not None
    async with uows() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.shops.update(loaded)
        assert await uow.shops.delete(shop.id) is False


async def test_a_tiktok_shop_is_connected_once_and_reads_are_scoped_to_the_merchant(uows: UowFactory) -> None:
    shop = await _added(uows, "merchant-a")
    async with uows() as uow:
        with pytest.raises(DomainError) as refused:
            await uow.shops.add(replace(make_shop("merchant-b"), tiktok_shop_id=shop.tiktok_shop_id))
    assert refused.value.code is ErrorCode.SHOP_ALREADY_CONNECTED
    async with uows() as uow:
        assert await uow.shops.get(shop.id, "merchant-b") is None
        assert await uow.shops.get(shop.id, "merchant-a") == shop
        assert await uow.shops.get_by_tiktok_shop_id(shop.tiktok_shop_id) == shop


async def test_nothing_is_written_without_a_commit(uows: UowFactory) -> None:
    shop = make_shop()
    async with uows() as uow:
        await uow.shops.add(shop)
        await uow.sync_tasks.add(make_task(shop))
    async with uows() as uow:
        await uow.shops.add(shop)
        await uow.rollback()
    async with uows() as uow:
        assert await uow.shops.get(shop.id) is None
        assert await uow.sync_tasks.active(shop.id, SyncKind.PRODUCTS) is None


async def test_after_commit_callbacks_run_in_order_after_the_commit_and_a_failing_one_is_logged(
    uows: UowFactory, caplog: pytest.LogCaptureFixture
) -> None:
    shop = make_shop()
    seen: list[str] = []

    async def first() -> None:
        async with uows() as reader:  # the commit has happened: another transaction sees the row
            seen.append("first" if await reader.shops.get(shop.id) is not None else "first, too early")

    async def failing() -> None:
        raise RuntimeError("the queue is down")

    async def last() -> None:
        seen.append("last")

    async with uows() as uow:
        await uow.shops.add(shop)
        for callback in (first, failing, last):
            uow.after_commit(callback)
        with caplog.at_level(logging.ERROR):
            await uow.commit()  # the failing callback does not raise: the transaction has happened
    assert seen == ["first", "last"]
    assert any("after-commit callback" in r.getMessage() and r.exc_info for r in caplog.records)

    async with uows() as uow:
        uow.after_commit(last)
        await uow.rollback()
    assert seen == ["first", "last"]  # a rolled-back unit of work drops its callbacks


async def test_one_active_task_per_shop_and_kind_and_a_delete_cancels_them(uows: UowFactory) -> None:
    shop = await _added(uows)
    queued, running = make_task(shop, SyncKind.PRODUCTS), make_task(shop, SyncKind.ORDERS)
    running.begin_attempt(NOW)
    async with uows() as uow:
        await uow.sync_tasks.add(queued)
        await uow.sync_tasks.add(running)
        await uow.commit()
    async with uows() as uow:
        with pytest.raises(DomainError) as refused:
            await uow.sync_tasks.add(make_task(shop, SyncKind.ORDERS))
    assert refused.value.code is ErrorCode.SYNC_ALREADY_RUNNING

    # a worker read the running task before the cancel, and writes its progress after it
    async with uows() as uow:
        stale = await uow.sync_tasks.get(running.id)
    async with uows() as uow:
        cancelled = await uow.sync_tasks.cancel_active_for_shop(shop.id, NOW)
        await uow.commit()
    assert {(t.id, t.status, t.cancel_requested) for t in cancelled} == {
        (queued.id, SyncTaskStatus.CANCELLED, True),
        (running.id, SyncTaskStatus.RUNNING, True),
    }
    assert stale is not None and not stale.cancel_requested
    stale.processed = 10
    async with uows() as uow:
        assert await uow.sync_tasks.update(stale) is True
        await uow.commit()
    async with uows() as uow:
        after = await uow.sync_tasks.get(running.id)
        assert after is not None and after.processed == 10 and after.cancel_requested  # never taken back
        assert await uow.sync_tasks.active(shop.id, SyncKind.PRODUCTS) is None
        assert await uow.shops.delete(shop.id) is True
        await uow.commit()
    async with uows() as uow:
        assert await uow.sync_tasks.get(running.id) is None
        assert await uow.sync_tasks.update(after) is False


async def test_the_active_kinds_are_the_shop_and_kind_of_each_queued_or_running_task(uows: UowFactory) -> None:
    # given a QUEUED and a RUNNING task of one shop, a finished one of another, and a QUEUED one of a third merchant
    shop, other, third = await _added(uows), await _added(uows, "merchant-b"), await _added(uows, "merchant-c")
    queued, running, finished = make_task(shop, SyncKind.PRODUCTS), make_task(shop, SyncKind.ORDERS), make_task(other)
    running.begin_attempt(NOW)
    finished.succeed(NOW)
    async with uows() as uow:
        assert await uow.sync_tasks.active_kinds() == set()
        for task in (queued, running, finished, make_task(third, SyncKind.ORDERS)):
            await uow.sync_tasks.add(task)
        await uow.commit()
    # then the scheduler's one read of them (`schedule_tick`) names the active ones, whatever their merchant
    async with uows() as uow:
        assert await uow.sync_tasks.active_kinds() == {
            (shop.id, SyncKind.PRODUCTS), (shop.id, SyncKind.ORDERS), (third.id, SyncKind.ORDERS),
        }  # fmt: skip


async def test_an_unsent_task_is_marked_while_queued_listed_and_claimed_once(uows: UowFactory) -> None:
    shop = await _added(uows)
    other = await _added(uows, "merchant-b")
    queued, running = make_task(shop, SyncKind.PRODUCTS), make_task(shop, SyncKind.ORDERS)
    later = make_task(other, created_at=NOW + timedelta(seconds=1))
    running.begin_attempt(NOW)
    async with uows() as uow:
        for task in (later, queued, running):
            await uow.sync_tasks.add(task)
        await uow.commit()
    # given the sends of three tasks failed: only the QUEUED ones are marked (a running one has its message)
    async with uows() as uow:
        assert await uow.sync_tasks.mark_unsent([later.id, queued.id, running.id]) == 2
        assert await uow.sync_tasks.mark_unsent([]) == 0
        await uow.commit()
    async with uows() as uow:
        assert await uow.sync_tasks.list_unsent(10) == [queued.id, later.id]  # oldest first
        assert await uow.sync_tasks.list_unsent(1) == [queued.id]
        stored = await uow.sync_tasks.get(queued.id)
    assert stored is not None and stored.unsent
    # when two callers claim the same task, then one gets it: the mark cleared, the task touched
    async with uows() as uow:
        assert await uow.sync_tasks.claim_unsent(queued.id, NOW + timedelta(minutes=1)) is True
        await uow.commit()
    async with uows() as uow:
        assert await uow.sync_tasks.claim_unsent(queued.id, NOW + timedelta(minutes=1)) is False
        assert await uow.sync_tasks.claim_unsent(running.id, NOW) is False
        assert await uow.sync_tasks.list_unsent(10) == [later.id]
        claimed = await uow.sync_tasks.get(queued.id)
    assert claimed is not None and not claimed.unsent and claimed.heartbeat_at == NOW + timedelta(minutes=1)
    # and a task begun (its message ran) or re-queued by the sweep is no longer unsent
    async with uows() as uow:
        task = await uow.sync_tasks.get(later.id)
        assert task is not None and task.begin_attempt(NOW + timedelta(minutes=2))
        await uow.sync_tasks.update(task)
        await uow.commit()
    async with uows() as uow:
        assert await uow.sync_tasks.list_unsent(10) == []


async def test_retention_deletes_finished_tasks_only_once_superseded_oldest_first_and_at_commit(
    uows: UowFactory,
) -> None:
    # given a shop's products tasks, all past a retention of 30 days (a cancel, an import, a failure, the last
    # import, a task still running), and two failed orders polls that finished at the same instant
    shop = await _added(uows)
    products, orders, manual = SyncKind.PRODUCTS, SyncKind.ORDERS, SyncTrigger.MANUAL
    tasks = {
        "cancel": make_task_as(shop, products, manual, SyncTaskStatus.CANCELLED, 70),
        "first import": make_task_as(shop, products, manual, SyncTaskStatus.SUCCEEDED, 60),
        "failure": make_task_as(shop, products, manual, SyncTaskStatus.FAILED, 50),
        "last import": make_task_as(shop, products, manual, SyncTaskStatus.SUCCEEDED, 45),
        "running": make_task_as(shop, products, manual, SyncTaskStatus.RUNNING, 35),
        "twin": make_task_as(shop, orders, SyncTrigger.SCHEDULED, SyncTaskStatus.FAILED, 60),
        "other twin": make_task_as(shop, orders, SyncTrigger.SCHEDULED, SyncTaskStatus.FAILED, 60),
    }
    async with uows() as uow:
        for task in tasks.values():
            await uow.sync_tasks.add(task)
        await uow.commit()
    before = NOW - timedelta(days=30)
    # when one task may go: the soonest finished that a newer one supersedes, and nothing until the commit
    async with uows() as uow:
        assert await uow.sync_tasks.delete_finished(before, 1) == 1
    async with uows() as uow:
        assert await uow.sync_tasks.get(tasks["cancel"].id) is not None
        assert await uow.sync_tasks.delete_finished(before, 1) == 1
        await uow.commit()
    async with uows() as uow:
        assert await uow.sync_tasks.get(tasks["cancel"].id) is None
        # then the rest that is superseded goes; nothing finished after the time given is looked at
        assert await uow.sync_tasks.delete_finished(NOW - timedelta(days=100), 10) == 0
        assert await uow.sync_tasks.delete_finished(before, 10) == 2
        await uow.commit()
    async with uows() as uow:
        kept = {name for name, task in tasks.items() if await uow.sync_tasks.get(task.id) is not None}
    # and the newest import of its role, the running task and the twins (neither finished after the other) stay
    assert kept == {"last import", "running", "twin", "other twin"}


async def test_retention_of_sync_tasks_again_builds_no_new_alias_of_the_tasks(uows: UowFactory) -> None:
    # given a shop's finished products tasks past a retention of 30 days, one superseded by the others
    shop = await _added(uows)
    async with uows() as uow:
        if isinstance(uow, FakeUnitOfWork):
            pytest.skip("the fake builds no statement")
        for days in (70, 60, 50, 45, 40):
            await uow.sync_tasks.add(
                make_task_as(shop, SyncKind.PRODUCTS, SyncTrigger.MANUAL, SyncTaskStatus.FAILED, days)
            )
        await uow.commit()
    before = NOW - timedelta(days=30)
    async with uows() as uow:  # a first batch, not committed: the statements built, no row gone
        assert await uow.sync_tasks.delete_finished(before, 1) == 1

    # when the sweep deletes the superseded ones a batch at a time, the collector held off so that what the batches
    # leave as cyclic garbage stays countable
    gc.collect()
    gc.disable()
    try:
        aliases = _aliases_of(sync_tasks)
        async with uows() as uow:
            deleted = [await uow.sync_tasks.delete_finished(before, 1) for _ in range(5)]
        built = _aliases_of(sync_tasks) - aliases
    finally:
        gc.enable()

    # then every superseded task went, the newest stayed, and no batch built its own aliases of `sync_tasks`
    # (`_prunable_since`: the condition is built once; before, each batch built two conditions of one alias per
    # retention role, 8 aliases with their column proxies, rss58)
    assert deleted == [1, 1, 1, 1, 0]
    assert built == 0


def _aliases_of(table: Table) -> int:
    """The live (or uncollected) SQLAlchemy aliases of `table`."""
    return sum(1 for found in gc.get_objects() if isinstance(found, Alias) and found.element is table)


async def test_retention_deletes_authorization_requests_that_expired_before_the_time(uows: UowFactory) -> None:
    expired, pending = (
        AuthorizationRequest(
            state_digest=digit * 64, merchant_id="merchant-a", purpose=AuthorizationPurpose.CONNECT,
            region=Region.US, name="Mine", created_at=at, expires_at=at + timedelta(minutes=30),
        )
        for digit, at in (("a", NOW - timedelta(days=2)), ("b", NOW))
    )  # fmt: skip
    async with uows() as uow:
        await uow.authorizations.add(expired)
        await uow.authorizations.add(pending)
        await uow.commit()
    async with uows() as uow:
        assert await uow.authorizations.delete_expired(NOW - timedelta(days=1), 10) == 1
        await uow.commit()
    async with uows() as uow:
        assert await uow.authorizations.get(expired.state_digest) is None
        assert await uow.authorizations.get(pending.state_digest) is not None
        assert await uow.authorizations.delete_expired(NOW - timedelta(days=1), 10) == 0


async def test_a_poll_cursor_only_moves_forward_and_needs_its_shop(uows: UowFactory) -> None:
    shop = await _added(uows)
    later, earlier = NOW + timedelta(hours=1), NOW
    async with uows() as uow:
        await uow.poll_cursors.save(PollCursor(shop.id, SyncKind.ORDERS, cursor_at=later, scheduled_at=earlier), NOW)
        await uow.commit()
    async with uows() as uow:
        await uow.poll_cursors.save(PollCursor(shop.id, SyncKind.ORDERS, cursor_at=earlier, scheduled_at=later), NOW)
        await uow.commit()
    async with uows() as uow:
        cursor = await uow.poll_cursors.get(shop.id, SyncKind.ORDERS)
        assert cursor is not None and (cursor.cursor_at, cursor.scheduled_at, cursor.polled_at) == (later, later, None)
        await uow.shops.delete(shop.id)
        await uow.commit()
    async with uows() as uow:
        assert await uow.poll_cursors.get(shop.id, SyncKind.ORDERS) is None
        with pytest.raises(ShopGoneError):
            await uow.poll_cursors.save(PollCursor(shop.id, SyncKind.ORDERS, cursor_at=later), NOW)


async def test_make_due_forgets_when_the_shops_polls_were_scheduled_and_keeps_their_cursors(uows: UowFactory) -> None:
    shop, other = await _added(uows), await _added(uows, "merchant-b")
    cursor_at, scheduled_at = NOW - timedelta(minutes=7), NOW - timedelta(minutes=1)
    async with uows() as uow:
        for owner in (shop, other):
            for kind in (SyncKind.ORDERS, SyncKind.PRODUCTS):
                await uow.poll_cursors.save(PollCursor(owner.id, kind, cursor_at, scheduled_at, scheduled_at), NOW)
        await uow.commit()
    async with uows() as uow:
        await uow.poll_cursors.make_due(shop.id)
        await uow.commit()
    async with uows() as uow:
        cursors = {(c.shop_id, c.kind): c for c in await uow.poll_cursors.list_all()}
    for kind in (SyncKind.ORDERS, SyncKind.PRODUCTS):
        mine, theirs = cursors[(shop.id, kind)], cursors[(other.id, kind)]
        assert (mine.cursor_at, mine.scheduled_at, mine.polled_at) == (cursor_at, None, scheduled_at)
        assert (theirs.cursor_at, theirs.scheduled_at) == (cursor_at, scheduled_at)  # another shop's: untouched
    async with uows() as uow:
        await uow.poll_cursors.make_due("no-such-shop")  # nothing to make due: no error
        await uow.commit()


async def test_an_authorization_state_is_spent_once(uows: UowFactory) -> None:
    request = AuthorizationRequest(
        state_digest="d" * 64, merchant_id="merchant-a", purpose=AuthorizationPurpose.CONNECT, region=Region.US,
        name="Mine", created_at=NOW, expires_at=NOW + timedelta(minutes=30),
    )  # fmt: skip
    async with uows() as uow:
        await uow.authorizations.add(request)
        await uow.commit()
    spent = replace(request, used_at=NOW + timedelta(minutes=1))
    async with uows() as uow:
        assert await uow.authorizations.mark_used(spent) is True
        await uow.commit()
    async with uows() as uow:
        assert await uow.authorizations.mark_used(spent) is False
        stored = await uow.authorizations.get(request.state_digest)
    assert stored is not None and stored.used_at == NOW + timedelta(minutes=1)


# Unicode's longest emoji sequence, a family of four with a skin tone each: 1 character, 11 code points.
FAMILY_TONED = "\U0001f468\U0001f3fb\u200d\U0001f469\U0001f3fc\u200d\U0001f467\U0001f3fd\u200d\U0001f466\U0001f3fe"


async def test_a_name_of_64_characters_is_stored_whole_however_many_code_points_they_take(uows: UowFactory) -> None:
    # given a name of 64 characters as the merchant counts them (domain.shops.parse_shop_name), 704 code points
    name = parse_shop_name(FAMILY_TONED * 64)
    request = AuthorizationRequest(
        state_digest="e" * 64, merchant_id="merchant-a", purpose=AuthorizationPurpose.CONNECT, region=Region.US,
        name=name, created_at=NOW, expires_at=NOW + timedelta(minutes=30),
    )  # fmt: skip
    shop = await _added(uows)
    # when the authorization request and the shop are stored with it (migration 0022: both columns hold 1,024)
    async with uows() as uow:
        await uow.authorizations.add(request)
        loaded = await uow.shops.get(shop.id)
        assert loaded is not None
        loaded.rename(name)
        await uow.shops.update(loaded)
        await uow.commit()
    # then both read back whole
    async with uows() as uow:
        stored_request = await uow.authorizations.get(request.state_digest)
        stored_shop = await uow.shops.get(shop.id)
    assert stored_request is not None and stored_request.name == name
    assert stored_shop is not None and stored_shop.name == name


async def test_a_webhook_event_is_stored_once_per_notification(uows: UowFactory) -> None:
    shop = await _added(uows)
    notification = Notification(1, "n-1", shop.tiktok_shop_id, 1_700_000_000, {"order_id": "o1"})
    async with uows() as uow:
        assert await uow.webhook_events.resolve_shop(shop.tiktok_shop_id) == shop.id
        first = WebhookEvent.receive(notification, shop.id, NOW)
        assert await uow.webhook_events.add(first) is True
        await uow.commit()
    async with uows() as uow:
        assert await uow.webhook_events.add(WebhookEvent.receive(notification, shop.id, NOW)) is False
        assert [e.id for e in await uow.webhook_events.pending(shop.id, 10)] == [first.id]
        assert await uow.webhook_events.get(first.id, "merchant-b") is None
        await uow.shops.delete(shop.id)
        await uow.commit()
    async with uows() as uow:
        assert await uow.webhook_events.get(first.id) is None


async def test_a_released_notification_key_stores_the_next_push_as_a_new_event(uows: UowFactory) -> None:
    shop = await _added(uows)
    undated = Notification(6, None, shop.tiktok_shop_id, None, {"message": "deauthorized"})
    first = WebhookEvent.receive(undated, shop.id, NOW)
    async with uows() as uow:
        assert await uow.webhook_events.add(first) is True
        await uow.commit()
    later = WebhookEvent.receive(undated, shop.id, NOW + timedelta(hours=16))
    async with uows() as uow:
        # an event received at the cutoff keeps its key; one received before it gives it up, in the same transaction
        assert await uow.webhook_events.release_keys([first.notification_key, "sha256:other"], NOW) == 0
        assert await uow.webhook_events.add(later) is False
        assert await uow.webhook_events.release_keys([first.notification_key], NOW + timedelta(seconds=1)) == 1
        assert await uow.webhook_events.add(later) is True
        await uow.commit()
    async with uows() as uow:
        kept, added = await uow.webhook_events.get(first.id), await uow.webhook_events.get(later.id)
    assert kept is not None and (kept.notification_key, kept.data) == (released_key(first.id), first.data)
    assert added is not None and added.notification_key == first.notification_key


async def test_a_catalog_write_for_a_deleted_shop_is_refused(uows: UowFactory) -> None:
    shop = await _added(uows)
    async with uows() as uow:
        await uow.shops.delete(shop.id)
        await uow.commit()
    async with uows() as uow:
        with pytest.raises(ShopGoneError):
            await uow.catalog.upsert_products(shop.id, [make_product("p1")])
