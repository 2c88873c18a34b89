"""Webhook registrations a stop or a restart lost are sent again, on SQLite and PostgreSQL.

A newcomer found it: stopping `make run` right after an authorization lost the registration's message (and its
retries, in the in-memory queue), and the shop then waited for webhooks that TikTok never sent.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.services.webhook_registration import reregister_moved_webhooks, resume_webhook_registrations
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


@pytest.mark.parametrize("page_size", [2, 500], ids=["pages-of-2", "one-page"])
async def test_shops_registered_with_another_address_are_registered_again_at_start(
    database: Database, cipher: TokenCipher, caplog, page_size: int
) -> None:
    """`make run PORT=8124` on the data of `make run PORT=8123` (or a moved SHOPBRIDGE_PUBLIC_URL): TikTok went on
    pushing to the old address. A process registers its own address for such shops as it starts, but leaves a
    registration another process made since then (it serves beside this one with another address) to a WARNING."""
    uows = uow_factory(database, cipher)
    ours, old, others = "https://new.example/webhooks/tiktok", "http://127.0.0.1:8123/webhooks/tiktok", "https://b/w"
    started = NOW
    before, since = NOW - timedelta(hours=1), NOW + timedelta(minutes=1)

    def shop(address: str | None, registered_at: datetime | None, **changes: object):
        base = make_shop()
        return dataclasses.replace(
            base, webhooks_registered_at=registered_at, webhooks_registered_address=address, **changes
        )

    # given shops registered with the old address, with an unknown one (before addresses were kept), with ours
    moved = await add_shop(uows, shop(old, before))
    unknown = await add_shop(uows, shop(None, before))
    await add_shop(uows, shop(ours, before))
    await add_shop(uows, shop(None, None))  # never registered: `resume_webhook_registrations` sends those
    await add_shop(uows, shop(old, before, revoked_at=before))  # revoked: nothing to register
    # and one registered since this process started, by another process configured with another address
    await add_shop(uows, shop(others, since))

    # when the process's boot sweep looks
    queue = FakeTaskQueue()
    with caplog.at_level(logging.WARNING, logger="domain.services.webhook_registration"):
        enqueued = await reregister_moved_webhooks(uows, queue, ours, started, page_size=page_size)

    # then the old and unknown addresses are registered again, once each
    assert sorted(enqueued) == sorted([moved.id, unknown.id]) == sorted(queue.webhook_registrations)
    # and the newer registration is left as it is, with one WARNING naming both addresses
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and others in warnings[0] and ours in warnings[0], warnings


async def test_a_start_with_another_key_registers_only_shops_whose_tokens_it_reads_and_names_the_others(
    database: Database, cipher: TokenCipher, caplog
) -> None:
    """F6: a process started with the wrong SHOPBRIDGE_ENCRYPTION_KEY logged "registering the webhooks of 3 shop(s)
    again", and queued a registration for each, though the registration does nothing for a shop whose tokens it
    cannot read (`Shop.authorization_lost`). The log counts what is queued and names, by id and with a stable code,
    the shops left out; no log line carries a token."""
    ours, old = "https://new.example/webhooks/tiktok", "http://127.0.0.1:8123/webhooks/tiktok"
    before = NOW - timedelta(hours=1)

    def moved() -> object:
        return dataclasses.replace(make_shop(), webhooks_registered_at=before, webhooks_registered_address=old)

    # given three shops registered at the old address: one stored with this process's key, two with another key
    readable = await add_shop(uow_factory(database, cipher), moved())
    other_key = uow_factory(database, TokenCipher(Fernet.generate_key().decode()))
    unreadable = [await add_shop(other_key, moved()) for _ in range(2)]

    # when the process's boot sweep looks
    queue = FakeTaskQueue()
    with caplog.at_level(logging.INFO, logger="domain.services.webhook_registration"):
        enqueued = await reregister_moved_webhooks(uow_factory(database, cipher), queue, ours, NOW)

    # then only the readable shop is registered again, and the log says so: one shop, not three
    assert enqueued == queue.webhook_registrations == [readable.id]
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[-2:] == [
        ("INFO", f"registering the webhooks of 1 shop(s) again at {ours} (registered elsewhere before)"),
        (
            "WARNING",
            f"not registering the webhooks of 2 shop(s) again at {ours} (TOKENS_UNREADABLE): their stored tokens "
            "do not decrypt with the configured SHOPBRIDGE_ENCRYPTION_KEY; deploy the key that encrypted them, or "
            f"re-authorize them: {', '.join(sorted(s.id for s in unreadable))}",
        ),
    ]
    tokens = {t for s in [readable, *unreadable] for t in (s.tokens.access_token, s.tokens.refresh_token)}
    assert not [line for _, line in lines if any(token in line for token in tokens)]
