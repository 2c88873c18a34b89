"""TikTok webhooks over real HTTP, on SQLite and PostgreSQL: signed pushes bring changes in without any syncStart.

The tests sign pushes themselves (hex HMAC-SHA256, key = app secret, message = app key + raw body; live-sync.md
§2.1), independently of the code under test, and change the sandbox's data through its control surface first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis

from adapters.tls import tls_context
from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_webhook_metrics import moved, scrape
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.sync import settings_env
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, wait_until
from tests.fixtures.workers import spawn_worker, stop_worker

EVENT_WEBHOOKS = "/event/202309/webhooks"  # TikTok's Event API: the registration's PUT per event type

EVENTS = """query($id: ID!, $first: Int, $after: String) { webhookEvents(shopId: $id, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id type eventType receivedAt notifiedAt processedAt outcome attempts errorCode errorMessage
    orderIds productId shop { id } } } } }"""
REPLAY = """mutation($id: ID!) { webhookEventReplay(input: {id: $id}) {
  event { id outcome attempts } userErrors { code field } } }"""
ORDERS = """query($id: ID!) { shop(id: $id) { status orders(first: 100) { edges { node {
  tiktokOrderId status updatedAt } } } } }"""
PRODUCTS = """query($id: ID!) { shop(id: $id) { products(first: 100) { edges { node {
  tiktokProductId title updatedAt } } } } }"""

_ids = count(7_300_000_000_000_000_000)
TIKTOK_RETRIES = 4  # a push not acknowledged is retried 4 times, then never again (tiktok-api.md, webhooks)


def signature(app: ShopbridgeServer, raw: bytes) -> str:
    tiktok = app.settings.tiktok
    return hmac.new(tiktok.app_secret.encode(), tiktok.app_key.encode() + raw, hashlib.sha256).hexdigest()


def envelope(type_: int, shop_id: str, data: dict[str, Any], notification_id: str | None = "auto") -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "shop_id": shop_id, "timestamp": int(time.time()), "data": data}
    if notification_id is not None:
        body["tts_notification_id"] = str(next(_ids)) if notification_id == "auto" else notification_id
    return body


def push(app: ShopbridgeServer, body: dict[str, Any] | bytes, *, sign: str | None = "valid") -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if sign is not None:
        headers["Authorization"] = signature(app, raw) if sign == "valid" else sign
    return app.http.post(f"{app.url}/webhooks/tiktok", content=raw, headers=headers)


def stored_events(app: ShopbridgeServer) -> list[dict[str, Any]]:
    return app.rows("SELECT * FROM webhook_events ORDER BY received_at")


def shop_row(app: ShopbridgeServer, shop_tiktok_id: str) -> dict[str, Any]:
    (row,) = app.rows("SELECT * FROM shops WHERE tiktok_shop_id = :t", t=shop_tiktok_id)
    return row


def _stored_end(app: ShopbridgeServer, shop: dict[str, Any]) -> int:
    """The shop's stored `authorization_expires_at`, in Unix seconds."""
    stored = shop_row(app, shop["tiktokShopId"])["authorization_expires_at"]
    stored = stored if isinstance(stored, datetime) else datetime.fromisoformat(str(stored))
    return int(stored.replace(tzinfo=UTC).timestamp())


def all_settled(app: ShopbridgeServer) -> bool:
    return all(e["outcome"] != "PENDING" for e in stored_events(app))


def orders_of(app: ShopbridgeServer, shop_id: str, merchant: str = "m1") -> dict[str, dict[str, Any]]:
    shop = app.graphql(ORDERS, {"id": shop_id}, merchant)["shop"]
    return {e["node"]["tiktokOrderId"]: e["node"] for e in shop["orders"]["edges"]}


def sandbox_orders(app: ShopbridgeServer, tiktok_shop_id: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in app.sandbox.control("GET", f"/shops/{tiktok_shop_id}/orders")["orders"]}


# The shop `connected` imports: what its tests take from it (the first product, six of the orders TikTok has, the
# burst's 20 orders), not the sandbox's default 30 products and 80 orders, whose import its tests wait for and none
# reads (~0.4 s of CPU a test, speed67).
CONNECTED_PRODUCTS, CONNECTED_ORDERS = 5, 20


@pytest.fixture
def connected(app_factory: Callable[..., ShopbridgeServer]) -> tuple[ShopbridgeServer, dict[str, Any]]:
    app = app_factory(products=CONNECTED_PRODUCTS, orders=CONNECTED_ORDERS)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    return app, shop


