"""`shopbridge rotate-keys`: re-encrypt every shop's tokens under the first SHOPBRIDGE_ENCRYPTION_KEY.

Idempotent: tokens the first key made are left as they are; tokens no configured key decrypts are counted and left
as they are (`adapters.db.repositories.shops` shows those shops REVOKED). Each shop's new ciphertexts are written
only if the old ones are still stored (a compare-and-set), so a token refresh that wrote meanwhile wins, and its
pair, encrypted under the first key already, needs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from adapters.crypto import TokenCipher
from adapters.db.engine import Database
from adapters.db.tables import shops

BATCH = 500


@dataclass(frozen=True, slots=True)
class Rotation:
    """How many shops had their tokens re-encrypted, already had them under the first key, or have them unreadable
    (changed: written meanwhile by another process, under its first key)."""

    rotated: int = 0
    current: int = 0
    unreadable: int = 0
    changed: int = 0


async def rotate_shop_tokens(db: Database, cipher: TokenCipher, batch: int = BATCH) -> Rotation:
    """Every shop, by id, `batch` at a time, one transaction per batch; see the module's docstring."""
    rotated = current = unreadable = changed = 0
    after = ""
    access, refresh = shops.c.access_token_encrypted, shops.c.refresh_token_encrypted
    while True:
        async with db.write_sessionmaker() as session, session.begin():
            query = select(shops.c.id, access, refresh).where(shops.c.id > after).order_by(shops.c.id).limit(batch)
            rows = (await session.execute(query)).all()
            for shop_id, access_encrypted, refresh_encrypted in rows:
                if cipher.is_current(access_encrypted) and cipher.is_current(refresh_encrypted):
                    current += 1
                    continue
                if not (cipher.can_decrypt(access_encrypted) and cipher.can_decrypt(refresh_encrypted)):
                    unreadable += 1
                    continue
                result = await session.execute(
                    update(shops)
                    .where(shops.c.id == shop_id, access == access_encrypted, refresh == refresh_encrypted)
                    .values(access_token_encrypted=cipher.rotate(access_encrypted),
                            refresh_token_encrypted=cipher.rotate(refresh_encrypted))
                )  # fmt: skip
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    rotated += 1
                else:
                    changed += 1
        if len(rows) < batch:
            return Rotation(rotated, current, unreadable, changed)
        after = rows[-1][0]
