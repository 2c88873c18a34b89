"""Settings from the environment: the embedded default, going live, and the keys every process must share."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from adapters.config import (
    SANDBOX_MAX_ORDERS,
    SANDBOX_MAX_PRODUCTS,
    ConfigError,
    load_settings,
    make_data_dir_private,
)
from adapters.db.engine import Database
from adapters.text import shown_path
from sandbox.config import MAX_ORDERS_PER_SHOP, MAX_PRODUCTS_PER_SHOP

TIKTOK = {
    "SHOPBRIDGE_TIKTOK_APP_KEY": "key",
    "SHOPBRIDGE_TIKTOK_APP_SECRET": "secret",
    "SHOPBRIDGE_TIKTOK_SERVICE_ID": "1",
    "SHOPBRIDGE_TIKTOK_API_URL": "https://open-api.tiktokglobalshop.com/",
    "SHOPBRIDGE_TIKTOK_AUTH_URL": "https://auth.tiktok-shops.com",
    "SHOPBRIDGE_TIKTOK_AUTHORIZE_URL": "https://services.tiktokshop.com/open/authorize",
}
KEYS = {"SHOPBRIDGE_SECRET_KEY": "s" * 40, "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode()}


def test_the_embedded_default_generates_keys_once_and_mounts_the_sandbox(tmp_path: Path) -> None:
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    first, second = load_settings(env), load_settings(env)
    assert first.embedded_sandbox and first.tiktok.api_url == "http://127.0.0.1:8000/sandbox"
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path / 'shopbridge.db'}"
    assert (first.secret_key, first.encryption_key) == (second.secret_key, second.encryption_key)
    assert (tmp_path / "encryption_key").stat().st_mode & 0o777 == 0o600
    Fernet(first.encryption_key.encode())  # a usable key


def test_the_data_directory_made_is_private_to_its_user(tmp_path: Path) -> None:
    # it holds the embedded database, whose files SQLite makes readable by all (-rw-r--r--): buyers' names, tokens'
    # ciphertexts (sec49 read them as `nobody`); the directory's mode keeps every other user out
    data_dir = tmp_path / "fresh" / "data"
    load_settings({"SHOPBRIDGE_DATA_DIR": str(data_dir)})
    assert data_dir.stat().st_mode & 0o777 == 0o700


SHARED = [
    pytest.param(0o1777, None, id="sticky-world-writable-like-/tmp"),
    pytest.param(0o2775, None, id="setgid-deploy-directory"),
    pytest.param(0o0777, None, id="world-writable"),
    pytest.param(0o0755, 65534, id="another-users", marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown")),
]


@pytest.mark.parametrize(("mode", "owner"), SHARED)
def test_a_shared_data_directory_is_refused_and_left_as_it_was(tmp_path: Path, mode: int, owner: int | None) -> None:
    """tryout62 F1 / review62 R4: `serve` and `demo` chmodded any data directory to 0700, so as root
    `SHOPBRIDGE_DATA_DIR=/tmp` took the host's /tmp (its sticky bit too) from every other user and service."""
    # given a data directory other users share (by its mode, or by being another user's)
    shared = tmp_path / "shared"
    shared.mkdir()
    if owner is not None:
        os.chown(shared, owner, -1)
    shared.chmod(mode)
    # when a process is to make it private, or to make its first keys there
    with pytest.raises(ConfigError) as refused:
        make_data_dir_private(shared)
    with pytest.raises(ConfigError):
        load_settings({"SHOPBRIDGE_DATA_DIR": str(shared)})
    # and a command that only uses the keys (`shopbridge token`) says so, not "start the server once" there, which
    # the server refuses (tryout63 M3)
    with pytest.raises(ConfigError) as only_keys:
        load_settings({"SHOPBRIDGE_DATA_DIR": str(shared)}, create_keys=False)
    assert only_keys.value.code == "BAD_CONFIGURATION" and "a directory of its own" in str(only_keys.value)
    # then it is refused naming the setting, the mode and the owner and what to do, and nothing is changed or made
    message = str(refused.value)
    assert refused.value.code == "BAD_CONFIGURATION" and "SHOPBRIDGE_DATA_DIR" in message, message
    assert f"mode {mode:04o}" in message and "owner " in message and "a directory of its own" in message, message
    assert shared.stat().st_mode & 0o7777 == mode and list(shared.iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "made"),
    [(0o755, 0o700), (0o2755, 0o700), (0o750, 0o750), (0o2750, 0o2750), (0o700, 0o700)],
    ids=["umask-0755", "setgid-inherited-2755", "group-0750", "setgid-group-2750", "private-0700"],
)
def test_a_data_directory_of_ours_open_to_all_is_made_private_and_group_access_is_kept(
    tmp_path: Path, mode: int, made: int
) -> None:
    # given this user's data directory: open to every user (the umask's 0755: made private, its mode said), or
    # open to its group only, which the operator chose (e.g. a backup agent's: kept, nothing said)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(mode)
    # when it is made private, then
    assert make_data_dir_private(data_dir) == (mode if made != mode else None)
    assert data_dir.stat().st_mode & 0o7777 == made


