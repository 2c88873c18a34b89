"""The `shopbridge` command as an operator runs it: `demo --port`, JSON logs, `token` from elsewhere, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from websockets.exceptions import ConnectionClosed

from adapters.config import SANDBOX_SERVICE_ID
from adapters.crypto import TokenCipher
from adapters.text import shown_path
from sandbox.config import SandboxConfig
from tests.fixtures.app import CONNECT, START, free_port
from tests.fixtures.processes import oneshot, parent_death_signal
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until
from tests.fixtures.ws import subscription

REPO = Path(__file__).resolve().parents[2]
AUTHORIZED_SHOPS = "/authorization/202309/shops"
TASKS = "{ shops { edges { node { syncTasks { edges { node { kind status } } } } } } }"
FERNET_KEY = "A" * 43 + "="  # a valid Fernet key (32 zero bytes), fixed so that test ids and runs stay the same


def shopbridge(
    *args: str, env: dict[str, str], cwd: Path, out: Path, process_group: bool = False
) -> subprocess.Popen[bytes]:
    """`shopbridge *args`; with `process_group`, in a process group of its own (a terminal's Ctrl+C reaches the
    whole group: `os.killpg(process.pid, signal.SIGINT)`)."""
    with (out.with_suffix(".out")).open("wb") as stdout, (out.with_suffix(".err")).open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "gql.cli", *args], env=env, cwd=cwd, stdout=stdout, stderr=stderr,
            preexec_fn=parent_death_signal(signal.SIGTERM), start_new_session=process_group,
        )  # fmt: skip


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "PYTHONPATH": str(REPO), **settings}


@pytest.fixture
def demo(tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    data = tmp_path / "data"
    # DEBUG: every line a process writes, httpx's request line per TikTok call among them (WARNING at INFO)
    env = clean_env(
        SHOPBRIDGE_DATA_DIR=str(data), SHOPBRIDGE_LOG_FORMAT="json", SHOPBRIDGE_SANDBOX_ORDERS="30",
        SHOPBRIDGE_LOG_LEVEL="DEBUG",
    )  # fmt: skip
    process = shopbridge("demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "demo")
    try:
        yield process, port, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_demo_on_another_port_connects_a_shop_logs_json_and_stops_on_sigterm(demo) -> None:
    process, port, tmp_path = demo
    base = f"http://127.0.0.1:{port}"
    stdout, stderr = tmp_path / "demo.out", tmp_path / "demo.err"
    wait_until(lambda: process.poll() is not None or _ready(base), "the demo to serve")
    assert process.poll() is None, stderr.read_text()  # died while starting: say why at once
    # the banner shows the port given, not 8000
    assert f"{base}/graphql" in stdout.read_text()
    # and its sandbox consent link opens TikTok's stand-in consent page
    consent = re.search(r"Sandbox consent: +(\S+)", stdout.read_text())
    assert consent and consent.group(1).startswith(f"{base}/sandbox/oauth/authorize?"), stdout.read_text()
    page = oneshot.get(consent.group(1), timeout=DEADLINE_SECONDS)
    assert page.status_code == 200 and "Authorize Shopbridge" in page.text and "us-local" in page.text, page.text
    # the one-click console link: a login code in the fragment, exchanged for a token once
    link = re.search(rf"{re.escape(base)}/console/#login=([A-Za-z0-9_-]+)", stdout.read_text())
    assert link, stdout.read_text()
    login_code = link.group(1)
    login = oneshot.post(f"{base}/console/login", json={"code": login_code})
    assert login.status_code == 200 and login.json()["merchantId"] == "demo-merchant"
    assert oneshot.post(f"{base}/console/login", json={"code": login_code}).status_code == 400
    # a token minted by `shopbridge token` in another directory, from the same data directory, is accepted
    minted = subprocess.run(
        [sys.executable, "-m", "gql.cli", "token", "m1"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        env=clean_env(SHOPBRIDGE_DATA_DIR=str(tmp_path / "data")),
    )
    assert minted.returncode == 0, minted.stderr
    assert str(tmp_path / "data" / "secret_key") in minted.stderr
    headers = {"Authorization": f"Bearer {minted.stdout.strip().splitlines()[-1]}"}

    def graphql(query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
        response = oneshot.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    # OAuth round trip: consent URL and callback on the port given
    started = graphql(START, {"input": {"region": "US", "name": "Port shop", "regionConfirmed": True}})
    url = started["shopAuthorizationStart"]["authorizationUrl"]  # type: ignore[index]
    assert url.startswith(f"{base}/sandbox/oauth/authorize")
    state = parse_qs(urlsplit(url).query)["state"][0]
    form = {"service_id": SANDBOX_SERVICE_ID, "seller": "us-local", "decision": "approve", "state": state}
    consent = oneshot.post(f"{base}/sandbox/oauth/authorize", data=form)
    assert consent.status_code == 302 and consent.headers["location"].startswith(f"{base}/oauth/tiktok/callback")
    # the demo's callback hands the code to its console, which completes it under the merchant's token
    back = oneshot.get(consent.headers["location"])
    assert back.status_code == 303 and back.headers["location"].startswith(f"{base}/console/?code=")
    handed = {key: values[0] for key, values in parse_qs(urlsplit(back.headers["location"]).query).items()}
    done = graphql(CONNECT, {"input": handed})["shopAuthorizationComplete"]
    assert done["userErrors"] == [], done  # type: ignore[index]

    def imported() -> bool:
        edges = graphql(TASKS)["shops"]["edges"]  # type: ignore[index]
        statuses = [t["node"]["status"] for e in edges for t in e["node"]["syncTasks"]["edges"]]
        return len(statuses) == 2 and all(s == "SUCCEEDED" for s in statuses)

    wait_until(imported, "both imports to succeed")

    # SIGTERM: an open subscription is closed with a close code, and the server exits cleanly
    async def subscribed_then_terminated() -> int | None:
        query = "subscription { syncTaskUpdated { id status } }"
        async with subscription(base, query, None, headers) as op:
            process.send_signal(signal.SIGTERM)
            try:
                while True:
                    await op.next(timeout=DEADLINE_SECONDS)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(subscribed_then_terminated()) == 1012  # "service restart": reconnect elsewhere
    # a graceful stop exits 0 (uvicorn raises the signal again once it has shut down: gql/serving.py)
    assert process.wait(timeout=DEADLINE_SECONDS) == 0
    assert "Application shutdown complete." in stderr.read_text()

    # every log line is one JSON object; the import's lines carry the task id; no credential anywhere
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    assert lines and all({"event", "level", "logger", "timestamp"} <= line.keys() for line in lines)
    assert any(line.get("task_id") and line["logger"] == "httpx" for line in lines), lines[-20:]
    # every TikTok call names what it was for: an import's task, the shop of other work (webhook registration, polls,
    # token refreshes, pushes), or the API request that made it (the OAuth code's exchange, before any shop)
    calls = [line for line in lines if line["logger"] == "httpx"]
    named = [line for line in calls if {"task_id", "shop_id", "request_id"} & line.keys()]
    assert calls and named == calls, [line for line in calls if line not in named]
    text = stderr.read_text()
    for secret in (*_credentials(tmp_path / "data", headers["Authorization"].split()[1], state), login_code):
        assert secret not in text


def _serve_until_it_stops(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`shopbridge serve` on a free port with `env`, run to its end (a start refused at once; the test's deadline)."""
    return subprocess.run(
        [sys.executable, "-m", "gql.cli", "serve", "--port", str(free_port())],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
    )  # fmt: skip


