"""A Shopbridge restarted with another SHOPBRIDGE_ENCRYPTION_KEY than the one its shops' tokens were encrypted with:
the shops load, show REVOKED with a re-authorize notice, can be deleted or re-authorized, and their syncs are refused
with REAUTHORIZATION_REQUIRED, saying the key changed, instead of failing with INTERNAL_SERVER_ERROR. On SQLite
(the cipher's key is the subject, tests/e2e/databases.py)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher
from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_cli_serve import clean_env, shopbridge
from tests.fixtures.app import SMALL_SHOP, ShopbridgeServer
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

pytestmark = subject_not_the_database("the token cipher's key change")

SHOP = """query($id: ID!) { shop(id: $id) { id status attention { code message } } }"""
REAUTH = """mutation($id: ID!) { shopReauthorizationStart(input: {shopId: $id}) {
  authorizationUrl userErrors { field code } } }"""
COMPLETE = """mutation($input: ShopAuthorizationCompleteInput!) { shopAuthorizationComplete(input: $input) {
  reauthorized shop { id status attention { code } } userErrors { field message code } } }"""
DELETE = """mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId userErrors { field code } } }"""
SYNC = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [ORDERS]}) {
  tasks { id status } userErrors { code message } } }"""
UNREADABLE = (
    "Shopbridge cannot read this shop's tokens (its encryption key changed): re-authorize it to resume syncing."
)


def restarted_with_key(app: ShopbridgeServer, key: str) -> ShopbridgeServer:
    """The same database, sandbox and port, served again by a process configured with `key` only."""
    app.stop()
    port = urlsplit(app.settings.public_url).port
    assert port is not None
    return ShopbridgeServer(app.settings.with_overrides(encryption_key=key), app.sandbox, app.clock, port).start()


@pytest.fixture
def app(app_factory: Callable[..., ShopbridgeServer]) -> ShopbridgeServer:
    """Small shops (`SMALL_SHOP`): these tests wait for the import, then read the shop's tokens and status."""
    return app_factory(**SMALL_SHOP)


@pytest.fixture
def shop_and_app(app: ShopbridgeServer):  # type: ignore[no-untyped-def]
    # given a shop connected under key A, then Shopbridge restarted with key B only
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    key_b = Fernet.generate_key().decode()
    again = restarted_with_key(app, key_b)
    try:
        yield shop, again, key_b
    finally:
        again.stop()


def test_the_shop_shows_revoked_with_a_notice_to_re_authorize(shop_and_app, caplog: pytest.LogCaptureFixture) -> None:
    shop, app, key_b = shop_and_app
    with caplog.at_level(logging.ERROR, logger="adapters.db.repositories.shops"):
        # when the merchant looks at the shop, and a sync of it is asked for
        seen = app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"]
        sync = app.graphql(SYNC, {"id": shop["id"]}, "m1")["syncStart"]
    # then it needs re-authorizing, and the sync is refused with the stable code, not a 500, saying the real cause
    # as the shop's notice does: before, "The shop's authorization has ended", which sent the merchant to TikTok
    # while the operator's key was what changed
    assert seen["status"] == "REVOKED"
    assert seen["attention"] == [{"code": "REAUTHORIZATION_REQUIRED", "message": UNREADABLE}]
    assert sync["tasks"] == [] and sync["userErrors"] == [{"code": "REAUTHORIZATION_REQUIRED", "message": UNREADABLE}]
    # and the operator is told once, with the shop's id and the keys' fingerprints, no token material: by whichever
    # read came first, the merchant's or the restarted process's own (its start-up sweep re-sends the registration
    # that failed under key A, which loads the shop in the background, before or after the fixture handed it over)
    told = [*caplog.get_records("setup"), *caplog.get_records("call")]
    lines = [r.getMessage() for r in told if "cannot be decrypted" in r.getMessage()]
    internal_id = app.rows("SELECT id FROM shops")[0]["id"]
    assert lines == [
        f"shop {internal_id}: its stored tokens cannot be decrypted with the configured SHOPBRIDGE_ENCRYPTION_KEY "
        f"(keys tried: {TokenCipher(key_b).key_ids[0]}); it needs re-authorization, or the key that encrypted them"
    ]