def test_concurrent_first_runs_agree_on_one_key(tmp_path: Path) -> None:
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}).secret_key))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_going_live_is_configuration(tmp_path: Path) -> None:
    settings = load_settings({**TIKTOK, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert not settings.embedded_sandbox
    assert settings.tiktok.api_url == "https://open-api.tiktokglobalshop.com"  # trailing slash dropped
    assert settings.tiktok.authorize_url == TIKTOK["SHOPBRIDGE_TIKTOK_AUTHORIZE_URL"]


def test_tiktok_settings_are_all_or_none(tmp_path: Path) -> None:
    partial = {k: v for k, v in TIKTOK.items() if k != "SHOPBRIDGE_TIKTOK_APP_SECRET"}
    with pytest.raises(ConfigError, match="SHOPBRIDGE_TIKTOK_APP_SECRET"):
        load_settings({**partial, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    "env",
    [
        {"SHOPBRIDGE_DATABASE_URL": "postgresql+asyncpg://db/shopbridge"},
        {"SHOPBRIDGE_BROKER_URL": "redis://redis:6379/0"},
        {"SHOPBRIDGE_BROKER_URL": "redis://redis:6379/0", "SHOPBRIDGE_SECRET_KEY": "only-one"},
    ],
)
def test_shared_deployments_must_be_given_their_keys(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="SHOPBRIDGE_ENCRYPTION_KEY"):
        load_settings({**env, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    settings = load_settings({**env, **KEYS, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert settings.encryption_key == KEYS["SHOPBRIDGE_ENCRYPTION_KEY"] and not (tmp_path / "secret_key").exists()


def test_numbers_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHOPBRIDGE_TIKTOK_RATE_LIMIT"):
        load_settings({"SHOPBRIDGE_TIKTOK_RATE_LIMIT": "fast", "SHOPBRIDGE_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # `float()` reads these; they then pass `> 0` (inf) or every comparison (nan) and break the arithmetic
        ("SHOPBRIDGE_POLL_INTERVAL", "nan", "must be a finite number, got 'nan'"),
        ("SHOPBRIDGE_POLL_INTERVAL", "inf", "must be a finite number, got 'inf'"),
        ("SHOPBRIDGE_POLL_SETTLE", "-inf", "must be a finite number"),
        ("SHOPBRIDGE_INVENTORY_RECONCILE_INTERVAL", "NaN", "must be a finite number"),
        ("SHOPBRIDGE_TIKTOK_TIMEOUT", "nan", "must be a finite number"),
        ("SHOPBRIDGE_TIKTOK_TIMEOUT", "0", "must be > 0 seconds, got 0.0"),
        ("SHOPBRIDGE_TIKTOK_TIMEOUT", "-1", "must be > 0 seconds"),
        ("SHOPBRIDGE_TIKTOK_RATE_LIMIT", "0", "must be > 0 requests per second, got 0.0"),
        ("SHOPBRIDGE_TIKTOK_RATE_LIMIT", "1e400", "must be a finite number"),
        # integers outside what the code can use
        ("SHOPBRIDGE_SYNC_ORDER_SLICES", "0", "must be an integer 1 or more, got 0"),
        ("SHOPBRIDGE_SYNC_PAGE_SIZE", "0", "must be an integer from 1 to 100, got 0"),
        ("SHOPBRIDGE_SYNC_PAGE_SIZE", "1000", "must be an integer from 1 to 100, got 1000"),
        ("SHOPBRIDGE_SYNC_MAX_ATTEMPTS", "0", "must be an integer 1 or more"),
        # 0 or fewer threads were read as 1 (and with no reserved thread, started as if the setting were 1)
        ("SHOPBRIDGE_EMBEDDED_WORKER_THREADS", "0", "must be an integer 1 or more, got 0"),
        ("SHOPBRIDGE_EMBEDDED_WORKER_THREADS", "-4", "must be an integer 1 or more, got -4"),
        ("SHOPBRIDGE_SYNC_MIN_BACKOFF_MS", "-1", "must be an integer from 0 to 315360000000"),
        ("SHOPBRIDGE_SYNC_MIN_BACKOFF_MS", "700000", "SHOPBRIDGE_SYNC_MAX_BACKOFF_MS (600000) must not be below"),
        ("SHOPBRIDGE_SYNC_TIME_LIMIT", "0", "must be an integer from 1 to 315360000"),
        ("SHOPBRIDGE_SYNC_STALE_AFTER", "-300", "must be an integer from 1 to 315360000"),
        ("SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS", "0", "must be an integer from 1 to 315360000000"),
        ("SHOPBRIDGE_BROKER_MAINTENANCE_CHANCE", "2000000", "must be an integer from 0 to 1000000"),
        # README: timeouts above 0; 0 passed and gave running imports no time to hand their messages back
        ("SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT", "0", "must be an integer from 1 to 315360000, got 0"),
        ("SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT", "-1", "must be an integer from 1 to 315360000"),
        # `shopbridge token --ttl` refuses more than ten years; the setting signed tokens for 10**20 s, never expiring
        ("SHOPBRIDGE_TOKEN_TTL", "315360001", "must be an integer from 1 to 315360000, got 315360001"),
        ("SHOPBRIDGE_TOKEN_TTL", "99999999999999999999", "must be an integer from 1 to 315360000"),
        # durations past ten years passed `> 0` / `1 or more`, then broke at run time (the embedded pool's boot died
        # on `timedelta(seconds=2 * poll interval)`: OverflowError; dates past 9999; thread waits past TIMEOUT_MAX)
        ("SHOPBRIDGE_POLL_INTERVAL", "99999999999999999999", "must be at most 315360000 seconds (10 years), got 1e+20"),
        ("SHOPBRIDGE_POLL_OVERLAP", "315360001", "must be at most 315360000 seconds (10 years)"),
        ("SHOPBRIDGE_POLL_SETTLE", "1e12", "must be at most 315360000 seconds (10 years)"),
        ("SHOPBRIDGE_SCHEDULER_TICK", "1e12", "must be at most 315360000 seconds (10 years)"),
        # the schema's recheck while waiting for `migrate`: 0 would read the revision in a busy loop
        ("SHOPBRIDGE_SCHEMA_RECHECK", "0", "must be > 0 seconds, got 0.0"),
        ("SHOPBRIDGE_SCHEMA_RECHECK", "nan", "must be a finite number"),
        ("SHOPBRIDGE_SCHEMA_RECHECK", "1e12", "must be at most 315360000 seconds (10 years)"),
        ("SHOPBRIDGE_INVENTORY_RECONCILE_INTERVAL", "1e12", "must be at most 315360000 seconds (10 years)"),
        ("SHOPBRIDGE_TIKTOK_TIMEOUT", "1e12", "must be at most 315360000 seconds (10 years)"),
        ("SHOPBRIDGE_SYNC_TIME_LIMIT", "315360001", "must be an integer from 1 to 315360000, got 315360001"),
        ("SHOPBRIDGE_SYNC_STALE_AFTER", "99999999999999999999", "must be an integer from 1 to 315360000"),
        ("SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT", "99999999999999999999", "must be an integer from 1 to 315360000"),
        ("SHOPBRIDGE_SYNC_MIN_BACKOFF_MS", "315360000001", "must be an integer from 0 to 315360000000"),
        ("SHOPBRIDGE_SYNC_MAX_BACKOFF_MS", "99999999999999999999", "must be an integer from 0 to 315360000000"),
        ("SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS", "99999999999999999999", "must be an integer from 1 to 315360000000"),
        # a lock wait of 0 would fail every migration that waits a millisecond; PostgreSQL holds ~24.8 days at most
        ("SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT", "0", "must be > 0 seconds, got 0.0"),
        ("SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT", "nan", "must be a finite number"),
        ("SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT", "86401", "must be at most 86400 seconds (a day), got 86401"),
        # the inbox must outlive TikTok's retries (~15.5 h) to recognise one; a day at least, a year at most
        ("SHOPBRIDGE_WEBHOOK_RETENTION", "3600", "must be from 86400 (1 day: TikTok retries a push for about 15.5"),
        ("SHOPBRIDGE_WEBHOOK_RETENTION", "0", "got 0"),
        ("SHOPBRIDGE_WEBHOOK_RETENTION", "31536001", "to 31536000 seconds (365 days), got 31536001"),
        ("SHOPBRIDGE_WEBHOOK_RETENTION", "7d", "must be an integer, got '7d'"),
        # a finished task is kept a day at least (a failure must be seen), a year at most
        ("SHOPBRIDGE_TASK_RETENTION", "3600", "must be from 86400 (1 day: a failed sync stays in the Task Center"),
        ("SHOPBRIDGE_TASK_RETENTION", "-1", "got -1"),
        ("SHOPBRIDGE_TASK_RETENTION", "31536001", "to 31536000 seconds (365 days), got 31536001"),
        ("SHOPBRIDGE_TASK_RETENTION", "30d", "must be an integer, got '30d'"),
        # the embedded sandbox's data per shop: beyond the bound a shop takes gigabytes (sandbox/config.py)
        ("SHOPBRIDGE_SANDBOX_PRODUCTS", "10000000", "must be an integer from 0 to 100000, got 10000000"),
        ("SHOPBRIDGE_SANDBOX_PRODUCTS", "100001", "must be an integer from 0 to 100000, got 100001"),
        ("SHOPBRIDGE_SANDBOX_PRODUCTS", "-1", "must be an integer from 0 to 100000, got -1"),
        ("SHOPBRIDGE_SANDBOX_ORDERS", "300001", "must be an integer from 0 to 300000, got 300001"),
        # switches: a typo was read as "on"
        ("SHOPBRIDGE_SCHEDULER", "of", "must be on or off, got 'of'"),
        ("SHOPBRIDGE_INVENTORY_PUSH_FENCE", "disabled", "must be on or off, got 'disabled'"),
        # one vocabulary for every switch (README's table says on/off); it said "true or false" for this one alone
        ("SHOPBRIDGE_WEBHOOKS_APP_WIDE", "maybe", "must be on or off, got 'maybe'"),
        # quoted as written (it said 'VERBOSE', a value nobody wrote), though any case of a level is read
        ("SHOPBRIDGE_LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'"),
        # a process's database connections (README, Scaling): a pool of 0 serves nothing, thousands is a typo
        ("SHOPBRIDGE_DB_POOL_SIZE", "0", "must be an integer from 1 to 1000, got 0"),
        ("SHOPBRIDGE_DB_POOL_SIZE", "5000", "must be an integer from 1 to 1000, got 5000"),
        ("SHOPBRIDGE_DB_POOL_SIZE", "five", "must be an integer, got 'five'"),
        ("SHOPBRIDGE_DB_MAX_OVERFLOW", "-1", "must be an integer from 0 to 1000, got -1"),
        ("SHOPBRIDGE_DB_POOL_TIMEOUT", "0", "must be > 0 seconds, got 0.0"),
        ("SHOPBRIDGE_DB_POOL_TIMEOUT", "3601", "must be at most 3600 seconds"),
        ("SHOPBRIDGE_DB_APPLICATION_NAME", "x" * 64, "printable ASCII of at most 63 characters"),
        ("SHOPBRIDGE_DB_APPLICATION_NAME", "shopbridge-é", "printable ASCII of at most 63 characters"),
        ("SHOPBRIDGE_ENCRYPTION_KEY", "short", "Encryption key #1 is not a urlsafe-base64 32-byte Fernet key"),
        ("SHOPBRIDGE_ENCRYPTION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,short", "Encryption key #2 is not"),
    ],
)
def test_a_setting_no_process_can_run_with_is_refused_with_its_name(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), name: value})
    assert name in str(refused.value) and message in str(refused.value)
    if name == "SHOPBRIDGE_ENCRYPTION_KEY":
        assert value.split(",")[0] not in str(refused.value)  # a key is never quoted


def test_the_database_pool_is_sqlalchemys_5_plus_10_waited_30_s_unless_set(tmp_path: Path) -> None:
    # given no setting, then SQLAlchemy's pool: 5 kept, 10 more under load, 30 s of waiting; sessions "shopbridge"
    settings = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_seconds) == (5, 10, 30.0)
    assert settings.db_application_name == "shopbridge"
    # given each set, then taken, and the process's Database built from them
    settings = load_settings(
        {
            "SHOPBRIDGE_DATA_DIR": str(tmp_path),
            "SHOPBRIDGE_DB_POOL_SIZE": "20",
            "SHOPBRIDGE_DB_MAX_OVERFLOW": "0",
            "SHOPBRIDGE_DB_POOL_TIMEOUT": "2.5",
            "SHOPBRIDGE_DB_APPLICATION_NAME": "shopbridge-serve-eu1",
        }
    )
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_seconds) == (20, 0, 2.5)
    assert settings.db_application_name == "shopbridge-serve-eu1"
    pool = Database.from_settings(settings).write_engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (20, 0, 2.5)  # type: ignore[attr-defined]


def test_settled_webhook_events_are_kept_seven_days_unless_set(tmp_path: Path) -> None:
    assert load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}).webhook_retention_seconds == 604_800
    for seconds in ("86400", "2592000", "31536000"):
        settings = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_WEBHOOK_RETENTION": seconds})
        assert settings.webhook_retention_seconds == int(seconds)


def test_finished_sync_tasks_are_kept_thirty_days_unless_set(tmp_path: Path) -> None:
    assert load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}).task_retention_seconds == 2_592_000
    for seconds in ("86400", "604800", "31536000"):
        settings = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_TASK_RETENTION": seconds})
        assert settings.task_retention_seconds == int(seconds)


