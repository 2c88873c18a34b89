"""The token sweep's use case: refresh one shop's access token ahead of its expiry (rule: `domain.tokens`).

The scheduler claims the refresh (`ShopRepository.claim_token_refresh`, one process per shop at a time) and
enqueues it; this runs it. The new pair is saved compare-and-set (`judge_refreshed_tokens`), as imports save
theirs: a pair refreshed or re-authorized meanwhile wins. A refresh TikTok refuses because the refresh token is
invalid revokes the shop (REAUTHORIZATION_REQUIRED), unless the pair changed meanwhile (another refresh won).
TikTok being unavailable raises `TikTokUnavailableError` for the queue to retry.
"""

from __future__ import annotations

import logging

from domain.clock import Clock
from domain.ports import AuthorizationLostError, EventPublisher, RefreshTokens, UnitOfWorkFactory
from domain.services.sync import publish_shop_quietly
from domain.shops import Shop
from domain.sync import RefreshedTokens, judge_refreshed_tokens
from domain.tokens import refresh_due

log = logging.getLogger(__name__)


async def refresh_shop_tokens(
    uow_factory: UnitOfWorkFactory, refresh: RefreshTokens, events: EventPublisher | None, clock: Clock, shop_id: str
) -> RefreshedTokens | None:
    """Refresh if still due; returns what became of the new pair, or None when nothing was done (gone, not due,
    revoked or expired, or the shop was revoked now because its refresh token is dead)."""
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id)
    now = clock.now()
    if shop is None or not refresh_due(shop, now):
        return None  # a duplicate message, or a pair refreshed meanwhile by an import
    try:
        tokens = await refresh(shop)
    except AuthorizationLostError as exc:
        log.info("token refresh of shop %s refused (request_id=%s)", shop_id, exc.request_id)
        await _revoke_unless_renewed(uow_factory, events, clock, shop)
        return None
    async with uow_factory() as uow:
        stored = await uow.shops.get(shop_id)
        if stored is None:
            return None
        verdict = judge_refreshed_tokens(stored.tokens, shop.tokens, tokens)
        if verdict is RefreshedTokens.STORE:
            stored.refresh_tokens(tokens, clock.now())
            await uow.shops.update(stored)
            await uow.commit()
    if verdict is RefreshedTokens.STORE:
        log.info("refreshed the access token of shop %s ahead of its expiry", shop_id)
        await publish_shop_quietly(events, stored)
    return verdict


async def _revoke_unless_renewed(
    uow_factory: UnitOfWorkFactory, events: EventPublisher | None, clock: Clock, refreshed_from: Shop
) -> None:
    async with uow_factory() as uow:
        stored = await uow.shops.get(refreshed_from.id)
        if stored is None:
            return
        if (stored.tokens.access_token, stored.tokens.refresh_token) != (
            refreshed_from.tokens.access_token,
            refreshed_from.tokens.refresh_token,
        ):
            return  # another refresh or a re-authorization renewed the pair meanwhile: ours was merely stale
        stored.revoke(clock.now())
        await uow.shops.update(stored)
        await uow.commit()
    await publish_shop_quietly(events, stored)
