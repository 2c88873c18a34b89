"""Migrations apply from scratch on SQLite and PostgreSQL, land on head, and match the tables in code; an upgrade
keeps the rows already there."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from adapters.db import migrate
from adapters.db.tables import metadata
from domain.inventory.items import sku_search_key
from domain.inventory.links import trimmed
from domain.shops import shop_name_key
from domain.text import is_zero_width
from tests.fixtures.processes import parent_death_signal
from tests.fixtures.revisions import RevisionSnapshots
from tests.fixtures.servers import PostgresServer
from tests.fixtures.waiting import DEADLINE_SECONDS

REPO = Path(__file__).resolve().parents[2]

HEAD = "0071_items_seeded_from"


def test_the_revisions_read_from_the_migration_files_are_alembics() -> None:
    # given Alembic's own reading of this code's migrations (each file loaded as a module)
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    alembics = {each.revision: tuple(each._all_down_revisions) for each in script.walk_revisions()}
    # when `migrate` reads them from the files' text, as /readyz and the workers' schema gate do (no Alembic import:
    # test_startup_imports.py), then it finds the same revisions, each revising the same ones, and the same head
    assert migrate._revision_graph() == alembics
    assert migrate.known_revisions() == set(alembics)
    assert migrate.head() == script.get_current_head() == HEAD


def test_a_merge_migration_whose_down_revisions_span_lines_is_read_as_alembic_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given this code's migrations and two branches off its head merged by a migration whose down_revision tuple
    # `ruff format` splits over several lines (long names at 120 columns; review71b M1)
    versions = tmp_path / "versions"
    versions.mkdir()
    for path in (migrate.MIGRATIONS_DIR / "versions").glob("*.py"):
        (versions / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    a, b = "0069_a_first_branch_with_a_rather_long_descriptive_name", "0069_b_second_branch_with_a_long_name_too"
    for name in (a, b):
        (versions / f"{name}.py").write_text(f'revision = "{name}"\ndown_revision = "{HEAD}"\n', encoding="utf-8")
    merge = f'revision: str = "0070_merge"\ndown_revision: tuple[str, str] = (\n    "{a}",\n    "{b}",\n)\n'
    (versions / "0070_merge.py").write_text(merge + "depends_on = None\n", encoding="utf-8")
    # when `migrate` reads them from the files' text (not loading them), then it finds Alembic's graph and head
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    script = ScriptDirectory(str(tmp_path))
    alembics = {each.revision: tuple(each._all_down_revisions) for each in script.walk_revisions()}
    assert migrate._revision_graph.__wrapped__() == alembics
    assert alembics["0070_merge"] == (a, b) and script.get_current_head() == "0070_merge"


def test_upgrade_gives_each_item_a_links_seed_copied_the_item_it_copied_and_downgrade_drops_it(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0070 with items: i2 seeded by k2's read as a copy of i1's count (a seller SKU renamed), i3
    # seeded by k3's own read (a first link: no copy), i1 seeded before 0030 (nothing copied known)
    url = database_at("0070_movements_hand_made_index")
    links = [("k1", "i1", "i1", None), ("k2", "i2", "i2", "i1"), ("k3", "i3", "i3", None)]
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _insert_shops(connection, [("s1", "m1", "Shop")], shop_name_key)
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES (:id, 'm1', :id, 5, 0, :now, :now)"
                ),
                [{"id": item_id, "now": _NOW} for item_id in ("i1", "i2", "i3")],
            )
            connection.execute(
                text(
                    "INSERT INTO sku_links (sku_id, shop_id, merchant_id, inventory_item_id, tiktok_product_id, "
                    "tiktok_sku_id, state, source, stock_counted_at, seeded_item_id, seeded_from_item_id, "
                    "updated_at) VALUES (:id, 's1', 'm1', :item, 'tp1', :id, 'LINKED', 'AUTO', :now, :seeded, "
                    ":copied, :now)"
                ),
                [dict(zip(("id", "item", "seeded", "copied"), link, strict=True), now=_NOW) for link in links],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the item a link's seed copied another's count into remembers that item (chain74), the others none
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, seeded_from_item_id FROM inventory_items ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [("i1", None), ("i2", "i1"), ("i3", None)]
        # and the downgrade to 0070 drops the column, keeping the items
        migrate.downgrade(url, "0070_movements_hand_made_index")
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM inventory_items")).scalar() == 3
            columns = [c["name"] for c in inspect(connection).get_columns("inventory_items")]
        assert "seeded_from_item_id" not in columns


def _assert_migrates_to_head(url: str) -> None:
    # given an empty database
    assert migrate.current(url) is None
    # when the migrations run
    migrate.upgrade(url)
    # then it is at head and the schema equals the tables in code
    assert migrate.current(url) == migrate.head() == HEAD
    with _sync_engine(url) as engine:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_migrations_apply_from_scratch_on_sqlite(tmp_path: Path) -> None:
    _assert_migrates_to_head(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


def test_migrations_apply_from_scratch_on_postgres(postgres_server: PostgresServer) -> None:
    _assert_migrates_to_head(postgres_server.create_database())


def test_two_migrate_commands_at_once_on_postgres_both_succeed(postgres_server: PostgresServer, tmp_path: Path) -> None:
    # given an empty database, and two hosts that each run `shopbridge migrate` as they start (an init container per
    # replica): one used to fail with DATABASE_UNAVAILABLE, a unique violation on the table the other was creating
    url = postgres_server.create_database()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")},
        "SHOPBRIDGE_DATABASE_URL": url,
        "SHOPBRIDGE_DATA_DIR": str(tmp_path),
        "SHOPBRIDGE_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PYTHONPATH": str(REPO),
    }
    # when both run at once
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "gql.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )
        for _ in range(2)
    ]
    outcomes = [(command.wait(timeout=DEADLINE_SECONDS), command.communicate()[1]) for command in commands]
    # then both succeed (the second waits for the first, then finds nothing to do), and the database is at head
    assert [code for code, _ in outcomes] == [0, 0], [err.splitlines()[-1:] for _, err in outcomes]
    assert migrate.current(url) == HEAD


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == HEAD


def test_sync_url_swaps_the_async_drivers() -> None:
    assert migrate.sync_url("sqlite+aiosqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert migrate.sync_url("postgresql+asyncpg://u:p%25w@h:5432/db") == "postgresql+psycopg2://u:p%25w@h:5432/db"


_NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@contextmanager
def _sync_engine(url: str) -> Iterator[Engine]:
    """A synchronous engine on `url`'s database (its driver's sync twin, no pool), disposed on the way out."""
    engine = create_engine(migrate.sync_url(url), poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def _add_shops(connection: Connection, *shop_ids: str) -> None:
    """Shops of merchant m1 (each its id as TikTok shop id) as every revision's `shops` table takes them."""
    connection.execute(
        text(
            "INSERT INTO shops (id, merchant_id, name, region, tiktok_shop_id, tiktok_shop_name, tiktok_shop_cipher, "
            "access_token_encrypted, access_token_expires_at, refresh_token_encrypted, refresh_token_expires_at, "
            "authorized_at, created_at) VALUES "
            "(:shop, 'm1', 'Shop', 'US', :shop, 'Shop', 'c1', 'a', :now, 'r', :now, :now, :now)"
        ),
        [{"shop": shop_id, "now": _NOW} for shop_id in shop_ids],
    )