class TestOrders:
    def test_a_sale_and_its_cancellation_arrive_without_any_sync(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        # given an order TikTok has and Shopbridge does not
        order = app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{"status": "UNPAID"}]})
        order_id = order["orders"][0]["id"]
        assert order_id not in orders_of(app, shop["id"])
        # when TikTok pushes its status change
        response = push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "UNPAID"}))
        # then the push is acknowledged with an empty body, and the order appears in the shop's orders
        assert (response.status_code, response.content) == (200, b"")
        seen = wait_until(lambda: orders_of(app, shop["id"]).get(order_id), what="the order")
        assert seen["status"] == "UNPAID"
        # when TikTok cancels it and pushes the webhook's own spelling, CANCEL
        app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{"id": order_id, "status": "CANCELLED"}]})
        push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "CANCEL"}))
        # then the stored order follows TikTok's
        wait_until(lambda: orders_of(app, shop["id"])[order_id]["status"] == "CANCELLED", what="the cancellation")
        # and the merchant sees both events, processed
        events = app.graphql(EVENTS, {"id": shop["id"], "first": 10}, "m1")["webhookEvents"]
        assert events["totalCount"] == 2
        nodes = [e["node"] for e in events["edges"]]
        assert {(n["type"], n["eventType"], n["outcome"], tuple(n["orderIds"])) for n in nodes} == {
            (1, "ORDER_STATUS_CHANGE", "PROCESSED", (order_id,))
        }
        assert all(n["shop"]["id"] == shop["id"] and n["processedAt"] and n["attempts"] == 1 for n in nodes)

    def test_duplicated_and_reordered_pushes_give_exactly_tiktoks_orders(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        rng = random.Random(7)
        existing = list(sandbox_orders(app, tiktok_id))
        new = [o["id"] for o in app.sandbox.control(
            "POST", f"/shops/{tiktok_id}/orders", {"orders": [{"status": "UNPAID"} for _ in range(6)]}
        )["orders"]]  # fmt: skip
        touched = new + rng.sample(existing, 6)
        pushes = []
        # each order goes through several states at TikTok; each change pushes one webhook
        for status in ("AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED"):
            changes = [{"id": order_id, "status": rng.choice([status, "CANCELLED"])} for order_id in touched]
            app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": changes})
            pushes += [envelope(1, tiktok_id, {"order_id": c["id"], "order_status": c["status"]}) for c in changes]
        # a package update naming several of them, and cancellation/return events
        pushes.append(envelope(4, tiktok_id, {"sc_type": "SPLIT", "package_list": [
            {"package_id": "1", "order_id_list": touched[:3]}, {"package_id": "2", "order_id_list": touched[3:5]},
        ]}))  # fmt: skip
        pushes.append(
            envelope(11, tiktok_id, {"order_id": touched[0], "cancel_status": "CANCELLATION_REQUEST_SUCCESS"})
        )
        pushes.append(envelope(12, tiktok_id, {"order_id": touched[1], "return_status": "AWAITING_BUYER_SHIP"}))
        # when 30 % of them arrive twice, in shuffled order
        deliveries = pushes + rng.sample(pushes, int(len(pushes) * 0.3))
        rng.shuffle(deliveries)
        assert {push(app, body).status_code for body in deliveries} == {200}
        # then each notification is stored once and every one is processed
        assert len(stored_events(app)) == len(pushes)
        wait_until(lambda: all_settled(app), what="every event processed")
        assert {e["outcome"] for e in stored_events(app)} == {"PROCESSED"}
        # and the stored orders are exactly TikTok's
        truth, stored = sandbox_orders(app, tiktok_id), orders_of(app, shop["id"])
        for order_id in touched:
            expected = datetime.fromtimestamp(truth[order_id]["update_time"], UTC)
            assert stored[order_id]["status"] == truth[order_id]["status"]
            assert datetime.fromisoformat(stored[order_id]["updatedAt"]) == expected

    def test_an_event_for_an_order_tiktok_does_not_have_shows_why_while_retried(self, connected) -> None:
        # given an event naming only an order TikTok does not have: Get Order Detail refuses it whole (21008111)
        app, shop = connected
        push(app, envelope(1, shop["tiktokShopId"], {"order_id": "576000000000000001", "order_status": "UNPAID"}))
        wait_until(lambda: stored_events(app)[0]["attempts"] >= 1, what="the event processed")
        # then it is ORDER_NOT_FOUND (it was TIKTOK_ERROR, though ORDER_NOT_FOUND when batched with a known order),
        # PENDING while TikTok may just not serve it yet; FAILED after `ORDER_NOT_FOUND_RETRY` (unit-tested, with a
        # clock: tests/unit/test_intake_processing_services.py)
        (event,) = stored_events(app)
        assert event["outcome"] == "PENDING" and event["error_code"] == "ORDER_NOT_FOUND"
        assert event["error_message"].startswith("TikTok did not return this order: ")
        assert "21008111" in event["error_message"] and "retried until" in event["error_message"]


class TestProducts:
    def test_a_product_change_is_fetched_with_get_product(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        world = app.sandbox.world
        product = world.shop_data(world.shops_by_id[tiktok_id]).catalog.products[0]
        product["title"], product["update_time"] = "Renamed at TikTok", product["update_time"] + 60
        # the webhook carries product_id as a bare JSON number (beyond 2^53), as TikTok's samples do
        raw = (
            f'{{"type":15,"tts_notification_id":"{next(_ids)}","shop_id":"{tiktok_id}","timestamp":{int(time.time())},'
            f'"data":{{"product_id":{int(product["id"])},"change_source":"SELLER_CENTER","changed_fields":["title"]}}}}'
        )
        assert int(product["id"]) > 2**53
        assert push(app, raw.encode()).status_code == 200

        def title() -> str | None:
            edges = app.graphql(PRODUCTS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
            titles = {e["node"]["tiktokProductId"]: e["node"]["title"] for e in edges}
            return titles.get(product["id"]) if titles.get(product["id"]) == "Renamed at TikTok" else None

        wait_until(title, what="the renamed product")
        (event,) = stored_events(app)
        assert event["outcome"] == "PROCESSED"

    def test_a_product_tiktok_does_not_have_is_not_found_and_another_refusal_is_tiktok_error(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        world = app.sandbox.world
        product = world.shop_data(world.shops_by_id[tiktok_id]).catalog.products[0]
        # given an event for a product the shop does not have (TikTok answers 12052048)
        push(app, envelope(5, tiktok_id, {"product_id": "1729000000000000001"}))
        wait_until(lambda: all_settled(app), what="the unknown product's event processed")
        (unknown,) = stored_events(app)
        assert (unknown["outcome"], unknown["error_code"]) == ("FAILED", "PRODUCT_NOT_FOUND")
        assert "12052048" in unknown["error_message"]
        # when TikTok refuses Get Product for our signature (106001), for a product it has
        app.sandbox.control(
            "POST",
            "/faults",
            {"rate": 1.0, "kinds": ["invalid_sign"], "paths": ["/product/202309/products/{product_id}"]},
        )
        push(app, envelope(5, tiktok_id, {"product_id": product["id"]}))
        wait_until(lambda: all_settled(app) and len(stored_events(app)) == 2, what="the refused event processed")
        # then that event is TIKTOK_ERROR with TikTok's code, not PRODUCT_NOT_FOUND (as it was for any refusal)
        (refused,) = [e for e in stored_events(app) if e["id"] != unknown["id"]]
        assert (refused["outcome"], refused["error_code"]) == ("FAILED", "TIKTOK_ERROR")
        assert "106001" in refused["error_message"]


class TestSignature:
    @pytest.mark.parametrize("sign", [None, "", "0" * 64, "forged"])
    @subject_not_the_database("webhook signature checks")
    def test_a_missing_or_wrong_signature_is_refused_and_changes_nothing(self, connected, sign) -> None:
        app, shop = connected
        body = envelope(6, shop["tiktokShopId"], {"message": "deauthorized"})
        response = push(app, body, sign=sign)
        assert (response.status_code, response.content) == (401, b"")
        assert stored_events(app) == []
        assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"

    @subject_not_the_database("webhook signature checks")
    def test_a_flood_of_forged_pushes_is_counted_each_and_logged_once(self, app: ShopbridgeServer) -> None:
        # given anyone sending forged pushes (no secret needed), and a malformed signed one
        before = scrape(app)
        with log_lines("shopbridge.webhooks", logging.WARNING) as lines:
            answers = [push(app, b'{"type": 6, "shop_id": "7"}', sign="forged").status_code for _ in range(50)]
            bad = push(app, b"[1, 2]").status_code
        # then each is refused and counted, and the log holds one line for the forgeries (the next line logged for
        # them, a minute later at the earliest, says how many it left out) and its own line for the other reason
        assert answers == [401] * 50 and bad == 400
        assert moved(before, scrape(app), "shopbridge_webhooks_received_total", outcome="unauthorized") == 50
        assert [m for m in lines.messages if m.startswith("webhook refused")] == [
            "webhook refused: missing or wrong signature (27 bytes)"
        ]
        assert len([m for m in lines.messages if "not an envelope" in m]) == 1

    @subject_not_the_database("webhook signature checks")
    def test_one_changed_byte_breaks_the_signature(self, connected) -> None:
        app, shop = connected
        raw = json.dumps(envelope(6, shop["tiktokShopId"], {"message": "x"})).encode()
        tampered = raw.replace(b'"x"', b'"y"')
        response = app.http.post(
            f"{app.url}/webhooks/tiktok", content=tampered, headers={"Authorization": signature(app, raw)}
        )
        assert response.status_code == 401 and stored_events(app) == []

    @pytest.mark.parametrize("signatures", [("valid", "forged"), ("forged", "valid"), ("valid", "valid")])
    @subject_not_the_database("webhook request checks")
    def test_two_authorization_headers_are_ambiguous_400_and_store_nothing(self, connected, signatures) -> None:
        # small56: the first header was taken as the signature, where /graphql refuses two (400 BAD_REQUEST)
        app, shop = connected
        raw = json.dumps(envelope(6, shop["tiktokShopId"], {"message": "deauthorized"})).encode()
        headers = [("Authorization", signature(app, raw) if s == "valid" else "0" * 64) for s in signatures]
        before = scrape(app)
        # when a push comes with two Authorization headers, the body's signature in one or both
        with log_lines("shopbridge.webhooks", logging.WARNING) as lines:
            response = app.http.post(f"{app.url}/webhooks/tiktok", content=raw, headers=headers)
        # then it is refused as /graphql refuses it, in this endpoint's shape (an empty body), and nothing is stored
        assert (response.status_code, response.content) == (400, b""), signatures
        assert stored_events(app) == []
        assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
        assert moved(before, scrape(app), "shopbridge_webhooks_received_total", outcome="malformed") == 1
        assert lines.messages == ["webhook refused: several Authorization headers, ambiguous signature"]
        # and the same push with its signature alone is stored
        assert push(app, raw).status_code == 200
        assert len(stored_events(app)) == 1

    @subject_not_the_database("webhook request checks")
    def test_a_signed_body_that_is_not_json_is_a_bad_request(self, connected) -> None:
        app, shop = connected
        assert push(app, b'{"type": 1, "data": ').status_code == 400
        assert push(app, b"[1, 2]").status_code == 400
        # NaN, Infinity and -Infinity are not JSON (RFC 8259 sec. 6), though Python's decoder takes them
        head = b'{"type": 1, "shop_id": "' + shop["tiktokShopId"].encode() + b'", "data": {"order_id": '
        for constant in (b"NaN", b"Infinity", b"-Infinity"):
            assert push(app, head + constant + b"}}").status_code == 400, constant
        assert stored_events(app) == []

    @subject_not_the_database("webhook request checks")
    def test_a_signed_body_nested_too_deeply_is_a_bad_request_not_a_500(self, connected) -> None:
        # Given signed pushes whose data nests 500 levels (which stopped Python's recursion when copied) and
        # 100,000 levels (beyond what its JSON decoder follows), both under the size cap
        app, shop = connected
        head = b'{"type": 1, "shop_id": "' + shop["tiktokShopId"].encode() + b'", "data": {"a": '
        for levels in (500, 100_000):
            # when TikTok pushes each, then it is a bad request (400, nothing stored), not a 500 TikTok retries
            assert push(app, head + b"[" * levels + b"]" * levels + b"}}").status_code == 400
        assert stored_events(app) == []

    @pytest.mark.parametrize(
        "body", [{"data": {}}, {"type": "1"}, {"type": True}, {"type": 1, "data": [1]}, {"type": 1, "shop_id": [1]}]
    )
    @subject_not_the_database("webhook request checks")
    def test_only_a_missing_type_bad_data_or_bad_ids_are_bad_requests(self, connected, body) -> None:
        app, _ = connected
        assert push(app, body).status_code == 400 and stored_events(app) == []

    def test_an_incomplete_envelope_is_stored_and_acknowledged(self, connected) -> None:
        # The README's table: anything else signed is stored and answered 200, then settled by its outcome.
        app, shop = connected
        assert push(app, {"type": 1}).status_code == 200  # no shop, no id, no timestamp, no data
        assert push(app, {"type": 1, "shop_id": shop["tiktokShopId"], "data": None}).status_code == 200
        wait_until(lambda: len(stored_events(app)) == 2 and all_settled(app), what="both events settled")
        settled = {(e["tiktok_shop_id"], e["outcome"], e["error_code"]) for e in stored_events(app)}
        assert settled == {(None, "IGNORED", "UNKNOWN_SHOP"), (shop["tiktokShopId"], "FAILED", "MALFORMED_EVENT")}


LISTING = """query($id: ID!) { webhookEvents(shopId: $id, first: 5) { totalCount
  edges { node { type outcome errorCode errorMessage orderIds notifiedAt } } } }"""


class TestMalformedData:
    """One signed push with a value no field can take must fail alone: FAILED/MALFORMED_EVENT with the reason when
    stored, 400 when no column can hold it; never a shop whose processing stops, nor a listing that errs."""

    def test_a_notice_in_milliseconds_fails_alone_and_the_shops_next_sale_still_arrives(self, connected, caplog):
        caplog.set_level(logging.WARNING)
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        # given an authorization notice whose expiration_time is in milliseconds (TikTok documents seconds)
        notice = {"type": 7, "tts_notification_id": "exp-ms", "shop_id": tiktok_id, "timestamp": int(time.time()),
                  "data": {"expiration_time": "1798761600000"}}  # fmt: skip
        assert push(app, notice).status_code == 200
        wait_until(lambda: all_settled(app), what="the notice processed")
        # when the shop then sells and TikTok pushes the order
        sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{"status": "UNPAID"}]})
        order_id = sale["orders"][0]["id"]
        assert push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "UNPAID"})).status_code == 200
        # then the sale arrives by webhook (polling is off in tests)
        wait_until(lambda: orders_of(app, shop["id"]).get(order_id), what="the sale")
        wait_until(lambda: all_settled(app), what="the sale's event settled")
        # and the merchant's listing answers, with the notice FAILED and its reason, and the sale PROCESSED
        events = app.graphql(LISTING, {"id": shop["id"]}, "m1")["webhookEvents"]
        assert events["totalCount"] == 2
        reason = "data.expiration_time must be Unix seconds: 1798761600000 is past the year 9999 (in milliseconds?)"
        assert [(n["type"], n["outcome"], n["errorCode"], n["errorMessage"], n["orderIds"])
                for n in (e["node"] for e in events["edges"])] == [
            (1, "PROCESSED", None, None, [order_id]),
            (7, "FAILED", "MALFORMED_EVENT", reason, []),
        ]  # fmt: skip
        # the shop's end date is untouched, each event was processed once, and nothing was logged as an error
        assert shop_row(app, tiktok_id)["authorization_expires_at"] is None
        assert [e["attempts"] for e in stored_events(app)] == [1, 1]
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    def test_each_kind_of_malformed_data_fails_alone_and_is_listed(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        order_id = next(iter(sandbox_orders(app, tiktok_id)))
        malformed = {
            "exp-huge": (7, {"expiration_time": 10**20}),  # a JSON integer past the year 9999, beyond 64 bits
            "exp-float": (7, {"expiration_time": 1798761600.5}),
            "exp-null": (7, {"expiration_time": None}),
            "exp-list": (7, {"expiration_time": ["1798761600"]}),
            "order-long": (1, {"order_id": "9" * 65}),
            "order-negative": (11, {"order_id": -5}),
            "product-float": (5, {"product_id": 1.5}),
            "product-object": (16, {"product_id": {"id": None}}),
            "package-nulls": (4, {"package_list": [{"order_id_list": [None]}]}),
        }
        for notification_id, (type_, data) in malformed.items():
            assert push(app, envelope(type_, tiktok_id, data, notification_id)).status_code == 200
        # and an order event pushed with its timestamp in milliseconds, then one with a timestamp beyond 64 bits
        for notification_id, timestamp in (("push-ms", int(time.time() * 1000)), ("push-huge", 10**20)):
            body = envelope(1, tiktok_id, {"order_id": order_id}, notification_id) | {"timestamp": timestamp}
            assert push(app, body).status_code == 200
        wait_until(lambda: len(stored_events(app)) == 11 and all_settled(app), what="every event settled")
        settled = {e["notification_key"].removeprefix("tts:"): (e["outcome"], e["error_code"], e["attempts"])
                   for e in stored_events(app)}  # fmt: skip
        assert settled == {key: ("FAILED", "MALFORMED_EVENT", 1) for key in malformed} | {
            "push-ms": ("PROCESSED", None, 1), "push-huge": ("PROCESSED", None, 1),
        }  # fmt: skip
        assert {e["notified_at"] for e in stored_events(app) if e["outcome"] == "PROCESSED"} == {None}
        # the listing reads every one of them
        events = app.graphql(LISTING, {"id": shop["id"]}, "m1")["webhookEvents"]
        assert events["totalCount"] == 11 and len(events["edges"]) == 5

    def test_a_value_no_column_can_hold_is_a_bad_request_never_a_failed_write(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        bodies = [
            {"type": 99999999999999999999999, "tts_notification_id": "x", "shop_id": tiktok_id},  # beyond 64 bits
            {"type": 2**31, "tts_notification_id": "y", "shop_id": tiktok_id},  # beyond PostgreSQL's INTEGER
            {"type": 1, "tts_notification_id": "z", "shop_id": int("7" * 65)},  # longer than its VARCHAR(64)
            {"type": 1, "tts_notification_id": "7\x007", "shop_id": tiktok_id},  # NUL: refused in PostgreSQL text
            {"type": 1, "tts_notification_id": "\ud800", "shop_id": tiktok_id},  # not encodable as UTF-8
        ]
        before = scrape(app)
        # when TikTok pushes them, signed
        answers = [push(app, body) for body in bodies]
        # then each is a bad request (400, empty, like a string type): TikTok does not retry it for 12 hours
        assert [(a.status_code, a.content) for a in answers] == [(400, b"")] * len(bodies)
        assert stored_events(app) == []
        after = scrape(app)
        assert moved(before, after, "shopbridge_webhooks_received_total", outcome="malformed") == len(bodies)
        assert moved(before, after, "shopbridge_webhooks_received_total", outcome="failed") == 0
        assert moved(before, after, "shopbridge_webhook_events_received_total", outcome="failed") == 0


class TestIdempotence:
    def test_a_redelivered_notification_is_a_no_op(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        order_id = next(iter(sandbox_orders(app, tiktok_id)))
        body = envelope(
            1, tiktok_id, {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"}, "7327112393057371910"
        )
        assert push(app, body).status_code == 200
        wait_until(lambda: all_settled(app), what="the event processed")
        first = stored_events(app)
        # TikTok retries the same notification (same tts_notification_id), later, with a new push time
        body["timestamp"] += 120
        assert (push(app, body).status_code, len(stored_events(app))) == (200, 1)
        assert stored_events(app) == first  # not even re-processed

    def test_without_a_notification_id_the_digest_dedupes(self, connected) -> None:
        app, shop = connected
        body = envelope(99, shop["tiktokShopId"], {"anything": [1, 2]}, notification_id=None)
        for _ in range(3):
            assert push(app, body).status_code == 200
        (event,) = stored_events(app)
        assert event["notification_key"].startswith("sha256:")
        wait_until(lambda: all_settled(app), what="the event settled")
        assert stored_events(app)[0]["outcome"] == "IGNORED"


class TestShopLifecycle:
    def test_deauthorization_revokes_the_shop_and_keeps_its_data(self, connected) -> None:
        app, shop = connected
        before = app.row_counts(shop["tiktokShopId"])
        assert push(app, envelope(6, shop["tiktokShopId"], {"message": "Shop is deauthorized"})).status_code == 200
        wait_until(lambda: app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "REVOKED", what="REVOKED")
        after = app.row_counts(shop["tiktokShopId"])
        assert {k: after[k] for k in ("products", "orders")} == {k: before[k] for k in ("products", "orders")}

    @pytest.mark.parametrize("notice", [6, 7], ids=["deauthorization", "upcoming-expiration"])
    def test_a_notice_sent_before_the_authorization_changes_nothing_and_says_so(self, connected, notice) -> None:
        """Rule (domain.shops.Shop.deauthorize, note_authorization_end): a notice sent before the shop's current
        authorization (a late retry, a replay) is about an authorization that no longer exists and changes nothing;
        the event is IGNORED with that reason. It was PROCESSED, which read as applied while nothing changed."""
        app, shop = connected
        before = shop_row(app, shop["tiktokShopId"])["authorization_expires_at"]
        ends = str(int((datetime.now(UTC) + timedelta(days=3)).timestamp()))
        data = {"message": "old news"} if notice == 6 else {"message": "expiring", "expiration_time": ends}
        stale = envelope(notice, shop["tiktokShopId"], data)
        stale["timestamp"] = int(time.time()) - 3600
        push(app, stale)
        wait_until(lambda: all_settled(app), what="the event processed")
        assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
        assert shop_row(app, shop["tiktokShopId"])["authorization_expires_at"] == before
        (event,) = [e for e in stored_events(app) if e["type"] == notice]
        assert (event["outcome"], event["error_code"]) == ("IGNORED", None)
        assert event["error_message"] == (
            "Sent before the shop's current authorization (a late retry or a replay): it changes nothing."
        )

    def test_an_upcoming_expiration_stores_the_end_date(self, connected) -> None:
        app, shop = connected
        ends = int((datetime.now(UTC) + timedelta(days=29)).timestamp())
        push(app, envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(ends)}))
        wait_until(lambda: all_settled(app), what="the event processed")
        stored = shop_row(app, shop["tiktokShopId"])["authorization_expires_at"]
        stored = stored if isinstance(stored, datetime) else datetime.fromisoformat(str(stored))
        assert int(stored.replace(tzinfo=UTC).timestamp()) == ends
        assert shop_row(app, shop["tiktokShopId"])["last_webhook_at"] is not None

    def test_a_later_notice_never_brings_an_ended_authorization_back(self, connected) -> None:
        """Rule (domain.shops.Shop.authorization_end_refused, tryout71 O2): once the authorization has ended, a
        notice never renews it, whatever end it announces; only a re-authorization does. The last notice won: a
        later end announced after an end that had passed put the shop back to ACTIVE."""
        app, shop = connected
        now = time.time()
        # given TikTok announced an end that has passed: the shop is EXPIRED
        ended = int(now - 3600)
        push(app, envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(ended)}))
        wait_until(lambda: all_settled(app), what="the first notice processed")
        assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "EXPIRED"
        # when a later notice announces an end 29 days ahead
        later = int(now + 29 * 86400)
        push(app, envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(later)}))
        wait_until(lambda: all_settled(app), what="the second notice processed")
        # then the shop stays EXPIRED with the end that passed, and the notice says why it changed nothing
        assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "EXPIRED"
        assert _stored_end(app, shop) == ended
        first, second = [e for e in stored_events(app) if e["type"] == 7]
        assert (first["outcome"], second["outcome"], second["error_code"]) == ("PROCESSED", "IGNORED", None)
        assert second["error_message"].startswith("The shop's authorization had already ended: a notice never renews")

    def test_an_end_earlier_than_the_one_announced_is_not_stored(self, connected) -> None:
        """Rule (domain.shops.Shop.authorization_end_refused): notices arrive out of order and TikTok retries them
        for 15.5 h, so within one authorization the announced end only moves later; the last notice won, a late
        copy of an earlier one moved the end back (lows72)."""
        app, shop = connected
        now = time.time()
        # given TikTok announced an end 20 days ahead
        announced = int(now + 20 * 86400)
        push(app, envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(announced)}))
        wait_until(lambda: all_settled(app), what="the first notice processed")
        # when a notice announcing an end 10 days ahead arrives after it, then one of 25 days
        earlier, later = int(now + 10 * 86400), int(now + 25 * 86400)
        push(app, envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(earlier)}))
        wait_until(lambda: all_settled(app), what="the earlier end's notice processed")
        # then the end stays the one announced first, and the notice says why it changed nothing
        assert _stored_end(app, shop) == announced
        ignored = [e for e in stored_events(app) if e["type"] == 7][1]
        assert (ignored["outcome"], ignored["error_code"]) == ("IGNORED", None)
        assert ignored["error_message"].startswith("It announces an end before the one TikTok announced already")
        # and a later end is still stored
        push(app, envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(later)}))
        wait_until(lambda: all_settled(app), what="the later end's notice processed")
        assert _stored_end(app, shop) == later

    def test_an_event_of_an_unknown_shop_is_kept_and_acknowledged(self, connected) -> None:
        app, _ = connected
        response = push(app, envelope(1, "7999999999999999999", {"order_id": "1", "order_status": "UNPAID"}))
        assert (response.status_code, response.content) == (200, b"")
        (event,) = stored_events(app)
        assert (event["shop_id"], event["tiktok_shop_id"], event["outcome"], event["error_code"]) == (
            None, "7999999999999999999", "IGNORED", "UNKNOWN_SHOP",
        )  # fmt: skip

    def test_registration_failure_is_shown_on_the_shop_which_stays_active(self, connected) -> None:
        # TikTok's Event API refuses an http address (36009004): the test app's address is http on loopback.
        app, shop = connected
        query = (
            "query($id: ID!) { shop(id: $id) { status webhooks { registeredAt registrationError lastReceivedAt } } }"
        )

        def failed() -> dict[str, Any] | None:
            seen = app.graphql(query, {"id": shop["id"]}, "m1")["shop"]
            return seen if seen["webhooks"]["registrationError"] else None

        seen = wait_until(failed, what="the registration error on the shop")
        assert "36009004" in seen["webhooks"]["registrationError"] and "https" in seen["webhooks"]["registrationError"]
        assert (seen["status"], seen["webhooks"]["registeredAt"]) == ("ACTIVE", None)
        # and the shop still takes webhooks
        order_id = next(iter(sandbox_orders(app, shop["tiktokShopId"])))
        push(app, envelope(1, shop["tiktokShopId"], {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"}))
        wait_until(
            lambda: app.graphql(query, {"id": shop["id"]}, "m1")["shop"]["webhooks"]["lastReceivedAt"],
            what="lastReceivedAt",
        )


class TestLimitsAndFailures:
    @subject_not_the_database("the webhook body cap")
    def test_a_body_over_the_cap_is_refused(self, app_factory) -> None:
        app = app_factory(webhook_max_bytes=2048)
        shop = app.connect_shop("m1", "us-local", "US")
        big = envelope(15, shop["tiktokShopId"], {"product_id": "1", "changed_fields": ["x" * 3000]})
        assert (push(app, big).status_code, push(app, big).content) == (413, b"")
        # also when no Content-Length says so (chunked): the stream is cut at the cap
        raw = json.dumps(big).encode()
        chunks = (raw[i : i + 512] for i in range(0, len(raw), 512))
        response = app.http.post(
            f"{app.url}/webhooks/tiktok", content=chunks, headers={"Authorization": signature(app, raw)}
        )
        assert response.status_code == 413
        assert stored_events(app) == []
        # a body under the cap passes
        assert push(app, envelope(99, shop["tiktokShopId"], {"small": True})).status_code == 200

    @subject_not_the_database("the webhook body cap")
    def test_the_webhook_cap_alone_bounds_a_push_whatever_the_api_request_cap(self, app_factory) -> None:
        """A newcomer found it: a push declaring more than SHOPBRIDGE_MAX_REQUEST_BYTES (the GraphQL API's cap) was
        refused by the API's bound, with a GraphQL JSON body naming that cap, not the endpoint's empty 413 (README,
        TikTok webhooks), and the endpoint never counted nor logged it. The endpoint bounds its bodies itself."""
        app = app_factory(max_request_bytes=2048, webhook_max_bytes=8192)
        shop = app.connect_shop("m1", "us-local", "US")
        # a push over the API's cap, under the webhook cap: stored like any other
        within = envelope(15, shop["tiktokShopId"], {"product_id": "1", "changed_fields": ["x" * 4000]})
        assert push(app, within).status_code == 200
        # one over the webhook cap: the endpoint's own answer, 413 with an empty body
        over = envelope(15, shop["tiktokShopId"], {"product_id": "1", "changed_fields": ["x" * 9000]})
        assert (push(app, over).status_code, push(app, over).content) == (413, b"")
        assert len(stored_events(app)) == 1
        # the GraphQL API keeps its own cap
        response = app.http.post(
            f"{app.url}/graphql",
            content=json.dumps({"query": "{ supportedRegions }", "pad": "x" * 3000}),
            headers={"Authorization": f"Bearer {app.token('m1')}", "content-type": "application/json"},
        )
        assert response.status_code == 413 and response.json()["errors"][0]["extensions"]["code"] == (
            "REQUEST_TOO_LARGE"
        )

    @subject_not_the_database("the webhook body cap")
    def test_a_body_of_exactly_the_cap_passes_and_one_byte_more_is_refused(self, app_factory) -> None:
        """Rule (gql/webhooks/endpoint.py): only a body *over* SHOPBRIDGE_WEBHOOK_MAX_BYTES is 413, whether its
        Content-Length declares it or it arrives chunked; a body of exactly the cap is taken like any other."""
        cap = 2048
        app = app_factory(webhook_max_bytes=cap)

        def sized(size: int) -> bytes:
            # a signed envelope of an unknown shop (stored and acknowledged), padded to exactly `size` bytes
            body = envelope(99, "7999999999999999999", {"pad": ""})
            raw = json.dumps(body).encode()
            body["data"]["pad"] = "x" * (size - len(raw))
            raw = json.dumps(body).encode()
            assert len(raw) == size
            return raw

        def declared(raw: bytes) -> httpx.Response:
            return push(app, raw)

        def chunked(raw: bytes) -> httpx.Response:
            chunks = (raw[i : i + 512] for i in range(0, len(raw), 512))
            response = app.http.post(
                f"{app.url}/webhooks/tiktok", content=chunks, headers={"Authorization": signature(app, raw)}
            )
            assert "content-length" not in response.request.headers
            assert response.request.headers["transfer-encoding"] == "chunked"
            return response

        for send in (declared, chunked):
            at_cap, over_cap = send(sized(cap)), send(sized(cap + 1))
            assert (at_cap.status_code, over_cap.status_code) == (200, 413), send.__name__
        # the two bodies at the cap were stored, the two over it were not
        assert len(stored_events(app)) == 2

    def test_a_failed_write_answers_500_so_that_tiktok_retries(self, connected) -> None:
        app, shop = connected
        body = envelope(6, shop["tiktokShopId"], {"message": "deauthorized"})
        # given the inbox cannot be written (this test's own database: the table is moved away)
        app.execute("ALTER TABLE webhook_events RENAME TO webhook_events_away")
        response = push(app, body)
        assert (response.status_code, response.content) == (500, b"")
        assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
        # when the database is back, TikTok's retry of the same notification is stored and processed
        app.execute("ALTER TABLE webhook_events_away RENAME TO webhook_events")
        assert push(app, body).status_code == 200
        wait_until(lambda: app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "REVOKED", what="REVOKED")

    @POSTGRES_ONLY  # on SQLite the reads have an engine of their own (adapters/db/engine.py) already
    def test_a_push_is_stored_while_graphql_reads_hold_every_connection_of_their_pool(self, app) -> None:
        """soak53: WebSocket churn, 50 live sockets and an orders reader held all 15 connections of the API's pool
        (reads and writes shared it on PostgreSQL), and pushes waited behind them past TikTok's 3 s, or 30 s for the
        pool's timeout and a 500. The intake writes on a connection of its own (README, "Connections")."""
        loop = app.served.server.loop
        reads = app.asgi.state.services.db.read_engine
        capacity = reads.pool.size() + reads.pool._max_overflow  # SQLAlchemy's QueuePool: 5 + 10 by default

        async def check_out() -> list[Any]:
            return [await reads.connect() for _ in range(capacity)]

        async def give_back(connections: list[Any]) -> None:
            for connection in connections:
                await connection.close()

        # given every connection of the read pool checked out, as GraphQL reads and subscriptions mid-read hold them
        held = asyncio.run_coroutine_threadsafe(check_out(), loop).result(DEADLINE_SECONDS)
        try:
            assert reads.pool.checkedout() == capacity
            # when TikTok pushes (the client's wait is bounded: DEADLINE_SECONDS; before, the push waited for the
            # pool's 30 s timeout, then was answered 500)
            body = envelope(6, "7496000000000000053", {"message": "deauthorized"})
            response = push(app, body)
            # then it is stored and acknowledged while the reads still hold their connections
            assert (response.status_code, response.content) == (200, b"")
            assert [e["notification_key"] for e in stored_events(app)] == [f"tts:{body['tts_notification_id']}"]
            assert reads.pool.checkedout() == capacity
        finally:
            asyncio.run_coroutine_threadsafe(give_back(held), loop).result(DEADLINE_SECONDS)

    def test_a_burst_of_1000_events_from_50_senders_loses_none(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        order_ids = list(sandbox_orders(app, tiktok_id))[:20]
        bodies = [
            json.dumps(
                envelope(1, tiktok_id, {"order_id": order_ids[i % 20], "order_status": "AWAITING_SHIPMENT"})
            ).encode()
            for i in range(1000)
        ]

        # Each sender delivers as TikTok does (tiktok-api.md, webhooks): anything but a 200 -- another status, a
        # connection refused or reset -- is retried, at most TIKTOK_RETRIES times (TikTok's delays of minutes
        # compressed to none). A reset is part of HTTP/1.1 keep-alive: a server closes a connection idle for its
        # keep-alive time and a client that reuses it at that moment gets the reset (the test servers keep idle
        # connections longer than clients do, `TEST_SERVER_KEEP_ALIVE`, which makes it rare, but TikTok's senders
        # are not ours). Nothing acknowledged is lost that way; what matters is that every delivery is
        # acknowledged within TikTok's attempts and stored once.
        async def burst() -> tuple[list[int], list[str]]:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for raw in bodies:
                queue.put_nowait(raw)
            statuses: list[int] = []
            retried: list[str] = []  # why a delivery was attempted again, one entry per retry

            async def deliver(client: httpx.AsyncClient, raw: bytes) -> int:
                headers = {"Authorization": signature(app, raw)}
                for _ in range(TIKTOK_RETRIES):
                    try:
                        response = await client.post(f"{app.url}/webhooks/tiktok", content=raw, headers=headers)
                    except httpx.TransportError as exc:
                        retried.append(type(exc).__name__)
                        continue
                    if response.status_code == 200:
                        return 200
                    retried.append(str(response.status_code))
                response = await client.post(f"{app.url}/webhooks/tiktok", content=raw, headers=headers)
                return response.status_code

            # A client (and keep-alive connection) per sender: one client pooling all 50 connections checked each
            # idle one's socket on every request, and that client-side work, not Shopbridge, took most of the time.
            async def sender() -> None:
                async with httpx.AsyncClient(verify=tls_context(), timeout=DEADLINE_SECONDS) as client:
                    while not queue.empty():
                        statuses.append(await deliver(client, queue.get_nowait()))

            await asyncio.gather(*(sender() for _ in range(50)))
            return statuses, retried

        started = time.monotonic()
        statuses, retried = asyncio.run(burst())
        print(f"burst sent in {time.monotonic() - started:.1f}s; retries: {len(retried)} {sorted(set(retried))}")
        assert len(statuses) == 1000 and set(statuses) == {200}
        events = stored_events(app)
        assert len(events) == 1000
        assert {e["notification_key"] for e in events} == {
            "tts:" + json.loads(b)["tts_notification_id"] for b in bodies
        }
        wait_until(lambda: all_settled(app), what="every event processed")
        print(f"burst settled in {time.monotonic() - started:.1f}s")


class TestGraphQL:
    def test_events_are_the_merchants_own_and_replay_reprocesses(self, connected) -> None:
        app, shop = connected
        tiktok_id = shop["tiktokShopId"]
        order_id = next(iter(sandbox_orders(app, tiktok_id)))
        for _ in range(3):
            push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"}))
        wait_until(lambda: all_settled(app), what="the events processed")
        # paging, newest first
        first = app.graphql(EVENTS, {"id": shop["id"], "first": 2}, "m1")["webhookEvents"]
        assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
        rest = app.graphql(EVENTS, {"id": shop["id"], "first": 2, "after": first["pageInfo"]["endCursor"]}, "m1")
        nodes = [e["node"] for e in first["edges"] + rest["webhookEvents"]["edges"]]
        assert len({n["id"] for n in nodes}) == 3
        received = [n["receivedAt"] for n in nodes]
        assert received == sorted(received, reverse=True)
        # another merchant sees nothing of them and cannot replay them
        other = app.graphql(EVENTS, {"id": shop["id"], "first": 10}, "m2")["webhookEvents"]
        assert (other["totalCount"], other["edges"]) == (0, [])
        refused = app.graphql(REPLAY, {"id": nodes[0]["id"]}, "m2")["webhookEventReplay"]
        assert refused == {"event": None, "userErrors": [{"code": "NOT_FOUND", "field": ["id"]}]}
        assert app.graphql("query($id: ID!) { node(id: $id) { id } }", {"id": nodes[0]["id"]}, "m2")["node"] is None

        def processed(attempts: int) -> bool:
            node = app.graphql(
                "query($id: ID!) { node(id: $id) { ... on WebhookEvent { outcome attempts } } }",
                {"id": nodes[0]["id"]},
                "m1",
            )["node"]
            return bool(node["attempts"] == attempts and node["outcome"] == "PROCESSED")

        # the owner replays one: it is processed once more, and again at a replay after that run: the run cleared
        # the shop's "message waiting" mark as it began (a replay is sent coalesced: adapters/queue.py)
        for attempts in (2, 3):
            replayed = app.graphql(REPLAY, {"id": nodes[0]["id"]}, "m1")["webhookEventReplay"]
            assert replayed["userErrors"] == [] and replayed["event"]["id"] == nodes[0]["id"]
            wait_until(lambda: processed(attempts), what=f"replay {attempts - 1} processed")  # noqa: B023


@pytest.mark.redis
def test_production_mode_a_worker_process_applies_the_pushes(app_factory, redis_server) -> None:
    # given an API process on Redis with no worker inside it, and a `shopbridge worker` process beside it
    app = app_factory(broker_url=redis_server.url.rsplit("/", 1)[0] + "/2")
    worker = spawn_worker(settings_env(app.settings))
    try:
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        tiktok_id = shop["tiktokShopId"]
        order = app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{"status": "ON_HOLD"}]})
        order_id = order["orders"][0]["id"]
        # when TikTok pushes the new order to the API process
        assert push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "ON_HOLD"})).status_code == 200
        # then the worker process (queue `live`) brings it in
        seen = wait_until(lambda: orders_of(app, shop["id"]).get(order_id), what="the order")
        assert seen["status"] == "ON_HOLD"
    finally:
        stop_worker(worker)


