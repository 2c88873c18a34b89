"""`shopbridge worker` under a process manager: SIGTERM reaches Dramatiq, and the command exits only when its
workers have, within a bound even when Redis went away."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.fixtures.processes import free_port, group_members, parent_death_signal
from tests.fixtures.servers import start_redis_server
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

REPO = Path(__file__).resolve().parents[2]
SHUTDOWN_TIMEOUT = 2  # SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT, seconds


def start_worker(
    sqlite_url: str, redis_url: str, tmp_path: Path, command: tuple[str, ...] = ("-m", "gql.cli")
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "SHOPBRIDGE_DATABASE_URL": sqlite_url,
        "SHOPBRIDGE_BROKER_URL": redis_url,
        "SHOPBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "SHOPBRIDGE_SECRET_KEY": "worker-cli-" + "k" * 40,
        "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "SHOPBRIDGE_WORKER_RESERVED_THREADS": "0",  # `--threads 1` below: its one thread may run an import
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *command, "worker", "--processes", "2", "--threads", "1"],
            env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )  # fmt: skip
    return process, log


def master_of(process: subprocess.Popen[bytes]) -> int:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def ready(log: Path, workers: int) -> bool:
    return log.read_text().count("Worker process is ready for action.") >= workers


@pytest.mark.redis
def test_sigterm_stops_every_worker_process_before_the_command_exits(sqlite_url, redis_server, tmp_path) -> None:
    # given `shopbridge worker` with two worker processes, ready
    process, log = start_worker(sqlite_url, redis_server.url.rsplit("/", 1)[0] + "/3", tmp_path)
    try:
        wait_until(lambda: ready(log, 2) or process.poll() is not None, "the workers to boot")
        assert process.poll() is None, log.read_text()  # died while starting: say why at once
        master = master_of(process)
        assert len(group_members(master)) >= 3  # Dramatiq's master and its two worker processes
        # when a process manager sends SIGTERM to the command
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=DEADLINE_SECONDS)
        # then it exits once Dramatiq has stopped, and nothing of it is left
        assert not group_members(master), log.read_text()
        assert code == 0, log.read_text()
        assert "Worker process stopped." in log.read_text() or "Stopping worker process" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.redis
def test_a_worker_whose_redis_went_away_still_exits_within_its_bound(sqlite_url, tmp_path) -> None:
    redis = start_redis_server()
    process, log = start_worker(sqlite_url, redis.url, tmp_path)
    try:
        wait_until(lambda: ready(log, 2) or process.poll() is not None, "the workers to boot")
        assert process.poll() is None, log.read_text()  # died while starting: say why at once
        master = master_of(process)
        # when Redis goes away, then the command is told to stop
        redis.stop()
        process.send_signal(signal.SIGTERM)
        # then it exits within the shutdown timeout plus the kill grace, leaving no worker behind
        from workers.cli import KILL_GRACE_SECONDS

        process.wait(timeout=SHUTDOWN_TIMEOUT + KILL_GRACE_SECONDS + DEADLINE_SECONDS)
        wait_until(lambda: not group_members(master), "the worker processes to be gone")
    finally:
        redis.stop()
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.redis
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a parent-death signal is Linux's prctl")
def test_killing_the_command_and_the_master_at_once_leaves_no_worker_process(sqlite_url, own_redis, tmp_path) -> None:
    # given `shopbridge worker` with two worker processes, ready, as the README starts it
    process, log = start_worker(sqlite_url, own_redis.url, tmp_path)
    master = 0
    try:
        wait_until(lambda: ready(log, 2) or process.poll() is not None, "the workers to boot")
        assert process.poll() is None, log.read_text()  # died while starting: say why at once
        master = master_of(process)
        worker_processes = set(group_members(master)) - {master}
        assert len(worker_processes) >= 2, worker_processes
        # when the command and Dramatiq's master are both SIGKILLed at once (`kill -9` of the two pids, the OOM
        # killer), so that neither can stop the worker processes (before, they ran on orphaned, taking messages)
        os.kill(process.pid, signal.SIGKILL)
        os.kill(master, signal.SIGKILL)
        process.wait(timeout=DEADLINE_SECONDS)
        # then every worker process is gone too (the kernel's parent-death SIGKILL)
        wait_until(
            lambda: not worker_processes & set(group_members(master)),
            f"the worker processes {sorted(worker_processes)} to stop",
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if master:  # what a failure left behind: the orphans
            with contextlib.suppress(ProcessLookupError):
                os.killpg(master, signal.SIGKILL)


# `shopbridge worker` with a Ctrl+C Python had to drop (tests/fixtures/lost_interrupt.py) just before it starts
# the worker processes: `gql.cli.run` with `run_worker` wrapped, the real one called.
CTRL_C_LOST_BEFORE_THE_WORKERS = """
import sys
from gql import cli
import workers.cli
from tests.fixtures.lost_interrupt import drop_a_ctrl_c

