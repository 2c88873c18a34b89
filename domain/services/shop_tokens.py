"""The shop's tokens as every TikTok session of a process sees them (`domain.ports.ShopTokens`).

One object per session: it remembers the pair the session holds, so each refreshed pair is saved compare-and-set
against the pair it replaced (`judge_refreshed_tokens`): a re-authorization or another process's refresh committed
meanwhile wins, and the session is told to go on with it. When TikTok refuses a token the session did not replace
itself, the session reads the stored pair here and adopts it (`adapters/tiktok/session.py`), so the importer, webhook
intake, the pool's pushes and webhook registration all survive a refresh made elsewhere, none of them revoking a
shop for nothing.
"""

from __future__ import annotations

import logging

from domain.clock import Clock
from domain.ports import AuthorizationLostError, EventPublisher, TaskQueue, UnitOfWork, UnitOfWorkFactory
from domain.services.sync import publish_shop_quietly, rerun_failed_imports
from domain.shops import Shop, TokenSet
from domain.sync import RefreshedTokens, judge_refreshed_tokens

log = logging.getLogger(__name__)


class StoredShopTokens:
    """`ShopTokens` over the store, for one session of `shop` (built with the tokens `shop` was loaded with)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        shop: Shop,
        events: EventPublisher | None = None,
        queue: TaskQueue | None = None,
    ) -> None:
        """`events` is told of the shop after a refresh lifted its revocation, and `queue` sent the imports that
        lift queued again, right after its commit (`store_refreshed_pair`): every session of a worker passes the
        worker's queue, a webhook registration's and a pool push's too (rerun72); without one they wait for the
        scheduler's tick."""
        self._uow_factory = uow_factory
        self._clock = clock
        self._events = events
        self._queue = queue
        self._shop_id = shop.id
        self._held = shop.tokens  # the pair the session holds: what its next refresh is made from

    async def refreshed(self, tokens: TokenSet) -> TokenSet | None:
        """Save `tokens` in a short transaction of its own if the stored pair is still the one the session held;
        dated now (the token sweep plans the next refresh from it), lifting a revocation for a refusal of the pair it
        replaced made since that pair was issued (`store_refreshed_pair`). Returns the stored pair if a newer one won
        (the session adopts it), None otherwise (stored, already stored, or the shop is gone: the caller's next write
        finds that out)."""
        refreshed_from, self._held = self._held, tokens
        async with self._uow_factory() as uow:
            shop = await uow.shops.get(self._shop_id)
            if shop is None or shop.tokens_unreadable:
                # Gone, or a pair stored since under a key this process lacks: nothing to compare with nor to hand
                # back (its placeholders are no tokens); the session goes on with the pair TikTok just gave it.
                return None
            verdict = judge_refreshed_tokens(shop.tokens, refreshed_from, tokens)
            if verdict is RefreshedTokens.SUPERSEDED:
                self._held = shop.tokens
                return shop.tokens
            if verdict is not RefreshedTokens.STORE:
                return None
            lifted = await store_refreshed_pair(
                uow, shop, tokens, self._clock, uow_factory=self._uow_factory, queue=self._queue, events=self._events
            )
        if lifted:
            await publish_shop_quietly(self._events, shop)
        return None

    async def stored(self) -> TokenSet | None:
        """The pair stored now (None: the shop is gone, or its stored pair is one this process's keys cannot read:
        its placeholders are no tokens to adopt). The session adopts it when its access token differs from its own,
        so it is the pair the next refresh is made from."""
        async with self._uow_factory() as uow:
            shop = await uow.shops.get(self._shop_id)
        if shop is None or shop.tokens_unreadable:
            return None
        self._held = shop.tokens
        return shop.tokens


async def store_refreshed_pair(
    uow: UnitOfWork,
    shop: Shop,
    tokens: TokenSet,
    clock: Clock,
    *,
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue | None = None,
    events: EventPublisher | None = None,
) -> bool:
    """Save the pair a refresh of `shop`'s stored pair returned (the compare-and-set already judged STORE) and
    commit. A revocation for a refusal of the replaced pair (`Revocation.liftable`: the token sweep's refused refresh,
    or any session's call or refresh refused with that pair stored) made since the replaced pair was issued is lifted
    (`Shop.refresh_tokens`: TikTok honours the pair, so what was refused was a token this refresh retired; a
    deauthorization or a refusal of another pair stands), with one INFO line; True then (the caller signals the shop
    after the commit).

    A lift queues again, in this transaction, each import the lost authorization FAILED (REAUTHORIZATION_REQUIRED)
    that nothing has run since, as a re-authorization does (`domain.services.sync.rerun_failed_imports`: trigger
    REAUTHORIZATION, ORDERS over the failed task's window start to now): the refusal that failed it was of a token
    this refresh retired, and without it the failed window stayed unread until a later re-authorization, its orders
    reserving nothing in the pool (review70 F3). Sent with `queue` after the commit (`events` signals them);
    without one, marked unsent for the scheduler's tick. Once: the re-run is the kind's newest import from then on."""
    revoked_at = shop.revoked_at
    now = clock.now()
    lifted = shop.refresh_tokens(tokens, now)
    await uow.shops.update(shop)
    if lifted:
        await rerun_failed_imports(
            uow, uow_factory, queue, events, shop, now, "had its revocation lifted by a token refresh"
        )
    await uow.commit()
    if lifted:
        log.info(
            "shop %s: a token refresh stored the pair TikTok renewed; the revocation of %s, a refusal of the pair "
            "it replaced, is lifted: the shop is no longer REVOKED",
            shop.id, revoked_at.isoformat() if revoked_at else None,
        )  # fmt: skip
    return lifted


async def revoke_refused_authorization(
    uow_factory: UnitOfWorkFactory,
    events: EventPublisher | None,
    clock: Clock,
    refused: Shop,
    what: str,
    error: AuthorizationLostError,
) -> bool:
    """TikTok refused the shop's authorization in `what` (a call made with the shop as loaded in `refused`; the
    session already tried the stored pair): mark the shop REVOKED at once (`Shop.attention`:
    REAUTHORIZATION_REQUIRED), as a poll or an import that meets the refusal does, with one WARNING line, and
    signal `shopUpdated`. Nothing when the shop is gone, was re-authorized since (the refusal was about the
    authorization it replaced) or holds a pair stored since that this process cannot read (`Shop.revoke_refused`).
    True when it revoked the shop now."""
    async with uow_factory() as uow:
        stored = await uow.shops.get(refused.id)
        if stored is None or not stored.revoke_refused(refused, clock.now(), error.refused_access_token):
            return False
        await uow.shops.update(stored)
        await uow.commit()
    log.warning(
        "shop %s: TikTok refused its authorization in %s (%s: %s); the shop needs re-authorizing",
        refused.id, what, type(error).__name__, error,
    )  # fmt: skip
    await publish_shop_quietly(events, stored)
    return True
