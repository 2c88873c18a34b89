"""SqlAuthorizationRequestRepository on SQLite and PostgreSQL: round trip and single use under concurrency."""

from __future__ import annotations

import asyncio

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.authorization import AuthorizationRequest
from domain.shops import Region
from tests.integration.db_samples import NOW, until_a_writer_waits_on_a_lock


async def _started(database: Database, cipher: TokenCipher) -> AuthorizationRequest:
    request, _state = AuthorizationRequest.start("merchant-a", Region.MY, " Kedai ", True, NOW)
    async with uow_factory(database, cipher)() as uow:
        await uow.authorizations.add(request)
        await uow.commit()
    return request


async def test_a_request_round_trips(database: Database, cipher: TokenCipher) -> None:
    request = await _started(database, cipher)
    async with uow_factory(database, cipher)() as uow:
        assert await uow.authorizations.get(request.state_digest) == request
        assert await uow.authorizations.get("unknown") is None


async def test_mark_used_succeeds_once(database: Database, cipher: TokenCipher) -> None:
    request = await _started(database, cipher)
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        loaded = await uow.authorizations.get(request.state_digest)
        assert loaded is not None
        loaded.consume(NOW)
        assert await uow.authorizations.mark_used(loaded) is True
        await uow.commit()
    async with uows() as uow:
        assert await uow.authorizations.mark_used(loaded) is False
        stored = await uow.authorizations.get(request.state_digest)
    assert stored is not None and stored.used_at == NOW


async def test_two_concurrent_completions_spend_the_state_exactly_once(database: Database, cipher: TokenCipher) -> None:
    # given a pending request that two callbacks (a double click, a replay) both loaded before either wrote
    request = await _started(database, cipher)
    uows = uow_factory(database, cipher)
    first_updated = asyncio.Event()

    async def complete(hold: bool) -> bool:
        async with uows() as uow:
            request.used_at = NOW
            if not hold:
                await first_updated.wait()
            used = await uow.authorizations.mark_used(request)
            if hold:
                first_updated.set()
                await until_a_writer_waits_on_a_lock(database)  # the other writer is blocked behind us
            await uow.commit()
            return used

    # when both mark it used
    results = await asyncio.gather(complete(hold=True), complete(hold=False))

    # then exactly one wins
    assert sorted(results) == [False, True]