def test_migrate_waits_30_seconds_for_a_lock_unless_set(tmp_path: Path) -> None:
    assert load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}).migrate_lock_timeout_seconds == 30.0
    for seconds in ("0.5", "600", "86400"):
        settings = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT": seconds})
        assert settings.migrate_lock_timeout_seconds == float(seconds)


def test_the_sandbox_data_bounds_are_the_sandboxs_own(tmp_path: Path) -> None:
    # given the bounds the settings check (adapters may not import the sandbox: they are a copy)
    # then they are the sandbox's, and the sizes at the bounds are taken
    assert (SANDBOX_MAX_PRODUCTS, SANDBOX_MAX_ORDERS) == (MAX_PRODUCTS_PER_SHOP, MAX_ORDERS_PER_SHOP)
    env = {
        "SHOPBRIDGE_SANDBOX_PRODUCTS": str(SANDBOX_MAX_PRODUCTS),
        "SHOPBRIDGE_SANDBOX_ORDERS": str(SANDBOX_MAX_ORDERS),
    }
    settings = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), **env})
    assert (settings.sandbox_products, settings.sandbox_orders) == (SANDBOX_MAX_PRODUCTS, SANDBOX_MAX_ORDERS)


def test_switches_and_levels_read_every_usual_spelling(tmp_path: Path) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    for off in ("off", "OFF", "0", "false", "no"):
        assert not load_settings({**base, "SHOPBRIDGE_SCHEDULER": off}).scheduler_enabled
        assert not load_settings({**base, "SHOPBRIDGE_INVENTORY_PUSH_FENCE": off}).inventory_push_fence
    for on in ("on", "1", "true", "Yes", " "):
        assert load_settings({**base, "SHOPBRIDGE_SCHEDULER": on}).scheduler_enabled
    assert load_settings({**base, "SHOPBRIDGE_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    stored = tmp_path / "encryption_key"
    stored.write_text("not-a-key\n")
    with pytest.raises(ConfigError, match="encryption_key': Encryption key #1 is not"):
        load_settings(base)


def test_the_schema_recheck_is_the_gates_5_seconds_by_default_and_may_be_shorter(tmp_path: Path) -> None:
    from workers.schema_gate import RECHECK_SECONDS

    assert load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}).schema_recheck_seconds == RECHECK_SECONDS == 5.0
    fast = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_SCHEMA_RECHECK": "0.5"})
    assert fast.schema_recheck_seconds == 0.5