def test_re_authorizing_stores_tokens_under_the_new_key_and_syncs_again(shop_and_app) -> None:
    shop, app, key_b = shop_and_app
    # when the merchant re-authorizes the shop
    started = app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]
    assert started["userErrors"] == []
    state = parse_qs(urlsplit(started["authorizationUrl"]).query)["state"][0]
    redirect = app.sandbox.authorize("us-local", state)
    done = app.graphql(COMPLETE, {"input": {"state": redirect["state"], "code": redirect["code"]}}, "m1")
    payload = done["shopAuthorizationComplete"]
    # then it is ACTIVE again, its tokens are readable with key B alone, and it syncs
    assert payload["userErrors"] == [] and payload["reauthorized"] is True
    assert payload["shop"] == {"id": shop["id"], "status": "ACTIVE", "attention": []}
    stored = app.rows("SELECT access_token_encrypted, refresh_token_encrypted FROM shops")[0]
    cipher = TokenCipher(key_b)
    assert cipher.decrypt(stored["access_token_encrypted"]) and cipher.decrypt(stored["refresh_token_encrypted"])
    sync = app.graphql(SYNC, {"id": shop["id"]}, "m1")["syncStart"]
    assert sync["userErrors"] == []
    assert app.wait_for_task(sync["tasks"][0]["id"], "m1")["status"] == "SUCCEEDED"


def test_the_shop_can_be_deleted(shop_and_app) -> None:
    shop, app, _ = shop_and_app
    payload = app.graphql(DELETE, {"id": shop["id"]}, "m1")["shopDelete"]
    assert payload == {"deletedShopId": shop["id"], "userErrors": []}
    assert app.count_rows("shops") == 0


def test_a_rename_keeps_the_unreadable_tokens_as_they_were(shop_and_app) -> None:
    # the key that made them may come back: nothing is overwritten with a placeholder
    shop, app, _ = shop_and_app
    before = app.rows("SELECT access_token_encrypted, refresh_token_encrypted FROM shops")
    rename = """mutation($id: ID!) { shopRename(input: {shopId: $id, name: "Renamed"}) { userErrors { code } } }"""
    assert app.graphql(rename, {"id": shop["id"]}, "m1")["shopRename"]["userErrors"] == []
    assert app.rows("SELECT access_token_encrypted, refresh_token_encrypted FROM shops") == before


def test_a_process_started_with_a_key_that_reads_no_tokens_says_so_once(
    app: ShopbridgeServer, caplog: pytest.LogCaptureFixture
) -> None:
    # given a shop connected under key A
    app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    internal_id = app.rows("SELECT id FROM shops")[0]["id"]
    key_b = Fernet.generate_key().decode()
    with caplog.at_level(logging.WARNING, logger="adapters.db.key_check"):
        # when Shopbridge restarts with key B, then with key A listed after B (a rotation)
        restarted_with_key(app, key_b).stop()
        warned = [r for r in caplog.records if r.name == "adapters.db.key_check"]
        restarted_with_key(app, f"{key_b},{app.settings.encryption_key}").stop()
    # then the first start warns, with the shop's id and the key's fingerprint only; the second is quiet
    assert [(r.levelname, r.getMessage()) for r in warned] == [
        (
            "WARNING",
            f"SHOPBRIDGE_ENCRYPTION_KEY (keys: {TokenCipher(key_b).key_ids[0]}) does not decrypt the tokens of the "
            f"most recently authorized shop ({internal_id}): if this process was deployed with the wrong key, stop it "
            "and deploy the right one (it may stay listed after the new one); if the key is lost, every shop it "
            "encrypted shows REVOKED and must be re-authorized",
        )
    ]
    assert [r for r in caplog.records if r.name == "adapters.db.key_check"] == warned


@pytest.mark.redis
def test_the_worker_started_with_a_key_that_reads_no_tokens_says_so_once(
    app: ShopbridgeServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    # given a shop connected under key A, its Shopbridge stopped
    app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    internal_id = app.rows("SELECT id FROM shops")[0]["id"]
    app.stop()
    key_b = Fernet.generate_key().decode()
    env = clean_env(
        SHOPBRIDGE_DATABASE_URL=app.settings.database_url,
        SHOPBRIDGE_BROKER_URL=redis_server.url.rsplit("/", 1)[0] + "/7",
        SHOPBRIDGE_DATA_DIR=str(tmp_path / "worker-data"),
        SHOPBRIDGE_SECRET_KEY="worker-" + "k" * 40,
        SHOPBRIDGE_ENCRYPTION_KEY=key_b,
        SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT="2",
    )
    # when `shopbridge worker` starts with key B only, and its worker process is ready
    process = shopbridge("worker", "--processes", "1", "--threads", "2", env=env, cwd=tmp_path, out=tmp_path / "w")
    log = tmp_path / "w.err"
    try:
        wait_until(lambda: "is ready for action" in log.read_text() or process.poll() is not None, "a worker")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE_SECONDS) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # then one WARNING line, from the command before its worker processes, names the shop and the key's fingerprint
    warned = [line for line in log.read_text().splitlines() if "does not decrypt the tokens" in line]
    assert len(warned) == 1 and " WARNING " in warned[0], log.read_text()
    assert f"(keys: {TokenCipher(key_b).key_ids[0]})" in warned[0] and f"shop ({internal_id})" in warned[0], warned
