"""`shopbridge serve` and `shopbridge worker` started on a database `migrate` has not brought to this release (never
migrated, or an earlier release's): one coded line naming the fix, their background work waits for the migration
and then starts; no traceback. Every loop (boot sweep, stale sweep, retention, scheduler) failed on the missing
tables before, each turn logging a traceback, about once a second per process, until `migrate` ran."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from adapters.db.migrate import head
from tests.e2e.test_cli_serve import clean_env, shopbridge
from tests.fixtures.app import free_port
from tests.fixtures.processes import oneshot
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.revisions import RevisionSnapshots
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

PENDING = "MIGRATIONS_PENDING: the database is at revision"
STARTS = "background work starts"
# Loops that turn fast: without the wait, each would fail on the missing tables within a second of the start.
FAST_LOOPS = {"SHOPBRIDGE_SYNC_STALE_AFTER": "1", "SHOPBRIDGE_SCHEDULER_TICK": "0.2"}
# The waiting process looks at the schema's revision again every half second, not every 5 s: `migrate` is seen sooner.
FAST_RECHECK = {"SHOPBRIDGE_SCHEMA_RECHECK": "0.5"}


def _said(log: Path, text: str, process: subprocess.Popen[bytes]) -> bool:
    """`text` is in the log, or something went wrong: a traceback, or the process ended."""
    seen = log.read_text()
    return text in seen or "Traceback" in seen or process.poll() is not None


def _migrate(env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gql.cli", "migrate"], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@contextmanager
def _waiting_for_migrate(
    *args: str, env: dict[str, str], cwd: Path, out: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`shopbridge *args` started, once it said migrations are pending: (the process, its log). On exit the
    process is killed if still running, and its log must hold no traceback nor any ERROR line."""
    process = shopbridge(*args, env=env, cwd=cwd, out=out)
    log = out.with_suffix(".err")
    try:
        wait_until(lambda: _said(log, PENDING, process), "the line saying migrations are pending")
        assert process.poll() is None and PENDING in log.read_text(), log.read_text()
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text() and " ERROR " not in log.read_text(), log.read_text()


def _pending_line(log: Path) -> str:
    """The one line saying migrations are pending, which names the command that fixes it."""
    lines = [line for line in log.read_text().splitlines() if PENDING in line]
    assert len(lines) == 1 and "run `shopbridge migrate`" in lines[0], log.read_text()
    return lines[0]


def _migrate_and_see_work_start(env: dict[str, str], cwd: Path, log: Path, process: subprocess.Popen[bytes]) -> None:
    _migrate(env, cwd)
    wait_until(lambda: _said(log, STARTS, process), "the background work to start")


def _readyz(port: int) -> httpx.Response:
    """/readyz's answer, once the server listens (its lifespan, which says migrations are pending, runs first)."""

    def answer() -> httpx.Response | None:
        try:
            return oneshot.get(f"http://127.0.0.1:{port}/readyz", timeout=DEADLINE_SECONDS)
        except httpx.ConnectError:
            return None

    return wait_until(answer, "the server to answer")


