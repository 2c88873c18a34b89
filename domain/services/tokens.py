"""The token sweep's use case: refresh one shop's access token ahead of its expiry (rule: `domain.tokens`).

The scheduler claims the refresh (`ShopRepository.claim_token_refresh`, one process per shop at a time) and
enqueues it; this runs it. The new pair is saved compare-and-set (`judge_refreshed_tokens`), as imports save
theirs: a pair refreshed or re-authorized meanwhile wins. A refresh TikTok refuses because the refresh token is
invalid revokes the shop (REAUTHORIZATION_REQUIRED), unless the pair changed meanwhile (another refresh won): the
store is looked at for ~2 s first (`domain.tokens.STORED_TOKENS_POLL`, as every session does), since another
process's refresh of the same pair (which spent the refresh token, when TikTok rotates them) may be a commit away.
Should that commit come later still, it lifts the revocation (`shop_tokens.store_refreshed_pair`), which is
therefore `Revocation.REFRESH_REFUSED`, a reason a refresh lifts (as is a session's refusal of the stored pair,
`PAIR_REFUSED`).
TikTok being unavailable raises `TikTokUnavailableError` for the queue to retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from domain.clock import Clock
from domain.ports import AuthorizationLostError, EventPublisher, RefreshTokens, TaskQueue, UnitOfWorkFactory
from domain.services.shop_tokens import store_refreshed_pair
from domain.services.sync import publish_shop_quietly
from domain.shops import Revocation, Shop
from domain.sync import RefreshedTokens, judge_refreshed_tokens
from domain.tokens import STORED_TOKENS_POLL, refresh_due

log = logging.getLogger(__name__)


async def refresh_shop_tokens(
    uow_factory: UnitOfWorkFactory,
    refresh: RefreshTokens,
    events: EventPublisher | None,
    clock: Clock,
    shop_id: str,
    *,
    queue: TaskQueue | None = None,
    stored_pair_poll: Sequence[float] = STORED_TOKENS_POLL,
) -> RefreshedTokens | None:
    """Refresh if still due; returns what became of the new pair, or None when nothing was done (gone, not due,
    revoked or expired, or the shop was revoked now because its refresh token is dead). `stored_pair_poll`: the
    seconds between looks at the stored pair before a refusal revokes the shop (unit tests shorten it). A pair stored
    that lifts a revocation queues again the imports the lost authorization failed (`store_refreshed_pair`), sent
    with `queue` after the commit (without it, by the scheduler's tick)."""
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id)
    now = clock.now()
    if shop is None or not refresh_due(shop, now):
        return None  # a duplicate message, or a pair refreshed meanwhile by an import
    try:
        tokens = await refresh(shop)
    except AuthorizationLostError as exc:
        log.info("token refresh of shop %s refused (request_id=%s)", shop_id, exc.request_id)
        await _revoke_unless_renewed(uow_factory, events, clock, shop, stored_pair_poll)
        return None
    async with uow_factory() as uow:
        stored = await uow.shops.get(shop_id)
        if stored is None:
            return None
        verdict = judge_refreshed_tokens(stored.tokens, shop.tokens, tokens)
        if verdict is RefreshedTokens.STORE:
            await store_refreshed_pair(uow, stored, tokens, clock, uow_factory=uow_factory, queue=queue, events=events)
    if verdict is RefreshedTokens.STORE:
        log.info("refreshed the access token of shop %s ahead of its expiry", shop_id)
        await publish_shop_quietly(events, stored)
    return verdict


async def _revoke_unless_renewed(
    uow_factory: UnitOfWorkFactory,
    events: EventPublisher | None,
    clock: Clock,
    refreshed_from: Shop,
    poll: Sequence[float],
) -> None:
    """Revoke the shop whose refresh from `refreshed_from`'s pair TikTok refused, unless the stored pair changed
    meanwhile (a refresh of another process, a re-authorization: ours was merely stale). Looked at once per `poll`
    entry, waiting that many seconds after each look; the last look and the revocation are one transaction."""
    delays = tuple(poll) or (0.0,)
    for n, delay in enumerate(delays, 1):
        async with uow_factory() as uow:
            stored = await uow.shops.get(refreshed_from.id)
            if stored is None or _renewed(stored, refreshed_from):
                return
            if n == len(delays):
                stored.revoke(clock.now(), Revocation.REFRESH_REFUSED)
                await uow.shops.update(stored)
                await uow.commit()
        if n == len(delays):
            await publish_shop_quietly(events, stored)  # after the unit of work: never hold a connection for it
            return
        await asyncio.sleep(delay)


def _renewed(stored: Shop, refreshed_from: Shop) -> bool:
    """Whether the stored pair is another than the one the refused refresh was made from."""
    held = (refreshed_from.tokens.access_token, refreshed_from.tokens.refresh_token)
    return (stored.tokens.access_token, stored.tokens.refresh_token) != held
