"""`shopbridge demo` as a newcomer runs it: the banner appears once the server listens, and Ctrl+C mid-import
stops quickly and quietly (issue 12, newcomer trial: items 1 and 6)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from adapters.config import SANDBOX_APP_KEY, SANDBOX_SERVICE_ID
from adapters.text import shown_path
from adapters.tls import tls_context
from tests.e2e.test_cli_serve import REPO, clean_env, shopbridge
from tests.fixtures.app import CONNECT, START, free_port
from tests.fixtures.demo import banner_headers, migrated_data_dir, wait_for_banner
from tests.fixtures.processes import oneshot
from tests.fixtures.sandbox import TikTokCaller
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

PRODUCT_SEARCH = "/product/202309/products/search"
ACTIVE = "{ syncTasks { edges { node { kind status processed } } } }"


def complete_as_the_console(callback: str, headers: dict[str, str]) -> None:
    """Follow TikTok's redirect to the demo's callback, which hands the code and state to its console, and complete
    them as the console does: `shopAuthorizationComplete` under the merchant's token (RFC 6749 sec. 10.12)."""
    handed = oneshot.get(callback, timeout=DEADLINE_SECONDS)
    assert handed.status_code == 303, handed.text
    query = parse_qs(urlsplit(handed.headers["location"]).query)
    complete = {"query": CONNECT, "variables": {"input": {key: values[0] for key, values in query.items()}}}
    done = oneshot.post(f"{urljoin(callback, '/graphql')}", json=complete, headers=headers, timeout=DEADLINE_SECONDS)
    assert done.json()["data"]["shopAuthorizationComplete"]["userErrors"] == [], done.text


