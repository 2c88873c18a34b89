"""SqlShopRepository: shops with their tokens encrypted at rest; the unique TikTok shop id is the last guard."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.crypto import TokenCipher, TokenCipherError
from adapters.db.errors import ConcurrentUpdateError, is_unique_violation
from adapters.db.shop_deletes import hold_unless_deleting, mark_delete, take_mark_shared
from adapters.db.tables import (
    SHOP_NAME_UNIQUE,
    SHOP_OWNED_TABLES,
    SHOP_TIKTOK_ID_UNIQUE,
    authorization_requests,
    shops,
)
from domain.errors import DomainError, ErrorCode
from domain.ports import ShopNameRaceLostError
from domain.shops import (
    Region,
    RegisteredWebhooks,
    Revocation,
    Shop,
    ShopName,
    TokenSet,
    authorization_end,
    shop_name_key,
)
from domain.tokens import ShopSchedule

logger = logging.getLogger(__name__)

# Shops whose unreadable tokens this process has already reported (one ERROR line per shop, not one per load).
_reported_unreadable: set[str] = set()


def authorization_holds(now: datetime) -> ColumnElement[bool]:
    """SQL over `shops`: the shop is neither revoked nor expired at `now` as far as its columns tell
    (`domain.shops.shop_status`: REVOKED when `revoked_at` is set; EXPIRED once `authorization_end`, the earlier of
    the refresh token's expiry and webhook 7's end, is reached). Whether its tokens decrypt is not in SQL: Fernet
    ciphertexts name no key, so the caller asks the cipher (`TokenCipher.can_decrypt`)."""
    return and_(
        shops.c.revoked_at.is_(None),
        shops.c.refresh_token_expires_at > now,
        or_(shops.c.authorization_expires_at.is_(None), shops.c.authorization_expires_at > now),
    )


def _raise_if_name_race_lost(exc: IntegrityError) -> None:
    """`ShopNameRaceLostError` when `exc` is the unique index on (merchant_id, name_key) refusing a name."""
    if is_unique_violation(exc, SHOP_NAME_UNIQUE, "shops.merchant_id, shops.name_key"):
        raise ShopNameRaceLostError(str(exc.orig)) from None


class SqlShopRepository:
    """Implements `domain.ports.ShopRepository`.

    `get` locks the row (`FOR NO KEY UPDATE` on PostgreSQL; SQLite's write transactions are exclusive anyway) so
    that a read-modify-write in one unit of work cannot lose a concurrent token refresh; `update` also checks the
    version it read.
    """

    def __init__(self, session: AsyncSession, cipher: TokenCipher) -> None:
        self._session = session
        self._cipher = cipher

    async def add(self, shop: Shop) -> None:
        try:
            # A savepoint keeps the unit of work usable after the violation (PostgreSQL aborts the whole
            # transaction otherwise). Under two concurrent completions PostgreSQL makes the second INSERT wait for
            # the first transaction and then fail; SQLite serialises the two write transactions: one always wins.
            async with self._session.begin_nested():
                await self._session.execute(insert(shops).values(self._to_row(shop)))
        except IntegrityError as exc:
            if is_unique_violation(exc, SHOP_TIKTOK_ID_UNIQUE, "shops.tiktok_shop_id"):
                raise DomainError(
                    ErrorCode.SHOP_ALREADY_CONNECTED,
                    "This TikTok shop is already connected to another Shopbridge account.",
                ) from None
            _raise_if_name_race_lost(exc)
            raise

    async def get(self, shop_id: str, merchant_id: str | None = None, *, for_delete: bool = False) -> Shop | None:
        """The shop, held until commit on PostgreSQL: `FOR NO KEY UPDATE` (SQLAlchemy's `key_share=True` without
        `read`: it cannot be deleted meanwhile, and two transactions that get one shop take turns, so the second
        reads what the first wrote), or with `for_delete` `FOR UPDATE` (every writer of its rows takes the shop
        first, so it waits for the delete instead of holding rows the delete needs), the delete's mark taken first
        (PostgreSQL: `adapters.db.shop_deletes.mark_delete`, so that a batch learns a delete waits for the shop); with
        `merchant_id`, only for that merchant's own shop (another merchant's id takes no mark: it would refuse the
        owner's webhook pushes while this unit of work lasts, review66 R1; a shop never changes merchant, so the check
        needs no lock)."""
        if for_delete:
            if merchant_id is not None:
                owned = select(shops.c.id).where(shops.c.id == shop_id, shops.c.merchant_id == merchant_id)
                if (await self._session.execute(owned)).first() is None:
                    return None
            await mark_delete(self._session, shop_id)
        query = select(shops).where(shops.c.id == shop_id)
        query = query.with_for_update() if for_delete else query.with_for_update(key_share=True)
        if merchant_id is not None:
            query = query.where(shops.c.merchant_id == merchant_id)
        row = (await self._session.execute(query)).first()
        return None if row is None else self._from_row(row)

    async def hold(self, shop_id: str, *, unless_being_deleted: bool = False) -> bool:
        """`FOR KEY SHARE` (SQLAlchemy's `read=True, key_share=True`): a delete (`FOR UPDATE`) waits for this
        transaction, an UPDATE of the shop's other columns (`FOR NO KEY UPDATE`) does not. `unless_being_deleted`
        first tries the delete's mark shared (`adapters.db.shop_deletes.take_mark_shared`: False at once, no row
        locked, while a delete holds the mark or asks for it, so a delete still waiting for the row behind another
        holder is seen too: PostgreSQL would grant this `FOR KEY SHARE` beside it, and the delete then waited for
        this transaction as well), then adds `SKIP LOCKED`: `FOR KEY SHARE` conflicts with `FOR UPDATE` only, which
        only a delete takes (`get(for_delete=True)`), so the row is skipped (False) while anything holds it so; SQLite
        has neither."""
        if unless_being_deleted and not await take_mark_shared(self._session, shop_id):
            return False
        query = select(shops.c.id).where(shops.c.id == shop_id)
        query = query.with_for_update(read=True, key_share=True, skip_locked=unless_being_deleted)
        return (await self._session.execute(query)).first() is not None

    async def hold_unless_deleting(self, shop_id: str) -> bool:
        """`domain.ports.ShopRepository.hold_unless_deleting`: `adapters.db.shop_deletes.hold_unless_deleting`."""
        return await hold_unless_deleting(self._session, shop_id)

    async def get_by_tiktok_shop_id(self, tiktok_shop_id: str) -> Shop | None:
        query = select(shops).where(shops.c.tiktok_shop_id == tiktok_shop_id).with_for_update(key_share=True)
        row = (await self._session.execute(query)).first()
        return None if row is None else self._from_row(row)

    async def holder_of_name(self, merchant_id: str, name: str, *, other_than: str | None = None) -> ShopName | None:
        """One indexed lookup of (merchant_id, name_key); no lock (a racer is the unique index's to refuse)."""
        query = select(shops.c.id, shops.c.name).where(
            shops.c.merchant_id == merchant_id, shops.c.name_key == shop_name_key(name)
        )
        if other_than is not None:
            query = query.where(shops.c.id != other_than)
        row = (await self._session.execute(query.limit(1))).first()
        return None if row is None else ShopName(shop_id=row.id, name=row.name)

    async def update(self, shop: Shop) -> None:
        """Over the version read, else ConcurrentUpdateError; `ShopNameRaceLostError` when the unique index on
        (merchant_id, name_key) refuses its name. No savepoint (every token refresh and sync updates a shop): on
        PostgreSQL the refused statement spoils the transaction, which the caller runs again whole."""
        values = self._to_row(shop)
        del values["id"], values["created_at"]
        values["version"] = shop.version + 1
        try:
            result = await self._session.execute(
                update(shops).where(shops.c.id == shop.id, shops.c.version == shop.version).values(values)
            )
        except IntegrityError as exc:
            _raise_if_name_race_lost(exc)
            raise
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdateError(f"shop {shop.id} was changed or deleted since it was read")
        shop.version += 1

    async def delete(self, shop_id: str) -> bool:
        """Delete every row of the shop, children first, then the shop itself; its authorization requests are kept,
        detached (`shop_id` NULL), for retention to prune.

        ON DELETE CASCADE would do it alone; the explicit deletes are set-based by `shop_id` (faster than the
        cascade's row-by-row chain over orders → line items) and do not depend on SQLite's `foreign_keys` pragma.
        """
        for table in SHOP_OWNED_TABLES:
            if table is authorization_requests:
                # A pending re-authorization is kept, detached, until retention prunes it (a day past its expiry):
                # its completion then says the shop was deleted, not "Unknown authorization state"
                # (`AuthorizationRequest.shop_to_reauthorize`). It holds no token, only the name and region.
                detach = update(table).where(table.c.shop_id == shop_id).values(shop_id=None)
                await self._session.execute(detach)
                continue
            await self._session.execute(delete(table).where(table.c.shop_id == shop_id))
        result = await self._session.execute(delete(shops).where(shops.c.id == shop_id))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def schedules(self, now: datetime) -> list[ShopSchedule]:
        """The shops that may sync at `now`, the scheduler's view, in id order: neither revoked nor expired
        (`authorization_holds`, in SQL) and with tokens a configured key decrypts (`TokenCipher.can_decrypt` on the
        refresh token's ciphertext: an HMAC check, the plaintext dropped). The rule of `domain.sync.
        ensure_shop_can_sync`: a shop that cannot sync gets no poll, token refresh or reconcile queued each tick."""
        columns = (
            shops.c.id, shops.c.merchant_id, shops.c.refresh_token_expires_at, shops.c.revoked_at,
            shops.c.access_token_expires_at, shops.c.tokens_refreshed_at, shops.c.authorized_at,
            shops.c.access_token_refresh_claimed_at, shops.c.authorization_expires_at, shops.c.refresh_token_encrypted,
        )  # fmt: skip
        query = select(*columns).where(authorization_holds(now)).order_by(shops.c.id)
        rows = (await self._session.execute(query)).mappings()
        return [
            ShopSchedule(
                shop_id=m["id"],
                merchant_id=m["merchant_id"],
                expires_at=authorization_end(m["refresh_token_expires_at"], m["authorization_expires_at"]),
                revoked_at=m["revoked_at"],
                access_token_expires_at=m["access_token_expires_at"],
                tokens_issued_at=max(m["tokens_refreshed_at"] or m["authorized_at"], m["authorized_at"]),
                refresh_claimed_at=m["access_token_refresh_claimed_at"],
                authorized_at=m["authorized_at"],
            )
            for m in rows
            if self._cipher.can_decrypt(m["refresh_token_encrypted"])
        ]

    async def awaiting_webhook_registration(
        self, authorized_before: datetime, *, now: datetime, failed_too: bool, limit: int
    ) -> list[str]:
        query = select(shops.c.id).where(
            authorization_holds(now),
            shops.c.webhooks_registered_at.is_(None),
            shops.c.authorized_at < authorized_before,
        )
        if not failed_too:
            query = query.where(shops.c.webhook_registration_error.is_(None))
        return list((await self._session.execute(query.order_by(shops.c.authorized_at).limit(limit))).scalars())

    async def registered_elsewhere(
        self, address: str, *, now: datetime, after: RegisteredWebhooks | None = None, limit: int
    ) -> list[RegisteredWebhooks]:
        registered, registered_at = shops.c.webhooks_registered_address, shops.c.webhooks_registered_at
        query = select(shops.c.id, registered, registered_at, shops.c.refresh_token_encrypted).where(
            authorization_holds(now),
            registered_at.is_not(None),
            or_(registered.is_(None), registered != address),
        )
        if after is not None:  # keyset: the page after this one
            query = query.where(
                or_(
                    registered_at > after.registered_at,
                    and_(registered_at == after.registered_at, shops.c.id > after.shop_id),
                )
            )
        query = query.order_by(registered_at, shops.c.id).limit(limit)
        return [
            # whether the tokens decrypt, as `schedules` asks it: an HMAC check, the plaintext dropped
            RegisteredWebhooks(row.id, row[1], row[2], self._cipher.can_decrypt(row.refresh_token_encrypted))
            for row in (await self._session.execute(query)).all()
        ]

    async def claim_token_refresh(self, shop_id: str, now: datetime, stale_before: datetime) -> bool:
        """One conditional UPDATE: atomic on PostgreSQL (row lock, re-checked WHERE) and SQLite (one writer)."""
        claimed = shops.c.access_token_refresh_claimed_at
        result = await self._session.execute(
            update(shops)
            .where(shops.c.id == shop_id, or_(claimed.is_(None), claimed < stale_before))
            .values(access_token_refresh_claimed_at=now)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _to_row(self, shop: Shop) -> dict[str, Any]:
        tokens = shop.tokens
        row = {
            "id": shop.id,
            "merchant_id": shop.merchant_id,
            "name": shop.name,
            "name_key": shop_name_key(shop.name),
            "region": shop.region.value,
            "tiktok_shop_id": shop.tiktok_shop_id,
            "tiktok_shop_name": shop.tiktok_shop_name,
            "tiktok_shop_cipher": shop.tiktok_shop_cipher,
            "tiktok_shop_code": shop.tiktok_shop_code,
            "seller_name": shop.seller_name,
            "access_token_encrypted": self._cipher.encrypt(tokens.access_token),
            "access_token_expires_at": tokens.access_token_expires_at,
            "refresh_token_encrypted": self._cipher.encrypt(tokens.refresh_token),
            "refresh_token_expires_at": tokens.refresh_token_expires_at,
            "token_seller_name": tokens.seller_name,
            "token_open_id": tokens.open_id,
            "authorized_at": shop.authorized_at,
            "created_at": shop.created_at,
            "revoked_at": shop.revoked_at,
            "revoked_because": shop.revoked_because.value if shop.revoked_because is not None else None,
            "last_synced_at": shop.last_synced_at,
            "tokens_refreshed_at": shop.tokens_refreshed_at,
            "version": shop.version,
            "authorization_expires_at": shop.authorization_expires_at,
            "webhooks_registered_at": shop.webhooks_registered_at,
            "webhook_registration_error": shop.webhook_registration_error,
            "webhooks_registered_address": shop.webhooks_registered_address,
        }
        if shop.tokens_unreadable:
            # Keep the ciphertexts as they are: the key that made them may come back; never store the placeholders.
            del row["access_token_encrypted"], row["refresh_token_encrypted"]
        return row

    def _decrypt_tokens(self, shop_id: str, access_encrypted: str, refresh_encrypted: str) -> tuple[str, str] | None:
        """The shop's two tokens, or None when no configured key decrypts them (reported once per shop at ERROR,
        with the shop's id and the keys' fingerprints only)."""
        try:
            return self._cipher.decrypt(access_encrypted), self._cipher.decrypt(refresh_encrypted)
        except TokenCipherError:
            if shop_id not in _reported_unreadable:
                _reported_unreadable.add(shop_id)
                logger.error(
                    "shop %s: its stored tokens cannot be decrypted with the configured SHOPBRIDGE_ENCRYPTION_KEY "
                    "(keys tried: %s); it needs re-authorization, or the key that encrypted them",
                    shop_id,
                    ", ".join(self._cipher.key_ids),
                )
            return None

    def _from_row(self, row: Row[Any]) -> Shop:
        m = row._mapping
        decrypted = self._decrypt_tokens(m["id"], m["access_token_encrypted"], m["refresh_token_encrypted"])
        access_token, refresh_token = decrypted or ("", "")
        return Shop(
            id=m["id"],
            merchant_id=m["merchant_id"],
            name=m["name"],
            region=Region(m["region"]),
            tiktok_shop_id=m["tiktok_shop_id"],
            tiktok_shop_name=m["tiktok_shop_name"],
            tiktok_shop_cipher=m["tiktok_shop_cipher"],
            tiktok_shop_code=m["tiktok_shop_code"],
            seller_name=m["seller_name"],
            tokens=TokenSet(
                access_token=access_token,
                access_token_expires_at=m["access_token_expires_at"],
                refresh_token=refresh_token,
                refresh_token_expires_at=m["refresh_token_expires_at"],
                seller_name=m["token_seller_name"],
                open_id=m["token_open_id"],
            ),
            authorized_at=m["authorized_at"],
            created_at=m["created_at"],
            revoked_at=m["revoked_at"],
            revoked_because=Revocation(m["revoked_because"]) if m["revoked_because"] is not None else None,
            last_synced_at=m["last_synced_at"],
            tokens_refreshed_at=m["tokens_refreshed_at"],
            version=m["version"],
            authorization_expires_at=m["authorization_expires_at"],
            webhooks_registered_at=m["webhooks_registered_at"],
            webhook_registration_error=m["webhook_registration_error"],
            last_webhook_at=m["last_webhook_at"],
            webhooks_registered_address=m["webhooks_registered_address"],
            tokens_unreadable=decrypted is None,
        )
