"""Webhook registrations a stop or a restart lost are sent again, on SQLite and PostgreSQL.

A newcomer found it: stopping `make run` right after an authorization lost the registration's message (and its
retries, in the in-memory queue), and the shop then waited for webhooks that TikTok never sent.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.services.webhook_registration import resume_webhook_registrations
from tests.fakes import FakeClock, FakeTaskQueue
from tests.integration.db_samples import NOW, add_shop, make_shop


async def test_registrations_lost_or_failed_are_sent_again(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    long_ago = NOW - timedelta(hours=2)

    def shop(**changes: object):
        base = make_shop()
        return dataclasses.replace(base, authorized_at=long_ago, **changes)

    # given shops in every state of registration
    never = await add_shop(uows, shop())  # the message was lost before it ran
    failed = await add_shop(uows, shop(webhook_registration_error="InvalidRequestError: ..."))
    done = await add_shop(uows, shop(webhooks_registered_at=long_ago + timedelta(minutes=1)))
    await add_shop(uows, shop(revoked_at=long_ago + timedelta(minutes=5)))  # revoked: nothing to register
    recent = await add_shop(uows, dataclasses.replace(make_shop(), authorized_at=NOW - timedelta(seconds=30)))
    clock = FakeClock(NOW)

    # when the periodic sweep runs: what was never attempted, and is not just being registered
    queue = FakeTaskQueue()
    swept = await resume_webhook_registrations(uows, queue, clock, timedelta(minutes=20), failed_too=False)
    assert swept == [never.id] and queue.webhook_registrations == [never.id]

    # when the embedded mode restarts (its queue and its retries are gone): the failed ones as well, and the recent
    queue = FakeTaskQueue()
    swept = await resume_webhook_registrations(uows, queue, clock, timedelta(0), failed_too=True)
    assert sorted(swept) == sorted([never.id, failed.id, recent.id]) == sorted(queue.webhook_registrations)
    assert done.id not in swept
