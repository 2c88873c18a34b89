"""Settings: the only module that reads the environment. Names are a public contract (see README)."""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from adapters.crypto import TokenCipher, TokenCipherError
from adapters.text import shown, shown_path

SANDBOX_MOUNT = "/sandbox"
SANDBOX_APP_KEY = "sandbox-app-key"
SANDBOX_SERVICE_ID = "7000000000000000001"
CALLBACK_PATH = "/oauth/tiktok/callback"
WEBHOOK_PATH = "/webhooks/tiktok"
MAX_PAGE_SIZE = 100  # records per TikTok request: TikTok's maximum page size
# The embedded sandbox's bounds on one shop's data: a copy of sandbox/config.py's MAX_PRODUCTS_PER_SHOP and
# MAX_ORDERS_PER_SHOP (the measurements behind them are there), which adapters may not import (import contract);
# tests/unit/test_config.py fails when the two differ. Beyond them a shop's data takes gigabytes.
SANDBOX_MAX_PRODUCTS = 100_000
SANDBOX_MAX_ORDERS = 300_000
# The smallest SHOPBRIDGE_MAX_REQUEST_BYTES accepted (bytes, 16 KiB): GraphiQL's introspection (~2 KB) and the
# console's documents fit with room. A try-out set 10 and the server started, then refused every request with 413.
MIN_REQUEST_BYTES = 16_384
SUBSCRIPTION_FINISHED_KEPT = 100  # `Settings.subscription_finished_kept`'s default
SUBSCRIPTION_FINISHED_KEPT_MAX = 10_000  # its largest: a subscriber's memory stays a few MB at most


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it. `code`: the stable code a command prints."""

    code = "BAD_CONFIGURATION"


class KeyMissingError(ConfigError):
    """A generated key's file (`key`: secret_key, encryption_key, sandbox_app_secret) is missing where a command that
    only uses keys (`load_settings(create_keys=False)`: `shopbridge token`) looked for it; nothing was created."""

    code = "KEY_MISSING"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# Where each generated key can come from instead of its file (for the message of a missing one).
_KEY_SOURCES = {
    "secret_key": "set SHOPBRIDGE_SECRET_KEY",
    "encryption_key": "set SHOPBRIDGE_ENCRYPTION_KEY",
    "sandbox_app_secret": "set the SHOPBRIDGE_TIKTOK_* settings (a real TikTok app)",
}


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
    # Dramatiq threads of each worker process that imports may not take (see `import_slots`).
    worker_reserved_threads: int = 1
    merchant_token_ttl_seconds: int = 7 * 24 * 3600
    sandbox_products: int = 40  # per shop, at most SANDBOX_MAX_PRODUCTS
    sandbox_orders: int = 120  # per shop, at most SANDBOX_MAX_ORDERS
    sandbox_seed: int = 1
    log_level: str = "INFO"
    # Sync engine and Dramatiq (issue 4): see workers/ and domain/services/importer.py.
    sync_order_slices: int = 16  # time slices of an orders import fetched concurrently
    sync_page_size: int = 100  # records per TikTok request (TikTok's maximum)
    sync_max_attempts: int = 5  # failed runs of one task (a dead worker's counts, an interrupted one not) before FAILED
    sync_min_backoff_ms: int = 10_000  # Dramatiq's retry backoff of a failed attempt
    sync_max_backoff_ms: int = 600_000
    sync_time_limit_seconds: int = 7_200  # one attempt of one task
    sync_stale_after_seconds: int = 300  # a RUNNING task silent this long is re-enqueued by the sweep
    broker_heartbeat_timeout_ms: int = 60_000  # Redis: a worker silent this long is dead, its messages requeued
    broker_maintenance_chance: int = 1_000  # Redis: per million commands, how often that check runs
    # Live sync (issue 7): the polling backstop and the token sweep; see domain/polling.py, domain/tokens.py.
    poll_interval_seconds: float = 300.0  # each ACTIVE shop is polled per kind this often
    poll_overlap_seconds: float = 600.0  # a poll re-reads this far before its cursor
    poll_settle_seconds: float = 30.0  # and leaves alone changes more recent than this
    scheduler_enabled: bool = True  # the scheduler tick in worker processes (and in the embedded pool)
    scheduler_tick: float | None = None  # seconds between ticks; None: derived from the poll interval
    # How often a process waiting for `shopbridge migrate` reads the schema's revision again, and how long a message
    # that arrived meanwhile waits before it is delivered again (workers/schema_gate.py's RECHECK_SECONDS)
    schema_recheck_seconds: float = 5.0
    # How often a new shop's import, queued with its webhook registration, looks again whether it may begin (the
    # registration ended, then the import queued ahead of it began): its message is sent again this many ms later
    # (workers/actors.py's `run_sync_task`; README "Registering the address with TikTok").
    registration_wait_recheck_ms: int = 250
    # Inventory push (issue 8): see domain/services/inventory_push.py and inventory_reconcile.py.
    inventory_reconcile_interval_seconds: float = 1800.0  # each shop's linked SKUs compared with TikTok this often
    inventory_push_concurrency: int = 4  # products of one shop pushed at once by one run
    inventory_push_fence: bool = True  # read TikTok's available before a push; hold back sales not yet ingested

    @property
    def hold_horizon_seconds(self) -> float:
        """How long the push's fence holds back units sold unseen (`PushDeps.hold_horizon`), in seconds: two polls
        and their settle, by when an order poll has brought in a sale its webhook lost. A shop's deletion takes the
        holds that still stand within it off on-hand (README, "Deleting a shop")."""
        return 2 * self.poll_interval_seconds + self.poll_settle_seconds

    @property
    def scheduler_tick_seconds(self) -> float:
        """How often the scheduler looks for due polls and tokens: as set, else a fifth of the poll interval
        within [0.2, 30] s."""
        if self.scheduler_tick:
            return self.scheduler_tick
        return min(30.0, max(0.2, self.poll_interval_seconds / 5))

    # The GraphQL face (issue 12): browser origins allowed by CORS, and the largest HTTP body / WebSocket message.
    cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = 1_048_576
    # How long a request's body may take to arrive, from its first read to its last byte (seconds): a body sent a
    # byte at a time (slowloris) held its connection forever; the webhook endpoint's included (gql/limits.py).
    request_body_timeout_seconds: float = 30.0
    # What one merchant (or a stolen session) may hold at once: open GraphQL WebSockets per API process (each runs
    # up to 20 subscriptions, gql/view.py), and authorizations started within a state's 30-minute life, used or not
    # (each a row kept a day past its expiry, domain/authorization.py).
    max_websockets_per_merchant: int = 20
    # Finished tasks whose final state an all-tasks `syncTaskUpdated` subscriber remembers, the latest this many, so
    # that a signal naming one again sends nothing while what it keeps stays bounded however long it is open (mem54;
    # gql/subscriptions.py `_follow`). The suite sets a few (its test of the bound finishes this many tasks and more).
    subscription_finished_kept: int = SUBSCRIPTION_FINISHED_KEPT
    max_authorization_starts: int = 20
    # Syncs of one shop and kind a merchant may start by hand (`syncStart`) within an hour (domain/sync.py).
    max_sync_starts_per_hour: int = 6
    # HTTP requests one merchant may send /graphql (and one client address POST /console/login) within any 60 s;
    # 0: no cap (gql/request_rate.py). 600 (10 a second, sustained for a minute) is several times what the console
    # sends at its busiest (a page's few reads, a search's reads debounced to one per 300 ms; progress comes over
    # the WebSocket, which is not counted), yet bounds a runaway script to a small share of the API.
    max_requests_per_minute_per_merchant: int = 600
    # Operations (issue 11): /metrics, logs.
    metrics_token: str | None = field(default=None, repr=False)  # set: /metrics needs `Authorization: Bearer` it
    metrics_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR: the processes of a host share their metrics there
    log_format: str = "text"  # "text" | "json" (one JSON object per line)
    worker_shutdown_seconds: int = 30  # `shopbridge worker` on SIGTERM: Dramatiq's shutdown bound; killed 10 s later
    # `shopbridge migrate` (and `demo`'s migration): how long it waits for any one lock (another migrate's, a table
    # a long transaction holds; SQLite: the file's write lock) before failing in one line (adapters/db/migrate.py).
    migrate_lock_timeout_seconds: float = 30.0
    # Live sync (issue 7): the webhook endpoint's body cap, and whether Partner Center holds the address app-wide.
    webhook_max_bytes: int = 256 * 1024
    webhooks_app_wide: bool = False
    # Settled webhook events received longer ago than this (seconds) are deleted by the sweep; see
    # WEBHOOK_RETENTION_MIN_SECONDS for why it may not be shorter than a day.
    webhook_retention_seconds: int = 7 * 24 * 3600
    # Finished sync tasks that finished longer ago than this (seconds) are deleted by the sweep, but the newest of
    # each shop and kind (`domain.sync.RetentionRole`); within the same bounds as the webhook retention.
    task_retention_seconds: int = 30 * 24 * 3600
    # The web console (issue 10): where GraphiQL's page loads its scripts and styles (None: the public CDN).
    graphiql_assets_url: str | None = None
    # The database connections of one process (README, Scaling): SQLAlchemy's pool of `db_pool_size` kept open plus
    # up to `db_max_overflow` more under load, and how long a request waits for one when all are in use before it
    # fails with DATABASE_BUSY (adapters/db/outage.py). On SQLite, the read engine has its own pool of the same size.
    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 30.0
    # How the process's PostgreSQL sessions show in `pg_stat_activity.application_name`: each command sets its own
    # (`shopbridge-serve`, `shopbridge-worker`, `shopbridge-demo`, ...) unless SHOPBRIDGE_DB_APPLICATION_NAME is set.
    db_application_name: str = "shopbridge"

    def import_slots(self, worker_threads: int) -> int:
        """How many imports a worker process with `worker_threads` Dramatiq threads runs at once: all its threads
        but `worker_reserved_threads`, kept for the `live` queue and the short `sync` actors (an import holds its
        thread for up to hours). ConfigError when that leaves no import slot."""
        slots = worker_threads - self.worker_reserved_threads
        if slots < 1:
            raise ConfigError(
                f"SHOPBRIDGE_WORKER_RESERVED_THREADS={self.worker_reserved_threads} leaves no thread for imports in a "
                f"worker process of {worker_threads} thread(s): reserve fewer threads, or give the process more "
                "(SHOPBRIDGE_EMBEDDED_WORKER_THREADS, or `shopbridge worker --threads`)"
            )
        return slots

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


def default_data_dir(env: dict[str, str], root: Path | None = None) -> Path:
    """Where the embedded default keeps its database and keys when SHOPBRIDGE_DATA_DIR is unset: the project's
    `var/` when run from a source checkout (`root`, default this code's: what `make run` uses), else
    `$XDG_DATA_HOME/shopbridge` (`~/.local/share/shopbridge`). Absolute either way: every command finds the same keys
    from any directory. A relative XDG_DATA_HOME is ignored, as the XDG Base Directory Specification says ("If an
    implementation encounters a relative path in any of these variables it should consider the path invalid and
    ignore it"): read against each command's working directory, it named a different directory for each.
    """
    root = Path(__file__).resolve().parents[1] if root is None else root
    if (root / "pyproject.toml").is_file():
        return root / "var"
    base = (env.get("XDG_DATA_HOME") or "").strip()
    if not base or not Path(base).is_absolute():
        base = str(Path.home() / ".local" / "share")
    return Path(base) / "shopbridge"


def data_dir_setting(env: dict[str, str] | None = None) -> Path:
    """The data directory `load_settings` uses (SHOPBRIDGE_DATA_DIR, else `default_data_dir`), absolute; read
    without touching the disk (`load_settings` makes the keys there), for what must be decided before anything is
    created, such as whether another process already serves from it. A relative SHOPBRIDGE_DATA_DIR is a
    ConfigError (BAD_CONFIGURATION, exit 2)."""
    env = dict(os.environ if env is None else env)
    raw = (env.get("SHOPBRIDGE_DATA_DIR") or "").strip()
    if raw and not Path(raw).is_absolute():
        # Read against each command's working directory, `var` or `~/data` (no shell expands that `~`) named
        # another directory, with its own keys and database, for every command run from elsewhere: `serve` under
        # a process manager and `shopbridge token` from a shell used different keys, and its tokens were refused.
        raise ConfigError(
            f"SHOPBRIDGE_DATA_DIR must be an absolute path, so that every command finds the same keys and database "
            f"from any directory; got {shown(raw)}, here {shown_path(Path(raw).resolve())}"
        )
    return Path(raw or default_data_dir(env)).resolve()


def database_url_setting(env: dict[str, str] | None = None) -> str | None:
    """SHOPBRIDGE_DATABASE_URL as `load_settings` takes it (a `ConfigError` for another scheme), or None when unset
    (the default database, inside the data directory); read without touching the disk, for a database to be checked
    before the settings make the data directory's keys."""
    env = dict(os.environ if env is None else env)
    return _database_url((env.get("SHOPBRIDGE_DATABASE_URL") or "").strip() or None)


# SHOPBRIDGE_TIKTOK_<name>: all unset, the embedded sandbox is TikTok (`load_settings`, `embedded_sandbox_setting`)
TIKTOK_SETTING_NAMES = ("APP_KEY", "APP_SECRET", "SERVICE_ID", "API_URL", "AUTH_URL", "AUTHORIZE_URL")


def embedded_sandbox_setting(env: dict[str, str] | None = None) -> bool:
    """Whether `load_settings` would serve the embedded sandbox as TikTok (no SHOPBRIDGE_TIKTOK_* setting given),
    read without touching the disk, for a command to refuse what it cannot do with it before the data directory's keys
    are made."""
    env = dict(os.environ if env is None else env)
    return not any((env.get(f"SHOPBRIDGE_TIKTOK_{name}") or "").strip() for name in TIKTOK_SETTING_NAMES)


DEFAULT_DATABASE_FILE = "shopbridge.db"


def default_database_url(data_dir: Path) -> str:
    """The embedded default's database when SHOPBRIDGE_DATABASE_URL is unset: SQLite in the data directory."""
    return f"sqlite+aiosqlite:///{data_dir / DEFAULT_DATABASE_FILE}"


def _secret_file(data_dir: Path, name: str, make: str, *, create: bool = True) -> str:
    """A secret kept in the data directory, generated on first run (the embedded default's key store).

    Written to a private temporary file and linked into place, so concurrent first runs agree on one value
    and nobody reads a half-written key. `create=False`: a missing file is a `KeyMissingError` (KEY_MISSING)
    naming it, and nothing is made (no directory, no file).
    """
    path = data_dir / name
    if data_dir.exists() and not data_dir.is_dir():  # else "File exists" (mkdir), or "no key at <file>/secret_key"
        raise ConfigError(
            f"the data directory {shown_path(data_dir)} is a file, not a directory: point SHOPBRIDGE_DATA_DIR at a "
            "directory (it keeps the generated keys)"
        )
    try:
        value = _read_or_make(path, data_dir, name, make, create=create)
    except OSError as exc:
        raise ConfigError(
            f"cannot use the key file {path} ({exc.strerror}): point SHOPBRIDGE_DATA_DIR at a writable directory"
        ) from exc
    if not value:  # emptied by hand: no key was ever used from it (each is refused blank), so a new one is safe
        raise ConfigError(
            f"{shown_path(path)} must not be blank (it holds only whitespace); delete it to have a new key generated"
        )
    return value


def make_data_dir(data_dir: Path) -> None:
    """Create the data directory (and its parents) if missing, the directory itself private to this user (mode
    0700): it holds the keys (each file 0600 too), the embedded SQLite database and the sandbox's data. Before
    (sec49), the database and its WAL were created readable by every local user (`-rw-r--r--`): buyers' names and
    addresses, and the tokens' ciphertexts. A directory that exists already keeps its mode here; `serve` and `demo`
    make theirs private once they hold its lock (`make_data_dir_private`)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


PRIVATE_DIR_MODE = 0o700


def refuse_shared_data_dir(data_dir: Path) -> None:
    """Refuse a data directory open to other users that is not this process's to make private: one owned by another
    user, or shared by its mode (sticky bit, setgid with group write, or writable by every user: `/tmp`, `/srv`, a
    team's directory).
    ConfigError (BAD_CONFIGURATION) naming SHOPBRIDGE_DATA_DIR, the mode and the owner, and what to do; nothing is
    changed. A directory no other user may enter (no bit for others: 0700, or 0750/2770 whose group the operator
    chose, e.g. a backup agent's) passes whoever owns it; so does a missing one (`make_data_dir` makes it 0700).

    Why (tryout62 F1, review62 R4): `make_data_dir_private` chmodded any directory to 0700; run as root (a
    container, a systemd unit without `User=`), `SHOPBRIDGE_DATA_DIR=/tmp` took the host's /tmp from every other
    user and service, its sticky bit dropped, with one WARNING line."""
    if (why := shared_directory(data_dir)) is not None:
        raise ConfigError(
            f"SHOPBRIDGE_DATA_DIR {shown_path(data_dir)} is {why} and it would hold the database and the keys: give "
            f"Shopbridge a directory of its own, e.g. {shown_path(data_dir / 'shopbridge')} (made private, mode "
            "0700); nothing was changed"
        )


def refuse_shared_database_dir(database_file: Path) -> None:
    """Refuse a SQLite database file (`SHOPBRIDGE_DATABASE_URL`) whose directory is shared with other local users by
    the data directory's rule (`shared_directory`: another user's, sticky, setgid with group write, or writable by
    every user, such as `/tmp`): ConfigError (BAD_CONFIGURATION, exit 2) naming the setting, the directory, its mode
    and owner; nothing is made there (no database file, no `-wal`, no `<file>.lock`). A missing directory passes
    (the open that follows says why it cannot be used).

    Why (tryout63's leftover, tryout65): only the data directory was checked. In a shared directory another local user
    can make the database's files before Shopbridge does: an empty `/tmp/shopbridge.db` of theirs, mode 0666, was
    migrated and served as it was, so buyers' names and addresses, orders and the TikTok tokens' ciphertexts went
    into a file that user owns and reads (`make_sqlite_file_private` leaves another user's file as it is); and a
    `-wal` or lock file of theirs breaks or blocks the server."""
    if (why := shared_directory(database_file.parent)) is not None:
        raise ConfigError(
            f"SHOPBRIDGE_DATABASE_URL puts the SQLite database {shown_path(database_file)} in "
            f"{shown_path(database_file.parent)}, {why}: another local user could make or replace its files there "
            "(the database, its -wal and -journal, its lock) before Shopbridge does, and read them; give it a "
            f"directory of its own, e.g. {shown_path(database_file.parent / 'shopbridge' / database_file.name)} "
            "(in a directory made mode 0700); nothing was made"
        )


def shared_directory(directory: Path) -> str | None:
    """Why `directory` is shared with other local users, in words with its mode and owner ("a shared directory (mode
    1777, owner root)", "another user's directory (mode 0755, owner nobody)"), or None: None for a missing one, for
    one no other user may enter (no bit for others: 0700, or 0750/2770 whose group the operator chose), and for one
    of this user's that is shared by no bit (0755: its owner may make it private). Shared: owned by another user
    (others may enter), or by its mode (sticky bit, setgid with group write, or writable by every user)."""
    try:
        status = os.stat(directory)
    except FileNotFoundError:
        return None
    mode = status.st_mode & 0o7777
    if not mode & 0o007:
        return None
    # setgid shares a directory only with a group that may write in it (2775, a team's deploy directory): a 2755
    # inherited from a setgid parent is this user's own, made private as a 0755 is (review63 F8)
    shared_bits = mode & (0o1000 | 0o002) or (mode & 0o2000 and mode & 0o020)
    if status.st_uid == os.geteuid() and not shared_bits:
        return None
    why = "another user's directory" if status.st_uid != os.geteuid() else "a shared directory"
    return f"{why} (mode {mode:04o}, owner {_user_name(status.st_uid)})"


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (a container's)
        return f"uid {uid}"


def make_data_dir_private(data_dir: Path) -> int | None:
    """Make an existing data directory private to its user (mode 0700) when every user may read or enter it (a bit
    for others, e.g. 0755 from the umask): the mode it had, for the caller to say so; None when nothing changed
    (no bit for others: 0700, or group bits the operator set on purpose, 0750 for a backup agent's group, which the
    umask never gives with others' bits off unless one chose so). A directory that is not this process's to change
    (another user's, sticky, setgid, world-writable) is refused by `refuse_shared_data_dir`: ConfigError
    (BAD_CONFIGURATION), nothing changed. OSError when the mode cannot be changed (a read-only file system, EROFS).

    Why not only when made (`make_data_dir`): a directory made otherwise, by hand (`mkdir var`), by the default
    umask, or by a demo left running after `make clean`, whose sandbox saved into a `var/` it made again (tryout61
    F2), held a database every local user could read (SQLite makes its files 0644) though the README promises 0700."""
    refuse_shared_data_dir(data_dir)
    mode = os.stat(data_dir).st_mode & 0o7777
    if not mode & 0o007:
        return None
    os.chmod(data_dir, PRIVATE_DIR_MODE)
    return mode


def _read_or_make(path: Path, data_dir: Path, name: str, make: str, *, create: bool) -> str:
    if not path.exists() and not create:
        # A shared directory first: "start the server once (it creates the keys there)" led nowhere, the server
        # refusing that directory (tryout63 M3, `shopbridge token` / `rotate-keys` with SHOPBRIDGE_DATA_DIR=/tmp)
        refuse_shared_data_dir(data_dir)
        raise KeyMissingError(
            name,
            f"no {name} at {path}: start the server once (it creates the keys there), or point SHOPBRIDGE_DATA_DIR "
            f"at the server's data directory, or {_KEY_SOURCES.get(name, 'set it')}; nothing was created",
        )
    if not path.exists():
        refuse_shared_data_dir(data_dir)  # a key made in /tmp, another's or a shared directory: refused, none made
        make_data_dir(data_dir)
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


def _int(env: dict[str, str], name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    """An integer setting; with `low`/`high`, outside [low, high] is a ConfigError naming the range. Whitespace
    only is unset, as for every setting."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {shown(raw)}") from exc
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ConfigError(f"{name} must be an integer {bounds}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()  # whitespace only is unset, as for every setting
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {shown(raw)}") from exc
    if not math.isfinite(value):  # `nan` and `inf` parse, then pass every comparison or break every sum
        raise ConfigError(f"{name} must be a finite number, got {shown(raw)}")
    return value


def _positive(
    env: dict[str, str], name: str, default: float, *, allow_zero: bool = False, unit: str = "seconds"
) -> float:
    value = _float(env, name, default)
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'} {unit}, got {value}")
    if unit == "seconds" and value > MAX_DURATION_SECONDS:
        raise ConfigError(f"{name} must be at most {MAX_DURATION_SECONDS} seconds (10 years), got {value:g}")
    return value


def _directory(raw: str | None, name: str) -> Path | None:
    """An existing directory, or None when unset (prometheus-client fails on its first metric otherwise)."""
    if raw is None:
        return None
    path = Path(raw).resolve()
    if not path.is_dir():
        raise ConfigError(
            f"{name}={shown_path(raw)} is not a directory: create it (empty) before starting the processes"
        )
    return path


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed` (case-insensitive); unset means the first."""
    raw = (env.get(name) or "").strip().lower() or allowed[0]
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {shown(raw)}")
    return raw


def is_set(name: str, env: dict[str, str] | None = None) -> bool:
    """Whether setting `name` is given (e.g. SHOPBRIDGE_PUBLIC_URL, else the CLI derives it from its port)."""
    return bool((dict(os.environ if env is None else env).get(name) or "").strip())


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_options(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(level, format) of the logs, read alone: a command sets up its logging before anything else can log.

    A level that is not one of `LOG_LEVELS` (any case) is a ConfigError, like a bad format.
    """
    env = dict(os.environ if env is None else env)
    return _log_level(env), _choice(env, "SHOPBRIDGE_LOG_FORMAT", ("text", "json"))


def _log_level(env: dict[str, str]) -> str:
    written = (env.get("SHOPBRIDGE_LOG_LEVEL") or "").strip()
    level = written.upper() or "INFO"
    if level not in LOG_LEVELS:  # quoted as the user wrote it, not upper-cased
        raise ConfigError(f"SHOPBRIDGE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {shown(written)}")
    return level


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    """A switch: 1/true/yes/on or 0/false/no/off (any case); unset means `default`; anything else a ConfigError that
    says `on or off`, the configuration table's one vocabulary for switches (README, Configuration)."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be on or off, got {shown(raw)}")


# Keys and secrets: read like every setting (empty is unset; spaces and line breaks at either end are trimmed, the
# newline of a key pasted from a file), except that one set to whitespace only is refused (`_refuse_blank_secrets`).
SECRET_SETTINGS = (
    "SHOPBRIDGE_SECRET_KEY",
    "SHOPBRIDGE_ENCRYPTION_KEY",
    "SHOPBRIDGE_TIKTOK_APP_KEY",
    "SHOPBRIDGE_TIKTOK_APP_SECRET",
    # read as unset, a blank token opened /metrics to anyone without a word
    "SHOPBRIDGE_METRICS_TOKEN",
)


def _refuse_blank_secrets(env: dict[str, str]) -> None:
    """A key set to whitespace only is a ConfigError naming it, never read as unset: that put a generated key (or,
    for the TikTok app, the embedded sandbox) in its place without a word, hiding a botched secret. The refusal
    does not repeat the value."""
    for name in SECRET_SETTINGS:
        raw = env.get(name)
        if raw and not raw.strip():
            raise ConfigError(f"{name} must not be blank (it holds only whitespace); set the key, or unset {name}")


def load_settings(env: dict[str, str] | None = None, *, create_keys: bool = True) -> Settings:
    """Settings from the environment (or the mapping given). Unset TikTok settings mean the embedded sandbox.

    `create_keys=False` (commands that only use keys, like `shopbridge token`): a missing generated key (secret_key,
    encryption_key, sandbox_app_secret) is a `KeyMissingError` (code KEY_MISSING) naming it and where it was looked
    for, instead of a new key nobody else knows; nothing is written.
    """
    env = dict(os.environ if env is None else env)

    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    _refuse_blank_secrets(env)
    data_dir = data_dir_setting(env)
    public_url = _no_query(
        _http_url(get("SHOPBRIDGE_PUBLIC_URL"), "SHOPBRIDGE_PUBLIC_URL", "https://shopbridge.example"),
        "SHOPBRIDGE_PUBLIC_URL",
    )
    public_url = (public_url or "http://127.0.0.1:8000").rstrip("/")
    database_url = _database_url(get("SHOPBRIDGE_DATABASE_URL")) or default_database_url(data_dir)
    broker_url = _broker_url(get("SHOPBRIDGE_BROKER_URL"))
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
    secret_key = get("SHOPBRIDGE_SECRET_KEY") or _secret_file(
        data_dir, "secret_key", secrets.token_urlsafe(48), create=create_keys
    )
    if len(secret_key.encode()) < MIN_SECRET_KEY_BYTES:  # HMAC-SHA256 (RFC 7518 3.2): a short key can be guessed
        where = "SHOPBRIDGE_SECRET_KEY" if get("SHOPBRIDGE_SECRET_KEY") else shown_path(data_dir / "secret_key")
        raise ConfigError(
            f"{where} must be at least {MIN_SECRET_KEY_BYTES} bytes (it signs merchant tokens: a shorter key can be "
            f"guessed, and then any merchant's token forged), got {len(secret_key.encode())}; generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    encryption_key = get("SHOPBRIDGE_ENCRYPTION_KEY") or _secret_file(
        data_dir, "encryption_key", _new_fernet_key(), create=create_keys
    )
    try:  # a malformed key stops the command here, in one line, not the server's start-up with a traceback
        TokenCipher(encryption_key)
    except TokenCipherError as exc:
        where = (
            "SHOPBRIDGE_ENCRYPTION_KEY" if get("SHOPBRIDGE_ENCRYPTION_KEY") else shown_path(data_dir / "encryption_key")
        )
        raise ConfigError(f"{where}: {exc}") from None
    given = {n: get(f"SHOPBRIDGE_TIKTOK_{n}") for n in TIKTOK_SETTING_NAMES}
    rate = _positive(env, "SHOPBRIDGE_TIKTOK_RATE_LIMIT", 50.0, unit="requests per second")
    timeout = _positive(env, "SHOPBRIDGE_TIKTOK_TIMEOUT", 10.0)
    embedded = not any(given.values())
    if embedded:
        base = public_url + SANDBOX_MOUNT
        tiktok = TikTokSettings(
            app_key=SANDBOX_APP_KEY,
            app_secret=_secret_file(data_dir, "sandbox_app_secret", secrets.token_hex(16), create=create_keys),
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
            api_url=(_tiktok_base(given["API_URL"], "SHOPBRIDGE_TIKTOK_API_URL") or "").rstrip("/"),
            auth_url=(_tiktok_base(given["AUTH_URL"], "SHOPBRIDGE_TIKTOK_AUTH_URL") or "").rstrip("/"),
            authorize_url=_http_url(given["AUTHORIZE_URL"], "SHOPBRIDGE_TIKTOK_AUTHORIZE_URL", _TIKTOK_EXAMPLE) or "",
            rate_limit_per_second=rate,
            timeout_seconds=timeout,
        )
    # 1 or more: 0 or a negative count was read as 1 thread (workers/embedded.py), a setting silently changed
    embedded_worker_threads = _int(env, "SHOPBRIDGE_EMBEDDED_WORKER_THREADS", 4, 1)
    min_backoff_ms = _int(env, "SHOPBRIDGE_SYNC_MIN_BACKOFF_MS", 10_000, 0, _MAX_DURATION_MS)
    max_backoff_ms = _int(env, "SHOPBRIDGE_SYNC_MAX_BACKOFF_MS", 600_000, 0, _MAX_DURATION_MS)
    if max_backoff_ms < min_backoff_ms:
        raise ConfigError(
            f"SHOPBRIDGE_SYNC_MAX_BACKOFF_MS ({max_backoff_ms}) must not be below SHOPBRIDGE_SYNC_MIN_BACKOFF_MS "
            f"({min_backoff_ms})"
        )
    reserved = _int(env, "SHOPBRIDGE_WORKER_RESERVED_THREADS", 1, 0)
    webhook_max_bytes = _int(env, "SHOPBRIDGE_WEBHOOK_MAX_BYTES", 256 * 1024, 1024)
    webhook_retention = _int(env, "SHOPBRIDGE_WEBHOOK_RETENTION", 7 * 24 * 3600)
    if not WEBHOOK_RETENTION_MIN_SECONDS <= webhook_retention <= WEBHOOK_RETENTION_MAX_SECONDS:
        raise ConfigError(
            f"SHOPBRIDGE_WEBHOOK_RETENTION must be from {WEBHOOK_RETENTION_MIN_SECONDS} (1 day: TikTok retries a push "
            f"for about 15.5 hours, and a retry must still find its event) to {WEBHOOK_RETENTION_MAX_SECONDS} "
            f"seconds (365 days), got {webhook_retention}"
        )
    task_retention = _int(env, "SHOPBRIDGE_TASK_RETENTION", 30 * 24 * 3600)
    if not TASK_RETENTION_MIN_SECONDS <= task_retention <= TASK_RETENTION_MAX_SECONDS:
        raise ConfigError(
            f"SHOPBRIDGE_TASK_RETENTION must be from {TASK_RETENTION_MIN_SECONDS} (1 day: a failed sync stays in the "
            f"Task Center long enough to be seen) to {TASK_RETENTION_MAX_SECONDS} seconds (365 days), got "
            f"{task_retention}"
        )
    db_pool_timeout = _positive(env, "SHOPBRIDGE_DB_POOL_TIMEOUT", 30.0)
    if db_pool_timeout > DB_POOL_TIMEOUT_MAX_SECONDS:
        raise ConfigError(
            f"SHOPBRIDGE_DB_POOL_TIMEOUT must be at most {DB_POOL_TIMEOUT_MAX_SECONDS} seconds (a request waiting "
            f"longer for a connection has long been given up by its client), got {db_pool_timeout:g}"
        )
    migrate_lock_timeout = _positive(env, "SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT", 30.0)
    if migrate_lock_timeout > MIGRATE_LOCK_TIMEOUT_MAX_SECONDS:
        raise ConfigError(
            f"SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT must be at most {MIGRATE_LOCK_TIMEOUT_MAX_SECONDS} seconds (a day), "
            f"got {migrate_lock_timeout:g}"
        )
    settings = Settings(
        database_url=database_url,
        secret_key=secret_key,
        encryption_key=encryption_key,
        public_url=public_url,
        frontend_url=_http_url(get("SHOPBRIDGE_FRONTEND_URL"), "SHOPBRIDGE_FRONTEND_URL", "https://app.example/shops"),
        tiktok=tiktok,
        embedded_sandbox=embedded,
        broker_url=broker_url,
        data_dir=data_dir,
        embedded_worker_threads=embedded_worker_threads,
        worker_reserved_threads=reserved,
        merchant_token_ttl_seconds=_int(env, "SHOPBRIDGE_TOKEN_TTL", 7 * 24 * 3600, 1, MAX_TOKEN_TTL_SECONDS),
        sandbox_products=_int(env, "SHOPBRIDGE_SANDBOX_PRODUCTS", 40, 0, SANDBOX_MAX_PRODUCTS),
        sandbox_orders=_int(env, "SHOPBRIDGE_SANDBOX_ORDERS", 120, 0, SANDBOX_MAX_ORDERS),
        sandbox_seed=_int(env, "SHOPBRIDGE_SANDBOX_SEED", 1),
        log_level=_log_level(env),
        sync_order_slices=_int(env, "SHOPBRIDGE_SYNC_ORDER_SLICES", 16, 1),
        sync_page_size=_int(env, "SHOPBRIDGE_SYNC_PAGE_SIZE", 100, 1, MAX_PAGE_SIZE),
        sync_max_attempts=_int(env, "SHOPBRIDGE_SYNC_MAX_ATTEMPTS", 5, 1),
        sync_min_backoff_ms=min_backoff_ms,
        sync_max_backoff_ms=max_backoff_ms,
        sync_time_limit_seconds=_int(env, "SHOPBRIDGE_SYNC_TIME_LIMIT", 7_200, 1, MAX_DURATION_SECONDS),
        sync_stale_after_seconds=_int(env, "SHOPBRIDGE_SYNC_STALE_AFTER", 300, 1, MAX_DURATION_SECONDS),
        broker_heartbeat_timeout_ms=_int(env, "SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS", 60_000, 1, _MAX_DURATION_MS),
        broker_maintenance_chance=_int(env, "SHOPBRIDGE_BROKER_MAINTENANCE_CHANCE", 1_000, 0, 1_000_000),
        poll_interval_seconds=_positive(env, "SHOPBRIDGE_POLL_INTERVAL", 300.0),
        poll_overlap_seconds=_positive(env, "SHOPBRIDGE_POLL_OVERLAP", 600.0, allow_zero=True),
        poll_settle_seconds=_positive(env, "SHOPBRIDGE_POLL_SETTLE", 30.0, allow_zero=True),
        scheduler_enabled=_bool(env, "SHOPBRIDGE_SCHEDULER", True),
        scheduler_tick=_positive(env, "SHOPBRIDGE_SCHEDULER_TICK", 0.0, allow_zero=True) or None,
        schema_recheck_seconds=_positive(env, "SHOPBRIDGE_SCHEMA_RECHECK", 5.0),
        registration_wait_recheck_ms=_int(
            env, "SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS", 250, 1, REGISTRATION_WAIT_RECHECK_MAX_MS
        ),
        inventory_reconcile_interval_seconds=_positive(env, "SHOPBRIDGE_INVENTORY_RECONCILE_INTERVAL", 1800.0),
        inventory_push_fence=_bool(env, "SHOPBRIDGE_INVENTORY_PUSH_FENCE", True),
        inventory_push_concurrency=_int(env, "SHOPBRIDGE_INVENTORY_PUSH_CONCURRENCY", 4, 1),
        cors_origins=_origins(get("SHOPBRIDGE_CORS_ORIGINS")),
        max_request_bytes=_int(env, "SHOPBRIDGE_MAX_REQUEST_BYTES", 1_048_576, MIN_REQUEST_BYTES),
        request_body_timeout_seconds=_positive(env, "SHOPBRIDGE_REQUEST_BODY_TIMEOUT", 30.0),
        max_websockets_per_merchant=_int(env, "SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT", 20, 1),
        subscription_finished_kept=_int(
            env, "SHOPBRIDGE_SUBSCRIPTION_FINISHED_KEPT", SUBSCRIPTION_FINISHED_KEPT, 1, SUBSCRIPTION_FINISHED_KEPT_MAX
        ),
        max_authorization_starts=_int(env, "SHOPBRIDGE_MAX_AUTHORIZATION_STARTS", 20, 1),
        max_sync_starts_per_hour=_int(env, "SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR", 6, 1),
        max_requests_per_minute_per_merchant=_int(env, "SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT", 600, 0),
        metrics_token=get("SHOPBRIDGE_METRICS_TOKEN"),
        metrics_dir=_directory(get("PROMETHEUS_MULTIPROC_DIR"), "PROMETHEUS_MULTIPROC_DIR"),
        log_format=_choice(env, "SHOPBRIDGE_LOG_FORMAT", ("text", "json")),
        worker_shutdown_seconds=_int(env, "SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT", 30, 1, MAX_DURATION_SECONDS),
        migrate_lock_timeout_seconds=migrate_lock_timeout,
        webhook_max_bytes=webhook_max_bytes,
        webhooks_app_wide=_bool(env, "SHOPBRIDGE_WEBHOOKS_APP_WIDE", False),
        webhook_retention_seconds=webhook_retention,
        task_retention_seconds=task_retention,
        graphiql_assets_url=_base_url(get("SHOPBRIDGE_GRAPHIQL_ASSETS_URL"), "SHOPBRIDGE_GRAPHIQL_ASSETS_URL"),
        db_pool_size=_int(env, "SHOPBRIDGE_DB_POOL_SIZE", 5, 1, DB_POOL_MAX_CONNECTIONS),
        db_max_overflow=_int(env, "SHOPBRIDGE_DB_MAX_OVERFLOW", 10, 0, DB_POOL_MAX_CONNECTIONS),
        db_pool_timeout_seconds=db_pool_timeout,
        db_application_name=_application_name(get("SHOPBRIDGE_DB_APPLICATION_NAME")),
    )
    if broker_url is None:  # the embedded pool's threads are known now; worker processes check theirs at boot
        settings.import_slots(max(1, embedded_worker_threads))  # as workers.embedded starts it
    return settings


_TIKTOK_EXAMPLE = "https://open-api.tiktokglobalshop.com"


def _http_url(raw: str | None, name: str, example: str) -> str | None:
    """An absolute http(s) URL as given, or None when unset; anything else (a bare host, another scheme, no host,
    a space or control character) is a ConfigError naming the setting, instead of links and redirects that lead
    nowhere."""
    if raw is None:
        return None
    scheme, sep, rest = raw.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or scheme.lower() not in ("http", "https") or not host or not raw.isprintable() or " " in raw:
        raise ConfigError(f"{name} must be an http(s) URL like {example}, got {shown(raw)}")
    return raw


# TikTok retries a push for about 15.5 hours (2 min, 30 min, 3 h, 12 h; live-sync.md §2.2): the inbox must keep an
# event at least that long to recognise a retry as one. A day leaves room for a late retry and a slow settlement.
WEBHOOK_RETENTION_MIN_SECONDS = 24 * 3600
WEBHOOK_RETENTION_MAX_SECONDS = 365 * 24 * 3600
# A finished task past this is deleted (the newest of each shop and kind stay whatever their age): at least a day,
# so that a failure is not gone before anyone looked; at most a year, like the inbox.
TASK_RETENTION_MIN_SECONDS = 24 * 3600
TASK_RETENTION_MAX_SECONDS = 365 * 24 * 3600
# A process's pool size and overflow, each: PostgreSQL's max_connections is 100 by default, and a setting of
# thousands is a typo that would let one process take every connection of the server (README, Scaling).
DB_POOL_MAX_CONNECTIONS = 1_000
DB_POOL_TIMEOUT_MAX_SECONDS = 3_600
# PostgreSQL keeps NAMEDATALEN - 1 = 63 bytes of application_name and shows only printable ASCII (others as '?').
MAX_APPLICATION_NAME_CHARS = 63
MIGRATE_LOCK_TIMEOUT_MAX_SECONDS = 24 * 3600  # PostgreSQL's lock_timeout holds up to ~24.8 days; a day is plenty
# A new shop's import waits for its webhook registration at most 30 s (workers.actors.REGISTRATION_WAIT_LONGEST): a
# longer pause between its looks would only outlast that wait.
REGISTRATION_WAIT_RECHECK_MAX_MS = 30_000
# The longest a merchant token may live, in seconds: `SHOPBRIDGE_TOKEN_TTL` and `shopbridge token --ttl` alike. A token
# for ten years is already a mistake; beyond is surely one (a setting of 10**20 signed tokens that never expire).
MAX_TOKEN_TTL_SECONDS = 10 * 365 * 86400
# The longest duration any other setting may give (seconds; the *_MS settings this times 1000): ten years, as for
# tokens. Larger ones passed `1 or more` and then broke at run time: the embedded pool's boot died on
# `timedelta(seconds=2 * SHOPBRIDGE_POLL_INTERVAL)` (OverflowError, a CRITICAL traceback under "shopbridge ready"),
# dates past the year 9999, thread waits past `threading.TIMEOUT_MAX` (~292 years).
MAX_DURATION_SECONDS = 10 * 365 * 86400
_MAX_DURATION_MS = MAX_DURATION_SECONDS * 1000
MIN_SECRET_KEY_BYTES = 32  # HMAC-SHA256's key: at least the hash's length (RFC 7518 section 3.2)
_DATABASE_SCHEMES = ("postgresql+asyncpg", "sqlite+aiosqlite")  # the async drivers the engine runs on
_BROKER_SCHEMES = ("redis", "rediss", "unix")  # what redis-py's from_url reads


def _scheme_of(raw: str) -> str:
    """`'postgres://…'` or `a value without a scheme`: how a refused URL is named, never with its password."""
    scheme, sep, _ = raw.partition("://")
    return shown(f"{scheme}://…") if sep else "a value without a scheme"


def _database_url(raw: str | None) -> str | None:
    """A PostgreSQL (asyncpg) or SQLite (aiosqlite) URL, or None when unset. Another driver, `postgresql://` included
    (psycopg2, not async), failed at the first query with a traceback; the password is never shown."""
    if raw is not None and raw.partition("://")[0] not in _DATABASE_SCHEMES:
        raise ConfigError(
            "SHOPBRIDGE_DATABASE_URL must be postgresql+asyncpg://user:password@host/database or "
            f"sqlite+aiosqlite:///path, got {_scheme_of(raw)}"
        )
    if raw is not None and raw.startswith("sqlite") and _sqlite_in_memory(raw):
        raise ConfigError(
            "SHOPBRIDGE_DATABASE_URL must name a SQLite database file (sqlite+aiosqlite:///path/to/shopbridge.db), "
            "got an in-memory or temporary database: it is gone when the process ends, and no other process (serve, "
            "worker, migrate) sees it"
        )
    if raw is not None and raw.startswith("postgresql"):
        # Only for a PostgreSQL URL given: the settings import no SQLAlchemy else.
        from adapters.postgres_url import PostgresUrlError, check

        try:
            check(raw)
        except PostgresUrlError as exc:
            raise ConfigError(f"SHOPBRIDGE_DATABASE_URL: {exc}") from None
    return raw


def _sqlite_in_memory(url: str) -> bool:
    """Whether the SQLite URL names no database file (sqlite.org/inmemorydb.html): `:memory:`, no name at all (a
    private temporary database), or a `file:` URI whose path is empty or `:memory:` or with `mode=memory` (as a
    query parameter of the URL, which SQLAlchemy hands to the URI, or inside the quoted name). Migrating one is
    lost at exit; serving one loses every write at exit and shares nothing with a worker process."""
    from urllib.parse import parse_qs

    from sqlalchemy.engine import make_url  # only for a SQLite URL given: the settings import no SQLAlchemy else

    parsed = make_url(url)
    name = parsed.database or ""
    if name in ("", ":memory:"):
        return True
    if not name.startswith("file:"):
        return False
    path, _, inner_query = name.removeprefix("file:").partition("?")
    given = parsed.query.get("mode", ())  # a str, or a tuple when repeated
    modes = [*parse_qs(inner_query).get("mode", []), *((given,) if isinstance(given, str) else given)]
    return path in ("", ":memory:") or "memory" in modes


def _broker_url(raw: str | None) -> str | None:
    """A Redis URL, or None when unset; another scheme failed the first process to connect, with a traceback.

    The URL is also read as redis-py will read it: a port that is no number or out of range, a bracketed host left
    open or an option redis-py cannot read (`?socket_timeout=x`) was a `ValueError` traceback from `shopbridge
    worker` (exit 1), and a database that is no number (`redis://host:6379/abc`) was silently database 0 (redis-py
    drops it): each is a ConfigError now, without the URL (it may hold a password)."""
    if raw is None:
        return raw
    scheme = raw.partition("://")[0]
    if scheme not in _BROKER_SCHEMES:
        raise ConfigError(f"SHOPBRIDGE_BROKER_URL must be a Redis URL like redis://host:6379/0, got {_scheme_of(raw)}")
    from urllib.parse import parse_qs, urlsplit

    from redis.connection import parse_url  # only for a broker URL given: the settings import no redis else

    try:
        parse_url(raw)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        database = urlsplit(raw).path.strip("/") if scheme != "unix" else ""
    except ValueError as exc:
        raise ConfigError(f"SHOPBRIDGE_BROKER_URL cannot be read as a Redis URL: {exc}") from None
    unknown = sorted(set(parse_qs(urlsplit(raw).query)) - _broker_options())
    if unknown:  # redis-py hands them to the connection as they are: a TypeError traceback at the first connection
        raise ConfigError(
            f"SHOPBRIDGE_BROKER_URL has an option redis-py does not take: {', '.join(shown(name) for name in unknown)}"
            f"; allowed: {', '.join(sorted(_broker_options()))}"
        )
    if database and not database.isdigit():
        raise ConfigError(
            f"SHOPBRIDGE_BROKER_URL must name its Redis database by number (redis://host:6379/0), got {shown(database)}"
        )
    return raw


def _broker_options() -> set[str]:
    """The query options a broker URL may carry: those redis-py's `parse_url` converts (timeouts, `db`, ...) and the
    connection's keywords that take text as it hands them over (credentials, names, TLS files and settings). Any
    other reached the connection's constructor as an unknown keyword (`?foo=bar`: `TypeError` from `shopbridge
    serve`, a traceback), or as text where a flag or an object belongs (`decode_responses=false` is a true string)."""
    from redis.connection import URL_QUERY_ARGUMENT_PARSERS

    text_options = {
        "username", "password", "client_name", "lib_name", "lib_version", "ssl_ca_certs", "ssl_ca_data",
        "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_password", "ssl_cert_reqs", "ssl_ciphers",
    }  # fmt: skip
    return set(URL_QUERY_ARGUMENT_PARSERS) | text_options


def _base_url(raw: str | None, name: str) -> str | None:
    """An http(s) base URL without a trailing slash, or None when unset."""
    url = _no_query(_http_url(raw, name, "https://mirror.example/npm"), name)
    return None if url is None else url.rstrip("/")


def _tiktok_base(raw: str | None, name: str) -> str | None:
    return _no_query(_http_url(raw, name, _TIKTOK_EXAMPLE), name)


def _no_query(url: str | None, name: str) -> str | None:
    """A base URL that paths are appended to (the OAuth callback and webhook address to SHOPBRIDGE_PUBLIC_URL,
    TikTok's API paths, GraphiQL's asset paths): a query or a fragment would swallow them (`https://x/?a` became the
    callback `https://x/?a/oauth/tiktok/callback`, which TikTok cannot reach), so either is a ConfigError."""
    if url is not None and ("?" in url or "#" in url):
        raise ConfigError(f"{name} is a base URL that paths are appended to: no query or fragment, got {shown(url)}")
    return url


def _application_name(raw: str | None) -> str:
    """SHOPBRIDGE_DB_APPLICATION_NAME, else `shopbridge`: printable ASCII, at most `MAX_APPLICATION_NAME_CHARS`
    (PostgreSQL cuts a longer one and shows other characters as '?': two processes' names could not be told apart)."""
    if raw is None:
        return "shopbridge"
    if len(raw) > MAX_APPLICATION_NAME_CHARS or not (raw.isascii() and raw.isprintable()):
        raise ConfigError(
            f"SHOPBRIDGE_DB_APPLICATION_NAME must be printable ASCII of at most {MAX_APPLICATION_NAME_CHARS} "
            f"characters (PostgreSQL's application_name), got {shown(raw)}"
        )
    return raw


def _origins(raw: str | None) -> tuple[str, ...]:
    """Comma-separated exact origins (`scheme://host[:port]`, no path, no wildcard), as browsers send them."""
    origins = []
    for entry in (raw or "").split(","):
        origin = entry.strip().rstrip("/")
        if not origin:
            continue
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not rest or "/" in rest or "*" in rest:
            raise ConfigError(
                f"SHOPBRIDGE_CORS_ORIGINS: {shown(entry.strip())} is not an origin like https://app.example"
            )
        origins.append(origin.lower())
    return tuple(origins)


def _new_fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
