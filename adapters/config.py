"""Settings: the only module that reads the environment. Names are a public contract (see README)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

SANDBOX_MOUNT = "/sandbox"
SANDBOX_APP_KEY = "sandbox-app-key"
SANDBOX_SERVICE_ID = "7000000000000000001"
CALLBACK_PATH = "/oauth/tiktok/callback"
WEBHOOK_PATH = "/webhooks/tiktok"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class TikTokSettings:
    app_key: str
    app_secret: str = field(repr=False)
    service_id: str
    api_url: str  # base that TikTok's business paths are appended to
    auth_url: str  # base that /api/v2/token/... is appended to
    authorize_url: str  # the whole consent page URL; service_id and state are added
    rate_limit_per_second: float = 50.0
    timeout_seconds: float = 10.0
    max_retries: int = 5


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str = field(repr=False)
    encryption_key: str = field(repr=False)
    public_url: str
    frontend_url: str | None
    tiktok: TikTokSettings
    embedded_sandbox: bool
    broker_url: str | None  # redis://... in production; None: in-process StubBroker and worker pool
    data_dir: Path
    embedded_worker_threads: int = 4
    merchant_token_ttl_seconds: int = 7 * 24 * 3600
    sandbox_products: int = 40
    sandbox_orders: int = 120
    sandbox_seed: int = 1
    log_level: str = "INFO"
    # Sync engine and Dramatiq (issue 4): see workers/ and domain/services/importer.py.
    sync_order_slices: int = 16  # time slices of an orders import fetched concurrently
    sync_page_size: int = 100  # records per TikTok request (TikTok's maximum)
    sync_max_attempts: int = 5  # runs of one task (redeliveries included) before it FAILS
    sync_min_backoff_ms: int = 10_000  # Dramatiq's retry backoff of a failed attempt
    sync_max_backoff_ms: int = 600_000
    sync_time_limit_seconds: int = 7_200  # one attempt of one task
    sync_stale_after_seconds: int = 300  # a RUNNING task silent this long is re-enqueued by the sweep
    broker_heartbeat_timeout_ms: int = 60_000  # Redis: a worker silent this long is dead, its messages requeued
    broker_maintenance_chance: int = 1_000  # Redis: per million commands, how often that check runs
    # Live sync (issue 7): the webhook endpoint's body cap, and whether Partner Center holds the address app-wide.
    webhook_max_bytes: int = 256 * 1024
    webhooks_app_wide: bool = False

    @property
    def callback_url(self) -> str:
        return self.public_url.rstrip("/") + CALLBACK_PATH

    @property
    def webhook_url(self) -> str:
        """Where TikTok pushes webhooks: registered per shop through the Event API unless `webhooks_app_wide`."""
        return self.public_url.rstrip("/") + WEBHOOK_PATH

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _secret_file(data_dir: Path, name: str, make: str) -> str:
    """A secret kept in the data directory, generated on first run (the embedded default's key store).

    Written to a private temporary file and linked into place, so concurrent first runs agree on one value
    and nobody reads a half-written key.
    """
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make)
        try:
            os.link(temporary, path)  # atomic; fails if another process got there first, whose key then wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from the environment (or the mapping given). Unset TikTok settings mean the embedded sandbox."""
    env = dict(os.environ if env is None else env)

    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    data_dir = Path(get("SHOPBRIDGE_DATA_DIR") or "var").resolve()
    public_url = (get("SHOPBRIDGE_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
    database_url = get("SHOPBRIDGE_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'shopbridge.db'}"
    broker_url = get("SHOPBRIDGE_BROKER_URL")
    if (broker_url or not database_url.startswith("sqlite")) and not (
        get("SHOPBRIDGE_SECRET_KEY") and get("SHOPBRIDGE_ENCRYPTION_KEY")
    ):
        # Generated keys live in one machine's data directory: another API or worker process would make its
        # own, and then could neither verify merchant tokens nor decrypt TikTok tokens.
        raise ConfigError(
            "With PostgreSQL or a broker, set SHOPBRIDGE_SECRET_KEY and SHOPBRIDGE_ENCRYPTION_KEY (the same in "
            "every process); generate an encryption key with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    secret_key = get("SHOPBRIDGE_SECRET_KEY") or _secret_file(data_dir, "secret_key", secrets.token_urlsafe(48))
    encryption_key = get("SHOPBRIDGE_ENCRYPTION_KEY") or _secret_file(data_dir, "encryption_key", _new_fernet_key())
    tiktok_names = ("APP_KEY", "APP_SECRET", "SERVICE_ID", "API_URL", "AUTH_URL", "AUTHORIZE_URL")
    given = {n: get(f"SHOPBRIDGE_TIKTOK_{n}") for n in tiktok_names}
    rate = _float(env, "SHOPBRIDGE_TIKTOK_RATE_LIMIT", 50.0)
    timeout = _float(env, "SHOPBRIDGE_TIKTOK_TIMEOUT", 10.0)
    embedded = not any(given.values())
    if embedded:
        base = public_url + SANDBOX_MOUNT
        tiktok = TikTokSettings(
            app_key=SANDBOX_APP_KEY,
            app_secret=_secret_file(data_dir, "sandbox_app_secret", secrets.token_hex(16)),
            service_id=SANDBOX_SERVICE_ID,
            api_url=base,
            auth_url=base,
            authorize_url=base + "/oauth/authorize",
            rate_limit_per_second=rate,
            timeout_seconds=timeout,
        )
    else:
        missing = [f"SHOPBRIDGE_TIKTOK_{n}" for n, v in given.items() if v is None]
        if missing:
            raise ConfigError(
                "Set all TikTok settings or none (none means the embedded sandbox); missing: " + ", ".join(missing)
            )
        tiktok = TikTokSettings(
            app_key=given["APP_KEY"] or "",
            app_secret=given["APP_SECRET"] or "",
            service_id=given["SERVICE_ID"] or "",
            api_url=(given["API_URL"] or "").rstrip("/"),
            auth_url=(given["AUTH_URL"] or "").rstrip("/"),
            authorize_url=given["AUTHORIZE_URL"] or "",
            rate_limit_per_second=rate,
            timeout_seconds=timeout,
        )
    webhook_max_bytes = _int(env, "SHOPBRIDGE_WEBHOOK_MAX_BYTES", 256 * 1024)
    if webhook_max_bytes < 1024:
        raise ConfigError(f"SHOPBRIDGE_WEBHOOK_MAX_BYTES must be at least 1024, got {webhook_max_bytes}")
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        encryption_key=encryption_key,
        public_url=public_url,
        frontend_url=get("SHOPBRIDGE_FRONTEND_URL"),
        tiktok=tiktok,
        embedded_sandbox=embedded,
        broker_url=broker_url,
        data_dir=data_dir,
        embedded_worker_threads=_int(env, "SHOPBRIDGE_EMBEDDED_WORKER_THREADS", 4),
        merchant_token_ttl_seconds=_int(env, "SHOPBRIDGE_TOKEN_TTL", 7 * 24 * 3600),
        sandbox_products=_int(env, "SHOPBRIDGE_SANDBOX_PRODUCTS", 40),
        sandbox_orders=_int(env, "SHOPBRIDGE_SANDBOX_ORDERS", 120),
        sandbox_seed=_int(env, "SHOPBRIDGE_SANDBOX_SEED", 1),
        log_level=(get("SHOPBRIDGE_LOG_LEVEL") or "INFO").upper(),
        sync_order_slices=_int(env, "SHOPBRIDGE_SYNC_ORDER_SLICES", 16),
        sync_page_size=_int(env, "SHOPBRIDGE_SYNC_PAGE_SIZE", 100),
        sync_max_attempts=_int(env, "SHOPBRIDGE_SYNC_MAX_ATTEMPTS", 5),
        sync_min_backoff_ms=_int(env, "SHOPBRIDGE_SYNC_MIN_BACKOFF_MS", 10_000),
        sync_max_backoff_ms=_int(env, "SHOPBRIDGE_SYNC_MAX_BACKOFF_MS", 600_000),
        sync_time_limit_seconds=_int(env, "SHOPBRIDGE_SYNC_TIME_LIMIT", 7_200),
        sync_stale_after_seconds=_int(env, "SHOPBRIDGE_SYNC_STALE_AFTER", 300),
        broker_heartbeat_timeout_ms=_int(env, "SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS", 60_000),
        broker_maintenance_chance=_int(env, "SHOPBRIDGE_BROKER_MAINTENANCE_CHANCE", 1_000),
        webhook_max_bytes=webhook_max_bytes,
        webhooks_app_wide=_bool(env, "SHOPBRIDGE_WEBHOOKS_APP_WIDE", False),
    )


def _new_fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
