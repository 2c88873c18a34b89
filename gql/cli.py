"""The `shopbridge` command: serve, migrate, token, worker, sandbox, demo, export-schema."""

from __future__ import annotations

try:  # Ctrl+C while the command starts (these imports take ~0.7 s): exit 130, quietly, as `run` does later
    import os
    import sys

    from adapters import interrupts

    interrupts.install()  # a Ctrl+C Python would drop is remembered all the same (adapters/interrupts.py)
    # This module is the program (`python -m gql.cli`, or the `shopbridge` console script, which imports it): from here
    # a SIGTERM is recorded, and `main` stops the command gracefully (serve, demo, worker, sandbox) or as its default
    # would (the others). Imported by another program (a test), it leaves that program's SIGTERM alone.
    _invoked_as = os.path.basename(sys.argv[0]).removesuffix(".exe") if sys.argv else ""
    if __name__ == "__main__" or _invoked_as == "shopbridge":
        interrupts.record_sigterm()

    import argparse
    import contextlib
    import logging
    import signal
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

    from adapters.text import one_line, shown_path
    from gql import cliargs as checks
    from gql.cliargs import OneLineParser
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from adapters.config import Settings
    from adapters.process_lock import AlreadyLocked

BAD_CONFIGURATION = "BAD_CONFIGURATION"  # a setting (environment variable) or key file is wrong
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"  # the database cannot be opened or reached
MIGRATION_LOCK_TIMEOUT = "MIGRATION_LOCK_TIMEOUT"  # a lock the migration needs was held past its timeout
CANNOT_LISTEN = "CANNOT_LISTEN"  # serve/demo/sandbox cannot bind --host/--port (taken, not this host's, privileged)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_served = False  # a server ran in this process: `run` exits without the interpreter's teardown
_data_dir_lock: int | None = None  # the descriptor of the data directory's lock, held until the process ends
_database_lock: int | None = None  # the descriptor of the SQLite database file's lock, held until the process ends
# Another API process serves from the same data directory (SQLite or the embedded sandbox) or SQLite database file
ALREADY_RUNNING = "ALREADY_RUNNING"
GRACEFUL_SHUTDOWN_SECONDS = 30  # on SIGTERM: in-flight requests get this long; then connections are closed
# --workers > 1: how long uvicorn's parent waits for a worker process that serves to answer its health check before
# killing it as hung and starting another (`serve --timeout-worker-healthcheck`, uvicorn's own option's name). A
# worker still starting is waited for until it serves or exits, however long that takes (gql.supervisor.Supervisor):
# killed as hung while booting on a busy host, every worker was replaced in a loop, so the API never came up (issue
# 13) and a `serve` whose workers could not start never exited (flake70). A worker's exit is seen at the next look
# (every 0.5 s), whatever another worker does (review70b A1).
WORKER_HEALTHCHECK_SECONDS = 30
# --workers > 1: how long a worker process told to stop (SIGTERM, SIGINT; the old one at a SIGHUP's restart) may take
# before the parent kills it (`serve --timeout-worker-shutdown`): its open requests' 30 s, then its application's
# shutdown. uvicorn's parent waited without a bound, so a worker hung in its start-up kept the command from stopping
# (review70b A3); gunicorn's `graceful_timeout` is this bound (30 s by default). Killed, the command exits 137.
WORKER_SHUTDOWN_SECONDS = GRACEFUL_SHUTDOWN_SECONDS + 10
# --workers > 1: how long a SIGHUP's replacement worker process may take to serve, from its start, before the parent
# kills it and aborts the restart, the old workers serving on (`serve --timeout-worker-start`). Before, one hung in its
# start (behind a migration's lock, say) was waited for without a bound: that restart never ended and every later SIGHUP
# waited behind it. A bound of its own, not `--timeout-worker-shutdown` (stop 73, reverted): a start slow but healthy
# cannot be told from a hung one at the bound (its pong thread runs only once its imports are done), so one shorter
# than a start on a loaded host aborted every reload (rev73a F2: two workers took 28-35 s to start at load 15-17; 26 s
# at load 12-14 with a 3 s pause, stop 74). Minutes, then: the slowest start measured, scaled to load 20 (~45 s), more
# than 6 times over, since a bound too short costs every reload and one too long only delays the abort of a hung one.
WORKER_START_SECONDS = 300


def _settings() -> Settings:
    from adapters.config import load_settings
    from adapters.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


_SERVER_SETTINGS = "set SHOPBRIDGE_PUBLIC_URL to match if you set it"  # what else to change for serve and demo


