"""A message with a keyword argument its actor does not take (a newer release's, in a rolling deploy) runs without
it: `workers/keywords.py`, on the embedded pool as `setup_broker` makes it (Dramatiq's StubBroker and Worker), a real
database and the sandbox over HTTP.

Found in review: such a message failed with a `TypeError` (an older worker given `run_sync_task(task_id,
after_webhook_registration=True)`), was retried with backoff until its retries ran out, and the import waited for
the database sweeps to send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import dramatiq
from dramatiq.brokers.stub import StubBroker

from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import log_lines, until
from workers.actors import run_sync_task
from workers.keywords import UnknownKeywordsIgnored

NEWER_KEYWORD = "from_a_newer_release"


async def test_a_keyword_the_actor_does_not_take_is_ignored_in_one_debug_line(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    # given a worker of this release, and a shop's products import queued
    harness = sync_harness_factory(sync_settings(sqlite_url, sandbox, tmp_path))
    harness.start_worker()
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    task = SyncTask.queue(shop.id, shop.merchant_id, SyncKind.PRODUCTS, SyncTrigger.MANUAL, harness.clock.now())
    async with harness.uow_factory() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    with (
        log_lines("workers.keywords", logging.DEBUG) as ignored,
        log_lines("dramatiq", logging.WARNING) as dramatiq_lines,
    ):
        # when a newer release sends its message with a keyword this release's actor does not take
        run_sync_task.send_with_options(args=(task.id,), kwargs={NEWER_KEYWORD: True})

        # then the import runs, in its first attempt (it used to fail at once: TypeError, then Dramatiq's retries)
        async def ended_or_failed() -> SyncTask | list[str] | None:
            found = await harness.task(task.id)
            if dramatiq_lines.messages:
                return dramatiq_lines.messages
            return found if found is not None and found.status.is_terminal else None

        ended = await until(ended_or_failed, "the import's end or Dramatiq's failure line")
    assert isinstance(ended, SyncTask), ended
    assert (ended.status, ended.attempts) == (SyncTaskStatus.SUCCEEDED, 1), (ended.status, ended.error_message)
    # and the keyword is named once, at DEBUG: no error, no retry
    assert dramatiq_lines.messages == []
    assert [line for line in ignored.messages if NEWER_KEYWORD in line and "run_sync_task" in line] == ignored.messages
    assert len(ignored.messages) == 1, ignored.messages


def test_a_retry_keeps_the_keyword_its_sender_gave() -> None:
    """Found in review53: the keyword was deleted from the message itself, so the retry of a failed run was sent
    without it (a retry landing on a newer worker lost its sender's hint). Dramatiq's StubBroker and Worker, the
    middleware as `setup_broker` orders it (after Retries)."""
    broker = StubBroker()
    broker.add_middleware(UnknownKeywordsIgnored())
    runs: list[dict[str, object]] = []

    # given an actor of an older release, which does not take the newer keyword, and whose first run fails
    @dramatiq.actor(broker=broker, max_retries=1, min_backoff=1, max_backoff=1)
    def older_release_actor(task_id: str) -> None:
        runs.append({"task_id": task_id})
        if len(runs) == 1:
            raise RuntimeError("a transient failure: retried")

    sent: list[dict[str, object]] = []

    class SentKeywords(dramatiq.Middleware):
        def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[object], delay: int) -> None:
            sent.append(dict(message.decode(message.encode()).kwargs))

    broker.add_middleware(SentKeywords())
    # when a newer release sends it with the keyword
    older_release_actor.send_with_options(args=("t1",), kwargs={NEWER_KEYWORD: True})
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        broker.join(older_release_actor.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    # then both runs went without it, and every send of the message (the retry's included) carried it
    assert runs == [{"task_id": "t1"}, {"task_id": "t1"}]
    assert len(sent) >= 2, sent  # the send, the retry (to the delay queue, and back)
    assert sent == [{NEWER_KEYWORD: True}] * len(sent), "a retry lost the sender's keyword"
