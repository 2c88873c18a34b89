"""`rotate_shop_tokens` on SQLite and PostgreSQL: every readable shop's tokens end under the first key, once."""

from __future__ import annotations

from dataclasses import replace

from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.key_rotation import Rotation, rotate_shop_tokens
from tests.integration.db_samples import add_shop, make_shop

KEY_OLD, KEY_NEW, KEY_LOST = (Fernet.generate_key().decode() for _ in range(3))


async def test_rotation_moves_readable_tokens_to_the_first_key_and_is_idempotent(database: Database) -> None:
    # given three shops under the old key, one under the new key, one under a key nobody has any more
    shops = [replace(make_shop(tiktok_shop_id=f"70000000000000{n}"), id=f"shop-{n}") for n in range(5)]
    for shop in shops[:3]:
        await add_shop(uow_factory(database, TokenCipher(KEY_OLD)), shop)
    await add_shop(uow_factory(database, TokenCipher(KEY_NEW)), shops[3])
    await add_shop(uow_factory(database, TokenCipher(KEY_LOST)), shops[4])
    both = TokenCipher(f"{KEY_NEW},{KEY_OLD}")

    # when the operator rotates, two shops a batch, then rotates again
    first = await rotate_shop_tokens(database, both, batch=2)
    second = await rotate_shop_tokens(database, both, batch=2)

    # then the old key's shops were re-encrypted once, the rest left as they were
    assert first == Rotation(rotated=3, current=1, unreadable=1)
    assert second == Rotation(rotated=0, current=4, unreadable=1)
    # and the new key alone reads every readable shop, with the same tokens
    async with uow_factory(database, TokenCipher(KEY_NEW))() as uow:
        for shop in shops[:4]:
            loaded = await uow.shops.get(shop.id)
            assert loaded is not None and loaded.tokens == shop.tokens
        lost = await uow.shops.get(shops[4].id)
    assert lost is not None and lost.tokens_unreadable
    # and the unreadable shop's ciphertexts are untouched: its own key still reads it
    async with uow_factory(database, TokenCipher(KEY_LOST))() as uow:
        kept = await uow.shops.get(shops[4].id)
    assert kept is not None and kept.tokens == shops[4].tokens