def _ready(base: str) -> bool:
    try:
        return oneshot.get(f"{base}/readyz", timeout=DEADLINE_SECONDS).status_code == 200
    except httpx.HTTPError:
        return False


def _credentials(data: Path, merchant_token: str, state: str) -> list[str]:
    """The demo's secrets: its keys, the sandbox app secret, the shop's TikTok tokens, the merchant token."""
    keys = {name: (data / name).read_text().strip() for name in ("secret_key", "encryption_key", "sandbox_app_secret")}
    with sqlite3.connect(data / "shopbridge.db") as db:
        rows = db.execute("SELECT access_token_encrypted, refresh_token_encrypted FROM shops").fetchall()
    cipher = TokenCipher(keys["encryption_key"])
    tokens = [cipher.decrypt(value) for row in rows for value in row]
    assert len(tokens) == 2
    return [*keys.values(), *tokens, merchant_token, state]


@pytest.mark.parametrize(
    ("command", "what_to_change"),
    [
        ("demo", ("--port", "PORT=", "SHOPBRIDGE_PUBLIC_URL")),
        ("serve", ("--port", "PORT=", "SHOPBRIDGE_PUBLIC_URL")),
        # it printed its consent page's link, then uvicorn's start-up lines and an ERROR line, exit status 3
        ("sandbox", ("--port", "SHOPBRIDGE_TIKTOK_API_URL")),
    ],
    ids=["demo", "serve", "sandbox"],
)
def test_a_busy_port_is_one_coded_line_naming_the_setting_to_change(
    tmp_path, command: str, what_to_change: tuple[str, ...]
) -> None:
    # given a port another process listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"))
        # when `shopbridge demo`, `serve` or `sandbox` is asked to listen on it
        result = subprocess.run(
            [sys.executable, "-m", "gql.cli", command, "--port", str(port)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
        )  # fmt: skip
    # then it stops with one line, its stable code first as in every start-up refusal, naming what to change, and
    # prints nothing else
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"shopbridge: CANNOT_LISTEN: cannot listen on 127.0.0.1:{port} ("), line
    assert all(setting in line for setting in what_to_change), line
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_host_that_is_not_this_machines_is_one_coded_line_naming_the_host_not_the_port(
    tmp_path, command: str
) -> None:
    # given an address no interface of this machine has (TEST-NET-1, RFC 5737: for documentation, never assigned)
    host, port = "192.0.2.1", free_port()
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"))
    # when `shopbridge demo` or `serve` is asked to listen on it
    result = subprocess.run(
        [sys.executable, "-m", "gql.cli", command, "--host", host, "--port", str(port)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    # then it stops with one line naming the host as what to change (EADDRNOTAVAIL), not the port (EADDRINUSE): before,
    # it said "choose another port", and every port failed the same way
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"shopbridge: CANNOT_LISTEN: cannot listen on {host}:{port} ("), line
    assert f"{host} is not an address of this machine; choose another host with --host" in line, line
    assert "another port" not in line and "PORT=" not in line, line


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("problem", ["busy-port", "foreign-host"])
def test_a_port_that_cannot_be_served_is_refused_before_anything_is_made_on_disk(
    tmp_path, command: str, problem: str
) -> None:
    # given a data directory that does not exist yet, and a port another process listens on, or a host that is no
    # address of this machine (TEST-NET-1, RFC 5737)
    data = tmp_path / "data"
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = ("127.0.0.1", taken.getsockname()[1]) if problem == "busy-port" else ("192.0.2.1", free_port())
        # when `shopbridge serve` or `demo` is asked to listen there
        result = subprocess.run(
            [sys.executable, "-m", "gql.cli", command, "--host", host, "--port", str(port)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
        )  # fmt: skip
    # then it stops with its one CANNOT_LISTEN line, exit 2, and has made nothing: before, the settings had made the
    # data directory and its three keys, and the lock its file, and a typo in --port left a directory behind
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"shopbridge: CANNOT_LISTEN: cannot listen on {host}:{port} ("), line
    assert not data.exists(), sorted(path.name for path in data.iterdir())


def test_the_sandbox_on_a_busy_port_leaves_its_state_directory_unmade(tmp_path) -> None:
    # given a port another process listens on, and a state directory that does not exist yet
    state = tmp_path / "state" / "sandbox"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when `shopbridge sandbox` is asked to listen there and keep its state in it
        result = subprocess.run(
            [sys.executable, "-m", "gql.cli", "sandbox", "--port", str(port), "--state-dir", str(state)],
            env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
        )  # fmt: skip
    # then it stops with its CANNOT_LISTEN line and has made nothing: before, reading --state-dir had made the
    # directory (to check it could), and it stayed behind
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"shopbridge: CANNOT_LISTEN: cannot listen on 127.0.0.1:{port} ("), result.stderr
    assert not (tmp_path / "state").exists()