def test_the_registration_wait_recheck_is_250_ms_by_default_and_bounded_by_the_waits_30_s(tmp_path: Path) -> None:
    from workers.actors import REGISTRATION_WAIT_LONGEST

    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).registration_wait_recheck_ms == 250
    assert load_settings({**base, "SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS": "25"}).registration_wait_recheck_ms == 25
    longest_ms = int(REGISTRATION_WAIT_LONGEST.total_seconds() * 1000)
    assert load_settings({**base, "SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS": str(longest_ms)})
    for refused in ("0", str(longest_ms + 1), "soon"):
        with pytest.raises(ConfigError, match="SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS"):
            load_settings({**base, "SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS": refused})


def test_the_polling_settings_default_to_five_minutes_and_refuse_nonsense(tmp_path: Path) -> None:
    defaults = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert (defaults.poll_interval_seconds, defaults.poll_overlap_seconds, defaults.poll_settle_seconds) == (
        300.0,
        600.0,
        30.0,
    )
    assert defaults.scheduler_enabled and defaults.scheduler_tick_seconds == 30.0
    fast = load_settings(
        {"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_POLL_INTERVAL": "2", "SHOPBRIDGE_SCHEDULER": "off"}
    )
    assert fast.poll_interval_seconds == 2.0 and fast.scheduler_tick_seconds == 0.4 and not fast.scheduler_enabled
    with pytest.raises(ConfigError, match="SHOPBRIDGE_POLL_INTERVAL"):
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_POLL_INTERVAL": "0"})
    with pytest.raises(ConfigError, match="SHOPBRIDGE_POLL_OVERLAP"):
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_POLL_OVERLAP": "-1"})