@contextmanager
def demo_importing(
    tmp_path: Path, sqlite_template: Path, *, process_group: bool = False
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`shopbridge demo` with an import under way (its product pages 300 ms each at TikTok, the first two held
    until the test saw them), on a database migrated already: (the process, its stderr file). Killed on the way out
    if it still runs."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stdout, stderr = tmp_path / "demo.out", tmp_path / "demo.err"
    env = clean_env(
        SHOPBRIDGE_DATA_DIR=str(migrated_data_dir(tmp_path / "data", sqlite_template)),
        SHOPBRIDGE_SANDBOX_ORDERS="400",
        SHOPBRIDGE_SANDBOX_PRODUCTS="500",
        SHOPBRIDGE_TIKTOK_TIMEOUT=str(DEADLINE_SECONDS),  # a held page is waited for, not retried
    )
    process = shopbridge(
        "demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "demo", process_group=process_group
    )
    try:
        # given the banner: the very first request after it is answered (no "connection refused")
        headers = banner_headers(process, stdout, stderr)
        assert oneshot.get(f"{base}/healthz", timeout=DEADLINE_SECONDS).status_code == 200

        def graphql(query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
            response = oneshot.post(
                f"{base}/graphql",
                json={"query": query, "variables": variables or {}},
                headers=headers,
                timeout=DEADLINE_SECONDS,
            )
            assert response.status_code == 200, response.text
            return dict(response.json()["data"])

        # and an import under way against a slow TikTok (each call 300 ms; five product pages in a row), its
        # second product page held at TikTok until the test has seen it make progress (300 ms pages alone made
        # that likely, not certain)
        control = f"{base}/sandbox/_sandbox"
        assert oneshot.post(f"{control}/latency", json={"ms": 300}).status_code == 200
        assert oneshot.post(f"{control}/hold", json={"paths": [PRODUCT_SEARCH]}).status_code == 200

        def held(count: int) -> bool:
            state = oneshot.get(f"{control}/hold", timeout=DEADLINE_SECONDS).json()
            return bool(state["held"] == count and state["waiting"] == 1)

        started = graphql(START, {"input": {"region": "US", "name": "Stop shop", "regionConfirmed": True}})
        state = parse_qs(urlsplit(started["shopAuthorizationStart"]["authorizationUrl"]).query)["state"][0]  # type: ignore[index]
        form = {"service_id": SANDBOX_SERVICE_ID, "seller": "us-local", "decision": "approve", "state": state}
        consent = oneshot.post(f"{base}/sandbox/oauth/authorize", data=form)
        complete_as_the_console(consent.headers["location"], headers)

        def importing() -> bool:
            tasks = [edge["node"] for edge in graphql(ACTIVE)["syncTasks"]["edges"]]  # type: ignore[index]
            return any(task["status"] == "RUNNING" and task["processed"] > 0 for task in tasks)

        wait_until(lambda: held(1), "the first product page held at TikTok")
        assert oneshot.post(f"{control}/hold/release", timeout=DEADLINE_SECONDS).json()["released"] == 1
        wait_until(lambda: held(2), "the second product page held at TikTok")
        wait_until(importing, "an import to make progress")
        # TikTok answers again (300 ms a call): the remaining pages are under way when Ctrl+C comes
        assert oneshot.post(f"{control}/hold", json={"paths": []}, timeout=DEADLINE_SECONDS).status_code == 200
        yield process, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_banner_once_listening_then_sigint_mid_import_is_quiet(tmp_path, sqlite_template) -> None:
    with demo_importing(tmp_path, sqlite_template) as (process, stderr):
        before = len(stderr.read_text())

        # when the user presses Ctrl+C
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)

        # then nothing calls the closed port, nothing warns, and each interrupted run says so once, quietly
        after = stderr.read_text()[before:]
        for noise in ("ConnectError", "attempt", "Traceback", " WARNING ", " ERROR ", "Retrying message"):
            assert noise not in after, after
        interrupted = [line for line in after.splitlines() if "interrupted by the shutdown" in line]
        assert all(" INFO " in line for line in interrupted), interrupted
        assert len(interrupted) == len(set(interrupted_subjects(interrupted))), interrupted
        assert "Application shutdown complete." in after


def test_ctrl_c_twice_mid_import_still_shuts_down_quietly(tmp_path, sqlite_template) -> None:
    """uvicorn reads a second SIGINT as "force quit" and skipped the app's shutdown: nothing was closed, and the
    lifespan, cancelled as the loop closed, was logged at ERROR with a KeyboardInterrupt/CancelledError traceback."""
    with demo_importing(tmp_path, sqlite_template, process_group=True) as (process, stderr):
        before = len(stderr.read_text())

        # when the user presses Ctrl+C, and again a moment later (the gap is the scenario, not a wait), as a
        # terminal sends it: to the whole process group
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.7)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)

        # then no traceback, nothing at WARNING or ERROR, one line about the second Ctrl+C at most
        after = stderr.read_text()[before:]
        for noise in ("Traceback", "KeyboardInterrupt", "CancelledError", " WARNING ", " ERROR ", "ConnectError"):
            assert noise not in after, after
        assert sum("interrupted again" in line for line in after.splitlines()) <= 1, after
        # and the app's shutdown still ran to its end: the database, the TikTok client and the sandbox closed
        assert "Waiting for application shutdown." in after and "Application shutdown complete." in after, after


def interrupted_subjects(lines: list[str]) -> list[str]:
    return [line.split(": ", 1)[1].split(" interrupted")[0] for line in lines]