def test_python_m_sandbox_masks_tiktok_credentials_in_its_access_log(tmp_path) -> None:
    # given the sandbox's own command, `python -m sandbox`, serving
    port = free_port()
    out, err = tmp_path / "sandbox.out", tmp_path / "sandbox.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(port), "--products", "2", "--orders", "2"],
            env=clean_env(), cwd=tmp_path, stdout=stdout, stderr=stderr,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )  # fmt: skip
    try:

        def answered() -> httpx.Response | None:
            query = (
                "app_key=sandbox-app-key&app_secret=the-app-secret&auth_code=the-auth-code&grant_type=authorized_code"
            )
            try:
                return oneshot.get(f"http://127.0.0.1:{port}/api/v2/token/get?{query}", timeout=DEADLINE_SECONDS)
            except httpx.ConnectError:
                return None

        # when a client exchanges an auth code on TikTok's token endpoint, its credentials in the query string
        wait_until(lambda: answered() or process.poll() is not None, "the sandbox to answer")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # then its access line names the endpoint with the app secret and the auth code masked, neither in any line
    logged = out.read_text() + err.read_text()
    (line,) = [line for line in logged.splitlines() if "/api/v2/token/get" in line]
    assert "app_secret=***" in line and "auth_code=***" in line and "grant_type=authorized_code" in line, line
    assert "the-app-secret" not in logged and "the-auth-code" not in logged, logged


