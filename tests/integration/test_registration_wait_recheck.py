"""A new shop's imports look again whether their webhook registration has ended at the pace
`SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS` sets, on real parts: the embedded worker pool, a real database, the sandbox
over HTTP holding the registration's PUT.

The pace was a constant of 250 ms (`workers/actors.py`): every test that connects a shop waited ~0.5 s idle for two
looks (the registration, then the orders import waiting for the products import to begin); the test servers now set
25 ms. The rule (the imports begin once the registration has ended) is the same at any pace.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path

from domain.services.sync import queue_authorization_sync
from domain.sync import SyncTask
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import SQLITE_ONLY
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import log_lines, until

RECHECK_MS = 40  # a pace neither the product's default (250) nor the test servers' (25)
REGISTRATION = "/event/202309/webhooks"


@SQLITE_ONLY
async def test_a_new_shops_imports_look_again_for_their_registration_at_the_set_pace(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    # given a connected shop, a worker whose imports look again every RECHECK_MS, and TikTok holding its
    # webhook registration
    settings = sync_settings(database_url, sandbox, tmp_path, registration_wait_recheck_ms=RECHECK_MS)
    harness = sync_harness_factory(settings)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    sandbox.hold(REGISTRATION)
    queue = harness.start_worker()

    with log_lines("workers.actors", logging.DEBUG) as lines:
        # when its connection queues its two imports and its webhook registration, as `complete_authorization` does
        async with harness.uow_factory() as uow:
            tasks = await queue_authorization_sync(
                uow, queue, shop, harness.clock.now(), events=harness.events, after_webhook_registration=True
            )
            await uow.commit()
        await queue.enqueue_webhook_registration(shop.id)
        await asyncio.to_thread(sandbox.wait_held)

        # then, while the registration waits at TikTok, each import is sent again RECHECK_MS later, again and again
        def waits() -> list[str]:
            return [m for m in lines.messages if "waits for its webhooks" in m]

        await until(lambda: len(waits()) >= 2 * len(tasks), "each import sent again twice while the registration waits")
        for task in tasks:
            stored = await harness.task(task.id)
            assert stored is not None and stored.started_at is None, stored
        sandbox.hold()  # TikTok answers the registration

        # and both imports begin once it has ended
        async def begun() -> list[SyncTask] | None:
            found = [t for task in tasks if (t := await harness.task(task.id)) is not None and t.started_at is not None]
            return found if len(found) == len(tasks) else None

        await until(begun, "both imports begun")
    delays = {int(m) for line in lines.messages for m in re.findall(r"sent again in (\d+) ms", line)}
    assert delays == {RECHECK_MS}, lines.messages
