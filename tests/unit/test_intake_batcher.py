"""The webhook intake's group commit (gql/webhooks/batcher.py) over the inbox service and the fakes of its ports:
pushes arriving while a batch is written share the next transaction, each answered only after its own batch
committed; a failed batch fails its pushes (500), a push the database refuses fails only itself; processing is
enqueued once per shop and batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from domain.intake import EventOutcome, Notification, WebhookEvent
from domain.services import inbox
from gql.webhooks.batcher import IntakeBatcher, IntakeUnavailableError
from tests.fakes import FakeClock, FakeStore, FakeTaskQueue, FakeUnitOfWork, make_shop

SHOP = "7001"
POISON = 666  # a type this test's database refuses to store


class Inbox:
    """The real inbox service over fake units of work; a gate holds each write until the test opens it."""

    def __init__(self) -> None:
        self.store = FakeStore()
        self.shop = make_shop(tiktok_shop_id=SHOP)
        self.store.shops[self.shop.id] = self.shop
        self.clock = FakeClock()
        self.queue = FakeTaskQueue()
        self.batches: list[int] = []  # pushes per write attempt, in order
        self.writing = asyncio.Event()  # set while a write waits at the gate
        self.gate = asyncio.Event()
        self.gate.set()
        self.down = False
        self.batcher = IntakeBatcher(self.write, self.queue.enqueue_webhook_events)

    async def write(self, notifications: Sequence[Notification]) -> list[WebhookEvent | None]:
        self.batches.append(len(notifications))
        self.writing.set()
        await self.gate.wait()
        if self.down:  # an outage (adapters.db.outage: a refused connection): every push fails alike
            raise ConnectionRefusedError("the database does not answer")
        if any(n.type == POISON for n in notifications):  # not an outage: only this push's batch fails
            raise ValueError("the database refused the write")
        return await inbox.receive_notifications(lambda: FakeUnitOfWork(self.store), self.clock, notifications)

    def stored_keys(self) -> set[str]:
        return {e.notification_key for e in self.store.webhook_events.values()}


def note(n: int, type_: int = 1, shop: str = SHOP) -> Notification:
    return Notification(type_, f"n{n}", shop, 1_700_000_000, {"order_id": str(576000000000 + n)})


@pytest.fixture
def box() -> Inbox:
    return Inbox()


async def test_pushes_arriving_during_a_write_share_the_next_transaction(box: Inbox) -> None:
    # given a first push whose write is held open
    box.gate.clear()
    first = asyncio.create_task(box.batcher.submit(note(0)))
    await box.writing.wait()
    # when 49 more pushes arrive meanwhile
    rest = [asyncio.create_task(box.batcher.submit(note(i))) for i in range(1, 50)]
    await asyncio.sleep(0)  # let each of them hand its push over
    # then none is answered before its batch committed
    assert not any(task.done() for task in [first, *rest]) and box.stored_keys() == set()
    box.gate.set()
    events = await asyncio.gather(first, *rest)
    # and they were written in two transactions: the first push alone, the 49 others together
    assert box.batches == [1, 49]
    assert all(e is not None and e.outcome is EventOutcome.PENDING for e in events)
    assert box.stored_keys() == {f"tts:n{i}" for i in range(50)}
    await box.batcher.aclose()
    # and the shop's processing was enqueued after the commits: once, as the first batch's enqueue had not been
    # sent yet when the second batch committed (one message covers both)
    assert box.queue.webhook_events == [box.shop.id]


async def test_a_repeated_notification_in_one_batch_is_stored_once(box: Inbox) -> None:
    box.gate.clear()
    held = asyncio.create_task(box.batcher.submit(note(0)))
    await box.writing.wait()
    same = [asyncio.create_task(box.batcher.submit(note(1))) for _ in range(3)]
    await asyncio.sleep(0)
    box.gate.set()
    await held
    results = await asyncio.gather(*same)
    assert [r is not None for r in results] == [True, False, False]
    assert await box.batcher.submit(note(1)) is None  # a later retry: already stored
    assert len(box.store.webhook_events) == 2


async def test_a_push_the_database_refuses_fails_alone(box: Inbox) -> None:
    box.gate.clear()
    held = asyncio.create_task(box.batcher.submit(note(0)))
    await box.writing.wait()
    others = [asyncio.create_task(box.batcher.submit(note(i))) for i in (1, 2)]
    poison = asyncio.create_task(box.batcher.submit(note(3, type_=POISON)))
    await asyncio.sleep(0)
    box.gate.set()
    await held
    # the batch of three failed; each push was then written alone: only the refused one fails (500)
    assert all(e is not None for e in await asyncio.gather(*others))
    with pytest.raises(IntakeUnavailableError):
        await poison
    assert box.batches == [1, 3, 1, 1, 1]
    assert box.stored_keys() == {"tts:n0", "tts:n1", "tts:n2"}


async def test_when_the_database_is_down_every_push_fails_and_none_is_stored(box: Inbox) -> None:
    box.down = True
    results = await asyncio.gather(*(box.batcher.submit(note(i)) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, IntakeUnavailableError) for r in results)
    assert box.stored_keys() == set() and box.queue.webhook_events == []
    # in one write: an outage fails each push alike, so the batch is not retried one push at a time
    assert box.batches == [5]
    # and once it is back, TikTok's retries are stored
    box.down = False
    assert await box.batcher.submit(note(0)) is not None


async def test_unknown_shops_enqueue_nothing_and_closing_drains(box: Inbox) -> None:
    box.gate.clear()
    held = asyncio.create_task(box.batcher.submit(note(0, shop="7999")))
    await box.writing.wait()
    waiting = asyncio.create_task(box.batcher.submit(note(1, shop="7999")))
    await asyncio.sleep(0)
    closing = asyncio.create_task(box.batcher.aclose())
    await asyncio.sleep(0)
    # a push after the close began is refused (the endpoint answers 500), those already waiting are stored
    with pytest.raises(RuntimeError, match="closed"):
        await box.batcher.submit(note(2))
    box.gate.set()
    await closing
    assert held.done() and waiting.done()
    assert {e.outcome for e in (held.result(), waiting.result()) if e is not None} == {EventOutcome.IGNORED}
    assert box.queue.webhook_events == []


async def test_a_batch_committed_while_its_shops_enqueue_is_in_flight_is_enqueued_again(box: Inbox) -> None:
    sent: list[str] = []
    sending = asyncio.Event()
    release = asyncio.Event()

    async def slow_enqueue(shop_id: str) -> None:  # a Redis send, in flight for a while
        sending.set()
        await release.wait()
        sent.append(shop_id)

    batcher = IntakeBatcher(box.write, slow_enqueue)
    await batcher.submit(note(0))
    await sending.wait()
    # when a second batch of the shop commits while the first enqueue is being sent
    await batcher.submit(note(1))
    await batcher.submit(note(2))
    release.set()
    await batcher.aclose()
    # then one more message follows the one in flight (never lost, never one per batch)
    assert sent == [box.shop.id, box.shop.id]