def test_the_sandboxs_saved_state_is_announced_and_can_be_reset(tmp_path, sqlite_template) -> None:
    data = migrated_data_dir(tmp_path / "data", sqlite_template)

    def demo_run(orders: int, *flags: str) -> tuple[str, str, int, set[str]]:
        """Start the demo, read what it serves, sell 2 units, stop it: (banner, log, orders per shop served, the
        ids of the first shop's orders, the sale's included)."""
        port = free_port()
        env = clean_env(SHOPBRIDGE_DATA_DIR=str(data), SHOPBRIDGE_SANDBOX_ORDERS=str(orders))
        out = tmp_path / f"demo-{orders}-{len(flags)}"
        process = shopbridge("demo", "--port", str(port), *flags, env=env, cwd=tmp_path, out=out)
        try:
            stdout = out.with_suffix(".out")
            wait_for_banner(process, stdout, out.with_suffix(".err"))  # should it die while starting: says why
            control = f"http://127.0.0.1:{port}/sandbox/_sandbox"
            overview = oneshot.get(f"{control}/", timeout=DEADLINE_SECONDS).json()
            shop = oneshot.get(f"{control}/shops").json()["sellers"][0]["shops"][0]["id"]
            products = oneshot.get(f"{control}/shops/{shop}/products", timeout=DEADLINE_SECONDS).json()["products"]
            sku = next(
                sku
                for product in products
                if product["status"] == "ACTIVATE"
                for sku in product["skus"]
                if not sku.get("combined_skus") and sum(stock["quantity"] for stock in sku["inventory"]) >= 2
            )
            sale = oneshot.post(f"{control}/shops/{shop}/sales", json={"sku_id": sku["id"], "quantity": 2})
            assert sale.status_code == 200, sale.text
            orders = oneshot.get(f"{control}/shops/{shop}/orders", timeout=DEADLINE_SECONDS).json()["orders"]
            process.send_signal(signal.SIGINT)
            process.wait(timeout=DEADLINE_SECONDS)
            ids = {order["id"] for order in orders}
            return stdout.read_text(), out.with_suffix(".err").read_text(), overview["data"]["orders"], ids
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    # given a first run (its sandbox state is saved when it stops)
    banner, _, served, first_ids = demo_run(5)
    assert "Sandbox state" not in banner and served == 5
    # when the demo starts again with another SHOPBRIDGE_SANDBOX_ORDERS
    banner, log, served, second_ids = demo_run(9)
    # then the saved state is served, and both the banner and the log say so and how to start over
    assert served == 5 and first_ids < second_ids and len(second_ids) == 5 + 2  # and each run's sale kept
    assert "restored from" in banner and "--reset-sandbox" in banner and "SHOPBRIDGE_SANDBOX_PRODUCTS" in banner
    assert "made with 40 products and 5 orders per shop" in log and "9 orders" in log
    # and --reset-sandbox starts it fresh from the settings, under order ids never issued before: not the earlier
    # runs' sales' (generated order 6 of 9 once took the first sale's), which Shopbridge may have stored
    banner, _, served, third_ids = demo_run(9, "--reset-sandbox")
    assert "started fresh" in banner and served == 9
    assert len(third_ids) == 9 + 1 and third_ids.isdisjoint(second_ids)