@pytest.mark.parametrize(
    ("problem", "what_to_change"),
    [("busy-port", "choose another port with --port"), ("foreign-host", "choose another host with --host")],
    ids=["busy-port", "foreign-host"],
)
def test_python_m_sandbox_that_cannot_listen_is_one_coded_line_and_saves_nothing(
    tmp_path, problem: str, what_to_change: str
) -> None:
    # given a port another process listens on, or a host that is no address of this machine (TEST-NET-1, RFC 5737),
    # and a state directory that does not exist yet
    state = tmp_path / "state" / "sandbox"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = ("127.0.0.1", taken.getsockname()[1]) if problem == "busy-port" else ("192.0.2.1", free_port())
        # when the sandbox's own command, `python -m sandbox`, is asked to listen there and keep its state in it
        result = subprocess.run(
            [sys.executable, "-m", "sandbox", "--host", host, "--port", str(port), "--state-dir", str(state),
             "--products", "2", "--orders", "2"],
            env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
        )  # fmt: skip
    # then it stops with one line, its code first, naming the flag to change, exit status 2 (a bad flag's), before
    # printing its consent page or saving: before, it started the application, uvicorn failed to bind (an ERROR line
    # among INFO lines, exit 3) and the shutdown wrote the state file
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"sandbox: CANNOT_LISTEN: cannot listen on {host}:{port} ("), line
    assert what_to_change in line, line
    assert result.stdout == ""
    assert not (tmp_path / "state").exists(), sorted(str(path) for path in (tmp_path / "state").rglob("*"))


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "secret_key"),
        ({"SHOPBRIDGE_SECRET_KEY": "s" * 48}, "encryption_key"),
        ({"secret_key": "s" * 48}, "encryption_key"),
        ({"SHOPBRIDGE_SECRET_KEY": "s" * 48, "SHOPBRIDGE_ENCRYPTION_KEY": FERNET_KEY}, "sandbox_app_secret"),
        ({"secret_key": "s" * 48, "encryption_key": FERNET_KEY}, "sandbox_app_secret"),
    ],
    ids=["no-key", "secret-key-set", "secret-key-file", "both-keys-set", "both-key-files"],
)
def test_token_never_mints_keys_and_names_the_missing_one(tmp_path, given: dict[str, str], missing: str) -> None:
    # given a data directory elsewhere holding some of the keys (files), others set in the environment, one missing
    data = tmp_path / "elsewhere"
    files = {name: value for name, value in given.items() if not name.startswith("SHOPBRIDGE_")}
    if files:
        data.mkdir()
        for name, value in files.items():
            (data / name).write_text(value)
    settings = {name: value for name, value in given.items() if name.startswith("SHOPBRIDGE_")}
    # when `shopbridge token` runs
    result = subprocess.run(
        [sys.executable, "-m", "gql.cli", "token", "m1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
        env=clean_env(SHOPBRIDGE_DATA_DIR=str(data), **settings),
    )  # fmt: skip
    # then it stops with one coded line naming the missing key and where it looked, exit 2: it made the encryption
    # key and the sandbox's app secret when they were missing, and printed a token
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.startswith(f"shopbridge: KEY_MISSING: no {missing} at {data / missing}: "), result.stderr
    # and it created nothing: no directory, no key file
    assert sorted(path.name for path in data.iterdir()) == sorted(files) if files else not data.exists()


def test_sigterm_lets_an_in_flight_request_finish(sqlite_url, tmp_path) -> None:
    # given `shopbridge serve` against a TikTok that holds its shop lookup until the test releases it
    from tests.fixtures.app import build_settings
    from tests.fixtures.sandbox import start_sandbox
    from tests.fixtures.sync import settings_env

    port = free_port()
    sandbox = start_sandbox(SandboxConfig(redirect_url=f"http://127.0.0.1:{port}/oauth/tiktok/callback"))
    settings = build_settings(sqlite_url, sandbox, tmp_path / "data", port)
    env = clean_env(
        **{**settings_env(settings), "SHOPBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}"},
        SHOPBRIDGE_TIKTOK_TIMEOUT=str(DEADLINE_SECONDS),  # the held call is waited for, not retried
    )
    process = shopbridge("serve", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "serve")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _ready(base), "the API to serve")
        assert process.poll() is None, (tmp_path / "serve.err").read_text()
        headers = {"Authorization": f"Bearer {settings_token(settings)}"}
        started = oneshot.post(
            f"{base}/graphql", headers=headers,
            json={"query": START, "variables": {"input": {"region": "US", "name": "S", "regionConfirmed": True}}},
        ).json()["data"]["shopAuthorizationStart"]  # fmt: skip
        redirect = sandbox.authorize("us-local", parse_qs(urlsplit(started["authorizationUrl"]).query)["state"][0])
        # when SIGTERM arrives while a mutation waits on TikTok (its token exchange answered, its shop lookup held
        # at TikTok until the server is draining: a 2 s call only made that likely)
        sandbox.hold(AUTHORIZED_SHOPS)
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                oneshot.post, f"{base}/graphql", headers=headers, timeout=DEADLINE_SECONDS,
                json={"query": CONNECT, "variables": {"input": {"state": redirect["state"], "code": redirect["code"]}}},
            )  # fmt: skip
            sandbox.wait_held()
            assert "/api/v2/token/get" in sandbox.control("GET", "/counters")["by_path"]
            process.send_signal(signal.SIGTERM)
            wait_until(lambda: not _ready(base), "the server to stop taking new requests")
            assert not answer.done()
            sandbox.hold()  # TikTok answers the shop lookup
            response = answer.result(timeout=DEADLINE_SECONDS)
        # then the mutation still completes, and the server exits after it
        assert response.status_code == 200, response.text
        done = response.json()["data"]["shopAuthorizationComplete"]
        assert done["userErrors"] == [] and done["shop"]["status"] == "ACTIVE"
        assert process.wait(timeout=DEADLINE_SECONDS) == 0  # a graceful stop, not a death by SIGTERM (143)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        sandbox.stop()


