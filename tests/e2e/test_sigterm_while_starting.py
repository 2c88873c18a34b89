"""SIGTERM while the `shopbridge` command is still starting (importing its modules, reading its settings): `serve`,
`demo` and `worker` stop cleanly, exit 0, no traceback; the other commands die of it as before (status 143).

The command handled SIGTERM only once `serve` had imported uvicorn and the server's modules, in its first second or
so: a SIGTERM before that killed it (status 143), which a process manager or deploy tool reads as a crash. The
signal arrives here at a chosen point of the start, not after a guessed delay: a `sitecustomize` audit hook sends it
to the process itself as the process imports a given module, and says so on stderr."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli_serve import REPO, clean_env
from tests.fixtures.app import free_port
from tests.fixtures.processes import parent_death_signal
from tests.fixtures.waiting import DEADLINE_SECONDS

# Sends SIGTERM to this process once, as it first imports SHOPBRIDGE_TEST_SIGTERM_AT (not in the processes it
# starts: the variable is removed once read).
SIGTERM_AT_IMPORT = """
import os
import signal
import sys

_at = os.environ.pop("SHOPBRIDGE_TEST_SIGTERM_AT", None)


def _hook(event, args):
    global _at
    if event == "import" and _at is not None and args[0] == _at:
        module, _at = _at, None
        print(f"test: SIGTERM while importing {module}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)


sys.addaudithook(_hook)
"""
SENT = "test: SIGTERM while importing "
# Where the start was reached: the command's argument checks (imported by its module, right after its first lines),
# and the server's module (imported by `serve` before uvicorn; the handler was installed after it).
COMMAND_MODULES = "gql.cliargs"
SERVER_MODULE = "gql.serving"


# The command as operators run it (`make run`, a process manager): the console script the install put beside this
# interpreter, which imports gql.cli; the tests' other way, `python -m gql.cli`, runs that module as the program.
CONSOLE_SCRIPT = Path(sys.executable).parent / "shopbridge"
MODULE = ("-m", "gql.cli")


def _run(
    tmp_path: Path, at: str, *argv: str, entry: tuple[str, ...] = MODULE, **settings: str
) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SIGTERM_AT_IMPORT)
    env = clean_env(
        PYTHONPATH=f"{site}:{REPO}",
        SHOPBRIDGE_TEST_SIGTERM_AT=at,
        SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"),
        **settings,
    )
    return subprocess.run(
        [sys.executable, *entry, *argv], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS, preexec_fn=parent_death_signal(signal.SIGKILL),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "at", "entry"),
    [
        ("serve", COMMAND_MODULES, MODULE),
        ("serve", SERVER_MODULE, MODULE),
        ("serve", COMMAND_MODULES, (str(CONSOLE_SCRIPT),)),
        ("demo", COMMAND_MODULES, MODULE),
        ("demo", SERVER_MODULE, MODULE),
    ],
    ids=["serve-command", "serve-server", "serve-console-script", "demo-command", "demo-server"],
)
def test_sigterm_while_serve_starts_stops_it_cleanly(tmp_path, command: str, at: str, entry: tuple[str, ...]) -> None:
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT}: install the project (make install)"
    # when SIGTERM reaches `shopbridge serve` (or `demo`) while it imports its modules
    done = _run(tmp_path, at, command, "--port", str(free_port()), entry=entry)
    # then it stops as from any SIGTERM: exit 0, no traceback, and it never listened
    assert f"{SENT}{at}" in done.stderr, done.stderr  # the signal was sent where the test says
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "Uvicorn running on" not in done.stderr, done.stderr


def test_sigterm_while_worker_starts_stops_it_cleanly(tmp_path) -> None:
    # when SIGTERM reaches `shopbridge worker` while it imports its modules (nothing listens at the broker URL: it
    # must not get as far as starting Dramatiq)
    done = _run(
        tmp_path, COMMAND_MODULES, "worker", "--processes", "1", "--threads", "2",
        SHOPBRIDGE_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0", SHOPBRIDGE_SECRET_KEY="early-" + "k" * 40,
    )  # fmt: skip
    # then it stops before any worker process started: exit 0, no traceback
    assert f"{SENT}{COMMAND_MODULES}" in done.stderr, done.stderr
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "Worker process is ready" not in done.stderr, done.stderr


def test_other_commands_still_die_of_sigterm(tmp_path) -> None:
    # when SIGTERM reaches `shopbridge migrate` while it imports its modules
    done = _run(tmp_path, COMMAND_MODULES, "migrate")
    # then it dies of it, as before: only serve, demo and worker stop gracefully
    assert f"{SENT}{COMMAND_MODULES}" in done.stderr, done.stderr
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stderr)
    assert "migrations applied" not in done.stdout