def _assert_upgrade_keeps_ledger_rows(url: str) -> None:
    # given a database at 0004 (`url`) with an item, a shop and one ledger row (one reserved unit of an ordinary line)
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES ('i1', 'm1', 'TÉE-ß', 5, 1, :now, :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, merchant_id, "
                    "tiktok_sku_id, inventory_item_id, quantity, state, wanted, order_updated_at, updated_at) "
                    "VALUES ('s1', 'o1', 'l1', 'm1', 'sku-1', 'i1', 1, 'RESERVED', 'RESERVE', :now, :now)"
                ),
                {"now": _NOW},
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the row is kept, as the line's own row (component ''), and a bundle line's components fit beside it
        with engine.begin() as connection:
            rows = connection.execute(
                text(
                    "SELECT tiktok_line_item_id, component_sku_id, tiktok_sku_id, quantity, state FROM order_line_stock"
                )
            ).all()
            assert [tuple(r) for r in rows] == [("l1", "", "sku-1", 1, "RESERVED")]
            for component in ("sku-2", "sku-3"):
                connection.execute(
                    text(
                        "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, "
                        "component_sku_id, merchant_id, tiktok_sku_id, quantity, state, wanted, order_updated_at, "
                        "updated_at) VALUES ('s1', 'o1', 'l1', :c, 'm1', :c, 2, 'PENDING_LINK', 'RESERVE', :now, :now)"
                    ),
                    {"c": component, "now": _NOW},
                )
            assert connection.execute(text("SELECT count(*) FROM order_line_stock")).scalar_one() == 3
            # and the item already there is searched by its SKU case-folded, as new ones are (0007)
            assert connection.execute(text("SELECT sku_search FROM inventory_items")).scalar_one() == "tée-ss"
    assert migrate.current(url) == HEAD


def test_upgrade_keeps_ledger_rows(database_at: Callable[[str], str]) -> None:
    _assert_upgrade_keeps_ledger_rows(database_at("0004"))


def _assert_upgrade_counts_each_shop_skus_ledger_units(url: str) -> None:
    # given a database at 0011 (`url`) with two shops' ledger lines of two SKUs in every state
    lines = [  # (shop, order, SKU, units, state)
        ("s1", "o1", "sku-1", 1, "RESERVED"), ("s1", "o2", "sku-1", 2, "DEDUCTED"),
        ("s1", "o3", "sku-1", 4, "RELEASED"), ("s1", "o4", "sku-1", 8, "PENDING_LINK"),
        ("s1", "o5", "sku-1", 16, "HISTORICAL"),
        ("s1", "o6", "sku-2", 1, "RELEASED"), ("s1", "o7", "sku-3", 5, "HISTORICAL"),
        ("s2", "o1", "sku-1", 3, "DEDUCTED"),
    ]  # fmt: skip
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1", "s2")
            connection.execute(
                text(
                    "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, merchant_id, "
                    "tiktok_sku_id, quantity, state, wanted, order_updated_at, updated_at) "
                    "VALUES (:shop, :order, 'l1', 'm1', :sku, :units, :state, 'RESERVE', :now, :now)"
                ),
                [
                    {"shop": shop, "order": order, "sku": sku, "units": units, "state": state, "now": _NOW}
                    for shop, order, sku, units, state in lines
                ],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then each shop SKU's running units are its lines' that took stock (RESERVED, DEDUCTED) and released; a SKU
        # none of whose lines counts has no row
        with engine.begin() as connection:
            counted = connection.execute(
                text(
                    "SELECT shop_id, tiktok_sku_id, ingested, released FROM sku_ledger_units "
                    "ORDER BY shop_id, tiktok_sku_id"
                )
            ).all()
        assert [tuple(row) for row in counted] == [
            ("s1", "sku-1", 3, 4), ("s1", "sku-2", 0, 1), ("s2", "sku-1", 3, 0)
        ]  # fmt: skip


def _assert_upgrade_takes_item_skus_in_nfc(url: str) -> None:
    # given a database at 0011 (`url`) whose items were stored as typed: CAFÉ-1 with E + a combining accent (U+0301),
    # for two merchants, and THÉ in both spellings for one merchant (two items the old rules let in)
    items = [
        ("i1", "m1", "CAFE\u0301-1"),
        ("i2", "m1", "THE\u0301"),
        ("i3", "m1", "TH\u00c9"),
        ("i4", "m2", "CAFE\u0301-1"),
        ("i5", "m1", "\uff33\uff2b\uff35-\uff11"),  # "SKU-1" in full-width letters and digit
    ]
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            for item_id, merchant_id, sku in items:
                connection.execute(
                    text(
                        "INSERT INTO inventory_items (id, merchant_id, sku, sku_search, on_hand, reserved, created_at, "
                        "updated_at) VALUES (:id, :merchant, :sku, :search, 1, 0, :now, :now)"
                    ),
                    {"id": item_id, "merchant": merchant_id, "sku": sku, "search": sku.casefold(), "now": _NOW},
                )
        # when it upgrades to head
        migrate.upgrade(url)
        # then each SKU is in NFC, but where the merchant has that SKU already (both kept, neither merged), and every
        # item's search key is the one new items get (`sku_search_key`: "café" finds CAFÉ-1 however it is spelled, and
        # "sku-1" the full-width SKU, kept as it is: 0029)
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, sku, sku_search FROM inventory_items ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("i1", "CAF\u00c9-1", "caf\u00e9-1"),
            ("i2", "THE\u0301", "th\u00e9"),
            ("i3", "TH\u00c9", "th\u00e9"),
            ("i4", "CAF\u00c9-1", "caf\u00e9-1"),
            ("i5", "\uff33\uff2b\uff35-\uff11", "sku-1"),
        ]
        assert all(sku_search_key(sku) == key for _, sku, key in rows)


def test_upgrade_counts_each_shop_skus_ledger_units(database_at: Callable[[str], str]) -> None:
    _assert_upgrade_counts_each_shop_skus_ledger_units(database_at("0011_push_ingested"))


def test_upgrade_takes_item_skus_in_nfc(database_at: Callable[[str], str]) -> None:
    _assert_upgrade_takes_item_skus_in_nfc(database_at("0011_push_ingested"))


def _assert_upgrade_counts_each_shops_products_and_orders(url: str) -> None:
    # given a database at 0015 (`url`) with three shops: 2 products and 3 orders, 1 order only, nothing
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1", "s2", "s3")
            connection.execute(
                text(
                    "INSERT INTO products (id, shop_id, tiktok_product_id, title, status, created_at, updated_at, "
                    "fingerprint, imported_at) VALUES (:id, 's1', :id, 'T', 'ACTIVATE', :now, :now, 'f', :now)"
                ),
                [{"id": product, "now": _NOW} for product in ("p1", "p2")],
            )
            connection.execute(
                text(
                    "INSERT INTO orders (id, shop_id, tiktok_order_id, status, created_at, updated_at, total_amount, "
                    "currency, fingerprint, imported_at) VALUES (:id, :shop, :id, 'UNPAID', :now, :now, '1.00', "
                    "'USD', 'f', :now)"
                ),
                [{"id": f"{shop}-{order}", "shop": shop, "now": _NOW} for shop, order in
                 (("s1", "o1"), ("s1", "o2"), ("s1", "o3"), ("s2", "o1"))],
            )  # fmt: skip
        # when it upgrades to head
        migrate.upgrade(url)
        # then each shop's running counts are its rows'; a table of which a shop has no row has no count
        with engine.begin() as connection:
            counted = connection.execute(
                text("SELECT shop_id, catalog, total FROM shop_catalog_counts ORDER BY shop_id, catalog")
            ).all()
        assert [tuple(row) for row in counted] == [("s1", "orders", 3), ("s1", "products", 2), ("s2", "orders", 1)]


def test_upgrade_counts_each_shops_products_and_orders(database_at: Callable[[str], str]) -> None:
    _assert_upgrade_counts_each_shops_products_and_orders(database_at("0015_seller_sku_keys"))


def test_upgrade_stores_each_skus_seller_sku_key(database_at: Callable[[str], str]) -> None:
    # given a database at 0014 with a shop's SKUs as TikTok sent their seller SKUs: CAFÉ-1 with a combining accent and
    # invisible characters at its ends, precomposed, blank, none; and more SKUs than one batch of the backfill writes
    url = database_at("0014_nfc_sku_keys")
    sent = ["\u00a0CAFE\u0301-1\u200b", "CAF\u00c9-1", "\u200b\ufeff", None]
    sent += [f" MUG-{n} " for n in range(2345)]
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO products (id, shop_id, tiktok_product_id, title, status, created_at, updated_at, "
                    "fingerprint, imported_at) VALUES ('p1', 's1', 'tp1', 'Tee', 'ACTIVATE', :now, :now, 'f', :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO skus (id, product_id, shop_id, tiktok_sku_id, seller_sku, price_amount, currency, "
                    "quantity, position) VALUES (:id, 'p1', 's1', :id, :seller_sku, '10', 'USD', 1, :position)"
                ),
                [{"id": f"k{n:05}", "seller_sku": seller_sku, "position": n} for n, seller_sku in enumerate(sent)],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then every SKU keeps its seller SKU as sent and stores it as auto-linking matches it (`trimmed`): the
        # domain's rule, computed in Python; NULL where it is blank
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT seller_sku, seller_sku_key FROM skus ORDER BY id")).all()
        assert [seller_sku for seller_sku, _ in rows] == sent
        assert [key for _, key in rows[:4]] == ["CAF\u00c9-1", "CAF\u00c9-1", None, None]
        assert [key for _, key in rows[4:]] == [f"MUG-{n}" for n in range(2345)]
        assert all(key == trimmed(seller_sku) for seller_sku, key in rows)


