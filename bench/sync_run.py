"""The sync engine as a worker process runs it: `workers.resources.build_resources` + `importer.run_sync_task`.

    async with SyncWorker(settings) as worker:
        shop = await worker.connect(sandbox)                     # consent + token exchange, stored like a callback
        run = await worker.run(shop, SyncKind.ORDERS, since=...)  # one task, start to end; `run.seconds`, `run.task`

Dramatiq's message hop is left out (the actor: resources, then `run_sync_task`, then, after a large import, the
planner's statistics: `importer.refresh_statistics`, run here too, after `run.seconds` as after the task's end);
everything it calls is the production code with the production settings, apart from what the caller overrides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType

import httpx

from adapters.config import Settings
from adapters.tiktok import TikTokClient
from bench.harness import SELLER, SandboxProcess
from domain.clock import SystemClock
from domain.services import importer
from domain.shops import Region, Shop, choose_authorized_shop
from domain.sync import SyncKind, SyncTask, SyncTrigger
from workers.resources import WorkerResources, build_resources, tune_collector

MERCHANT_ID = "bench-merchant"


class _NoQueue:
    """The worker never enqueues during these runs (no stale-task sweep here)."""

    async def enqueue_sync(self, task_id: str, *, after_webhook_registration: bool = False) -> None:
        return None

    async def enqueue_inventory_push(self, shop_id: str) -> None:
        return None

    async def enqueue_inventory_push_later(self, shop_id: str, delay_ms: int) -> bool:
        return False

    async def enqueue_inventory_reconcile(self, shop_id: str) -> None:
        return None


@dataclass(frozen=True)
class SyncRun:
    task: SyncTask
    seconds: float


class SyncWorker:
    """A worker's resources in this process and event loop, disposed on exit."""

    def __init__(self, settings: Settings, batch_records: int | None = None) -> None:
        """`batch_records`: records per transaction for an experiment, instead of the database's own
        (`Database.import_batch_records`, which `build_resources` sets as `SyncOptions.batch_records`); None: that."""
        self.settings = settings
        self.batch_records = batch_records
        self._resources: WorkerResources | None = None

    async def __aenter__(self) -> SyncWorker:
        self._resources = resources = await build_resources(self.settings, _NoQueue(), None)
        if self.batch_records is not None:
            options = replace(resources.sync.options, batch_records=self.batch_records)
            resources.sync = replace(resources.sync, options=options)
        tune_collector()  # as a worker process does once its resources are built (`Resources._build`)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._resources is not None:
            await self._resources.aclose()

    @property
    def deps(self) -> importer.SyncDeps:
        assert self._resources is not None, "use `async with`"
        return self._resources.sync

    async def connect(self, sandbox: SandboxProcess, seller: str = SELLER) -> Shop:
        """A shop authorized through the sandbox's consent form and stored, as the OAuth callback stores it."""
        code = sandbox.authorize(seller)["code"]
        async with httpx.AsyncClient(timeout=30) as http:
            tiktok = TikTokClient(self.settings.tiktok, http)
            tokens = await tiktok.exchange_code(code)
            granted = choose_authorized_shop(await tiktok.authorized_shops(tokens.access_token), Region.US)
        shop = Shop.connect(MERCHANT_ID, f"Bench shop of {seller}", Region.US, granted, tokens, SystemClock().now())
        async with self.deps.uow_factory() as uow:
            await uow.shops.add(shop)
            await uow.commit()
        return shop

    async def run(self, shop: Shop, kind: SyncKind, since: datetime | None = None) -> SyncRun:
        """Queue one task (AUTHORIZATION trigger: orders of the 30 days before now, unless `since`) and run it."""
        deps = self.deps
        task = SyncTask.queue(shop.id, shop.merchant_id, kind, SyncTrigger.AUTHORIZATION, deps.clock.now(), since)
        async with deps.uow_factory() as uow:
            await uow.sync_tasks.add(task)
            await uow.commit()
        started = time.perf_counter()
        outcome = await importer.run_sync_task(task.id, deps)
        seconds = time.perf_counter() - started
        if isinstance(outcome, importer.StaleStatistics):  # as the worker's actor does, after the task's end
            await importer.refresh_statistics(outcome, deps)
        async with deps.uow_factory() as uow:
            done = await uow.sync_tasks.get(task.id)
        assert done is not None
        return SyncRun(done, seconds)