def test_an_authorization_in_flight_at_sigint_completes_against_the_embedded_sandbox(tmp_path, sqlite_template) -> None:
    # given the demo, a slow TikTok (each call 1.5 s), and a seller who approved the consent
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stdout, stderr = tmp_path / "demo.out", tmp_path / "demo.err"
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(migrated_data_dir(tmp_path / "data", sqlite_template)))
    process = shopbridge("demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "demo")
    try:
        headers = banner_headers(process, stdout, stderr)
        variables = {"input": {"region": "US", "name": "Late shop", "regionConfirmed": True}}
        started = oneshot.post(f"{base}/graphql", json={"query": START, "variables": variables}, headers=headers)
        url = started.json()["data"]["shopAuthorizationStart"]["authorizationUrl"]
        state = parse_qs(urlsplit(url).query)["state"][0]
        form = {"service_id": SANDBOX_SERVICE_ID, "seller": "us-local", "decision": "approve", "state": state}
        callback = oneshot.post(f"{base}/sandbox/oauth/authorize", data=form).headers["location"]
        handed = parse_qs(urlsplit(oneshot.get(callback).headers["location"]).query)  # the console's ?code=&state=
        complete = {"query": CONNECT, "variables": {"input": {key: values[0] for key, values in handed.items()}}}
        assert oneshot.post(f"{base}/sandbox/_sandbox/latency", json={"ms": 1500}).status_code == 200
        with ThreadPoolExecutor(1) as pool:
            # when Ctrl+C arrives while the console's completion waits on the sandbox (its token exchange under way)
            answer = pool.submit(
                oneshot.post, f"{base}/graphql", json=complete, headers=headers, timeout=DEADLINE_SECONDS
            )

            def exchanging() -> bool:
                counters = oneshot.get(f"{base}/sandbox/_sandbox/counters", timeout=DEADLINE_SECONDS).json()
                return "/api/v2/token/get" in counters["by_path"]

            wait_until(exchanging, "the completion's token exchange")
            before = len(stderr.read_text())
            process.send_signal(signal.SIGINT)
            response = answer.result(timeout=DEADLINE_SECONDS)
        # then the completion still connects the shop (the sandbox answered it before the listener closed), quietly
        assert response.status_code == 200, response.text
        done = response.json()["data"]["shopAuthorizationComplete"]
        assert done["userErrors"] == [] and done["shop"]["name"] == "Late shop", done
        assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)
        after = stderr.read_text()[before:]
        for noise in ("ConnectError", "attempt", "Traceback", " ERROR "):
            assert noise not in after, after
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_demo_on_the_same_data_directory_or_database_is_refused_while_the_first_lives(
    tmp_path, sqlite_template
) -> None:
    # two `make run` from one checkout share its SQLite database and the sandbox's saved state (last writer wins);
    # two processes on one SQLite file from two data directories share its shops
    data = migrated_data_dir(tmp_path / "data", sqlite_template)
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data), SHOPBRIDGE_SANDBOX_ORDERS="5")

    def start(name: str, port: int) -> subprocess.Popen[bytes]:
        return shopbridge("demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / name)

    def banner_of(process: subprocess.Popen[bytes], name: str) -> None:
        wait_for_banner(process, tmp_path / f"{name}.out", tmp_path / f"{name}.err", f"{name}'s banner")

    first_port, second_port = free_port(), free_port()
    first = start("first", first_port)
    second = third = None
    try:
        # given a first demo serving
        banner_of(first, "first")
        # when a second starts from the same data directory, on the first's port (a second `make run`) and on another
        for name, port in (("same-port", first_port), ("second", second_port)):
            second = start(name, port)
            # then it stops at once with one clear line naming the first, and the first serves on. On the first's
            # port too: before, the port was probed first, and CANNOT_LISTEN sent the merchant to another port, only
            # to learn there that Shopbridge already ran
            assert second.wait(timeout=DEADLINE_SECONDS) == 1, name
            refusal = (tmp_path / f"{name}.err").read_text().strip()
            assert "\n" not in refusal and "ALREADY_RUNNING" in refusal and f"pid {first.pid}" in refusal, refusal
            assert "SHOPBRIDGE_DATA_DIR" in refusal and "GraphiQL" not in (tmp_path / f"{name}.out").read_text()
        # when a `serve` starts from another data directory on the first's SQLite file (SHOPBRIDGE_DATABASE_URL), on
        # another port and on the first's
        database = Path(os.path.realpath(tmp_path / "data" / "shopbridge.db"))
        elsewhere = clean_env(
            SHOPBRIDGE_DATA_DIR=str(tmp_path / "other"), SHOPBRIDGE_DATABASE_URL=f"sqlite+aiosqlite:///{database}"
        )
        for name, port in (("other-dir", second_port), ("other-dir-same-port", first_port)):
            second = shopbridge("serve", "--port", str(port), env=elsewhere, cwd=tmp_path, out=tmp_path / name)
            # then it is refused too, naming the database file and the first's pid: before, it served (the lock was
            # the data directory's alone), and with its own embedded sandbox revoked every shop of the shared
            # database within 2 s, TikTok refusing tokens it had never issued (crash52)
            assert second.wait(timeout=DEADLINE_SECONDS) == 1, name
            refusal = (tmp_path / f"{name}.err").read_text().strip()
            assert "\n" not in refusal and refusal.startswith("shopbridge: ALREADY_RUNNING: "), refusal
            assert f"pid {first.pid}" in refusal and f"the SQLite database {shown_path(database)} " in refusal, refusal
            assert "SHOPBRIDGE_DATABASE_URL" in refusal, refusal
        # and it made nothing in its data directory (the lock is asked before the settings make the keys)
        assert not (tmp_path / "other").exists()
        assert oneshot.get(f"http://127.0.0.1:{first_port}/healthz", timeout=DEADLINE_SECONDS).status_code == 200
        # and once the first has died without any cleanup (SIGKILL), the lock is gone with it: a demo starts
        first.kill()
        first.wait(timeout=DEADLINE_SECONDS)
        third = start("third", second_port)
        banner_of(third, "third")
        third.send_signal(signal.SIGINT)
        assert third.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)
    finally:
        for process in (first, second, third):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_ctrl_c_while_the_command_starts_exits_130_without_a_traceback(tmp_path) -> None:
    # given `shopbridge demo` still importing its modules (~0.7 s): Python's -X importtime writes a line to stderr
    # as each import completes, so the test knows it is inside gql.cli's imports (cryptography comes with its token
    # signing, well before the last of them)
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"))
    command = [sys.executable, "-X", "importtime", "-m", "gql.cli", "demo", "--port", str(free_port())]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        seen = []
        for line in iter(process.stderr.readline, b""):
            seen.append(line)
            if b"cryptography" in line:
                break
        # when the user presses Ctrl+C
        process.send_signal(signal.SIGINT)
        try:
            _, rest = process.communicate(timeout=DEADLINE_SECONDS)  # a lost Ctrl+C: the demo serves on
        except subprocess.TimeoutExpired:
            raise AssertionError("the command went on after Ctrl+C") from None
        # then the command exits 130, without a traceback
        assert process.returncode == 130, rest.decode()[-3000:]
        assert b"Traceback" not in rest and b"KeyboardInterrupt" not in rest, rest.decode()[-3000:]
        assert any(b"cryptography" in line for line in seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


# Python raises no KeyboardInterrupt inside a garbage collector's callback: it reports "Exception ignored in ..."
# and goes on. The script below is `shopbridge demo` (`gql.cli.run`) with its Ctrl+C arriving in such a callback,
# as one in a dozen did while the demo migrated its database (the test above then hung: the server served on):
# before the command runs ("imports"), or once the database is migrated, just before uvicorn starts ("migrated").
CTRL_C_IN_A_CALLBACK = """
import sys
from gql import cli  # as the console script does: the command's SIGINT handling is in place
import adapters.db.migrate
from tests.fixtures.lost_interrupt import drop_a_ctrl_c

when, port = sys.argv[1:]
if when == "imports":
    drop_a_ctrl_c()
else:
    upgrade = adapters.db.migrate.upgrade  # the real migration, then the Ctrl+C
    adapters.db.migrate.upgrade = lambda *args, **kwargs: (upgrade(*args, **kwargs), drop_a_ctrl_c())
sys.argv = ["shopbridge", "demo", "--port", port]
cli.run()
"""


@pytest.mark.parametrize("when", ["imports", "migrated"])
def test_a_ctrl_c_python_drops_in_a_callback_still_stops_the_command(tmp_path, when: str) -> None:
    # given `shopbridge demo` whose Ctrl+C reached it while a weakref callback ran
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"))
    command = [sys.executable, "-c", CTRL_C_IN_A_CALLBACK, when, str(free_port())]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the Ctrl+C was lost: the demo went on\n{err.decode()[-3000:]}") from None
    # then it stops before serving, exits 130, and shows no traceback
    assert process.returncode == 130, err.decode()[-3000:]
    assert b"listening" not in out and b"Uvicorn running" not in err, out.decode() + err.decode()[-3000:]
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()[-3000:]


SHOPS = "{ shops { edges { node { id name status } } } }"


def test_a_sandbox_reset_deletes_the_shops_connected_to_it(tmp_path, sqlite_template) -> None:
    """A newcomer found it: after `make run RESET_SANDBOX=1` the shops stayed ACTIVE with tokens the new sandbox
    refused, and authorizing again mixed the old world's products with the new one's (94 AMBIGUOUS SKUs)."""
    data = migrated_data_dir(tmp_path / "data", sqlite_template)

    def demo_run(name: str, *flags: str, connect: bool = False) -> tuple[list[dict[str, str]], str, str]:
        """Start the demo, connect a shop if asked, stop it: (the shops GraphQL lists, the banner, the log)."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = clean_env(SHOPBRIDGE_DATA_DIR=str(data), SHOPBRIDGE_SANDBOX_ORDERS="5", SHOPBRIDGE_SANDBOX_PRODUCTS="5")
        process = shopbridge("demo", "--port", str(port), *flags, env=env, cwd=tmp_path, out=tmp_path / name)
        stdout, stderr = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        try:
            headers = banner_headers(process, stdout, stderr)

            def graphql(query: str, variables: dict[str, object] | None = None) -> dict[str, Any]:
                response = oneshot.post(
                    f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers,
                    timeout=DEADLINE_SECONDS,
                )  # fmt: skip
                assert response.status_code == 200 and "errors" not in response.json(), response.text
                return dict(response.json()["data"])

            if connect:  # as a merchant does from the console: start, approve at TikTok's consent, come back
                variables = {"input": {"region": "US", "name": "Old world shop", "regionConfirmed": True}}
                url = graphql(START, variables)["shopAuthorizationStart"]["authorizationUrl"]
                state = parse_qs(urlsplit(url).query)["state"][0]
                form = {"service_id": SANDBOX_SERVICE_ID, "seller": "us-local", "decision": "approve", "state": state}
                consent = oneshot.post(f"{base}/sandbox/oauth/authorize", data=form)
                complete_as_the_console(consent.headers["location"], headers)
            shops = [edge["node"] for edge in graphql(SHOPS)["shops"]["edges"]]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)
            return shops, stdout.read_text(), stderr.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    # given a demo with a shop connected to its sandbox
    shops, _, _ = demo_run("first", connect=True)
    assert [(shop["name"], shop["status"]) for shop in shops] == [("Old world shop", "ACTIVE")]
    # when the demo starts again with its sandbox reset
    shops, banner, log = demo_run("reset", "--reset-sandbox")
    # then the shop connected to the old sandbox is gone from Shopbridge, as if its merchant had deleted it
    assert shops == []
    # and one INFO line of the log says so, naming it, as the banner does
    lines = [line for line in log.splitlines() if "sandbox reset" in line]
    assert len(lines) == 1 and " INFO " in lines[0] and "deleted 1 shop(s)" in lines[0], log
    assert "'Old world shop'" in lines[0] and "1 shop(s) connected to the old one deleted" in banner, banner


def test_sigterm_while_the_sandbox_holds_an_inventory_update_stops_at_once_and_quietly(
    tmp_path, sqlite_template
) -> None:
    """A call held at the embedded sandbox (a test's gate: `POST /_sandbox/inventory-updates/hold`) kept the stop
    waiting: uvicorn waited out its 30 s for the open request, then cancelled it with a traceback (48 s and two
    tracebacks when a push was the caller). The sandbox now answers its held calls when the server stops."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = migrated_data_dir(tmp_path / "data", sqlite_template)
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data), SHOPBRIDGE_SANDBOX_PRODUCTS="5", SHOPBRIDGE_SANDBOX_ORDERS="5")
    process = shopbridge("demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "demo")
    with ExitStack() as stack:
        stack.callback(_kill_if_running, process)
        # given the demo, and a client of its sandbox (TikTok's stand-in) with a seller's token and shop
        banner_headers(process, tmp_path / "demo.out", tmp_path / "demo.err")
        http = stack.enter_context(httpx.Client(timeout=DEADLINE_SECONDS, verify=tls_context()))
        sandbox = SimpleNamespace(
            url=f"{base}/sandbox",
            config=SimpleNamespace(app_key=SANDBOX_APP_KEY, app_secret=(data / "sandbox_app_secret").read_text()),
            http=http,
        )
        form = {"service_id": SANDBOX_SERVICE_ID, "seller": "us-local", "decision": "approve", "state": "s"}
        consent = http.post(f"{sandbox.url}/oauth/authorize", data=form, follow_redirects=False)
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        exchange = {"app_key": SANDBOX_APP_KEY, "app_secret": sandbox.config.app_secret, "auth_code": code}
        token = http.get(f"{sandbox.url}/api/v2/token/get", params={**exchange, "grant_type": "authorized_code"})
        caller = TikTokCaller(sandbox, token.json()["data"]["access_token"])  # type: ignore[arg-type]
        caller.shop_cipher = caller.call("GET", "/authorization/202309/shops", with_cipher=False)["data"]["shops"][0][
            "cipher"
        ]
        # (a product on sale: Update Inventory refuses any other status, 12052901)
        product = caller.call("POST", PRODUCT_SEARCH, {"page_size": "1"}, {"status": "ACTIVATE"})["data"]["products"][0]
        sku = product["skus"][0]
        rows = [{"warehouse_id": row["warehouse_id"], "quantity": 7} for row in sku["inventory"]]
        # and its Update Inventory held at the sandbox, the client still waiting for the answer
        assert http.post(f"{sandbox.url}/_sandbox/inventory-updates/hold", json={"held": True}).status_code == 200
        update = f"/product/202309/products/{product['id']}/inventory/update"
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(caller.call, "POST", update, {}, {"skus": [{"id": sku["id"], "inventory": rows}]})
            wait_until(
                lambda: http.get(f"{sandbox.url}/_sandbox/inventory-updates").json()["waiting"] == 1,
                "the update held at the sandbox",
            )
            before = len((tmp_path / "demo.err").read_text())
            # when the demo is asked to stop
            process.send_signal(signal.SIGTERM)
            # then the held call is answered (as a release would), and the demo stops without a traceback
            assert answer.result(timeout=DEADLINE_SECONDS)["code"] == 0
        assert process.wait(timeout=DEADLINE_SECONDS) == 0
        after = (tmp_path / "demo.err").read_text()[before:]
        for noise in ("Traceback", "timeout graceful shutdown exceeded", " ERROR "):
            assert noise not in after, after


def _kill_if_running(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def test_a_data_directory_open_to_other_users_is_made_private_when_the_demo_starts(tmp_path) -> None:
    """tryout61 F2: after `make clean` beside a running demo, that demo's sandbox made `var/` again with the umask's
    mode (0755); the next `make run` kept it, so its new SQLite database (buyers' names and addresses, 0644) was
    readable by every local user, where the README promises 0700. Before, only a directory the demo made was 0700."""
    # given a data directory that exists, open to other users, as that left it (with the sandbox's state directory)
    data = tmp_path / "data"
    (data / "sandbox").mkdir(parents=True)
    data.chmod(0o755)
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data), SHOPBRIDGE_SANDBOX_ORDERS="5", SHOPBRIDGE_SANDBOX_PRODUCTS="5")
    # when the demo starts from it
    process = shopbridge("demo", "--port", str(free_port()), env=env, cwd=tmp_path, out=tmp_path / "demo")
    try:
        wait_for_banner(process, tmp_path / "demo.out", tmp_path / "demo.err")
        # then the directory is private to its user, and one WARNING line says what its mode was
        assert data.stat().st_mode & 0o777 == 0o700
        log = (tmp_path / "demo.err").read_text()
        (line,) = [line for line in log.splitlines() if "open to other local users" in line]
        assert " WARNING " in line and "mode 0755" in line and "(mode 0700)" in line, line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)
    finally:
        _kill_if_running(process)