def _with_redis(redis_server: RedisServer, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a process with Redis on a database never migrated (`settings` added)."""
    return clean_env(
        SHOPBRIDGE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/unmigrated.db",
        SHOPBRIDGE_BROKER_URL=redis_server.url.rsplit("/", 1)[0] + "/7",
        SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"),
        SHOPBRIDGE_SECRET_KEY="unmigrated-" + "k" * 40,
        SHOPBRIDGE_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        **settings,
    )


def _stopped_by_sigterm(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=DEADLINE_SECONDS) == 0, log.read_text()


@pytest.mark.parametrize("revision", [None, "0008_webhook_retention"], ids=["never-migrated", "behind"])
def test_serve_on_a_database_not_migrated_waits_for_migrate_in_one_line(
    tmp_path, sqlite_revisions: RevisionSnapshots, revision: str | None
) -> None:
    # given a data directory whose database was never migrated, or migrated by an earlier release (a copy of the
    # session's snapshot at that revision: what `upgrade` to it leaves, tests/fixtures/revisions.py)
    data = tmp_path / "data"
    data.mkdir()
    if revision is not None:
        snapshot = sqlite_revisions.new_database(revision).removeprefix("sqlite+aiosqlite:///")
        shutil.move(snapshot, data / "shopbridge.db")
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data), **FAST_LOOPS, **FAST_RECHECK)
    port = free_port()
    # when `shopbridge serve` starts on it (and, leaving the block, nothing was logged at ERROR, nor any traceback,
    # while it waited or after)
    serve = ("serve", "--port", str(port))
    with _waiting_for_migrate(*serve, env=env, cwd=tmp_path, out=tmp_path / "serve") as (process, log):
        # then one WARNING line names the revisions and the command that fixes it
        line = _pending_line(log)
        assert " WARNING " in line, line
        assert f"revision {revision or 'none (never migrated)'}, this release needs {head()}" in line, line
        # and the process serves, out of rotation until migrated
        ready = _readyz(port)
        assert ready.status_code == 503 and ready.json()["problems"][0]["check"] == "migrations", ready.text
        # when the operator runs `shopbridge migrate`
        # then the background work starts, and the API is ready
        _migrate_and_see_work_start(env, tmp_path, log, process)
        assert _readyz(port).status_code == 200
        _stopped_by_sigterm(process, log)
    assert STARTS in log.read_text()


def _token(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gql.cli", "token", "m1"], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_request_to_serve_on_a_database_not_migrated_is_told_unavailable_in_one_line(tmp_path) -> None:
    # given `shopbridge serve` waiting for `migrate` on a database never migrated
    data = tmp_path / "data"
    data.mkdir()
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data))
    port = free_port()
    serve = ("serve", "--port", str(port))
    # (leaving the block: nothing was logged at ERROR, nor any traceback)
    with _waiting_for_migrate(*serve, env=env, cwd=tmp_path, out=tmp_path / "serve") as (process, log):
        _readyz(port)
        headers = {"authorization": f"Bearer {_token(env, tmp_path)}"}
        # when a merchant's query and mutation reach it (no load balancer kept them out)
        for document in (
            "{ shops { totalCount } }",
            'mutation { inventoryItemCreate(input: {sku: "A"}) { __typename } }',
        ):
            answer = oneshot.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": document}, headers=headers, timeout=DEADLINE_SECONDS
            )
            # then each is told the database is not ready, with a stable code, as an outage is; not "Unexpected error"
            (error,) = answer.json()["errors"]
            assert (error["extensions"]["code"], error["message"]) == (
                "SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly."
            ), answer.text  # fmt: skip
        # and a signed webhook is answered 500, so that TikTok retries it once migrated
        body = json.dumps({"type": 1, "tts_notification_id": "1", "shop_id": "7", "timestamp": 0, "data": {}}).encode()
        secret = (data / "sandbox_app_secret").read_text().strip().encode()
        signature = hmac.new(secret, b"sandbox-app-key" + body, hashlib.sha256).hexdigest()
        pushed = oneshot.post(
            f"http://127.0.0.1:{port}/webhooks/tiktok", content=body, headers={"authorization": signature},
            timeout=DEADLINE_SECONDS,
        )  # fmt: skip
        assert pushed.status_code == 500
        # and the operator reads what to do, in one WARNING line a request
        lines = [line for line in log.read_text().splitlines() if "not migrated yet" in line]
        assert len(lines) == 3 and all(" WARNING " in line and "run `shopbridge migrate`" in line for line in lines)
        _stopped_by_sigterm(process, log)


@pytest.mark.redis
def test_worker_on_a_database_never_migrated_waits_for_migrate_in_one_line(redis_server, tmp_path) -> None:
    # given a database never migrated, and `shopbridge worker` with Redis
    env = _with_redis(redis_server, tmp_path, SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT="2", **FAST_LOOPS, **FAST_RECHECK)
    # when it starts (and, leaving the block, nothing was logged at ERROR, nor any traceback)
    worker = ("worker", "--processes", "1", "--threads", "2")
    with _waiting_for_migrate(*worker, env=env, cwd=tmp_path, out=tmp_path / "w") as (process, log):
        # then its worker process says in one line what to run
        _pending_line(log)
        # and once migrated, its background work starts
        _migrate_and_see_work_start(env, tmp_path, log, process)
        _stopped_by_sigterm(process, log)


@pytest.mark.redis
def test_serve_with_redis_on_a_database_never_migrated_says_so_in_one_line(redis_server, tmp_path) -> None:
    # given a database never migrated, and `shopbridge serve` with Redis: the API alone, no worker pool (whose
    # schema gate said it before; this process only answered /readyz 503, which no operator reads)
    env = _with_redis(redis_server, tmp_path, **FAST_RECHECK)
    port = free_port()
    serve = ("serve", "--port", str(port))
    # when it starts (and, leaving the block, nothing was logged at ERROR, nor any traceback)
    with _waiting_for_migrate(*serve, env=env, cwd=tmp_path, out=tmp_path / "api") as (process, log):
        # then one WARNING line names the revision, the fix and what waits, however often /readyz is asked
        for _ in range(3):
            ready = _readyz(port)
            assert ready.status_code == 503 and ready.json()["problems"][0]["check"] == "migrations", ready.text
        line = _pending_line(log)
        assert " WARNING " in line and f"revision none (never migrated), this release needs {head()}" in line, line
        # (before: "...; until then until then /readyz answers 503", the phrase twice)
        assert "run `shopbridge migrate`; until then /readyz answers 503 `migrations` (this API" in line, line
        # and once migrated, it says so and is ready
        _migrate(env, tmp_path)
        wait_until(lambda: _said(log, "/readyz no longer reports", process), "the line saying it is migrated")
        assert _readyz(port).status_code == 200
        _stopped_by_sigterm(process, log)
    assert _pending_line(log)