@pytest.mark.redis
@subject_not_the_database("replays coalescing into a waiting broker message")
def test_replays_of_a_shop_coalesce_into_its_waiting_message(app_factory, own_redis) -> None:
    """Security review 44: each `webhookEventReplay` sent a broker message of its own, so a loop of replays filled the
    `live` queue. Now, as a shop's inventory pushes, a replay while a message of the shop waits unstarted is covered
    by that message, which reads every event PENDING when its run begins: nothing sent, nothing lost. (SQLite only:
    the coalescing is the broker's, not the database's. That a run clears the mark as it begins, so that a replay
    after it is sent: `TestGraphQL.test_events_are_the_merchants_own_and_replay_reprocesses`.)"""
    from dramatiq import Message

    from adapters.queue import BROKER_NAMESPACE
    from gql.ids import from_global_id
    from workers.broker import LIVE_QUEUE

    # given an API process on Redis with no worker (what it sends waits in Redis), and a shop's pushed order event,
    # its processing message waiting in the `live` queue
    app = app_factory(broker_url=own_redis.url, products=3, orders=3)
    shop = app.connect_shop("m1", "us-local", "US")
    shop_id = from_global_id(shop["id"])[1]
    redis = SyncRedis.from_url(own_redis.url)

    def waiting() -> list[tuple[object, ...]]:
        bodies = redis.hvals(f"{BROKER_NAMESPACE}:{LIVE_QUEUE}.msgs")
        decoded = [Message.decode(body) for body in bodies]
        return [tuple(m.args) for m in decoded if m.actor_name == "process_webhook_events"]

    try:
        order_id = next(iter(sandbox_orders(app, shop["tiktokShopId"])))
        pushed = envelope(1, shop["tiktokShopId"], {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"})
        assert push(app, pushed).status_code == 200
        assert wait_until(waiting, what="the event's message") == [(shop_id,)]
        (event,) = app.graphql(EVENTS, {"id": shop["id"], "first": 5}, "m1")["webhookEvents"]["edges"]
        # when the merchant replays it again and again
        for _ in range(3):
            replayed = app.graphql(REPLAY, {"id": event["node"]["id"]}, "m1")["webhookEventReplay"]
            assert (replayed["userErrors"], replayed["event"]["outcome"]) == ([], "PENDING")
        # then the shop still has one message waiting, which will process the event
        assert waiting() == [(shop_id,)]
    finally:
        redis.close()


SALE_ORDER = """query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId status } } } } }"""


def test_a_sale_at_tiktok_arrives_by_webhook_without_any_sync(app_factory) -> None:
    """The whole loop, as in production: authorization registers the address with TikTok's Event API; a buyer's
    order at TikTok (the sandbox) is pushed, signed, to /webhooks/tiktok; the order shows in GraphQL."""
    app = app_factory(webhooks=True)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    query = "query($id: ID!) { shop(id: $id) { webhooks { registeredAt registrationError } } }"
    registered = wait_until(
        lambda: (w := app.graphql(query, {"id": shop["id"]}, "m1")["shop"]["webhooks"])["registeredAt"] and w,
        what="the webhook registration",
    )
    assert registered["registrationError"] is None
    products = app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]
    sku = next(  # a SKU in stock at TikTok, of a product buyers can order
        s
        for p in products
        if p["status"] == "ACTIVATE"
        for s in p["skus"]
        if sum(i["quantity"] for i in s.get("inventory", [])) > 0
    )
    sale = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": sku["id"], "quantity": 1})

    def arrived() -> dict[str, Any] | None:
        edges = app.graphql(SALE_ORDER, {"id": shop["id"]}, "m1")["shop"]["orders"]["edges"]
        return next((e["node"] for e in edges if e["node"]["tiktokOrderId"] == sale["order_id"]), None)

    order = wait_until(arrived, what="the sold order in shop.orders")
    assert order["status"] in ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")
    (manual,) = app.rows("SELECT count(*) AS n FROM sync_tasks WHERE trigger <> 'AUTHORIZATION'")
    assert manual["n"] == 0  # no syncStart and no poll (the scheduler is off in tests): the webhook brought it
    deliveries = app.sandbox.control("GET", f"/webhooks/log?shop_id={shop['tiktokShopId']}&type=1")["deliveries"]
    assert [d["status_code"] for d in deliveries] == [200], deliveries  # pushed once, acknowledged


def _in_stock_skus(app: ShopbridgeServer, tiktok_shop_id: str) -> list[str]:
    products = app.sandbox.control("GET", f"/shops/{tiktok_shop_id}/products")["products"]
    return [
        s["id"]
        for p in products
        if p["status"] == "ACTIVATE"
        for s in p["skus"]
        if sum(i["quantity"] for i in s.get("inventory", [])) > 0
    ]


def test_the_webhook_registration_goes_ahead_of_the_imports_queued_with_it(app_factory) -> None:
    """A worker busy with the first import runs the shop's webhook registration next, before the second import
    queued before it (workers/actors.py, WEBHOOK_REGISTRATION_PRIORITY): TikTok pushes the sales made during the
    import instead of leaving them to a poll."""
    # given a worker with one thread, none kept from imports: the shop's two imports and its registration queue for it
    app = app_factory(webhooks=True, embedded_worker_threads=1, worker_reserved_threads=0, products=20, orders=50)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    query = """query($id: ID!) { shop(id: $id) { webhooks { registeredAt registrationError } } }"""
    webhooks = app.graphql(query, {"id": shop["id"]}, "m1")["shop"]["webhooks"]
    tasks = app.rows("SELECT kind, started_at FROM sync_tasks")
    # then the registration ended before the second of the two imports started
    assert webhooks["registrationError"] is None and len(tasks) == 2, (webhooks, tasks)
    second_start = max(_utc(task["started_at"]) for task in tasks)
    assert datetime.fromisoformat(webhooks["registeredAt"]) < second_start, (webhooks, tasks)


@subject_not_the_database("an order of runs in one worker")
def test_a_new_shops_imports_wait_for_its_webhook_registration_on_the_default_pool(app_factory) -> None:
    """With free threads the imports used to start beside the registration and outrun it: the registration shares
    the worker's event loop, the database and the shop's TikTok budget with them, and ended after a 2,000-product
    import (try-out crash52: +4.4 s, +6.7 s at load 4; not yet at +11.4 s with 3,100 orders stored). A new shop's
    imports wait for its registration's outcome (`webhook_registration.import_waits_for_registration`)."""
    # given the default embedded pool, and TikTok holding the Event API's registration calls
    app = app_factory(webhooks=True, products=20, orders=50, tiktok_timeout_seconds=DEADLINE_SECONDS)
    app.sandbox.hold(EVENT_WEBHOOKS)
    try:
        # when a shop connects, and its registration is under way (its first PUT is held at TikTok)
        shop = app.connect_shop("m1", "us-local", "US")
        app.sandbox.wait_held(1)
    finally:
        app.sandbox.hold()  # TikTok answers again
    app.wait_for_webhook_registration(shop)
    app.wait_for_idle_sync()
    # then neither import began before the registration was recorded
    query = """query($id: ID!) { shop(id: $id) { webhooks { registeredAt registrationError } } }"""
    webhooks = app.graphql(query, {"id": shop["id"]}, "m1")["shop"]["webhooks"]
    tasks = app.rows("SELECT kind, status, started_at FROM sync_tasks")
    assert webhooks["registrationError"] is None and len(tasks) == 2, (webhooks, tasks)
    assert {task["status"] for task in tasks} == {"SUCCEEDED"}, tasks
    first_start = min(_utc(task["started_at"]) for task in tasks)
    assert datetime.fromisoformat(webhooks["registeredAt"]) < first_start, (webhooks, tasks)


def _utc(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite returns text, PostgreSQL a datetime)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def test_the_sandboxs_sender_duplicating_and_reordering_30_percent_still_gives_exactly_tiktoks_orders(
    app_factory,
) -> None:
    """TikTok's own faults, made by the sandbox's sender (not by the test): 30 % of pushes arrive twice and 30 % are
    held back behind the next one; the orders Shopbridge stores are still exactly TikTok's."""
    app = app_factory(webhooks=True)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    tiktok_id = shop["tiktokShopId"]
    app.sandbox.control("POST", "/webhooks", {"duplicate": 0.3, "reorder": 0.3})
    # when buyers place sales, and TikTok moves them on (each change pushes a webhook)
    sales = [
        app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})["order_id"]
        for sku in _in_stock_skus(app, tiktok_id)[:8]
    ]
    moves = {0: ["ship", "deliver"], 1: ["cancel"], 2: ["ship"], 3: ["cancel"], 4: ["ship", "deliver"]}
    for index, steps in moves.items():
        for step in steps:
            app.sandbox.control("POST", f"/orders/{sales[index]}/status", {"status": step})

    # then the sender did duplicate some pushes, and every push it sent was acknowledged
    def delivered() -> list[dict[str, Any]] | None:
        log = app.sandbox.control("GET", f"/webhooks/log?shop_id={tiktok_id}&type=1")["deliveries"]
        sent = {d["tts_notification_id"] for d in log}
        return log if len(sent) == len(sales) + sum(map(len, moves.values())) else None

    log = wait_until(delivered, what="every push sent")
    assert len(log) > len({d["tts_notification_id"] for d in log}), "no push was duplicated"
    assert {d["status_code"] for d in log} == {200}, [d for d in log if d["status_code"] != 200]
    # and each notification is stored once, processed, and the stored orders are exactly TikTok's
    wait_until(lambda: all_settled(app), what="every event processed")
    assert {e["outcome"] for e in stored_events(app)} == {"PROCESSED"}
    truth = sandbox_orders(app, tiktok_id)

    def matches() -> bool:
        stored = orders_of(app, shop["id"])
        return all(o in stored and stored[o]["status"] == truth[o]["status"] for o in sales)

    wait_until(matches, what="the stored orders to equal TikTok's")
    stored = orders_of(app, shop["id"])
    for order_id in sales:
        assert datetime.fromisoformat(stored[order_id]["updatedAt"]) == datetime.fromtimestamp(
            truth[order_id]["update_time"], UTC
        )


def test_with_every_webhook_dropped_the_poll_catches_up(app_factory) -> None:
    """The sandbox's sender drops every push (`drop: 1`); the polling backstop still brings the sale in."""
    app = app_factory(
        webhooks=True, scheduler_enabled=True, poll_interval_seconds=1.0, poll_settle_seconds=0.0, scheduler_tick=0.2
    )
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    tiktok_id = shop["tiktokShopId"]
    app.sandbox.control("POST", "/webhooks", {"drop": 1})
    sku = _in_stock_skus(app, tiktok_id)[0]
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})["order_id"]
    order = wait_until(lambda: orders_of(app, shop["id"]).get(sale), what="the sold order")
    assert order["status"] in ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")
    # the push was dropped: no webhook event brought it, a scheduled poll did
    log = app.sandbox.control("GET", f"/webhooks/log?shop_id={tiktok_id}&type=1")["deliveries"]
    assert [d["error"] for d in log] == ["dropped"]
    assert stored_events(app) == []
    polls = app.rows("SELECT created FROM sync_tasks WHERE trigger = 'SCHEDULED' AND kind = 'ORDERS' AND created > 0")
    assert [p["created"] for p in polls] == [1]