@pytest.mark.skipif(os.geteuid() != 0, reason="a directory of another user is made by root (chown)")
def test_a_data_directory_open_to_others_that_cannot_be_made_private_is_refused(tmp_path) -> None:
    # given a data directory of another user, open to all (mode 0777): this process may write in it, not chmod it
    # (run as root without CAP_FOWNER, through util-linux's setpriv: as any user on another user's directory)
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 65534, -1)  # nobody
    data.chmod(0o777)
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(data))
    command = ["setpriv", "--bounding-set=-fowner", sys.executable, "-m", "gql.cli", "demo", "--port", str(free_port())]
    stdout, stderr = tmp_path / "demo.out", tmp_path / "demo.err"
    # when the demo starts from it
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=err)
    try:
        wait_until(lambda: process.poll() is not None or "GraphiQL" in stdout.read_text(), "the demo to stop or serve")
        # then it is refused in one line naming the setting and the command that mends it, before it serves
        refusal = stderr.read_text().strip()
        assert process.poll() == 2 and "GraphiQL" not in stdout.read_text(), refusal[-3000:]
        assert "\n" not in refusal and refusal.startswith("shopbridge: BAD_CONFIGURATION: "), refusal
        assert "mode 0777" in refusal and "owner nobody" in refusal and "SHOPBRIDGE_DATA_DIR" in refusal, refusal
        assert "a directory of its own" in refusal, refusal  # (tryout62 F1: not chmodded even where it could be)
        assert data.stat().st_mode & 0o777 == 0o777 and list(data.iterdir()) == []  # no key, no lock file
    finally:
        _kill_if_running(process)