def test_cors_origins_are_exact_origins_and_none_by_default(tmp_path: Path) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).cors_origins == ()
    given = load_settings({**base, "SHOPBRIDGE_CORS_ORIGINS": " https://App.example , http://localhost:3000/ ,"})
    assert given.cors_origins == ("https://app.example", "http://localhost:3000")
    for bad in ("*", "app.example", "https://app.example/path", "ftp://app.example", "https://*.example"):
        with pytest.raises(ConfigError, match="SHOPBRIDGE_CORS_ORIGINS"):
            load_settings({**base, "SHOPBRIDGE_CORS_ORIGINS": bad})


def test_the_request_size_limit_is_16_kib_or_more(tmp_path: Path) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).max_request_bytes == 1_048_576
    assert load_settings({**base, "SHOPBRIDGE_MAX_REQUEST_BYTES": "65536"}).max_request_bytes == 65_536
    assert load_settings({**base, "SHOPBRIDGE_MAX_REQUEST_BYTES": "16384"}).max_request_bytes == 16_384
    # below 16 KiB the API could not take GraphiQL's introspection or the console's documents: refused at start (a
    # try-out's 10 started, then every request was refused with 413)
    for bad in ("0", "-1", "lots", "10", "16383"):
        with pytest.raises(ConfigError, match="SHOPBRIDGE_MAX_REQUEST_BYTES"):
            load_settings({**base, "SHOPBRIDGE_MAX_REQUEST_BYTES": bad})


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT", "max_websockets_per_merchant"),
        ("SHOPBRIDGE_MAX_AUTHORIZATION_STARTS", "max_authorization_starts"),
    ],
)
def test_the_per_merchant_caps_are_20_by_default_and_1_or_more(tmp_path: Path, name: str, attribute: str) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    assert getattr(load_settings(base), attribute) == 20
    assert getattr(load_settings({**base, name: "3"}), attribute) == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: bad})


def test_the_manual_sync_starts_are_6_per_hour_by_default_and_1_or_more(tmp_path: Path) -> None:
    base, name = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}, "SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR"
    assert load_settings(base).max_sync_starts_per_hour == 6
    assert load_settings({**base, name: "2"}).max_sync_starts_per_hour == 2
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: bad})


def test_the_requests_per_minute_per_merchant_are_600_by_default_and_0_lifts_the_cap(tmp_path: Path) -> None:
    base, name = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}, "SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT"
    assert load_settings(base).max_requests_per_minute_per_merchant == 600
    assert load_settings({**base, name: " \n"}).max_requests_per_minute_per_merchant == 600  # blank: unset
    assert load_settings({**base, name: "3"}).max_requests_per_minute_per_merchant == 3
    assert load_settings({**base, name: "0"}).max_requests_per_minute_per_merchant == 0  # no cap
    for bad in ("-1", "many", "1.5"):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: bad})


def test_the_request_body_timeout_is_a_positive_number_of_seconds(tmp_path: Path) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).request_body_timeout_seconds == 30.0
    assert load_settings({**base, "SHOPBRIDGE_REQUEST_BODY_TIMEOUT": "2.5"}).request_body_timeout_seconds == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(ConfigError, match="SHOPBRIDGE_REQUEST_BODY_TIMEOUT"):
            load_settings({**base, "SHOPBRIDGE_REQUEST_BODY_TIMEOUT": bad})


