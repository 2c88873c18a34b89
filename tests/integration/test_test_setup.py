"""`make test` on a fresh machine: its set-up names what to install, and a killed test run leaves no server behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from adapters import postgres_url
from adapters.db import Database
from adapters.db.tables import shops
from tests.fixtures.processes import group_members, sweep_stale_runs
from tests.fixtures.servers import PostgresServer
from tests.fixtures.waiting import DEADLINE_SECONDS

REPO = Path(__file__).resolve().parents[2]


def test_the_setup_names_a_missing_server_in_one_line(tmp_path) -> None:
    # given a machine where neither redis-server nor apt-get can be found on PATH
    env = {"PATH": str(tmp_path)}
    # when make test's set-up step runs
    result = subprocess.run(
        ["/bin/bash", str(REPO / "scripts" / "ensure-servers")],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
    )
    # then it stops at once with one line naming the package to install
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "redis-server" in lines[0] and "install" in lines[0]


def test_the_setup_names_a_missing_browser_like_a_missing_server(tmp_path) -> None:
    # given a machine with the servers but no chromium for the console's browser tests, and no apt-get
    for command in ("redis-server", "initdb"):
        (tmp_path / command).write_text("#!/bin/sh\n")
        (tmp_path / command).chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(REPO / "scripts" / "ensure-servers")],
        env={"PATH": str(tmp_path)}, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    # then it stops with one line naming the browser: a failure, never a skipped browser test
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "chromium" in lines[0] and "redis" not in lines[0], result.stderr


def test_make_test_runs_the_setup_before_anything_else() -> None:
    dry_run = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    commands = dry_run.stdout
    assert "scripts/ensure-servers" in commands
    assert commands.index("scripts/ensure-servers") < commands.index("pytest")
    assert (REPO / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def _checkout_with_a_venv(tmp_path: Path, made_from: str) -> Path:
    """A checkout (the Makefile, its interpreter chooser and the files its install step depends on) whose .venv/ was
    installed, from the interpreter `made_from` (pyvenv.cfg's `executable`, as `python -m venv` writes it)."""
    checkout = tmp_path / "checkout"
    for name in ("Makefile", "scripts/choose-python", "pyproject.toml", "constraints.txt"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes((REPO / name).read_bytes())
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to(made_from)
    (checkout / ".venv" / "pyvenv.cfg").write_text(f"home = {Path(made_from).parent}\nexecutable = {made_from}\n")
    stamp = checkout / ".venv" / ".installed"
    stamp.touch()
    later = time.time() + 60  # newer than pyproject.toml and constraints.txt: installed, nothing to redo
    os.utime(stamp, (later, later))
    return checkout


def _make_install_dry_run(checkout: Path, *variables: str) -> str:
    env = {key: value for key, value in os.environ.items() if key != "PYTHON"}
    dry_run = subprocess.run(
        ["make", "-n", "install", *variables], cwd=checkout, env=env, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    assert dry_run.returncode == 0, dry_run.stderr
    return dry_run.stdout


def _real_path(python: str) -> str:
    command = [python, "-c", "import os, sys; print(os.path.realpath(sys.executable))"]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=DEADLINE_SECONDS).stdout.strip()


def test_make_builds_the_venv_from_the_distributions_python_when_it_can(tmp_path: Path) -> None:
    # given this machine (the CI image: Debian's python3.11 with its venv module, pyenv's 3.11 as `python3` on PATH)
    # and a fresh checkout, without .venv/
    checkout = _checkout_with_a_venv(tmp_path, made_from="/usr/bin/python3")
    shutil.rmtree(checkout / ".venv")
    # when make installs
    commands = _make_install_dry_run(checkout)
    # then .venv/ is made from the distribution's interpreter, not `python3` from PATH
    assert "test -x .venv/bin/python || /usr/bin/python3 -m venv .venv" in commands, commands
    assert "rm -rf" not in commands


def test_a_venv_made_from_another_interpreter_is_made_again(tmp_path: Path) -> None:
    # given a checkout installed from another interpreter than the one make chooses (pyenv's `python3`, say)
    chosen = _real_path("/usr/bin/python3")
    other = "/opt/elsewhere/bin/python3.11"
    checkout = _checkout_with_a_venv(tmp_path, made_from=other)
    # when make installs
    commands = _make_install_dry_run(checkout)
    # then it removes that .venv/, says why, and makes it again from the chosen interpreter
    assert f".venv was made from {other} and not from {chosen}: making it again" in commands, commands
    assert commands.index("rm -rf .venv") < commands.index(" -m venv .venv") < commands.index("pip install")


def test_a_venv_made_from_the_chosen_interpreter_is_kept(tmp_path: Path) -> None:
    # given a checkout installed from the interpreter make chooses
    checkout = _checkout_with_a_venv(tmp_path, made_from=_real_path("/usr/bin/python3"))
    # when make installs: nothing to do
    assert "rm -rf" not in _make_install_dry_run(checkout)
    # and given PYTHON= another interpreter (a stand-in that answers with its real path), it is made again from that
    other = tmp_path / "python3.11"
    other.write_text("#!/bin/sh\necho /opt/elsewhere/bin/python3.11\n")
    other.chmod(0o755)
    commands = _make_install_dry_run(checkout, f"PYTHON={other}")
    assert "rm -rf .venv" in commands and f"{other} -m venv .venv" in commands, commands


INNER_TEST = """
import json, os, threading

def test_holds_servers(postgres_server, redis_server):
    info = {"postgres": os.getpgid(postgres_server.process.pid), "redis": os.getpgid(redis_server.process.pid),
            "postgres_dir": str(postgres_server.directory)}
    with open(os.environ["MARKER"] + ".tmp", "w") as fh:
        json.dump(info, fh)
    os.rename(os.environ["MARKER"] + ".tmp", os.environ["MARKER"])
    threading.Event().wait()  # until the run is killed
"""


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_test_run_leaves_no_server_running(tmp_path) -> None:
    # given a test run holding a throwaway PostgreSQL and Redis
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    marker = tmp_path / "servers.json"
    env = {**os.environ, "MARKER": str(marker), "PYTHONPATH": str(REPO)}
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.fixtures.servers", "-p", "no:cacheprovider",
         str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: marker.exists() or run.poll() is not None, "the inner run to start its servers")
        assert marker.exists(), "the inner test run ended before starting its servers"
        servers = json.loads(marker.read_text())
        assert group_members(servers["postgres"]) and group_members(servers["redis"])
        # when the run is SIGKILLed (no finalizer runs)
        run.send_signal(signal.SIGKILL)
        run.wait()
        # then no process of either server is left
        _wait_for(lambda: not group_members(servers["postgres"]), "PostgreSQL's processes to end")
        _wait_for(lambda: not group_members(servers["redis"]), "Redis to end")
        # and the next run's sweep removes what the killed one left on disk
        sweep_stale_runs()
        assert not Path(servers["postgres_dir"]).exists()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def test_a_missing_server_ends_the_run_with_one_line(tmp_path) -> None:
    # given tests that need Redis, on a machine without redis-server on PATH
    (tmp_path / "test_needs_redis.py").write_text(
        "def test_one(redis_server):\n    pass\n\n\ndef test_two(redis_server):\n    pass\n"
    )
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.fixtures.servers", "-p", "no:cacheprovider",
         str(tmp_path / "test_needs_redis.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # then the run fails at once with one line naming what to install: no skip, no error per test
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.count("Redis is not installed") == 1, output
    assert "skipped" not in output and "ERROR" not in output and "Traceback" not in output, output


def test_make_run_takes_a_port() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=REPO, capture_output=True, text=True, timeout=DEADLINE_SECONDS
    )
    assert "shopbridge demo --port 8123" in dry_run.stdout


def test_the_runs_temporary_directories_are_on_a_tmpfs_with_room(request, tmp_path: Path) -> None:
    """SQLite syncs each commit of a database not yet in WAL mode (every DDL statement of a migration) to the disk:
    `tmp_path`, where the tests' databases live, is on `TMPFS` when it is a tmpfs with room (tests/conftest.py)."""
    from tests.conftest import TMPFS, _roomy_tmpfs

    # a directory that is no tmpfs is never taken for one
    assert not _roomy_tmpfs(Path("/proc"))
    if "--basetemp" in " ".join(request.config.invocation_params.args):
        return  # the runner chose the directory itself
    # `tmp_path` is on the tmpfs exactly when it has room
    assert (TMPFS in tmp_path.resolve().parents) == _roomy_tmpfs(TMPFS), (tmp_path, TMPFS)


def test_the_postgresql_servers_data_is_where_the_runs_temporary_directories_are(
    request, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Each PostgreSQL test's database is a copy of the template, made and dropped once per test (every table's and
    index's files created and deleted): on the tmpfs with the SQLite files, not on /tmp's disk (0.1-0.34 s of
    PostgreSQL's CPU a copy there, ~0.05 s on the tmpfs: tests/fixtures/servers.py `_cluster_parent`)."""
    from tests.conftest import TMPFS

    if "--basetemp" in " ".join(request.config.invocation_params.args):
        return  # the runner chose the directory itself; the clusters stay under /tmp
    on_tmpfs = TMPFS in tmp_path.resolve().parents
    assert (TMPFS in postgres_server.data_dir.resolve().parents) == on_tmpfs, (postgres_server.data_dir, tmp_path)


async def test_the_apps_of_one_test_process_compile_a_statement_once(database_url: str) -> None:
    # given two apps' databases on the same database (the engines each test's app makes), and an engine made
    # differently on it (another JSON serializer: a setting statements may compile with)
    first, second = Database(database_url), Database(database_url)
    other = create_async_engine(postgres_url.for_asyncpg(database_url), json_serializer=lambda value: "{}")
    statement = sa.select(shops.c.id).where(shops.c.name == "Maple")
    try:
        # when each runs the same select
        compiled = []
        for engine in (first.write_engine, second.write_engine, second.read_engine, other):
            async with engine.connect() as connection:
                compiled.append((await connection.execute(statement)).context.compiled)
    finally:
        for db in (first, second):
            await db.dispose()
        await other.dispose()
    # then the apps' engines ran the one statement compiled by the first (tests/fixtures/sql_cache.py), and the
    # engine made differently compiled its own
    assert compiled[1] is compiled[0] and compiled[2] is compiled[0]
    assert compiled[3] is not compiled[0]
