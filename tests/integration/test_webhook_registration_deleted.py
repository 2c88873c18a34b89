"""A webhook registration whose shop is deleted while it runs stops there, on SQLite and PostgreSQL, against the
sandbox over HTTP.

Found in review: a registration went on sending the rest of its nine `PUT /event/202309/webhooks` (each with the
client's retries) for a shop the merchant had deleted, subscribing TikTok's pushes for a shop Shopbridge no longer
holds (they then land as `UNKNOWN_SHOP`). The deletion changes nothing at TikTok; it must not be undone there either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from adapters.tiktok.session import ShopSession
from domain.intake import SUBSCRIBED_EVENT_TYPES
from domain.ports import ShopTokens
from domain.services.shops import delete_shop
from domain.services.webhook_registration import register_shop_webhooks
from domain.shops import Shop
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings

ADDRESS = "https://shopbridge.example/webhooks/tiktok"
EVENT_API = "/event/202309/webhooks"


async def test_a_registration_stops_once_its_shop_is_deleted(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    harness = sync_harness_factory(sync_settings(database_url, sandbox, tmp_path))
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)

    def shop_api(loaded: Shop, tokens: ShopTokens) -> ShopSession:  # the worker's factory (workers/resources.py)
        return harness.tiktok.for_shop(
            loaded.tiktok_shop_cipher, loaded.tokens, tokens.refreshed, stored_tokens=tokens.stored
        )

    # given a registration whose first PUT waits at TikTok
    sandbox.hold(EVENT_API)
    run = asyncio.create_task(
        register_shop_webhooks(harness.uow_factory, shop_api, harness.clock, shop.id, ADDRESS, harness.events)
    )
    await asyncio.to_thread(sandbox.wait_held, 1)

    # when the merchant deletes the shop meanwhile, and TikTok then answers
    await delete_shop(harness.uow_factory, harness.clock, shop.merchant_id, shop.id, harness.events)
    sandbox.hold()  # answers the waiting PUT and holds nothing more

    # then the registration ends with nothing to do, the PUT in flight the only one TikTok got
    assert await run is False
    registered = sandbox.world.registrations.listing(shop.tiktok_shop_id)
    assert [entry["event_type"] for entry in registered] == [SUBSCRIBED_EVENT_TYPES[0].name]
    async with harness.uow_factory() as uow:
        assert await uow.shops.get(shop.id) is None