run_worker = workers.cli.run_worker
workers.cli.run_worker = lambda **options: (drop_a_ctrl_c(), run_worker(**options))[1]
sys.argv = ["shopbridge", *sys.argv[1:]]
cli.run()
"""


@pytest.mark.redis
def test_a_ctrl_c_python_dropped_while_starting_stops_the_workers(sqlite_url, redis_server, tmp_path) -> None:
    # given `shopbridge worker` whose Ctrl+C reached it, lost, just before it started its worker processes
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/4"
    process, log = start_worker(sqlite_url, redis_url, tmp_path, ("-c", CTRL_C_LOST_BEFORE_THE_WORKERS))
    try:
        # then it exits as at a Ctrl+C, without starting them: started, and handed the Ctrl+C while Python started,
        # Dramatiq's master printed a "Fatal Python error" traceback from its site import (one run in a few, loaded)
        try:
            code = process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the Ctrl+C was lost: the workers went on\n{log.read_text()}") from None
        assert code == 130, log.read_text()
        assert "Traceback" not in log.read_text() and "Worker process is ready" not in log.read_text(), log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("command", "mistake", "said"),
    [
        (("worker", "--processes", "1", "--threads", "2"), "database", 'InvalidCatalogNameError: database "shopbrdge"'),
        (
            ("worker", "--processes", "1", "--threads", "2"),
            "role",
            'InvalidAuthorizationSpecificationError: role "nobody"',
        ),
        (("serve", "--port", "{port}"), "database", 'InvalidCatalogNameError: database "shopbrdge"'),
    ],
    ids=["worker-no-such-database", "worker-no-such-role", "serve-no-such-database"],
)
def test_a_postgresql_login_refused_stops_worker_and_serve_naming_the_setting(
    postgres_server, tmp_path, command: tuple[str, ...], mistake: str, said: str
) -> None:
    # given a SHOPBRIDGE_DATABASE_URL with a typo in its database name, or a user PostgreSQL does not know
    url = (
        postgres_server.url("shopbrdge")
        if mistake == "database"
        else postgres_server.url().replace("postgres@", "nobody@")
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "SHOPBRIDGE_DATABASE_URL": url,
        "SHOPBRIDGE_BROKER_URL": "redis://127.0.0.1:1/0",  # never reached: the refusal comes first
        "SHOPBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "SHOPBRIDGE_SECRET_KEY": "worker-cli-" + "k" * 40,
        "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    # when the command starts (before, a worker took the shared queues' messages and failed each with a traceback)
    arguments = [part.format(port=free_port()) for part in command]
    done = subprocess.run(
        [sys.executable, "-m", "gql.cli", *arguments], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    # then it stops before starting anything, in one line naming the setting to fix, exit status 1 (as `migrate`)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"shopbridge: DATABASE_UNAVAILABLE: {said} does not exist; check SHOPBRIDGE_DATABASE_URL"
    ]
    assert "Dramatiq" not in done.stdout + done.stderr


def test_a_worker_whose_database_and_redis_do_not_answer_at_start_says_which_settings_to_check(tmp_path) -> None:
    # given a worker whose PostgreSQL and Redis URLs name ports nothing listens on (a wrong port looks like an outage)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "SHOPBRIDGE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/shopbridge",
        "SHOPBRIDGE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SHOPBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "SHOPBRIDGE_SECRET_KEY": "worker-cli-" + "k" * 40,
        "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gql.cli", "worker", "--processes", "1", "--threads", "2"], env=env, cwd=tmp_path,
            stdout=output, stderr=subprocess.STDOUT, preexec_fn=parent_death_signal(signal.SIGTERM),
        )  # fmt: skip
    try:
        # when it starts
        wait_until(lambda: ready(log, 1) or process.poll() is not None, "the worker to boot")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_SECONDS)
    # then it started all the same (an outage it outlives), after one line each naming the setting to check: the
    # outage lines that follow (Dramatiq's consumers, the runs' retries) name none
    said = [line for line in log.read_text().splitlines() if "does not answer at start" in line]
    assert len(said) == 2, log.read_text()
    assert said[0].endswith("`shopbridge worker` starts all the same and waits for it (an outage it outlives); if "
                            "this lasts, check SHOPBRIDGE_DATABASE_URL"), said[0]  # fmt: skip
    assert "WARNING shopbridge: the database does not answer at start (ConnectionRefusedError" in said[0], said[0]
    assert "WARNING shopbridge: Redis does not answer at start (ConnectionError" in said[1], said[1]
    assert said[1].endswith("if this lasts, check SHOPBRIDGE_BROKER_URL"), said[1]


@pytest.mark.parametrize(
    ("broker_url", "said"),
    [
        ("redis://:pw@127.0.0.1:sixthree/0", "cannot be read as a Redis URL: Port could not be cast"),
        ("redis://:pw@[127.0.0.1:6379/0", "cannot be read as a Redis URL: Invalid IPv6 URL"),
    ],
    ids=["port-no-number", "bracket-left-open"],
)
def test_a_broker_url_redis_cannot_read_stops_the_worker_in_one_line(
    sqlite_url, tmp_path, broker_url: str, said: str
) -> None:
    # given a SHOPBRIDGE_BROKER_URL with a typo redis-py cannot parse (an operator's day: every setting given a bad
    # value once; before, `shopbridge worker` died of redis-py's ValueError with a traceback, exit 1)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "SHOPBRIDGE_DATABASE_URL": sqlite_url,
        "SHOPBRIDGE_BROKER_URL": broker_url,
        "SHOPBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "SHOPBRIDGE_SECRET_KEY": "worker-cli-" + "k" * 40,
        "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    # when the worker starts
    done = subprocess.run(
        [sys.executable, "-m", "gql.cli", "worker", "--processes", "1", "--threads", "2"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    # then it stops before starting anything: one line naming the setting, exit status 2, the password unshown
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("shopbridge: BAD_CONFIGURATION: SHOPBRIDGE_BROKER_URL ") and said in line
    assert "pw" not in line and "Traceback" not in done.stdout + done.stderr
