"""`shopbridge rotate-keys` on a migrated SQLite database: the tokens move to the first key, once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.shops import Shop
from gql.cli import main
from tests.integration.db_samples import make_shop

KEY_OLD, KEY_NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


async def _store(url: str, key: str, shop: Shop) -> None:
    db = Database(url)
    try:
        async with uow_factory(db, TokenCipher(key))() as uow:
            await uow.shops.add(shop)
            await uow.commit()
    finally:
        await db.dispose()


async def _load(url: str, key: str, shop_id: str) -> Shop | None:
    db = Database(url)
    try:
        async with uow_factory(db, TokenCipher(key))() as uow:
            return await uow.shops.get(shop_id)
    finally:
        await db.dispose()


def test_rotate_keys_re_encrypts_under_the_first_key_and_says_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a migrated database with a shop whose tokens the old key encrypted
    url = f"sqlite+aiosqlite:///{tmp_path / 'shopbridge.db'}"
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("SHOPBRIDGE_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("SHOPBRIDGE_ENCRYPTION_KEY", KEY_OLD)
    assert main(["migrate"]) == 0
    shop = replace(make_shop(tiktok_shop_id="7000000000000001"), id="shop-1")
    asyncio.run(_store(url, KEY_OLD, shop))
    capsys.readouterr()

    # when the operator lists the new key first and rotates, twice
    monkeypatch.setenv("SHOPBRIDGE_ENCRYPTION_KEY", f"{KEY_NEW},{KEY_OLD}")
    assert main(["rotate-keys"]) == 0
    assert main(["rotate-keys"]) == 0

    # then the first run re-encrypted the shop, the second had nothing to do
    fingerprint = TokenCipher(KEY_NEW).key_ids[0]
    tail = "written meanwhile by another process: 0; unreadable with these keys (left as they are, REVOKED until " + (
        "re-authorized): 0"
    )
    assert capsys.readouterr().out.splitlines() == [
        f"shops re-encrypted under the first key ({fingerprint}): 1; already under it: 0; {tail}",
        f"shops re-encrypted under the first key ({fingerprint}): 0; already under it: 1; {tail}",
    ]
    # and the new key alone now reads the same tokens: the old one may be removed
    loaded = asyncio.run(_load(url, KEY_NEW, shop.id))
    assert loaded is not None and loaded.tokens == shop.tokens