def test_one_worker_thread_is_kept_from_imports_by_default_and_the_reservation_must_leave_one_for_them(
    tmp_path: Path,
) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    # by default one of the embedded pool's 4 threads is kept for webhooks, pushes and refreshes: 3 import slots
    defaults = load_settings(base)
    assert defaults.worker_reserved_threads == 1 and defaults.import_slots(defaults.embedded_worker_threads) == 3
    assert defaults.import_slots(8) == 7  # `shopbridge worker --threads 8`
    assert load_settings({**base, "SHOPBRIDGE_WORKER_RESERVED_THREADS": "0"}).import_slots(1) == 1
    # a negative or non-numeric reservation is refused
    for bad in ("-1", "one"):
        with pytest.raises(ConfigError, match="SHOPBRIDGE_WORKER_RESERVED_THREADS"):
            load_settings({**base, "SHOPBRIDGE_WORKER_RESERVED_THREADS": bad})
    # and so is one that leaves the embedded pool no import slot, at start-up
    # (a pool of 0 threads is refused as a count first: see the table of refused settings above)
    for threads, reserved in (("1", "1"), ("4", "4")):
        with pytest.raises(ConfigError, match=r"SHOPBRIDGE_WORKER_RESERVED_THREADS=.* leaves no thread for imports"):
            load_settings(
                {**base, "SHOPBRIDGE_EMBEDDED_WORKER_THREADS": threads, "SHOPBRIDGE_WORKER_RESERVED_THREADS": reserved}
            )
    # with a broker the pool is not embedded: worker processes check their own `--threads` (`import_slots`)
    shared = load_settings({**base, **KEYS, "SHOPBRIDGE_BROKER_URL": "redis://127.0.0.1:6379/0",
                            "SHOPBRIDGE_EMBEDDED_WORKER_THREADS": "1"})  # fmt: skip
    with pytest.raises(ConfigError, match="--threads"):
        shared.import_slots(1)


def test_the_default_data_directory_is_the_same_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    from adapters.config import default_data_dir

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    assert default_data_dir({}) == repo / "var"  # a source checkout: where `make run` keeps it


@pytest.mark.parametrize(
    ("xdg", "expected"),
    [
        pytest.param(None, "home/.local/share/shopbridge", id="unset"),
        pytest.param("/srv/xdg", "/srv/xdg/shopbridge", id="absolute"),
        pytest.param("data", "home/.local/share/shopbridge", id="relative-ignored"),
        pytest.param("  ", "home/.local/share/shopbridge", id="blank"),
    ],
)
def test_an_installed_copy_keeps_its_data_under_an_absolute_xdg_data_home(
    tmp_path: Path, monkeypatch, xdg: str | None, expected: str
) -> None:
    # given an installed copy (no source checkout around the code) run from some directory
    from adapters.config import default_data_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    env = {} if xdg is None else {"XDG_DATA_HOME": xdg}
    # then a relative XDG_DATA_HOME is ignored (XDG Base Directory Specification), never read against the cwd
    found = default_data_dir(env, root=tmp_path / "site-packages")
    assert found.is_absolute()
    assert found == (Path(expected) if expected.startswith("/") else tmp_path / expected)


def test_operations_settings(tmp_path: Path) -> None:
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    (tmp_path / "m").mkdir()
    default = load_settings(env)
    assert (default.log_format, default.metrics_token, default.metrics_dir) == ("text", None, None)
    assert default.worker_shutdown_seconds == 30
    given = load_settings(
        {
            **env,
            "SHOPBRIDGE_LOG_FORMAT": "JSON",
            "SHOPBRIDGE_METRICS_TOKEN": "t",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m"),
            "SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT": "5",
        }
    )
    assert (given.log_format, given.metrics_token, given.metrics_dir) == ("json", "t", tmp_path / "m")
    assert given.worker_shutdown_seconds == 5
    with pytest.raises(ConfigError, match="SHOPBRIDGE_LOG_FORMAT"):
        load_settings({**env, "SHOPBRIDGE_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        load_settings({**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")})


def test_a_command_that_only_uses_keys_never_mints_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path / "secret_key")):
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}, create_keys=False)
    assert not (tmp_path / "secret_key").exists()


def test_graphiql_assets_come_from_the_cdn_unless_a_mirror_is_set(tmp_path: Path) -> None:
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    assert load_settings(env).graphiql_assets_url is None
    mirrored = load_settings({**env, "SHOPBRIDGE_GRAPHIQL_ASSETS_URL": "https://npm.internal.example/npm/"})
    assert mirrored.graphiql_assets_url == "https://npm.internal.example/npm"
    for bad in ("npm.internal.example", "ftp://npm.internal.example", "https://"):
        with pytest.raises(ConfigError, match="SHOPBRIDGE_GRAPHIQL_ASSETS_URL"):
            load_settings({**env, "SHOPBRIDGE_GRAPHIQL_ASSETS_URL": bad})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOPBRIDGE_PUBLIC_URL", "shopbridge.example"),  # the OAuth callback TikTok redirects to: nowhere
        ("SHOPBRIDGE_PUBLIC_URL", "ftp://shopbridge.example"),
        ("SHOPBRIDGE_PUBLIC_URL", "https://"),
        ("SHOPBRIDGE_PUBLIC_URL", "https://shop bridge.example"),
        ("SHOPBRIDGE_FRONTEND_URL", "javascript:alert(1)"),  # where the callback redirects the seller
        ("SHOPBRIDGE_FRONTEND_URL", "/console/"),
        ("SHOPBRIDGE_TIKTOK_API_URL", "open-api.tiktokglobalshop.com"),
        ("SHOPBRIDGE_TIKTOK_AUTHORIZE_URL", "services.tiktokshop.com/open/authorize"),
    ],
)
def test_a_url_setting_is_an_absolute_http_url(tmp_path: Path, name: str, value: str) -> None:
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path), **(TIKTOK if "TIKTOK" in name else {})}
    with pytest.raises(ConfigError, match=f"{name} must be an http\\(s\\) URL like https://"):
        load_settings({**env, name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOPBRIDGE_PUBLIC_URL", "https://shopbridge.example/?x=1"),  # the callback was https://…/?x=1/oauth/…
        ("SHOPBRIDGE_PUBLIC_URL", "https://shopbridge.example#top"),
        ("SHOPBRIDGE_TIKTOK_API_URL", "https://open-api.tiktokglobalshop.com?region=us"),
        ("SHOPBRIDGE_TIKTOK_AUTH_URL", "https://auth.tiktok-shops.com/#"),
        ("SHOPBRIDGE_GRAPHIQL_ASSETS_URL", "https://mirror.example/npm?v=1"),
    ],
)
def test_a_base_url_setting_has_no_query_or_fragment(tmp_path: Path, name: str, value: str) -> None:
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path), **(TIKTOK if "TIKTOK" in name else {})}
    with pytest.raises(ConfigError, match=f"{name} is a base URL that paths are appended to: no query or fragment"):
        load_settings({**env, name: value})