def test_make_clean_is_refused_while_the_demo_serves_from_var(tmp_path) -> None:
    """tryout61 F2: `make clean` (to start over) beside a running `make run` removed var/ under it: the demo served on
    from a deleted database, its sandbox made var/ again (0755) and overwrote the next demo's state, and a second
    `make run` on its port was told CANNOT_LISTEN (the lock files gone with var/), not ALREADY_RUNNING."""
    # given a checkout (its Makefile and the script `make clean` runs, with the lock module it reads) whose demo
    # serves from its var/, and a .venv/ that `make clean` deletes too
    checkout = tmp_path / "checkout"
    for name in (
        "Makefile",
        "scripts/choose-python",
        "scripts/refuse-clean-while-serving",
        "adapters/__init__.py",
        "adapters/process_lock.py",
    ):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    (checkout / ".venv").mkdir()
    var = checkout / "var"
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(var), SHOPBRIDGE_SANDBOX_ORDERS="5", SHOPBRIDGE_SANDBOX_PRODUCTS="5")
    port = free_port()
    process = shopbridge("demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "demo")
    try:
        wait_for_banner(process, tmp_path / "demo.out", tmp_path / "demo.err")

        def make_clean() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["make", "clean"], cwd=checkout, env=clean_env(), capture_output=True, text=True,
                timeout=DEADLINE_SECONDS,
            )  # fmt: skip

        # when `make clean` runs while it serves
        refused = make_clean()
        # then it is refused in one line naming the demo's pid and how to stop it, and deletes nothing
        assert refused.returncode != 0, refused.stdout + refused.stderr
        (line,) = [line for line in refused.stderr.splitlines() if "ALREADY_RUNNING" in line]
        assert line.startswith("make clean: ALREADY_RUNNING: ") and f"pid {process.pid}" in line, line
        assert f"kill {process.pid}" in line and "nothing was deleted" in line, line
        assert "rm -rf" not in refused.stdout and (var / "shopbridge.db").exists() and (checkout / ".venv").exists()
        # and the demo serves on, ready
        assert oneshot.get(f"http://127.0.0.1:{port}/readyz", timeout=DEADLINE_SECONDS).status_code == 200
        # when the demo is stopped, `make clean` deletes var/ and .venv/ as before
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)
        done = make_clean()
        assert done.returncode == 0, done.stderr
        assert not var.exists() and not (checkout / ".venv").exists()
    finally:
        _kill_if_running(process)