def settings_token(settings: object) -> str:
    from gql.auth import issue_token

    return issue_token(settings.secret_key, "m1", 3600)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("command", "database"),
    [
        (("migrate",), "sqlite-missing-directory"),
        (("serve", "--port"), "sqlite-missing-directory"),
        (("demo", "--port"), "sqlite-missing-directory"),
        (("migrate",), "postgresql-closed-port"),
        (("demo", "--port"), "postgresql-closed-port"),
        (("migrate",), "sqlite-not-a-database"),
        (("serve", "--port"), "sqlite-not-a-database"),
        (("demo", "--port"), "sqlite-not-a-database"),
        (("migrate",), "default-sqlite-not-a-database"),
        (("demo", "--port"), "default-sqlite-not-a-database"),
    ],
    ids=["migrate-sqlite", "serve-sqlite", "demo-sqlite", "migrate-postgresql", "demo-postgresql",
         "migrate-sqlite-not-a-database", "serve-sqlite-not-a-database", "demo-sqlite-not-a-database",
         "migrate-default-sqlite-not-a-database", "demo-default-sqlite-not-a-database"],
)  # fmt: skip
def test_a_database_that_cannot_be_opened_is_refused_before_the_keys_are_made(
    tmp_path, command: tuple[str, ...], database: str
) -> None:
    # given a data directory without keys, and a database URL that cannot be opened: a SQLite file in a directory
    # that does not exist, a file that is not a database (named by the URL, or the default one in the data
    # directory), or PostgreSQL on a port nothing listens on (with the keys PostgreSQL requires)
    data = tmp_path / "data"
    if database == "sqlite-missing-directory":
        settings = {"SHOPBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"}
    elif database == "sqlite-not-a-database":
        (tmp_path / "notes.db").write_text("not a database, a text file\n")
        settings = {"SHOPBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"}
    elif database == "default-sqlite-not-a-database":
        data.mkdir()
        (data / "shopbridge.db").write_text("not a database, a text file\n")
        settings = {}
    else:
        settings = {
            "SHOPBRIDGE_DATABASE_URL": f"postgresql+asyncpg://shopbridge:secret@127.0.0.1:{free_port()}/shopbridge",
            "SHOPBRIDGE_SECRET_KEY": "s" * 48,
            "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    argv = [*command, str(free_port())] if command[-1] == "--port" else list(command)
    # when `shopbridge migrate`, `serve` or `demo` starts on it
    result = subprocess.run(
        [sys.executable, "-m", "gql.cli", *argv],
        env=clean_env(SHOPBRIDGE_DATA_DIR=str(data), **settings), cwd=tmp_path, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    # then it stops with its one DATABASE_UNAVAILABLE line, exit 1, and has made nothing: before, the settings had
    # made the data directory and its keys (secret_key, encryption_key, sandbox_app_secret; serve its lock file too)
    assert result.returncode == 1, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("shopbridge")]
    assert len(ours) == 1 and ours[0].startswith("shopbridge: DATABASE_UNAVAILABLE: "), result.stderr
    assert ours[0].endswith("; check SHOPBRIDGE_DATABASE_URL") and "\\n;" not in ours[0], ours[0]  # no driver's "\n"
    if "not-a-database" in database:  # the driver's error, and why as the file system tells it
        assert "file is not a database" in ours[0] and "is not a SQLite database)" in ours[0], ours[0]
    left = sorted(path.name for path in data.iterdir()) if data.exists() else []
    assert left == (["shopbridge.db"] if database.startswith("default") else []), left


def test_serve_on_a_sqlite_file_that_cannot_be_opened_stops_with_one_coded_line(tmp_path) -> None:
    # given a SQLite database URL in a directory that does not exist (nothing may create it)
    missing = tmp_path / "no-such-dir" / "x.db"
    env = clean_env(
        SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"), SHOPBRIDGE_DATABASE_URL=f"sqlite+aiosqlite:///{missing}"
    )
    # when `shopbridge serve` starts on it
    result = _serve_until_it_stops(env, tmp_path)
    # then it stops as `migrate` and `demo` do: one DATABASE_UNAVAILABLE line, exit 1, no traceback; before, it said
    # "shopbridge ready (embedded)" and served 503 from /readyz
    assert result.returncode == 1, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("shopbridge")]
    assert len(ours) == 1 and ours[0].startswith("shopbridge: DATABASE_UNAVAILABLE: "), result.stderr
    assert "unable to open database file" in ours[0] and "Traceback" not in result.stderr, result.stderr
    # and it names the file's directory as what is wrong (SQLite's message alone names neither file nor cause)
    assert f"(the directory {shown_path(missing.parent)} does not exist)" in ours[0], ours[0]
    assert not missing.parent.exists()


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_data_directory_whose_lock_cannot_be_made_is_bad_configuration_with_exit_status_2(
    tmp_path, command: str
) -> None:
    # given a data directory where the lock file cannot be made (a directory stands at its path; a read-only file
    # system or directory does the same)
    data = tmp_path / "data"
    (data / "shopbridge.lock").mkdir(parents=True)
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data))
    # when `shopbridge serve` (or `demo`) starts on it
    result = subprocess.run(
        [sys.executable, "-m", "gql.cli", command, "--port", str(free_port())],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
    )  # fmt: skip
    # then one BAD_CONFIGURATION line naming the setting, with the exit status of every BAD_CONFIGURATION: 2 (it was
    # 1, the status of an outage such as DATABASE_UNAVAILABLE, not of a setting to change)
    ours = [line for line in result.stderr.splitlines() if line.startswith("shopbridge")]
    assert len(ours) == 1 and "Traceback" not in result.stderr, result.stderr
    assert ours[0] == (
        f"shopbridge: BAD_CONFIGURATION: cannot lock {shown_path(data)} (Is a directory): point SHOPBRIDGE_DATA_DIR at "
        "a writable directory"
    ), ours[0]
    assert result.returncode == 2, result.stderr


def test_a_sqlite_database_whose_lock_cannot_be_made_is_bad_configuration_naming_the_database_url(tmp_path) -> None:
    # given a SQLite database outside the data directory, where its lock file cannot be made (a directory stands at
    # its path)
    database = Path(os.path.realpath(tmp_path)) / "db" / "shop.db"
    (database.parent / "shop.db.lock").mkdir(parents=True)
    env = clean_env(
        SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"), SHOPBRIDGE_DATABASE_URL=f"sqlite+aiosqlite:///{database}"
    )
    # when `shopbridge serve` starts on it
    result = _serve_until_it_stops(env, tmp_path)
    # then one BAD_CONFIGURATION line naming the database and its setting, exit 2, as for the data directory's lock
    ours = [line for line in result.stderr.splitlines() if line.startswith("shopbridge")]
    assert len(ours) == 1 and "Traceback" not in result.stderr, result.stderr
    assert ours[0] == (
        f"shopbridge: BAD_CONFIGURATION: cannot lock the SQLite database {shown_path(database)} "
        f"({shown_path(database.parent / 'shop.db.lock')}: Is a directory): point SHOPBRIDGE_DATABASE_URL at a "
        "database in a writable directory"
    ), ours[0]
    assert result.returncode == 2, result.stderr