def test_url_settings_keep_their_path_and_query(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SHOPBRIDGE_DATA_DIR": str(tmp_path),
            "SHOPBRIDGE_PUBLIC_URL": "https://example.com/shopbridge/",
            "SHOPBRIDGE_FRONTEND_URL": "https://app.example/shops?tab=tiktok",
        }
    )
    assert settings.public_url == "https://example.com/shopbridge"
    assert settings.frontend_url == "https://app.example/shops?tab=tiktok"


@pytest.mark.parametrize("create_keys", [True, False], ids=["server", "token"])
def test_a_data_directory_that_is_a_file_is_named_as_such(tmp_path: Path, create_keys: bool) -> None:
    # given SHOPBRIDGE_DATA_DIR naming a file
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    # when the settings are read, by a server (which makes keys) or by `shopbridge token` (which never does)
    with pytest.raises(ConfigError) as refused:
        load_settings({"SHOPBRIDGE_DATA_DIR": str(afile)}, create_keys=create_keys)
    # then the refusal says the data directory is a file: before, a server was told "cannot use the key file
    # …/afile/secret_key (File exists)" and `token` "no key at …/afile/secret_key: start the server once", which failed
    assert str(refused.value) == (
        f"the data directory {shown_path(afile)} is a file, not a directory: point SHOPBRIDGE_DATA_DIR at a directory "
        "(it keeps the generated keys)"
    )


SECRET_SETTINGS = [
    "SHOPBRIDGE_SECRET_KEY",
    "SHOPBRIDGE_ENCRYPTION_KEY",
    "SHOPBRIDGE_TIKTOK_APP_KEY",
    "SHOPBRIDGE_TIKTOK_APP_SECRET",
    "SHOPBRIDGE_METRICS_TOKEN",  # read as unset, a blank one left /metrics open
]


@pytest.mark.parametrize("blank", [" ", "\t", "   \n"], ids=["space", "tab", "spaces-and-newline"])
@pytest.mark.parametrize("name", SECRET_SETTINGS, ids=SECRET_SETTINGS)
def test_a_key_set_to_whitespace_only_is_refused_not_read_as_unset(tmp_path: Path, name: str, blank: str) -> None:
    """A blank key was read as unset: a generated key (SHOPBRIDGE_SECRET_KEY, _ENCRYPTION_KEY) or the embedded
    sandbox (SHOPBRIDGE_TIKTOK_*) took its place without a word, so a botched secret went unnoticed."""
    env = {**KEYS, **TIKTOK, "SHOPBRIDGE_DATA_DIR": str(tmp_path), name: blank}
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    assert str(refused.value) == f"{name} must not be blank (it holds only whitespace); set the key, or unset {name}"
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "encryption_key").exists()