def _public_url_from(host: str, port: int) -> None:
    """Derive SHOPBRIDGE_PUBLIC_URL from the address served unless it is set (the OAuth callback must point here);
    before the settings are read, which take it."""
    import os

    from adapters.config import is_set

    if not is_set("SHOPBRIDGE_PUBLIC_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (compared, not bound)
        os.environ["SHOPBRIDGE_PUBLIC_URL"] = f"http://{shown}:{port}"  # read by every process uvicorn starts


def _cannot_listen(
    host: str, port: int, *, port_hint: str = "(make run PORT=...)", also: str = _SERVER_SETTINGS
) -> str | None:
    """The refusal's one line (`CANNOT_LISTEN`) when `host`:`port` cannot be bound, naming the setting to change:
    the port when it is taken (EADDRINUSE) or privileged (EACCES), the host when it is no address of this machine
    (EADDRNOTAVAIL) or no address at all (a name that does not resolve); then `also` (what else to change to match);
    None when it can.

    Asked before the server starts: uvicorn's own failure to bind comes after the application started, as an ERROR
    line among its INFO lines, with exit status 3 (and the sandbox's banner printed already). For serve and demo,
    through `_port_problem`, which names another Shopbridge on the same data directory instead."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            cannot = f"shopbridge: {CANNOT_LISTEN}: cannot listen on {host}:{port} ({exc.strerror})"
            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                return (
                    f"{cannot}: {host} is not an address of this machine; choose another host with --host "
                    f"({DEFAULT_HOST} for this machine alone, 0.0.0.0 for every interface), and {also}"
                )
            return f"{cannot}; choose another port with --port{f' {port_hint}' if port_hint else ''}, and {also}"
    return None


def _make_default_data_dir(settings: Settings) -> None:
    """Create the data directory when the database is the default one inside it, as `serve` and `demo` do (their
    lock file): with the keys and TikTok's settings given, nothing else creates it, and `migrate` on a fresh
    directory failed with DATABASE_UNAVAILABLE, "check SHOPBRIDGE_DATABASE_URL", a setting nobody had set. A
    directory that cannot be made is BAD_CONFIGURATION naming SHOPBRIDGE_DATA_DIR."""
    from adapters.config import ConfigError, default_database_url, make_data_dir

    if settings.database_url != default_database_url(settings.data_dir):
        return
    try:
        make_data_dir(settings.data_dir)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the data directory {shown_path(settings.data_dir)} ({exc.strerror}): point "
            "SHOPBRIDGE_DATA_DIR at a writable directory"
        ) from exc


def _database_dir_not_shared(database_url: str | None) -> None:
    """Refuse SHOPBRIDGE_DATABASE_URL (None: unset, the default file inside the data directory, whose own rule
    applies) naming a SQLite file in a directory other local users share (`/tmp`, another user's, sticky, setgid
    with group write, world-writable): ConfigError, BAD_CONFIGURATION, exit 2 (`main`), naming the setting, the
    directory, its mode and owner (`adapters.config.refuse_shared_database_dir`, the data directory's rule); nothing
    is made. PostgreSQL passes."""
    from adapters.config import refuse_shared_database_dir
    from adapters.db.engine import sqlite_database_file

    if database_url is not None and (database_file := sqlite_database_file(database_url)) is not None:
        refuse_shared_database_dir(database_file)


def _database_before_keys(*, reach_postgresql: bool) -> None:
    """Refuse a SHOPBRIDGE_DATABASE_URL that cannot be opened before the settings make the data directory's keys
    (secret_key, encryption_key, sandbox_app_secret): DATABASE_UNAVAILABLE, exit 1 (`main`), with nothing left on
    disk; before, a typo in the URL left a data directory of keys behind. Only what finding out makes nothing of
    (`open_without_side_effects`): a SQLite file in a missing directory (or a file's, or a directory), one that
    exists but cannot be read or is not a database, and with `reach_postgresql` (the commands that migrate, which
    need it now) a PostgreSQL connection; `serve` outlives a PostgreSQL down at start (its readiness says so).
    Unset, the database is the default one inside the data directory: checked the same when its file exists (the
    keys may be missing beside it), else made with the directory, nothing to check before. A malformed URL is
    BAD_CONFIGURATION here, as in the settings; so is a SQLite file given in a directory shared with other local users
    (`_database_dir_not_shared`), before anything is made there or in the data directory."""
    from adapters.config import DEFAULT_DATABASE_FILE, data_dir_setting, database_url_setting, default_database_url
    from adapters.db.migrate import open_without_side_effects

    database_url = database_url_setting()
    _database_dir_not_shared(database_url)
    if database_url is None and (data_dir_setting() / DEFAULT_DATABASE_FILE).is_file():
        database_url = default_database_url(data_dir_setting())
    if database_url is not None:
        open_without_side_effects(database_url, reach_postgresql=reach_postgresql)


def cmd_migrate(args: argparse.Namespace) -> int:
    from adapters.db.migrate import head, upgrade

    _database_before_keys(reach_postgresql=True)
    settings = _settings()
    _make_default_data_dir(settings)
    done = upgrade(settings.database_url, lock_timeout_seconds=settings.migrate_lock_timeout_seconds)
    url = _safe_url(settings.database_url)
    if done.newer:  # a later release migrated it (a rolling deploy): its schema is this release's too (README)
        print(
            f"{url} is at revision {', '.join(done.before)}, which this release does not "
            f"know (its head is {head()}): a later release's; left as it is"
        )
    elif done.before == done.after:  # a second `migrate` of a deploy, or a replica's start-up: nothing was applied
        print(f"{url} is at revision {', '.join(done.after)}, this release's head: nothing to migrate")
    else:
        before = ", ".join(done.before) or "none (never migrated)"
        print(f"migrations applied to {url}: revision {before} -> {', '.join(done.after)}")
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Never mints keys: tokens re-encrypted under a key the servers do not have would all read REVOKED."""
    import asyncio

    from adapters.config import load_settings
    from adapters.crypto import TokenCipher
    from adapters.db.engine import Database
    from adapters.db.key_rotation import rotate_shop_tokens
    from adapters.logs import configure_logging

    _database_before_keys(reach_postgresql=True)
    settings = load_settings(create_keys=False)
    configure_logging(settings.log_level, settings.log_format)
    cipher = TokenCipher(settings.encryption_key)

    async def rotate() -> str:
        db = Database.from_settings(settings)
        try:
            done = await rotate_shop_tokens(db, cipher)
        finally:
            await db.dispose()
        return (
            f"shops re-encrypted under the first key ({cipher.key_ids[0]}): {done.rotated}; already under it: "
            f"{done.current}; written meanwhile by another process: {done.changed}; unreadable with these keys "
            f"(left as they are, REVOKED until re-authorized): {done.unreadable}"
        )

    print(asyncio.run(rotate()))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Never mints keys: a token signed with a key the server does not have would be refused."""
    from adapters.config import is_set, load_settings
    from gql.auth import issue_token

    settings = load_settings(create_keys=False)
    source = "SHOPBRIDGE_SECRET_KEY" if is_set("SHOPBRIDGE_SECRET_KEY") else str(settings.data_dir / "secret_key")
    print(f"signed with the key in {source}", file=sys.stderr)
    print(issue_token(settings.secret_key, args.merchant_id, args.ttl or settings.merchant_token_ttl_seconds))
    return 0


def cmd_serve(args: argparse.Namespace, on_listening: Callable[[], None] | None = None) -> int:
    # A SIGTERM recorded from the command's first lines (adapters/interrupts.py) stops it gracefully, exit 0: before
    # the server starts (gql/serving.py) or once it serves.
    from adapters.config import is_set

    _public_url_from(args.host, args.port)
    # Both before the settings, which make the data directory and its keys: a refusal leaves nothing on disk
    if args.workers > 1 and not is_set("SHOPBRIDGE_BROKER_URL"):
        print(
            f"shopbridge: {BAD_CONFIGURATION}: --workers > 1 needs SHOPBRIDGE_BROKER_URL (Redis): the embedded worker "
            "pool and its in-process events live in one process.",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and (one := _one_process_only()) is not None:
        print(f"shopbridge: {BAD_CONFIGURATION}: --workers > 1 {one}", file=sys.stderr)
        return 2
    if (refusal := _port_problem(args.host, args.port)) is not None:
        print(refusal.line, file=sys.stderr)
        return refusal.exit_status
    _database_before_keys(reach_postgresql=False)
    if (problem := _served_elsewhere()) is not None:  # before the settings make another data directory's keys
        print(problem, file=sys.stderr)
        return 1
    settings = _settings()
    if (problem := _one_process(settings)) is not None:
        print(problem, file=sys.stderr)
        return 1
    from adapters.db.migrate import open_sqlite

    # A SQLite file that cannot be opened is DATABASE_UNAVAILABLE, exit 1 (main), as for migrate and demo: served, it
    # would say "ready" and answer 503 until someone fixed the path and restarted it anyway.
    open_sqlite(settings.database_url)
    _refuse_a_login_postgresql_refuses(settings, "serve")
    _warn_if_redis_does_not_answer(settings, "serve")
    # Imported once every refusal above is past: they bring Strawberry and Starlette (~340 modules), which cost a
    # refused start ~0.5 s of CPU (CANNOT_LISTEN, ALREADY_RUNNING: 1.6-2.4 -> 1.2-1.7 s in all, at load 7-9)
    from adapters.logs import uvicorn_log_config
    from gql.serving import protocol_options

    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": settings.log_level.lower(),
        "log_config": uvicorn_log_config(settings.log_level, settings.log_format),
        "proxy_headers": True,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        **protocol_options(settings.max_request_bytes, settings.request_body_timeout_seconds),  # gql.serving
    }
    if args.workers > 1:  # Redis: no worker pool in these processes; uvicorn spawns them from the factory
        from gql.supervisor import serve_workers

        return serve_workers(
            "gql.app:create_app",
            args.workers,
            stop_seconds=args.timeout_worker_shutdown,
            start_seconds=args.timeout_worker_start,
            timeout_worker_healthcheck=args.timeout_worker_healthcheck,
            **options,
        )
    from gql.app import create_app
    from gql.serving import serve

    # One process: the embedded worker pool is stopped before the listener closes (gql.serving).
    global _served
    _served = True
    return serve(create_app(), on_listening, **options)


def cmd_demo(args: argparse.Namespace) -> int:
    """`make run`: migrate the embedded SQLite database, print a merchant token, and serve."""
    _public_url_from(args.host, args.port)
    _frontend_is_the_console()
    # The port before anything is made on disk (the settings make the data directory and its keys, the lock its file)
    if (refusal := _port_problem(args.host, args.port)) is not None:
        print(refusal.line, file=sys.stderr)
        return refusal.exit_status
    _database_before_keys(reach_postgresql=True)
    if (problem := _served_elsewhere()) is not None:  # before the settings make another data directory's keys
        print(problem, file=sys.stderr)
        return 1
    settings = _settings()
    # The locks before migrating, and before a reset deletes a state.
    if (problem := _one_process(settings)) is not None:
        print(problem, file=sys.stderr)
        return 1
    from adapters.db.migrate import upgrade  # after the refusal: importing alembic takes a moment
    from gql.auth import issue_token
    from gql.console.login import DEMO_LOGINS  # (and Strawberry with it)

    if interrupts.terminated():  # asked to stop while starting: no migration begun for nothing
        return 0
    upgrade(settings.database_url, lock_timeout_seconds=settings.migrate_lock_timeout_seconds)
    token = issue_token(settings.secret_key, args.merchant_id, settings.merchant_token_ttl_seconds)
    login_code = DEMO_LOGINS.issue(args.merchant_id)  # valid in this process, which serves next
    base = settings.public_url
    mode = "embedded sandbox" if settings.embedded_sandbox else f"TikTok at {settings.tiktok.api_url}"
    sandbox_lines = ""
    if settings.embedded_sandbox:
        # The reset's shops are deleted before its state (which names the sellers added at run time) goes.
        deleted = _delete_sandbox_shops(settings) if args.reset_sandbox else 0
        sandbox_lines = _sandbox_consent_line(settings) + _sandbox_state_line(
            settings, reset=args.reset_sandbox, deleted=deleted
        )
    banner = f"""
  Shopbridge is listening ({mode}, database {_safe_url(settings.database_url)}).

  Web console:      {base}/console/#login={login_code}
                    (one-click sign-in: works once, within 10 minutes; later, paste the token below)
  GraphiQL:         {base}/graphql{sandbox_lines}

  Paste this into GraphiQL's Headers tab (merchant "{args.merchant_id}"):
  {{"Authorization": "Bearer {token}"}}

  Then try:  mutation {{ shopAuthorizationStart(input: {{region: US, name: "My US shop", regionConfirmed: true}})
               {{ authorizationUrl userErrors {{ code message }} }} }}
"""
    args.workers = 1
    # Printed once the socket accepts connections: a link clicked at once must not be refused.
    return cmd_serve(args, on_listening=lambda: print(banner, flush=True))


class _Refusal(NamedTuple):
    """A start-up refusal: its one line for stderr, and the command's exit status."""

    line: str
    exit_status: int


def _port_problem(host: str, port: int) -> _Refusal | None:
    """Why `host`:`port` cannot be served, asked before anything is created on disk (the settings make the data
    directory and its keys): ALREADY_RUNNING (exit 1) when another Shopbridge holds the data directory's lock or the
    lock of the SQLite database SHOPBRIDGE_DATABASE_URL names, the likely holder of the port (a second `make run` is
    told that, not sent to another port only to learn it there); else CANNOT_LISTEN (exit 2, `_cannot_listen`); None
    when it can be served. The locks are only asked about, so a data directory that does not exist yet is still not
    made."""
    if (cannot := _cannot_listen(host, port)) is None:
        return None
    if (held := _served_elsewhere(any_database=True)) is not None:
        return _Refusal(held, 1)
    return _Refusal(cannot, 2)


def _served_elsewhere(*, any_database: bool = False) -> str | None:
    """ALREADY_RUNNING's one line when another live process holds a lock `_one_process` is about to take, asked
    without creating anything, before the settings (which make the data directory and its keys): the data
    directory's, then the SQLite database file's (SHOPBRIDGE_DATABASE_URL's, else the data directory's default);
    None when neither is held, or for PostgreSQL (the data directory's then too, unless `any_database`: a port
    taken by a Shopbridge on it is still told by name). A lock this process holds already (demo, then serve) is not
    asked."""
    from adapters.config import DEFAULT_DATABASE_FILE, data_dir_setting, database_url_setting
    from adapters.db.engine import sqlite_database_file
    from adapters.process_lock import data_dir_lock, database_lock, holder

    data_dir = data_dir_setting()
    url = database_url_setting()
    database_file = data_dir / DEFAULT_DATABASE_FILE if url is None else sqlite_database_file(url)
    if _data_dir_lock is None and (database_file is not None or any_database):
        if (held := holder(data_dir_lock(data_dir))) is not None:
            return _already_running(held, data_dir)
    if _database_lock is None and database_file is not None:
        if (held := holder(database_lock(database_file))) is not None:
            return _database_in_use(held)
    return None


def _already_running(held: AlreadyLocked, data_dir: Path) -> str:
    who = f"pid {held.holder_pid}" if held.holder_pid else "another process"
    return one_line(
        f"shopbridge: {ALREADY_RUNNING}: Shopbridge ({who}) already serves from {shown_path(data_dir)} (its SQLite "
        "database and embedded sandbox allow one API process); stop it, or give this one another SHOPBRIDGE_DATA_DIR",
        1000,
    )


def _database_in_use(held: AlreadyLocked) -> str:
    """The refusal of a second API process on a SQLite database file another one serves (from another data
    directory: the same one is `_already_running`): each would run its worker pool, polls and webhook registrations
    over the same shops, and with its own embedded sandbox revoke them all (TikTok's refusals of tokens it never
    issued)."""
    from adapters.process_lock import DATABASE_LOCK_SUFFIX

    who = f"pid {held.holder_pid}" if held.holder_pid else "another process"
    # the file's real path, as the lock's: a relative path or a link says which file it is
    shown = shown_path(held.path.with_name(held.path.name.removesuffix(DATABASE_LOCK_SUFFIX)))
    return one_line(
        f"shopbridge: {ALREADY_RUNNING}: Shopbridge ({who}) already serves the SQLite database {shown} (one API "
        "process per SQLite database: a second one's workers, polls and webhook registrations would act on the same "
        "shops); stop it, or point this one's SHOPBRIDGE_DATABASE_URL at another database",
        1000,
    )


def _one_process_only() -> str | None:
    """Why `serve --workers N` cannot serve these settings, the end of its refusal, or None; read without touching
    the disk. The embedded sandbox (no SHOPBRIDGE_TIKTOK_* setting) lives in one process (README "One API process
    only"): each of uvicorn's processes built its own from the app factory, and half of a merchant's consent codes,
    issued by one process's sandbox, were refused by the other's at the token exchange (tryout64 F6: every Add store
    failed AUTHORIZATION_DENIED)."""
    from adapters.config import embedded_sandbox_setting

    if not embedded_sandbox_setting():
        return None
    return (
        "needs a TikTok of its own (the SHOPBRIDGE_TIKTOK_* settings, or a standalone `shopbridge sandbox`): the "
        "embedded sandbox lives in one process; or serve with --workers 1."
    )


def _one_process(settings: Settings) -> str | None:
    """Hold, for the rest of this process's life (adapters/process_lock.py), the data directory's lock with SQLite
    or the embedded sandbox (files in the data directory only one process may write), then with SQLite the lock
    beside its database file, wherever it is (`<file>.lock`: another data directory's process on the same file is
    refused too). The refusal's one line when another process holds one (ALREADY_RUNNING, exit 1). A lock that
    cannot be made (a read-only directory, a directory where the lock file goes) raises ConfigError:
    BAD_CONFIGURATION, exit 2, naming the setting. With PostgreSQL and real TikTok settings any number of API
    processes may serve; `shopbridge worker` takes no lock (beside a SQLite `serve`, with Redis: README)."""
    global _data_dir_lock, _database_lock
    from adapters.config import ConfigError, make_data_dir, refuse_shared_data_dir
    from adapters.db.engine import sqlite_database_file
    from adapters.process_lock import AlreadyLocked, data_dir_lock, database_lock, hold

    if _data_dir_lock is None and (settings.is_sqlite or settings.embedded_sandbox):
        refuse_shared_data_dir(settings.data_dir)  # before its lock file: /tmp, another's or a shared one (tryout62 F1)
        try:
            make_data_dir(settings.data_dir)  # 0700 when made here (keys given as settings made none before)
            _data_dir_lock = hold(data_dir_lock(settings.data_dir))
        except AlreadyLocked as held:
            return _already_running(held, settings.data_dir)
        except OSError as exc:  # BAD_CONFIGURATION, exit 2 (`main`) as every setting's; it was printed with exit 1
            raise ConfigError(
                f"cannot lock {shown_path(settings.data_dir)} ({exc.strerror}): point SHOPBRIDGE_DATA_DIR at a "
                "writable directory"
            ) from exc
        _private_data_dir(settings.data_dir)  # its lock held: this process's directory, no other one's
    database_file = sqlite_database_file(settings.database_url)
    if _database_lock is None and database_file is not None:
        lock_file = database_lock(database_file)
        try:
            _database_lock = hold(lock_file)
        except AlreadyLocked as held:
            return _database_in_use(held)
        except OSError as exc:
            raise ConfigError(
                f"cannot lock the SQLite database {shown_path(database_file)} ({shown_path(lock_file)}: "
                f"{exc.strerror}): point SHOPBRIDGE_DATABASE_URL at a database in a writable directory"
            ) from exc
    return None


def _private_data_dir(data_dir: Path) -> None:
    """The data directory `serve` or `demo` holds the lock of made private to its user (mode 0700) if it was not,
    said in one WARNING line naming the mode it had (README, SHOPBRIDGE_DATA_DIR: it holds the SQLite database,
    whose files SQLite makes readable by all, the keys and the sandbox's state); a shared directory (another user's,
    sticky, setgid with group write, world-writable: `refuse_shared_data_dir`) or one whose mode cannot be changed (a
    read-only file system) is refused: BAD_CONFIGURATION, exit 2, naming the setting and what to do."""
    from adapters.config import ConfigError, make_data_dir_private

    try:
        had = make_data_dir_private(data_dir)
    except OSError as exc:
        mode = f"{data_dir.stat().st_mode & 0o7777:04o}"
        raise ConfigError(
            f"the data directory {shown_path(data_dir)} is open to other local users (mode {mode}; it holds the "
            f"database and the keys) and cannot be made private ({exc.strerror}): run `chmod 700 "
            f"{shown_path(data_dir)}` as its owner, or point SHOPBRIDGE_DATA_DIR at a directory of yours"
        ) from exc
    if had is not None:
        logging.getLogger("shopbridge").warning(
            "the data directory %s was open to other local users (mode %04o; it holds the database and the keys): "
            "made it private to its user (mode 0700)",
            shown_path(data_dir), had,
        )  # fmt: skip


def _sandbox_consent_line(settings: Settings) -> str:
    """The banner's link to the embedded sandbox's consent page, with the app's service_id (without it the page
    answers 400 "Unknown service_id"): it shows the sellers one can sign in as."""
    from urllib.parse import urlencode

    link = f"{settings.tiktok.authorize_url}?{urlencode({'service_id': settings.tiktok.service_id})}"
    return (
        f"\n  Sandbox consent:  {link}"
        "\n                    (TikTok's stand-in: its sellers; connect a shop from the console, which opens it)"
    )


def _sandbox_state_line(settings: Settings, *, reset: bool, deleted: int = 0) -> str:
    """The banner's word on the embedded sandbox's saved state (removed first when `reset`, whose `deleted` shops
    `_delete_sandbox_shops` took out of Shopbridge)."""
    from sandbox.persistence import state_file

    saved = state_file(str(settings.data_dir / "sandbox"))
    if reset:
        removed = f"{saved} removed" if saved.exists() else "none was saved"
        saved.unlink(missing_ok=True)
        return (
            f"\n  Sandbox state:    started fresh ({removed}), from SHOPBRIDGE_SANDBOX_PRODUCTS, _ORDERS, _SEED;"
            f"\n                    {deleted} shop(s) connected to the old one deleted from Shopbridge: connect anew"
        )
    if not saved.exists():
        return ""
    return (
        f"\n  Sandbox state:    restored from {saved} (its sellers, tokens and data win over"
        "\n                    SHOPBRIDGE_SANDBOX_PRODUCTS, _ORDERS, _SEED); start it fresh with"
        "\n                    `shopbridge demo --reset-sandbox` (make run RESET_SANDBOX=1)"
    )


def _delete_sandbox_shops(settings: Settings) -> int:
    """`--reset-sandbox`: the sandbox starts a new world (new tokens, products, orders), so delete the shops of
    the embedded sandbox from Shopbridge's database first, each as its merchant's `shopDelete` would: left, they
    stayed ACTIVE with tokens TikTok refuses, and a re-authorization mixed the old world's products with the new.
    Runs before the server starts (no worker touches them). Says so in one log line; returns how many went."""
    import asyncio

    from adapters.crypto import TokenCipher
    from adapters.db import Database, uow_factory
    from domain.clock import SystemClock
    from domain.services.shops import delete_shops_of_tiktok
    from sandbox.persistence import shop_ids

    tiktok_shop_ids = shop_ids(str(settings.data_dir / "sandbox"))

    async def delete() -> list[str]:
        db = Database.from_settings(settings)
        try:
            uows = uow_factory(db, TokenCipher(settings.encryption_key))
            return [shop.name for shop in await delete_shops_of_tiktok(uows, SystemClock(), tiktok_shop_ids)]
        finally:
            await db.dispose()

    names = asyncio.run(delete())
    logging.getLogger("shopbridge.demo").info(
        "sandbox reset: deleted %d shop(s) connected to the old sandbox from Shopbridge's database%s; connect them "
        "again", len(names), f" ({', '.join(repr(name) for name in names)})" if names else "",
    )  # fmt: skip
    return len(names)


def _frontend_is_the_console() -> None:
    """The demo sends merchants back to its web console after TikTok's consent, unless a frontend is set."""
    import os

    from adapters.config import is_set

    if not is_set("SHOPBRIDGE_FRONTEND_URL"):
        public = os.environ["SHOPBRIDGE_PUBLIC_URL"].rstrip("/")  # set by _public_url_from when not given
        os.environ["SHOPBRIDGE_FRONTEND_URL"] = f"{public}/console/"


def cmd_worker(args: argparse.Namespace) -> int:
    from adapters.config import ConfigError, database_url_setting, is_set
    from workers.cli import run_worker

    # Checked here, not first in each Dramatiq process (that crashed the pool), and before the settings, which make
    # the data directory's keys: as `serve --workers 2`, a refusal leaves nothing on disk. A URL that is set is
    # read by the settings, which refuse a malformed one before any key is made.
    if not is_set("SHOPBRIDGE_BROKER_URL"):
        raise ConfigError(
            "shopbridge worker needs SHOPBRIDGE_BROKER_URL (redis://host:6379/0); without one, `serve` and `demo` "
            "run their own worker pool"
        )
    _database_dir_not_shared(database_url_setting())  # a worker beside a SQLite `serve` (README): its rule too
    settings = _settings()
    settings.import_slots(args.threads)  # a reservation that leaves no import slot: BAD_CONFIGURATION, not a crash
    # The key check here, once: not in each of the worker processes; on the login check's connection
    _refuse_a_login_postgresql_refuses(settings, "worker", check_key=True)
    _warn_if_redis_does_not_answer(settings, "worker")
    return run_worker(processes=args.processes, threads=args.threads, shutdown_timeout=settings.worker_shutdown_seconds)


def _refuse_a_login_postgresql_refuses(settings: Settings, command: str, *, check_key: bool = False) -> None:
    """Stop `worker` and `serve` before they start when PostgreSQL answers and refuses the login (no such database,
    role or password: `adapters.db.outage.login_refused`), as it stops `migrate`: the `sqlalchemy.exc.DBAPIError`
    becomes `shopbridge: DATABASE_UNAVAILABLE: InvalidCatalogNameError: database "shopbrdge" does not exist; check
    SHOPBRIDGE_DATABASE_URL`, exit 1 (`main`). Started, a worker with a typo in the URL's database name took
    messages off the shared queues and failed each at ERROR with a traceback, spending their retries, and `serve`
    answered /readyz 503 "unreachable" with no line naming the setting. A server that does not answer within
    `STARTUP_CHECK_SECONDS` (down, restarting, unreachable: a wrong host or port looks the same) is an outage both
    outlive, as before (README: Operations), told in one WARNING line that names the setting to check if it lasts:
    the outage lines that follow name none. SQLite is checked elsewhere.

    `check_key` (the worker's): then, on the same engine and only when the database answered, the check `serve` runs
    in its lifespan (`adapters.db.key_check`): one row, one WARNING line when the configured
    SHOPBRIDGE_ENCRYPTION_KEY decrypts none of the stored tokens. A database that does not answer is not waited
    for twice."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from adapters.crypto import TokenCipher
    from adapters.db.engine import Database
    from adapters.db.key_check import warn_if_key_reads_no_tokens
    from adapters.db.outage import describe, login_refused

    postgresql = settings.database_url.startswith("postgresql")
    if not postgresql and not check_key:
        return

    async def select_one(db: Database) -> None:
        async with db.read_sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def answers(db: Database) -> bool:
        try:
            async with asyncio.timeout(STARTUP_CHECK_SECONDS):  # not wait_for: gh-86296 on 3.11
                await select_one(db)
        except DBAPIError as exc:
            if login_refused(exc):
                raise
            _not_answering(command, "the database", describe(exc), "SHOPBRIDGE_DATABASE_URL")
        except (OSError, TimeoutError) as exc:
            _not_answering(command, "the database", describe(exc) or type(exc).__name__, "SHOPBRIDGE_DATABASE_URL")
        else:
            return True
        return False

    async def check() -> None:
        db = Database.from_settings(settings)
        try:
            if (not postgresql or await answers(db)) and check_key:
                await warn_if_key_reads_no_tokens(db, TokenCipher(settings.encryption_key))
        finally:
            await db.dispose()

    asyncio.run(check())


def _warn_if_redis_does_not_answer(settings: Settings, command: str) -> None:
    """One WARNING line naming SHOPBRIDGE_BROKER_URL when Redis does not answer a PING at start (down, or a wrong
    host or port): the command starts all the same (an outage it outlives), and Dramatiq's own lines that follow
    (`Consumer encountered a connection error`) name no setting. Without a broker URL, nothing to check."""
    import redis

    if settings.broker_url is None:
        return
    client = redis.Redis.from_url(
        settings.broker_url, socket_connect_timeout=STARTUP_CHECK_SECONDS, socket_timeout=STARTUP_CHECK_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        _not_answering(command, "Redis", f"{type(exc).__name__}: {exc}", "SHOPBRIDGE_BROKER_URL")
    finally:
        client.close()


STARTUP_CHECK_SECONDS = 5.0  # how long `serve` and `worker` wait for the database or Redis at start before saying it


def _not_answering(command: str, what: str, cause: str, setting: str) -> None:
    logging.getLogger("shopbridge").warning(
        "%s does not answer at start (%s): `shopbridge %s` starts all the same and waits for it (an outage it "
        "outlives); if this lasts, check %s",
        what, cause, command, setting,
    )  # fmt: skip


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serves as `serve` does (gql.serving): SIGTERM, once uvicorn has shut down, or while it starts, exits 0. The
    sandbox's own `python -m sandbox` (uvicorn.run) dies of it after the shutdown, status 143."""
    from gql.serving import serve
    from sandbox.cli import app_from_args

    also = "point SHOPBRIDGE_TIKTOK_API_URL, SHOPBRIDGE_TIKTOK_AUTH_URL and SHOPBRIDGE_TIKTOK_AUTHORIZE_URL at it"
    if (problem := _cannot_listen(args.host, args.port, port_hint="", also=also)) is not None:
        print(problem, file=sys.stderr)
        return 2
    return serve(app_from_args(args), host=args.host, port=args.port, log_level=args.log_level)


def cmd_export_schema(args: argparse.Namespace) -> int:
    from gql.schema import printed_schema

    try:
        Path(args.output).write_text(printed_schema())
    except OSError as exc:
        print(f"shopbridge export-schema: CANNOT_WRITE: {shown_path(args.output)}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# The commands that stop gracefully on SIGTERM, exit 0; the others keep the signal's default (status 143).
GRACEFUL_ON_SIGTERM = (cmd_serve, cmd_demo, cmd_worker, cmd_sandbox)


def _listening_arguments(p: argparse.ArgumentParser) -> None:
    """`--host` and `--port` of the commands that serve (serve, demo)."""
    p.add_argument(
        "--host",
        type=checks.host,
        default=DEFAULT_HOST,
        help="address to listen on: an address of this machine, 0.0.0.0 for every interface (default %(default)s)",
    )
    p.add_argument(
        "--port",
        type=checks.port,
        default=DEFAULT_PORT,
        help="TCP port to listen on; SHOPBRIDGE_PUBLIC_URL follows it unless set (default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="shopbridge", description="Shopbridge: TikTok Shop for your store.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=checks.CommandParser)

    p = sub.add_parser(
        "serve",
        help="serve the GraphQL API",
        description="Serve the GraphQL API (HTTP and WebSocket), the TikTok webhook endpoint, the OAuth callback, the "
        "console, /healthz, /readyz and /metrics. Reads every SHOPBRIDGE_* setting (README, Configuration); without "
        "SHOPBRIDGE_BROKER_URL it also runs the embedded worker pool. SIGTERM stops it gracefully, exit 0 (137 with "
        "--workers if a worker process had to be killed: --timeout-worker-shutdown); with --workers, SIGHUP replaces "
        "the worker processes one by one (README, Operations).",
    )
    _listening_arguments(p)
    p.add_argument(
        "--workers",
        type=checks.process_count,
        default=1,
        help="uvicorn worker processes; more than 1 needs SHOPBRIDGE_BROKER_URL (Redis) (default %(default)s)",
    )
    p.add_argument(
        "--timeout-worker-healthcheck",
        type=checks.healthcheck_seconds,
        default=WORKER_HEALTHCHECK_SECONDS,
        metavar="SECONDS",
        help="--workers > 1: seconds a worker process that serves may take to answer the parent's health check "
        "before it is killed as hung and replaced; one still starting is waited for until it serves or exits "
        f"(default {WORKER_HEALTHCHECK_SECONDS})",
    )
    p.add_argument(
        "--timeout-worker-shutdown",
        type=checks.shutdown_seconds,
        default=WORKER_SHUTDOWN_SECONDS,
        metavar="SECONDS",
        help="--workers > 1: seconds a worker process told to stop (SIGTERM, SIGINT, the old one at a SIGHUP's "
        "restart) may take before it is killed; the command then exits 137. A second SIGTERM or SIGINT during the stop "
        "kills them at once, exit 137 too (default %(default)s)",
    )
    p.add_argument(
        "--timeout-worker-start",
        type=checks.start_seconds,
        default=WORKER_START_SECONDS,
        metavar="SECONDS",
        help="--workers > 1: seconds a SIGHUP's replacement worker process may take to serve before it is killed and "
        "that restart aborted, the old workers serving on; a later SIGHUP restarts again. Worker processes started "
        "otherwise (the first ones, one replacing a worker that died, SIGTTIN's) are waited for until they serve or "
        "exit (default %(default)s)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "demo",
        help="migrate, print a merchant token, and serve (what `make run` does)",
        description="What `make run` does: migrate the database, print a merchant token and the console's sign-in "
        "link, and serve the API with the embedded TikTok sandbox mounted at /sandbox, once it accepts connections.",
    )
    _listening_arguments(p)
    p.add_argument(
        "--merchant-id",
        type=checks.merchant_id,
        default="demo-merchant",
        help="the merchant the printed token and sign-in link are for (default %(default)s)",
    )
    p.add_argument(
        "--reset-sandbox",
        action="store_true",
        help="start the embedded sandbox fresh from SHOPBRIDGE_SANDBOX_* (deletes its saved sellers, tokens and "
        "data under the data directory, and the shops connected to it from Shopbridge's database: connect them "
        "again)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "migrate",
        help="apply the database migrations",
        description="Apply the database migrations to SHOPBRIDGE_DATABASE_URL and say from which revision to which; "
        "run it once per release, before the new processes start. Waits at most SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT "
        "seconds for any one lock (then MIGRATION_LOCK_TIMEOUT, exit 1); a database a later release migrated is "
        "left as it is (exit 0).",
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "rotate-keys",
        help="re-encrypt every shop's TikTok tokens under the first SHOPBRIDGE_ENCRYPTION_KEY",
        description="Re-encrypt every shop's TikTok tokens under the first key of SHOPBRIDGE_ENCRYPTION_KEY (a "
        "comma-separated list; every key listed decrypts) and print how many were re-encrypted, already under it, "
        "written meanwhile and unreadable. Idempotent and safe beside running processes (README, The encryption "
        "key).",
    )
    p.set_defaults(func=cmd_rotate_keys)

    p = sub.add_parser(
        "token",
        help="print a merchant's API token on the last line",
        description="Print a merchant's API token (a JWT signed with SHOPBRIDGE_SECRET_KEY, for `Authorization: "
        "Bearer`) on the last line. Never creates a key: KEY_MISSING (exit 2) until the server's first start has "
        "made the data directory's keys.",
    )
    p.add_argument(
        "merchant_id", type=checks.merchant_id, help="the merchant the token is for: 1 to 128 printable characters"
    )
    p.add_argument("--ttl", type=checks.ttl_seconds, default=None, help="seconds (default SHOPBRIDGE_TOKEN_TTL)")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser(
        "worker",
        help="run Dramatiq worker processes for sync tasks (needs Redis)",
        description="Run Dramatiq worker processes for the `sync` queue (imports) and the `live` queue (order and "
        "product polls, token refreshes, webhook processing and registration, inventory pushes and reconciles), "
        "each with the stale "
        "task sweep and the scheduler. Needs SHOPBRIDGE_BROKER_URL. SIGTERM hands running imports back at their "
        "checkpoint and exits within SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT + 10 seconds.",
    )
    p.add_argument(
        "--processes", type=checks.process_count, default=2, help="Dramatiq worker processes (default %(default)s)"
    )
    p.add_argument(
        "--threads",
        type=checks.thread_count,
        default=4,
        help="worker threads per process: messages each process runs at once, imports on all but "
        "SHOPBRIDGE_WORKER_RESERVED_THREADS of them (default %(default)s)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "sandbox",
        help="run the stand-in TikTok Shop server",
        description="Run the stand-in TikTok Shop server on its own (OAuth consent page, the Shop API, webhooks), "
        "for demos and tests; point the SHOPBRIDGE_TIKTOK_* settings at it.",
    )
    from sandbox.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser(
        "export-schema",
        help="write the GraphQL schema (SDL)",
        description="Write this code's GraphQL schema in SDL, the committed schema.graphql a test compares with.",
    )
    p.add_argument(
        "--output",
        default="schema.graphql",
        help="the file to write (default %(default)s), relative to the current directory: the committed schema when "
        "run from the checkout",
    )
    p.set_defaults(func=cmd_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # After the arguments: a command line argparse refuses (BAD_ARGUMENT, exit 2) needs no logging, whose modules
    # (structlog, and the TikTok client's package through its redaction) cost ~0.4 s of CPU (measured, suitea69)
    from adapters.config import ConfigError, log_options
    from adapters.logs import configure_logging

    try:
        configure_logging(*log_options())
    except ConfigError:
        configure_logging()  # the command's settings will name the mistake
    if args.func not in GRACEFUL_ON_SIGTERM:
        interrupts.sigterm_default()  # dies of a SIGTERM recorded so far, as it would have without the record
    with _process_named(f"shopbridge-{args.command}"):
        return _run(args)


@contextlib.contextmanager
def _process_named(name: str) -> Iterator[None]:
    """While the command runs, SHOPBRIDGE_DB_APPLICATION_NAME is `name` (`shopbridge-serve`, `shopbridge-worker`,
    ...) unless the operator set it: its PostgreSQL sessions, and those of the processes it starts (uvicorn's and
    Dramatiq's inherit the environment), show in `pg_stat_activity.application_name` as that command's. Put back as
    it was after, for a `main()` called in-process (tests)."""
    given = "SHOPBRIDGE_DB_APPLICATION_NAME" in os.environ
    if not given:
        os.environ["SHOPBRIDGE_DB_APPLICATION_NAME"] = name
    try:
        yield
    finally:
        if not given:
            os.environ.pop("SHOPBRIDGE_DB_APPLICATION_NAME", None)


def _run(args: argparse.Namespace) -> int:
    try:
        if interrupts.pressed():  # during the imports, its KeyboardInterrupt lost in a garbage collector's callback
            return 130
        if interrupts.terminated():  # SIGTERM while the command started: stopped before anything began
            return 0
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback, for configuration mistakes
        from adapters.config import ConfigError

        if isinstance(exc, ConfigError):  # BAD_CONFIGURATION, or KEY_MISSING (`shopbridge token`)
            print(one_line(f"shopbridge: {exc.code}: {exc}", 1000), file=sys.stderr)
            return 2
        if (line := _migration_lock_problem(exc) or _database_problem(exc)) is not None:
            print(line, file=sys.stderr)
            return 1
        raise


def _migration_lock_problem(exc: Exception) -> str | None:
    """One line for a migration that waited past SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT (migrate, demo), else None."""
    from adapters.db.migrate import MigrationLockTimeoutError

    if not isinstance(exc, MigrationLockTimeoutError):
        return None
    return one_line(
        f"shopbridge: {MIGRATION_LOCK_TIMEOUT}: {exc}; run migrate again once the lock is released, or raise "
        "SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT",
        1000,
    )


def _database_problem(exc: Exception) -> str | None:
    """One line for a database that cannot be reached or opened (migrate, demo, serve on SQLite), else None."""
    from sqlalchemy.exc import DBAPIError

    from adapters.db.migrate import SqliteFileError

    if isinstance(exc, SqliteFileError):  # the driver's error and why: the file's path, what is wrong with it
        return one_line(f"shopbridge: {DATABASE_UNAVAILABLE}: {exc}; check SHOPBRIDGE_DATABASE_URL", 1000)
    if not isinstance(exc, DBAPIError):
        return None
    cause = exc.orig if exc.orig is not None else exc
    if isinstance(cause.__cause__, Exception) and type(cause.__cause__).__module__.startswith("asyncpg"):
        cause = (
            cause.__cause__
        )  # asyncpg's own class names the refusal (InvalidCatalogNameError), its adapter's `Error`
    hint = DISK_FULL_HINT if _disk_full(cause) else "check SHOPBRIDGE_DATABASE_URL"
    # The driver's message without its trailing newline (libpq ends each with one): it read `...\n; check ...`.
    text = str(cause).strip()
    return one_line(f"shopbridge: {DATABASE_UNAVAILABLE}: {type(cause).__name__}: {text}; {hint}", 500)


# What a full disk is told instead of "check SHOPBRIDGE_DATABASE_URL", which sent the operator after a setting that
# was right (often not even set: the data directory's default database).
DISK_FULL_HINT = "the disk that holds the database is full: free space on it, then run the command again"


def _disk_full(cause: BaseException) -> bool:
    """Whether a driver's error says the database's disk is full: SQLite's SQLITE_FULL ("database or disk is full"),
    PostgreSQL's SQLSTATE 53100 (disk_full) or its "No space left on device" (e.g. `could not extend file`)."""
    text = str(cause)
    code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    return code == "53100" or "database or disk is full" in text or "No space left on device" in text


def run() -> NoReturn:
    """The `shopbridge` console script: `main()`, then exit with its status.

    After a server stopped (serve, demo) everything is closed and saved, and the process exits at once
    (`os._exit` after flushing): the interpreter's own teardown would otherwise spend seconds freeing the embedded
    sandbox's in-memory world, object by object, after the server said it had finished. Ctrl+C at any point of
    the command's own code exits 130 without a traceback (only the interpreter's start-up, before this module is
    imported, is beyond its reach).
    """
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl+C before a command's own handling (parsing, logging set-up, imports)
        code = 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: one more Ctrl+C must not interrupt the exit
    if _served:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