def test_upgrade_gives_each_link_with_a_seeds_read_the_item_it_seeded(database_at: Callable[[str], str]) -> None:
    # given a database at 0020 with a shop's links: one that seeded the item it names (its read kept), one AMBIGUOUS
    # since that remembers the item it seeded (read kept), and one that joined an item (no read)
    url = database_at("0020_product_stock_read_at")
    links = [
        ("k1", "LINKED", "i1", None, _NOW),
        ("k2", "AMBIGUOUS", None, "i2", _NOW),
        ("k3", "LINKED", "i1", None, None),
    ]
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES (:id, 'm1', :id, 5, 0, :now, :now)"
                ),
                [{"id": item_id, "now": _NOW} for item_id in ("i1", "i2")],
            )
            connection.execute(
                text(
                    "INSERT INTO sku_links (sku_id, shop_id, merchant_id, inventory_item_id, tiktok_product_id, "
                    "tiktok_sku_id, state, source, stock_counted_at, unlinked_item_id, updated_at) VALUES "
                    "(:id, 's1', 'm1', :item, 'tp1', :id, :state, 'AUTO', :counted, :remembered, :now)"
                ),
                [
                    dict(zip(("id", "state", "item", "remembered", "counted"), link, strict=True), now=_NOW)
                    for link in links
                ],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then each link whose stock seeded an item remembers that item (the only one the rule before 0021 kept its
        # read for: the one it names, or remembers while not LINKED), and the joining one none
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT sku_id, seeded_item_id FROM sku_links ORDER BY sku_id")).all()
        assert [tuple(r) for r in rows] == [("k1", "i1"), ("k2", "i2"), ("k3", None)]


def test_upgrade_leaves_every_ledger_line_owing_no_seed_and_downgrade_keeps_the_lines(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0022 with a shop's ledger lines of a SKU: one waiting for a link, one reserved
    url = database_at("0022_shop_name_length")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, merchant_id, "
                    "tiktok_sku_id, quantity, state, wanted, order_updated_at, updated_at) "
                    "VALUES ('s1', :order, 'l1', 'm1', 'sku-1', 1, :state, 'RESERVE', :now, :now)"
                ),
                [
                    {"order": "o1", "state": "PENDING_LINK", "now": _NOW},
                    {"order": "o2", "state": "RESERVED", "now": _NOW},
                ],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then every line is kept and owes no seed (no rule tells a line counted in a seed from one left out of it:
        # relinked as before, never counted twice)
        lines = "SELECT tiktok_order_id, state, left_out_of_seed FROM order_line_stock ORDER BY tiktok_order_id"
        with engine.begin() as connection:
            rows = [tuple(r) for r in connection.execute(text(lines)).all()]
        assert rows == [("o1", "PENDING_LINK", None), ("o2", "RESERVED", None)]
        # and back at 0022 the lines are kept without the column
        migrate.downgrade(url, "0022_shop_name_length")
        with engine.begin() as connection:
            kept = connection.execute(text("SELECT tiktok_order_id FROM order_line_stock ORDER BY 1")).scalars().all()
        assert kept == ["o1", "o2"]


def test_downgrade_gives_reserved_component_units_back(sqlite_revisions: RevisionSnapshots) -> None:
    # given a database at head whose item counts a bundle component's 2 reserved units and an ordinary line's 1
    url = sqlite_revisions.new_database("0004")
    _assert_upgrade_keeps_ledger_rows(url)
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE order_line_stock SET state = 'RESERVED', inventory_item_id = 'i1' "
                    "WHERE component_sku_id = 'sku-2'"
                )
            )
            connection.execute(text("UPDATE inventory_items SET reserved = 3"))
        # when it goes back to 0004
        migrate.downgrade(url, "0004")
        # then the component rows are gone and the item's reserved is the remaining ledger's sum again
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM order_line_stock")).scalar_one() == 1
            assert connection.execute(text("SELECT reserved FROM inventory_items")).scalar_one() == 1


TIKTOK_SETTINGS = {  # real TikTok's settings (no embedded sandbox, whose app secret file would make the directory)
    "SHOPBRIDGE_TIKTOK_APP_KEY": "key",
    "SHOPBRIDGE_TIKTOK_APP_SECRET": "secret",
    "SHOPBRIDGE_TIKTOK_SERVICE_ID": "1",
    "SHOPBRIDGE_TIKTOK_API_URL": "https://open-api.tiktokglobalshop.com",
    "SHOPBRIDGE_TIKTOK_AUTH_URL": "https://auth.tiktok-shops.com",
    "SHOPBRIDGE_TIKTOK_AUTHORIZE_URL": "https://services.tiktokshop.com/open/authorize",
}


def _migrate_env(url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")},
        "SHOPBRIDGE_DATABASE_URL": url,
        "SHOPBRIDGE_DATA_DIR": str(tmp_path),
        "SHOPBRIDGE_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PYTHONPATH": str(REPO),
        **settings,
    }


def _run_migrate(env: dict[str, str]) -> tuple[int, str, str, float]:
    """`shopbridge migrate` as a process of its own: its status, stdout, stderr and how long it took (s)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gql.cli", "migrate"], env=env, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS, preexec_fn=parent_death_signal(signal.SIGTERM),
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def _held(postgres_server: PostgresServer, url: str, *statements: str) -> psycopg2.extensions.connection:
    """A session on `url`'s database holding what `statements` took, in a transaction left open (close it)."""
    connection = psycopg2.connect(
        host="127.0.0.1", port=postgres_server.port, user="postgres", dbname=url.rsplit("/", 1)[1],
        application_name="a long transaction",
    )  # fmt: skip
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return connection


def test_migrate_gives_up_on_the_migration_lock_after_its_timeout(postgres_server: PostgresServer, tmp_path) -> None:
    # given an empty database, and another migrate that holds the migration lock and does not finish
    url = postgres_server.create_database()
    other = _held(postgres_server, url, f"SELECT pg_advisory_xact_lock({migrate.MIGRATION_LOCK})")
    try:
        # when `shopbridge migrate` runs with a 1 s lock timeout
        code, _, err, took = _run_migrate(_migrate_env(url, tmp_path, SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT="1"))
        # then it gives up soon after, with one line naming the holder and the setting, and a failure status
        assert code == 1 and took < DEADLINE_SECONDS / 2, err
        assert "Traceback" not in err, err
        line = err.strip().splitlines()[-1]
        assert line.startswith(
            "shopbridge: MIGRATION_LOCK_TIMEOUT: the migration lock was held for more than 1s by PostgreSQL backend "
        ), line
        assert "application 'a long transaction'" in line and "stays at revision none" in line, line
        assert line.endswith("or raise SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT"), line
        assert migrate.current(url) is None
    finally:
        other.close()
    # and once the lock is released, the next run migrates
    code, out, err, _ = _run_migrate(_migrate_env(url, tmp_path, SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT="1"))
    assert code == 0 and "migrations applied" in out, err
    assert migrate.current(url) == HEAD


def test_migrate_gives_up_on_a_table_a_long_transaction_holds(
    postgres_server: PostgresServer, postgres_revisions: RevisionSnapshots, tmp_path
) -> None:
    # given a database a release behind, whose next migration indexes webhook_events, and a transaction that wrote
    # to that table and stays open
    url = postgres_revisions.new_database("0007_sku_search")
    other = _held(postgres_server, url, "LOCK TABLE webhook_events IN ROW EXCLUSIVE MODE")
    try:
        # when `shopbridge migrate` runs with a 1 s lock timeout
        code, _, err, took = _run_migrate(_migrate_env(url, tmp_path, SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT="1"))
        # then it gives up with one line naming the statement that waited, and nothing changed
        assert code == 1 and took < DEADLINE_SECONDS / 2, err
        assert "Traceback" not in err, err
        line = err.strip().splitlines()[-1]
        assert line.startswith("shopbridge: MIGRATION_LOCK_TIMEOUT: `CREATE INDEX ix_webhook_events_received_at"), line
        assert "waited more than 1s for a lock another transaction holds" in line, line
        assert "stays at revision 0007_sku_search" in line, line
        assert migrate.current(url) == "0007_sku_search"
    finally:
        other.close()


def test_migrate_gives_up_on_a_locked_sqlite_file(sqlite_revisions: RevisionSnapshots, tmp_path: Path) -> None:
    # given a SQLite database a release behind, and a connection holding its write lock
    url = sqlite_revisions.new_database("0007_sku_search")
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        # when `shopbridge migrate` runs with a 1 s lock timeout
        code, _, err, took = _run_migrate(_migrate_env(url, tmp_path, SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT="1"))
        # then it gives up with one line, and the database is where it was
        assert code == 1 and took < DEADLINE_SECONDS / 2, err
        line = err.strip().splitlines()[-1]
        assert line.startswith(
            "shopbridge: MIGRATION_LOCK_TIMEOUT: the database file stayed locked by another connection's write for "
            "more than 1s"
        ), line
        assert "stays at revision 0007_sku_search" in line, line
    finally:
        other.close()
    assert migrate.current(url) == "0007_sku_search"


def test_migrate_says_which_revisions_it_applied_and_when_there_was_nothing_to_do(
    sqlite_revisions: RevisionSnapshots, tmp_path: Path
) -> None:
    # given a SQLite database a release behind
    url = sqlite_revisions.new_database("0007_sku_search")
    # when `shopbridge migrate` runs, then runs again (a second replica's start-up command, say)
    first = _run_migrate(_migrate_env(url, tmp_path))
    again = _run_migrate(_migrate_env(url, tmp_path))
    # then the first names the revisions it went from and to, and the second says there was nothing to do (before,
    # both said "migrations applied to ...", the second too though it applied nothing)
    assert first[0] == 0 and first[1].strip().endswith(f": revision 0007_sku_search -> {HEAD}"), first
    assert "migrations applied to" in first[1], first
    nothing = f"is at revision {HEAD}, this release's head: nothing to migrate"
    assert again[0] == 0 and again[1].strip().endswith(nothing), again
    assert "migrations applied" not in again[1], again


def test_migrate_creates_the_data_directory_of_the_default_database(tmp_path: Path) -> None:
    # given the default database (no SHOPBRIDGE_DATABASE_URL) in a data directory that does not exist yet, with the
    # keys and TikTok's settings given, so that no key file creates it
    data_dir = tmp_path / "new" / "data"
    env = {k: v for k, v in _migrate_env("unused", tmp_path).items() if k != "SHOPBRIDGE_DATABASE_URL"}
    env |= {"SHOPBRIDGE_DATA_DIR": str(data_dir), **TIKTOK_SETTINGS}
    # when `shopbridge migrate` runs
    code, out, err, _ = _run_migrate(env)
    # then it makes the directory and migrates the database there, as `serve` would have made it (before: exit 1,
    # "DATABASE_UNAVAILABLE: ... unable to open database file; check SHOPBRIDGE_DATABASE_URL", a setting not set)
    assert code == 0 and "migrations applied to" in out, err
    assert migrate.current(f"sqlite+aiosqlite:///{data_dir / 'shopbridge.db'}") == HEAD


def test_migrate_of_an_older_release_leaves_a_later_releases_database_alone(
    postgres_revisions: RevisionSnapshots, tmp_path
) -> None:
    # given a database a later release has migrated (a revision these migrations do not know)
    url = postgres_revisions.new_database("head")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0009_later_release'"))
    # when this release's `shopbridge migrate` runs (a replica of it restarting during a rolling deploy)
    code, out, err, _ = _run_migrate(_migrate_env(url, tmp_path))
    # then it succeeds and says it left the database alone, which stays at the later revision
    assert code == 0, err
    assert "0009_later_release" in out and f"its head is {HEAD}" in out and "left as it is" in out, out
    assert migrate.current(url) == "0009_later_release"


def test_upgrade_leaves_links_unlinked_before_without_an_instant_and_downgrade_keeps_them(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0035 with a link the merchant unlinked, remembering its item and its link's time
    url = database_at("0035_sku_links_push_landed_at")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES ('i1', 'm1', 'MUG', 5, 0, :now, :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO sku_links (sku_id, shop_id, merchant_id, tiktok_product_id, tiktok_sku_id, state, "
                    "source, linked_at, unlinked_item_id, updated_at) VALUES "
                    "('k1', 's1', 'm1', 'tp1', 'ts1', 'UNLINKED', 'MANUAL', :now, 'i1', :now)"
                ),
                {"now": _NOW},
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the link keeps what it remembered and has no unlink instant (nothing tells when it was unlinked: its
        # sales first seen from now on wait for a link, as before)
        links = "SELECT sku_id, unlinked_item_id, unlinked_at FROM sku_links"
        with engine.begin() as connection:
            assert [tuple(r) for r in connection.execute(text(links)).all()] == [("k1", "i1", None)]
        # and back at 0035 the link is kept without the column
        migrate.downgrade(url, "0035_sku_links_push_landed_at")
        with engine.begin() as connection:
            kept = connection.execute(text("SELECT sku_id, unlinked_item_id FROM sku_links")).all()
        assert [tuple(r) for r in kept] == [("k1", "i1")]


def test_upgrade_leaves_lines_stored_before_without_a_status_and_downgrade_keeps_them(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0036 with an order of one line, stored before the catalog kept a line's own status
    url = database_at("0036_sku_links_unlinked_at")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO orders (id, shop_id, tiktok_order_id, status, created_at, updated_at, total_amount, "
                    "currency, fingerprint, imported_at) VALUES ('o1', 's1', 'to1', 'AWAITING_SHIPMENT', :now, :now, "
                    "'1.00', 'USD', 'f', :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO line_items (id, order_id, shop_id, tiktok_line_item_id, tiktok_sku_id, product_name, "
                    "quantity, sale_price_amount, currency, position) VALUES ('l1', 'o1', 's1', 'tl1', 'ts1', 'Mug', "
                    "1, '1.00', 'USD', 0)"
                )
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the line is kept, its status and cancellation unknown (null) until TikTok's next version is stored
        lines = "SELECT id, tiktok_line_item_id, display_status, cancel_reason, cancel_user FROM line_items"
        with engine.begin() as connection:
            assert [tuple(r) for r in connection.execute(text(lines)).all()] == [("l1", "tl1", None, None, None)]
            connection.execute(
                text("UPDATE line_items SET display_status = 'CANCELLED', cancel_reason = 'Out of stock', "
                     "cancel_user = 'SELLER'")
            )  # fmt: skip
        # and back at 0036 the line is kept without the columns
        migrate.downgrade(url, "0036_sku_links_unlinked_at")
        with engine.begin() as connection:
            kept = connection.execute(text("SELECT id, tiktok_line_item_id FROM line_items")).all()
        assert [tuple(r) for r in kept] == [("l1", "tl1")]


def test_line_items_are_keyed_by_their_order_from_0066_and_keep_their_rows_both_ways(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0065 with an order of two lines
    url = database_at("0065_shop_name_braille_blank")
    line = (
        "INSERT INTO line_items (id, order_id, shop_id, tiktok_line_item_id, tiktok_sku_id, product_name, quantity, "
        "sale_price_amount, currency, position) VALUES (:id, 'o1', 's1', :id, 'ts1', 'Mug', 1, '1.00', 'USD', :at)"
    )
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _insert_shops(connection, [("s1", "m1", "Shop")], shop_name_key)
            connection.execute(
                text(
                    "INSERT INTO orders (id, shop_id, tiktok_order_id, status, created_at, updated_at, total_amount, "
                    "currency, fingerprint, imported_at) VALUES ('o1', 's1', 'to1', 'AWAITING_SHIPMENT', :now, :now, "
                    "'2.00', 'USD', 'f', :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(text(line), [{"id": "l1", "at": 0}, {"id": "l2", "at": 1}])
        # when it upgrades to head
        migrate.upgrade(url)
        # then the lines are kept, keyed by (order, id): the one index a batch of line items writes at a random place
        # per order, which the reads by order use (the orders page, a changed order's delete); none on the id alone
        schema = inspect(engine)
        assert schema.get_pk_constraint("line_items")["constrained_columns"] == ["order_id", "id"]
        assert [index["column_names"] for index in schema.get_indexes("line_items")] == [["shop_id"]]
        lines = "SELECT order_id, id FROM line_items ORDER BY position"
        with engine.begin() as connection:
            assert [tuple(r) for r in connection.execute(text(lines))] == [("o1", "l1"), ("o1", "l2")]
            if engine.dialect.name == "sqlite":
                read = "SELECT * FROM line_items WHERE order_id IN ('o1', 'o2') ORDER BY order_id, position"
                plan = " ".join(row[3] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {read}")))
                assert "USING INDEX sqlite_autoindex_line_items_1 (order_id=?)" in plan, plan
        # and a line stored twice is refused still
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(line), {"id": "l1", "at": 2})
        # and back at 0065 the lines are kept, keyed by their id again, with the index on their order
        migrate.downgrade(url, "0065_shop_name_braille_blank")
        schema = inspect(engine)
        assert schema.get_pk_constraint("line_items")["constrained_columns"] == ["id"]
        indexes = sorted(index["column_names"] for index in schema.get_indexes("line_items"))
        assert indexes == [["order_id"], ["shop_id"]]
        with engine.begin() as connection:
            assert [tuple(r) for r in connection.execute(text(lines))] == [("o1", "l1"), ("o1", "l2")]


def test_the_ledgers_index_by_item_holds_only_lines_naming_one_from_0067_and_serves_every_read_by_item(
    database_at: Callable[[str], str],
) -> None:
    item_index = "ix_order_line_stock_inventory_item_id_state"
    # given a database at 0066 with an item, a line reserved on it and a line of a SKU never linked (on no item)
    url = database_at("0066_line_items_order_key")
    line = (
        "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, component_sku_id, merchant_id, "
        "tiktok_sku_id, inventory_item_id, quantity, state, wanted, order_updated_at, updated_at) "
        "VALUES ('s1', :order, 'l1', '', 'm1', :sku, :item, 1, :state, 'RESERVE', :now, :now)"
    )
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _insert_shops(connection, [("s1", "m1", "Shop")], shop_name_key)
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES ('i1', 'm1', 'SOCK', 10, 1, :now, :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(line),
                [
                    {"order": "o1", "sku": "ts1", "item": "i1", "state": "RESERVED", "now": _NOW},
                    {"order": "o2", "sku": "ts2", "item": None, "state": "PENDING_LINK", "now": _NOW},
                ],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the index by item takes only the lines naming one (an unlinked shop's import writes none into it),
        # and the rows are kept
        postgres = engine.dialect.name == "postgresql"
        definition = (
            "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
            if postgres
            else "SELECT sql FROM sqlite_master WHERE name = :name"
        )
        with engine.begin() as connection:
            made = connection.execute(text(definition), {"name": item_index}).scalar_one()
            assert "WHERE" in made and "inventory_item_id IS NOT NULL" in made, made
            rows = "SELECT tiktok_order_id, inventory_item_id FROM order_line_stock ORDER BY tiktok_order_id"
            assert [tuple(r) for r in connection.execute(text(rows))] == [("o1", "i1"), ("o2", None)]
            # and every read by item still goes through it: an item's RESERVED lines (`removal.item_use`), the lines
            # naming removed items (`shop_items.delete_items`), and the foreign key's parameterised SET NULL
            # (PostgreSQL: as asyncpg binds them, generic plans of `= ANY($1)` and `$1 = inventory_item_id`)
            reads = ["SELECT count(*) FROM order_line_stock WHERE inventory_item_id = 'i1' AND state = 'RESERVED'"]
            if postgres:  # (a table of two rows: only the index's use is asked, not its cost)
                connection.execute(text("SET LOCAL enable_seqscan = off"))
                connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
                connection.execute(
                    text("PREPARE removed (text[]) AS UPDATE order_line_stock SET inventory_item_id = NULL "
                         "WHERE inventory_item_id = ANY($1)")
                )  # fmt: skip
                connection.execute(
                    text("PREPARE set_null (text) AS UPDATE order_line_stock SET inventory_item_id = NULL "
                         "WHERE $1 = inventory_item_id")
                )  # fmt: skip
                reads += ["EXECUTE removed (ARRAY['i1'])", "EXECUTE set_null ('i1')"]
            else:
                removed = "inventory_item_id IN (SELECT value FROM json_each('[\"i1\"]'))"
                reads.append(f"UPDATE order_line_stock SET inventory_item_id = NULL WHERE {removed}")
            for read in reads:
                plan = " ".join(
                    str(row[-1])
                    for row in connection.execute(text(f"EXPLAIN {read}" if postgres else f"EXPLAIN QUERY PLAN {read}"))
                )
                assert item_index in plan, (read, plan)
            connection.rollback()
        # and back at 0066 the index takes every line again, the rows kept
        migrate.downgrade(url, "0066_line_items_order_key")
        with engine.begin() as connection:
            made = connection.execute(text(definition), {"name": item_index}).scalar_one()
            assert "WHERE" not in made, made
            assert [tuple(r) for r in connection.execute(text(rows))] == [("o1", "i1"), ("o2", None)]


def test_the_ledgers_index_by_sku_holds_no_history_from_0068_and_keeps_every_row_both_ways(
    database_at: Callable[[str], str],
) -> None:
    sku_index = "ix_order_line_stock_shop_id_tiktok_sku_id_state"
    # given a database at 0067 with a line waiting for its SKU's link and a line first seen shipped (history)
    url = database_at("0067_ledger_item_index_partial")
    line = (
        "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, component_sku_id, merchant_id, "
        "tiktok_sku_id, quantity, state, wanted, order_updated_at, updated_at) "
        "VALUES ('s1', :order, 'l1', '', 'm1', 'ts1', 1, :state, :wanted, :now, :now)"
    )
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _insert_shops(connection, [("s1", "m1", "Shop")], shop_name_key)
            connection.execute(
                text(line),
                [
                    {"order": "o1", "state": "PENDING_LINK", "wanted": "RESERVE", "now": _NOW},
                    {"order": "o2", "state": "HISTORICAL", "wanted": "DEDUCT", "now": _NOW},
                ],
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the index by SKU takes no HISTORICAL line (most of an import's), and the rows are kept
        postgres = engine.dialect.name == "postgresql"
        definition = (
            "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
            if postgres
            else "SELECT sql FROM sqlite_master WHERE name = :name"
        )
        rows = "SELECT tiktok_order_id, state FROM order_line_stock ORDER BY tiktok_order_id"
        with engine.begin() as connection:
            made = connection.execute(text(definition), {"name": sku_index}).scalar_one()
            assert "WHERE" in made and "HISTORICAL" in made and "<>" in made, made
            assert [tuple(r) for r in connection.execute(text(rows))] == [("o1", "PENDING_LINK"), ("o2", "HISTORICAL")]
        # and back at 0067 the index takes every line again, the rows kept
        migrate.downgrade(url, "0067_ledger_item_index_partial")
        with engine.begin() as connection:
            made = connection.execute(text(definition), {"name": sku_index}).scalar_one()
            assert "WHERE" not in made, made
            assert [tuple(r) for r in connection.execute(text(rows))] == [("o1", "PENDING_LINK"), ("o2", "HISTORICAL")]


def test_downgrade_below_0042_keeps_only_the_lines_a_shops_delete_deducted(database_at: Callable[[str], str]) -> None:
    # given a database at head holding a deleted shop's records: a line the delete deducted (RESERVED) and lines its
    # ledger had applied (RELEASED, DEDUCTED, PENDING_LINK), kept since migration 0042 with their state
    url = database_at("head")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES ('i1', 'm1', 'SOCK', 10, 0, :now, :now)"
                ),
                {"now": _NOW},
            )
            for order_id, state in (("o1", "RESERVED"), ("o2", "RELEASED"), ("o3", "DEDUCTED"), ("o4", "PENDING_LINK")):
                connection.execute(
                    text(
                        "INSERT INTO deleted_shop_lines (merchant_id, tiktok_shop_id, tiktok_order_id, "
                        "tiktok_line_item_id, component_sku_id, inventory_item_id, quantity, deleted_at, state) "
                        "VALUES ('m1', 't1', :order_id, 'l1', '', 'i1', 1, :now, :state)"
                    ),
                    {"order_id": order_id, "state": state, "now": _NOW},
                )
        # when it is downgraded to 0041 (a rollback to a release before 0042)
        migrate.downgrade(url, "0041_deleted_lines_seed_read")
        # then only the line the delete deducted is left: that release reads every row as one, and would put a
        # cancelled line's unit back on on-hand that never left it (review54b finding 3: 11/0/11 where the shelf held
        # 10); and the way up again keeps it, RESERVED
        kept = "SELECT tiktok_order_id FROM deleted_shop_lines ORDER BY tiktok_order_id"
        with engine.begin() as connection:
            assert list(connection.execute(text(kept)).scalars()) == ["o1"]
        migrate.upgrade(url)
        with engine.begin() as connection:
            states = connection.execute(text("SELECT tiktok_order_id, state FROM deleted_shop_lines")).all()
        assert [tuple(r) for r in states] == [("o1", "RESERVED")]


def test_downgrade_below_0045_keeps_the_kept_links_without_their_source(database_at: Callable[[str], str]) -> None:
    # given a database at 0044 holding a link a shop's delete kept (migration 0042), upgraded to head
    url = database_at("0044_authorization_completed")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, created_at, updated_at) "
                    "VALUES ('i1', 'm1', 'HAT', 10, 0, :now, :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO deleted_shop_links (merchant_id, tiktok_shop_id, tiktok_sku_id, inventory_item_id, "
                    "deleted_at, linked_at) VALUES ('m1', 't1', 'g1', 'i1', :now, :now)"
                ),
                {"now": _NOW},
            )
        migrate.upgrade(url)
        # then the row kept before 0045 has no source (its SKU links by seller SKU at a reconnect, as it did)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT source FROM deleted_shop_links")).scalar_one() is None
            connection.execute(
                text(
                    "INSERT INTO deleted_shop_links (merchant_id, tiktok_shop_id, tiktok_sku_id, inventory_item_id, "
                    "deleted_at, linked_at, source) VALUES ('m1', 't1', 'g2', 'i1', :now, :now, 'MANUAL')"
                ),
                {"now": _NOW},
            )
        # when it is downgraded to 0044 (a rollback to a release before 0045)
        migrate.downgrade(url, "0044_authorization_completed")
        # then both link periods stay; only which was made by hand is lost
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT tiktok_sku_id FROM deleted_shop_links ORDER BY tiktok_sku_id"))
            assert list(rows.scalars()) == ["g1", "g2"]


def test_a_deleted_items_remembered_links_are_found_through_an_index(database_at: Callable[[str], str]) -> None:
    # given a database at head
    url = database_at("head")
    # when the database plans the lookup the foreign key `sku_links.unlinked_item_id` makes for each item deleted
    # (`ON DELETE SET NULL`: the links naming it), with a scan priced out where it can be
    with _sync_engine(url) as engine, engine.connect() as connection:
        if url.startswith("sqlite"):
            plan = connection.execute(
                text("EXPLAIN QUERY PLAN SELECT 1 FROM sku_links WHERE unlinked_item_id = :item"), {"item": "i1"}
            ).all()
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = connection.execute(
                text("EXPLAIN UPDATE sku_links SET unlinked_item_id = NULL WHERE unlinked_item_id = :item"),
                {"item": "i1"},
            ).all()
    # then it goes through the (partial) index, not a scan of every link (n items deleted beside m links: n x m)
    assert "ix_sku_links_unlinked_item_id" in " ".join(str(cell) for row in plan for cell in row)


def test_upgrade_counts_a_failed_tasks_attempts_as_failed_and_gives_other_tasks_a_fresh_budget(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0027 with a shop's sync tasks, whose `attempts` counted every run begun: a task FAILED after
    # its runs, one SUCCEEDED on its third, one CANCELLED, one RUNNING and one QUEUED after runs of theirs (failed or
    # interrupted by deploys: no record tells which)
    url = database_at("0027_shop_facts_indexes")
    tasks = [("t1", "FAILED", 5), ("t2", "SUCCEEDED", 3), ("t3", "CANCELLED", 2), ("t4", "RUNNING", 4),
             ("t5", "QUEUED", 3)]  # fmt: skip
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO sync_tasks (id, shop_id, merchant_id, kind, \"trigger\", status, failures, attempts, "
                    "created_at, checkpoint) VALUES (:id, 's1', 'm1', :kind, 'MANUAL', :status, '[]', :attempts, :now, "
                    "'{}')"
                ),
                [
                    # one active task per shop and kind (the partial unique index): the active ones of both kinds
                    {"id": i, "status": status, "attempts": attempts, "now": _NOW,
                     "kind": "ORDERS" if i == "t5" else "PRODUCTS"}
                    for i, status, attempts in tasks
                ],
            )  # fmt: skip
        # when it upgrades to head
        migrate.upgrade(url)
        with engine.begin() as connection:
            connection.execute(
                text(
                    'INSERT INTO sync_tasks (id, shop_id, merchant_id, kind, "trigger", status, failures, attempts, '
                    "created_at, checkpoint) VALUES ('t6', 's1', 'm1', 'PRODUCTS', 'SCHEDULED', 'SUCCEEDED', '[]', 1, "
                    ":now, '{}')"
                ),
                {"now": _NOW},
            )  # a row a release before this one writes meanwhile (a rolling deploy): no failed_attempts given
            rows = connection.execute(text("SELECT id, attempts, failed_attempts FROM sync_tasks ORDER BY id")).all()
        # then every task keeps its runs begun; the FAILED one counts them all as failed (what its failure was judged
        # by), every other one none: a fresh budget of SHOPBRIDGE_SYNC_MAX_ATTEMPTS failed runs for the active ones
        assert [tuple(r) for r in rows] == [
            ("t1", 5, 5), ("t2", 3, 0), ("t3", 2, 0), ("t4", 4, 0), ("t5", 3, 0), ("t6", 1, 0),
        ]  # fmt: skip
        # and back at 0027 the tasks are kept without the column
        migrate.downgrade(url, "0027_shop_facts_indexes")
        with engine.begin() as connection:
            kept = connection.execute(text("SELECT id, attempts FROM sync_tasks ORDER BY id")).all()
        assert [tuple(r) for r in kept] == [(i, a) for i, _, a in tasks] + [("t6", 1)]


def test_every_migrations_description_is_one_line() -> None:
    # given the migration files (alembic logs each step's description, its docstring's first paragraph, as it runs it)
    scripts = list(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).walk_revisions())

    # then each says what it does on one line: a paragraph wrapped in its file showed as a literal "\n" in the
    # `migrate` step's log line, as the log lines escape line breaks (`adapters.text.one_line`)
    assert len(scripts) >= 35
    assert [script.revision for script in scripts if not script.doc or "\n" in script.doc] == []


def test_upgrade_marks_no_sku_too_long_and_downgrade_turns_long_seller_sku_links_into_no_seller_sku(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0046 with a SKU stored without a seller SKU (none at TikTok, or one over 255 characters:
    # nothing told them apart) and its link NO_SELLER_SKU
    url = database_at("0046_deleted_links_unlinked_at")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            connection.execute(
                text(
                    "INSERT INTO products (id, shop_id, tiktok_product_id, title, status, created_at, updated_at, "
                    "fingerprint, imported_at) VALUES ('p1', 's1', 'tp1', 'Lamp', 'ACTIVATE', :now, :now, 'f', :now)"
                ),
                {"now": _NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO skus (id, product_id, shop_id, tiktok_sku_id, seller_sku, price_amount, currency, "
                    "quantity, position) VALUES ('k1', 'p1', 's1', 'ts1', NULL, '10', 'USD', 3, 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO sku_links (sku_id, shop_id, merchant_id, tiktok_product_id, tiktok_sku_id, state, "
                    "source, updated_at) VALUES ('k1', 's1', 'm1', 'tp1', 'ts1', 'NO_SELLER_SKU', 'AUTO', :now)"
                ),
                {"now": _NOW},
            )
        # when it upgrades to head
        migrate.upgrade(url)
        # then the SKU is not marked (its next import or product event, whose fingerprint then differs when its
        # seller SKU is too long, writes the mark: `domain.stored.store_product`), its link as it was
        with engine.begin() as connection:
            assert [tuple(r) for r in connection.execute(text("SELECT id, seller_sku_too_long FROM skus"))] == [
                ("k1", False)
            ]
            # and once this release marked it and linked it LONG_SELLER_SKU
            connection.execute(text("UPDATE skus SET seller_sku_too_long = true"))
            connection.execute(text("UPDATE sku_links SET state = 'LONG_SELLER_SKU'"))
        # when the schema goes back to 0046, then the link reads NO_SELLER_SKU, a state that release knows
        migrate.downgrade(url, "0046_deleted_links_unlinked_at")
        with engine.begin() as connection:
            assert [tuple(r) for r in connection.execute(text("SELECT sku_id, state FROM sku_links"))] == [
                ("k1", "NO_SELLER_SKU")
            ]
            assert "seller_sku_too_long" not in {c["name"] for c in inspect(connection).get_columns("skus")}
            # and the product holding the marked SKU has no fingerprint: its next import rewrites it (the mark again,
            # once upgraded back); kept, it matched the product read again, and the mark never came back
            assert [tuple(r) for r in connection.execute(text("SELECT id, fingerprint FROM products"))] == [("p1", "")]


def test_upgrade_leaves_orders_uncollected_and_downgrade_clears_the_fingerprint_of_those_with_a_collection_time(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0049 with two orders stored
    url = database_at("0049_sku_link_periods")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            for order_id in ("o1", "o2"):
                connection.execute(
                    text(
                        "INSERT INTO orders (id, shop_id, tiktok_order_id, status, created_at, updated_at, "
                        "total_amount, currency, fingerprint, imported_at) "
                        "VALUES (:id, 's1', :id, 'DELIVERED', :now, :now, '10', 'USD', :id, :now)"
                    ),
                    {"id": order_id, "now": _NOW},
                )
        # when it upgrades to head: then no order has a collection time, each keeps its fingerprint (orders without
        # one are fingerprinted as before: `domain.stored.store_order`)
        migrate.upgrade(url)
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, collected_at, fingerprint FROM orders ORDER BY id"))
            assert [tuple(r) for r in rows] == [("o1", None, "o1"), ("o2", None, "o2")]
            # and once this release stored o1's collection time
            connection.execute(text("UPDATE orders SET collected_at = :now WHERE id = 'o1'"), {"now": _NOW})
        # when the schema goes back to 0049: then the column is gone, and o1 has no fingerprint (its next import
        # rewrites it, and after an upgrade back its time comes back; kept, it matched the order read again)
        migrate.downgrade(url, "0049_sku_link_periods")
        with engine.begin() as connection:
            assert "collected_at" not in {c["name"] for c in inspect(connection).get_columns("orders")}
            rows = connection.execute(text("SELECT id, fingerprint FROM orders ORDER BY id"))
            assert [tuple(r) for r in rows] == [("o1", ""), ("o2", "o2")]


def test_upgrade_leaves_orders_without_a_package_count_and_downgrade_clears_the_fingerprint_of_those_with_one(
    database_at: Callable[[str], str],
) -> None:
    # given a database at 0051 with two orders stored, one collected by the carrier
    url = database_at("0051_deleted_shop_connections")
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _add_shops(connection, "s1")
            for order_id, collected in (("o1", _NOW), ("o2", None)):
                connection.execute(
                    text(
                        "INSERT INTO orders (id, shop_id, tiktok_order_id, status, created_at, updated_at, "
                        "total_amount, currency, collected_at, fingerprint, imported_at) "
                        "VALUES (:id, 's1', :id, 'DELIVERED', :now, :now, '10', 'USD', :collected, :id, :now)"
                    ),
                    {"id": order_id, "now": _NOW, "collected": collected},
                )
        # when it upgrades to head: then no order has a package count (unknown: the pool dates it by its update time,
        # `ledger.left_shelf_by`), each keeps its fingerprint (the next import of o1 rewrites it with its count)
        migrate.upgrade(url)
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, package_count, fingerprint FROM orders ORDER BY id"))
            assert [tuple(r) for r in rows] == [("o1", None, "o1"), ("o2", None, "o2")]
            # and once this release stored o1's package count
            connection.execute(text("UPDATE orders SET package_count = 1 WHERE id = 'o1'"))
        # when the schema goes back to 0051: then the column is gone, and o1 has no fingerprint (its next import
        # rewrites it; kept, it matched the order read again and its count never came back after an upgrade back)
        migrate.downgrade(url, "0051_deleted_shop_connections")
        with engine.begin() as connection:
            assert "package_count" not in {c["name"] for c in inspect(connection).get_columns("orders")}
            rows = connection.execute(text("SELECT id, fingerprint FROM orders ORDER BY id"))
            assert [tuple(r) for r in rows] == [("o1", ""), ("o2", "o2")]


# The README's query for the shops migration 0057 renames (its upgrade notes), as printed there.
_README_PRECHECK = re.search(
    r"`(SELECT merchant_id, lower\([^`]*FROM shops GROUP BY[^`]*)`", (REPO / "README.md").read_text(encoding="utf-8")
).group(1)  # type: ignore[union-attr]


def test_upgrade_numbers_the_later_shops_of_a_merchant_that_share_a_name_and_the_index_then_refuses_one(
    database_at: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0057 (tryout60 F3): duplicates already stored are renamed in the migration, per merchant in creation
    order, the first keeping the name, each later one the first "Name (n)" that no shop of the merchant has."""
    # given a database at 0056 with m1's shops, in creation order: "Maple", " maple" (the same name trimmed and
    # caseless), "Maple (2)" (its own name, which the numbering must skip), "MAPLE", "Café" and "Cafe\u0301" (NFC: one
    # name), a 63-character name twice; and m2's "Maple", which is another merchant's
    url = database_at("0056_held_items")
    long_name = "L" * 62 + "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 62 letters and a family emoji
    shops = [
        ("s1", "m1", "Maple"), ("s2", "m1", " maple"), ("s3", "m1", "Maple (2)"), ("s4", "m1", "MAPLE"),
        ("s5", "m1", "Caf\u00e9"), ("s6", "m1", "Cafe\u0301"), ("s7", "m1", long_name), ("s8", "m1", long_name),
        ("s9", "m2", "Maple"),
    ]  # fmt: skip
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO shops (id, merchant_id, name, region, tiktok_shop_id, tiktok_shop_name, "
                    "tiktok_shop_cipher, access_token_encrypted, access_token_expires_at, refresh_token_encrypted, "
                    "refresh_token_expires_at, authorized_at, created_at) VALUES (:id, :merchant, :name, 'US', :id, "
                    "'Shop', 'c1', 'a', :now, 'r', :now, :now, :created)"
                ),
                [
                    {"id": shop_id, "merchant": merchant, "name": name, "now": _NOW, "created": _NOW.replace(minute=n)}
                    for n, (shop_id, merchant, name) in enumerate(shops)
                ],
            )
        # and the README's query that lists them beforehand runs on this database (tryout62 F4: `btrim` failed on
        # SQLite) and finds the three that differ in ASCII case and trimming, and the long name twice
        with engine.begin() as connection:
            listed = connection.execute(text(_README_PRECHECK)).all()
        assert sorted(tuple(row) for row in listed) == [("m1", long_name.lower(), 2), ("m1", "maple", 3)]
        # when it upgrades to head
        with caplog.at_level(logging.WARNING, logger="shopbridge.migrate"):
            migrate.upgrade(url)
        # then each later shop of a name is numbered, in creation order, skipping the numbers a shop has; a long name
        # is cut to keep within 64 characters; every key is the domain's, computed in Python; and each rename is
        # said in one WARNING line naming the shop, its merchant, the old and the new name (tryout62 M3)
        assert _renamed(caplog) == [
            ("0057", "s2", "m1", " maple", "maple (3)"),
            ("0057", "s4", "m1", "MAPLE", "MAPLE (4)"),
            ("0057", "s6", "m1", "Cafe\u0301", "Caf\u00e9 (2)"),
            ("0057", "s8", "m1", long_name, "L" * 60 + " (2)"),
        ]
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, name, name_key FROM shops ORDER BY id")).all()
        assert [(shop_id, name) for shop_id, name, _ in rows] == [
            ("s1", "Maple"), ("s2", "maple (3)"), ("s3", "Maple (2)"), ("s4", "MAPLE (4)"), ("s5", "Caf\u00e9"),
            ("s6", "Caf\u00e9 (2)"), ("s7", long_name), ("s8", "L" * 60 + " (2)"), ("s9", "Maple"),
        ]  # fmt: skip
        assert all(key == shop_name_key(name) for _, name, key in rows)
        # and the unique index refuses a name one of the merchant's shops has, in any case
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text("UPDATE shops SET name = 'CAFÉ', name_key = :key WHERE id = 's1'"), {"key": shop_name_key("CAFÉ")}
            )
        # when the schema goes back to 0056: the column and its index are gone, the numbered names stay
        migrate.downgrade(url, "0056_held_items")
        with engine.begin() as connection:
            assert "name_key" not in {c["name"] for c in inspect(connection).get_columns("shops")}
            assert connection.execute(text("SELECT name FROM shops WHERE id = 's2'")).scalar_one() == "maple (3)"


def _renamed(caplog: pytest.LogCaptureFixture) -> list[tuple[str, ...]]:
    """The renames the migrations logged (`adapters.db.migrations.shop_names`): (revision, shop, merchant, old, new)."""
    return [
        tuple(str(arg) for arg in record.args)  # type: ignore[union-attr]
        for record in caplog.records
        if record.name == "shopbridge.migrate" and record.getMessage().startswith("migration ")
    ]


def _insert_shops(connection: Connection, shops: list[tuple[str, str, str]], key: Callable[[str], str]) -> None:
    """Rows of `shops` as an old migration left them: (id, merchant id, name) each, `name_key` as `key` computed it,
    created a minute apart in the list's order (the later look-alike is the one a name-key migration numbers)."""
    connection.execute(
        text(
            "INSERT INTO shops (id, merchant_id, name, name_key, region, tiktok_shop_id, tiktok_shop_name, "
            "tiktok_shop_cipher, access_token_encrypted, access_token_expires_at, refresh_token_encrypted, "
            "refresh_token_expires_at, authorized_at, created_at) VALUES (:id, :merchant, :name, :key, 'US', "
            ":id, 'Shop', 'c1', 'a', :now, 'r', :now, :now, :created)"
        ),
        [
            {"id": shop_id, "merchant": merchant, "name": name, "key": key(name), "now": _NOW,
             "created": _NOW.replace(minute=n)}
            for n, (shop_id, merchant, name) in enumerate(shops)
        ],
    )  # fmt: skip


def _key_0057(name: str) -> str:
    """The name key 0057 stored (its fold kept zero-width characters)."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return hashlib.sha256(" ".join(folded.split()).encode()).hexdigest()


def test_upgrade_folds_zero_width_characters_out_of_stored_name_keys_and_numbers_the_look_alikes(
    database_at: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0061 (tryout62 F3): "Maple" + U+200D showed as "Maple" beside "Maple" in every picker; the keys 0057
    stored kept zero-width characters, so they are recomputed, and the later look-alikes numbered and logged."""
    # given a database at 0059 with m1's shops, in creation order: "Maple" + ZWJ (first: it keeps its name, whose new
    # key is the old key of the next one's), "Maple", "Ma" + U+034F + "ple"; and m2's "Maple" + U+FE0F, the only one
    url = database_at("0059_held_item_quantity")
    shops = [
        ("s1", "m1", "Maple\u200d"),
        ("s2", "m1", "Maple"),
        ("s3", "m1", "Ma\u034fple"),
        ("s4", "m2", "Maple\ufe0f"),
    ]
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _insert_shops(connection, shops, _key_0057)
        # when it upgrades to head
        with caplog.at_level(logging.WARNING, logger="shopbridge.migrate"):
            migrate.upgrade(url)
        # then the later look-alikes of m1 are numbered, every key is the running code's, and each rename is logged
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, name, name_key FROM shops ORDER BY id")).all()
        assert [(shop_id, name) for shop_id, name, _ in rows] == [
            ("s1", "Maple\u200d"), ("s2", "Maple (2)"), ("s3", "Ma\u034fple (3)"), ("s4", "Maple\ufe0f"),
        ]  # fmt: skip
        assert all(key == shop_name_key(name) for _, name, key in rows)
        assert _renamed(caplog) == [
            ("0061", "s2", "m1", "Maple", "Maple (2)"),
            ("0061", "s3", "m1", "Ma\u034fple", "Ma\u034fple (3)"),
        ]
        # and the unique index refuses "Maple" + ZWNJ for m1
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text("UPDATE shops SET name_key = :key WHERE id = 's2'"), {"key": shop_name_key("Maple\u200c")}
            )
        # when the schema goes back to 0059: the keys are 0057's again, the numbered names stay
        migrate.downgrade(url, "0059_held_item_quantity")
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, name, name_key FROM shops ORDER BY id")).all()
        assert [(name, key) for _, name, key in rows] == [(name, _key_0057(name)) for _, name, _ in rows]
        assert rows[1][1] == "Maple (2)"


def _key_0061(name: str) -> str:
    """The name key 0061 stored (its fold took U+2800 for a letter)."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    visible = unicodedata.normalize("NFC", "".join(ch for ch in folded if not is_zero_width(ch)))
    return hashlib.sha256(" ".join(visible.split()).encode()).hexdigest()


def test_upgrade_folds_braille_blanks_as_spaces_in_stored_name_keys_and_numbers_the_look_alikes(
    database_at: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0065 (tryout65): "Maple" + U+2800 + "US" showed as "Maple US" beside "Maple US" in every picker; the
    keys 0061 stored took U+2800 for a letter, so they are recomputed, and the later look-alike numbered and logged."""
    # given a database at 0064 with m1's "Maple US" then "Maple" + U+2800 + "US", and m2's "Maple" + U+2800 + "US"
    url = database_at("0064_push_rebase")
    shops = [("s1", "m1", "Maple US"), ("s2", "m1", "Maple\u2800US"), ("s3", "m2", "Maple\u2800US")]
    with _sync_engine(url) as engine:
        with engine.begin() as connection:
            _insert_shops(connection, shops, _key_0061)
        # when it upgrades to head
        with caplog.at_level(logging.WARNING, logger="shopbridge.migrate"):
            migrate.upgrade(url)
        # then m1's later look-alike is numbered, every key is the running code's, and the rename is logged
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, name, name_key FROM shops ORDER BY id")).all()
        assert [(shop_id, name) for shop_id, name, _ in rows] == [
            ("s1", "Maple US"), ("s2", "Maple\u2800US (2)"), ("s3", "Maple\u2800US"),
        ]  # fmt: skip
        assert all(key == shop_name_key(name) for _, name, key in rows)
        assert _renamed(caplog) == [("0065", "s2", "m1", "Maple\u2800US", "Maple\u2800US (2)")]
        # when the schema goes back to 0064: the keys are 0061's again, the numbered name stays
        migrate.downgrade(url, "0064_push_rebase")
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, name, name_key FROM shops ORDER BY id")).all()
        assert [(name, key) for _, name, key in rows] == [(name, _key_0061(name)) for _, name, _ in rows]
        assert rows[1][1] == "Maple\u2800US (2)"