@pytest.mark.parametrize("key_file", ["secret_key", "encryption_key", "sandbox_app_secret"], ids=str)
def test_a_generated_key_file_left_blank_is_refused_with_its_path(tmp_path: Path, key_file: str) -> None:
    """A blank sandbox_app_secret file was used as an empty app secret; the two others were refused, but as a key
    too short or malformed rather than as the blank file they are."""
    (tmp_path / key_file).write_text(" \n")
    with pytest.raises(ConfigError) as refused:
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert str(refused.value) == (
        f"{shown_path(tmp_path / key_file)} must not be blank (it holds only whitespace); delete it to have a new "
        "key generated"
    )


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///file::memory:?uri=true",
        "sqlite+aiosqlite:///file:db?mode=memory&cache=shared&uri=true",
    ],
    ids=["memory", "no-path", "uri-memory", "uri-mode-memory"],
)
def test_an_in_memory_sqlite_database_is_refused_for_serve_and_worker(tmp_path: Path, url: str) -> None:
    """Every process reads SHOPBRIDGE_DATABASE_URL here: an in-memory database loses everything at exit and is
    never shared with a worker process (before: `serve` failed at start-up with a traceback, or served it)."""
    with pytest.raises(ConfigError, match=r"^SHOPBRIDGE_DATABASE_URL must name a SQLite database file \("):
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_DATABASE_URL": url})
    # and a database file, even one called memory, is not
    named_memory = f"sqlite+aiosqlite:///{tmp_path / 'memory'}"
    given = {"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_DATABASE_URL": named_memory}
    assert load_settings(given).database_url == named_memory


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # a port that is no number: a ValueError traceback from every command
        ("postgresql+asyncpg://u:pw@db:fivefourthreetwo/shop", "its port must be a number from 1 to 65535"),
        ("postgresql+asyncpg://u:pw@db:70000/shop", "its port must be a number from 1 to 65535, got 70000"),
        # a parameter one of the two drivers does not take: a TypeError traceback from serve and worker (asyncpg),
        # or "invalid connection option" from migrate (psycopg2)
        ("postgresql+asyncpg://u:pw@db/shop?connect_timeout=5", "its query parameter 'connect_timeout' is not one"),
        ("postgresql+asyncpg://u:pw@db/shop?sslmode=required", "its sslmode= must be one of disable, allow"),
        ("postgresql+asyncpg://u:pw@db/shop?sslmode=require&ssl=require", "give the TLS mode once"),
        # a password holding an unescaped '@': read with its rest for the host, which the driver's error printed
        ("postgresql+asyncpg://u:pw@x7@db/shop", "holds an '@': percent-encode it as %40"),
    ],
)
def test_a_postgresql_url_both_drivers_cannot_take_is_refused_by_name(tmp_path: Path, url: str, said: str) -> None:
    with pytest.raises(ConfigError, match=r"^SHOPBRIDGE_DATABASE_URL: ") as refused:
        load_settings({**KEYS, "SHOPBRIDGE_DATABASE_URL": url, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert said in str(refused.value)
    assert "pw" not in str(refused.value)  # the password is never shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://u:pw@db:5432/shop?sslmode=verify-full",
        "postgresql+asyncpg://u:pw@db/shop?ssl=require",
        "postgresql+asyncpg://u@/shop?host=/var/run/postgresql",
    ],
)
def test_a_postgresql_url_with_a_tls_mode_or_a_socket_directory_is_taken(tmp_path: Path, url: str) -> None:
    settings = load_settings({**KEYS, "SHOPBRIDGE_DATABASE_URL": url, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert settings.database_url == url


@pytest.mark.parametrize(
    "url",
    [
        "rediss://:pw@redis:6380/0?ssl_password=x&ssl_ciphers=HIGH&ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem",
        "redis://redis:6379/0?client_name=shopbridge&socket_timeout=5&health_check_interval=30",
    ],
)
def test_a_broker_url_with_options_redis_takes_is_taken(tmp_path: Path, url: str) -> None:
    settings = load_settings({**KEYS, "SHOPBRIDGE_BROKER_URL": url, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert settings.broker_url == url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # each was a ValueError traceback from `shopbridge worker`, exit 1
        ("redis://:pw@[redis:6379/0", "cannot be read as a Redis URL: Invalid IPv6 URL"),
        ("redis://:pw@redis:sixthree/0", "cannot be read as a Redis URL: Port could not be cast"),
        ("redis://:pw@redis:6379/0?socket_timeout=soon", "cannot be read as a Redis URL: Invalid value for"),
        # a TypeError traceback from `shopbridge serve` at the first connection (sec50)
        ("redis://:pw@redis:6379/0?foo=bar", "has an option redis-py does not take: 'foo'"),
        # silently database 0: redis-py drops a database that is no number
        ("redis://:pw@redis:6379/shopbridge", "must name its Redis database by number"),
    ],
)
def test_a_broker_url_redis_cannot_read_is_refused_by_name(tmp_path: Path, url: str, said: str) -> None:
    with pytest.raises(ConfigError, match=r"^SHOPBRIDGE_BROKER_URL ") as refused:
        load_settings({**KEYS, "SHOPBRIDGE_BROKER_URL": url, "SHOPBRIDGE_DATA_DIR": str(tmp_path)})
    assert said in str(refused.value)
    assert "pw" not in str(refused.value)  # the password is never shown


NUMBERS = ["SHOPBRIDGE_SYNC_PAGE_SIZE", "SHOPBRIDGE_POLL_INTERVAL", "SHOPBRIDGE_WORKER_RESERVED_THREADS"]


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_set_to_whitespace_only_is_unset_as_any_other_setting(tmp_path: Path, name: str) -> None:
    """`SHOPBRIDGE_SYNC_PAGE_SIZE=" "` (an env file's template left blank) stopped the command, `must be an integer,
    got '  '`, where a switch, a choice or a URL set to whitespace reads as unset, as the README says of every
    setting (spaces and line breaks at either end dropped; empty is unset)."""
    # given a number setting holding only spaces and a newline
    settings = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), name: "  \n"})
    # then it is its default, as when unset
    assert settings == load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)})


def test_a_subscriber_remembers_100_finished_tasks_by_default_and_the_number_is_bounded(tmp_path: Path) -> None:
    base = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    name = "SHOPBRIDGE_SUBSCRIPTION_FINISHED_KEPT"
    assert load_settings(base).subscription_finished_kept == 100
    assert load_settings({**base, name: "10"}).subscription_finished_kept == 10
    assert load_settings({**base, name: "10000"}).subscription_finished_kept == 10_000
    for refused in ("0", "10001", "many"):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: refused})
