"""Pushing the pool to TikTok: a shop's dirty `inventory_push_outbox` rows become Update Inventory calls.

Placeholder of the pool-core branch: the pool-push branch fills `push_shop` (targets computed when sent, one call
per product, per-SKU errors on the links; live-sync.md §7.3, tiktok-api.md §9).
"""

from __future__ import annotations

from domain.services.importer import SyncDeps


async def push_shop(shop_id: str, deps: SyncDeps) -> None:
    """Push shop `shop_id`'s dirty outbox rows; a no-op until pool-push fills it."""
