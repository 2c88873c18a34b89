"""A restart under another public URL registers the shops' webhooks again, over the real sandbox, on SQLite and
PostgreSQL.

A newcomer found it: shops connected under `make run PORT=8123`, then `make run PORT=8124` on the same data, and the
sandbox went on pushing to port 8123 (ConnectError in its webhook log) while `Shop.webhooks` looked registered;
orders arrived only with the next poll. Production has the same story when SHOPBRIDGE_PUBLIC_URL changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from tests.fixtures.app import WEBHOOK_ANSWER_SECONDS, MutableClock, ShopbridgeServer, build_settings
from tests.fixtures.processes import free_port
from tests.fixtures.sandbox import SandboxServer, start_sandbox
from tests.fixtures.waiting import wait_until

WEBHOOKS = "query($id: ID!) { shop(id: $id) { webhooks { registeredAt registeredAddress registrationError } } }"
ORDERS = "query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId status } } } } }"


def registered_addresses(sandbox: SandboxServer, tiktok_shop_id: str) -> set[str]:
    """Every address the sandbox's Event API holds for the shop (one per event type)."""
    return {entry["address"] for entry in sandbox.world.registrations.listing(tiktok_shop_id)}


def test_a_restart_under_another_public_url_moves_the_webhooks_there(database_url: str, tmp_path: Path) -> None:
    first_port, second_port = free_port(), free_port()
    sandbox = start_sandbox(
        SandboxConfig(
            products=10,
            orders=10,
            redirect_url=f"http://127.0.0.1:{first_port}/oauth/tiktok/callback",
            rate_limit=None,
            allow_insecure_webhook_urls=True,
            webhook_timeout_seconds=WEBHOOK_ANSWER_SECONDS,
        )
    )
    first_settings = build_settings(database_url, sandbox, tmp_path / "data", first_port)
    # the same data (database, keys), served on another port: SHOPBRIDGE_PUBLIC_URL follows it as `make run` does
    second_settings = first_settings.with_overrides(public_url=f"http://127.0.0.1:{second_port}")
    first_address = f"http://127.0.0.1:{first_port}/webhooks/tiktok"
    second_address = f"http://127.0.0.1:{second_port}/webhooks/tiktok"
    servers: list[ShopbridgeServer] = []
    try:
        # given a shop connected, its webhooks registered with the first process's address
        first = ShopbridgeServer(first_settings, sandbox, MutableClock(), first_port).start()
        servers.append(first)
        shop = first.connect_shop("m1", "us-local", "US")
        first.wait_for_idle_sync()
        first.wait_for_webhook_registration(shop)
        tiktok_id = shop["tiktokShopId"]
        assert registered_addresses(sandbox, tiktok_id) == {first_address}
        webhooks = first.graphql(WEBHOOKS, {"id": shop["id"]}, "m1")["shop"]["webhooks"]
        assert webhooks["registeredAddress"] == first_address
        first.stop()

        # when Shopbridge starts again on the same data under another public URL
        second = ShopbridgeServer(second_settings, sandbox, MutableClock(), second_port).start()
        servers.append(second)

        # then it registers its own address with TikTok, and the shop says so
        wait_until(lambda: registered_addresses(sandbox, tiktok_id) == {second_address}, what="the new registration")
        shown = wait_until(
            lambda: (
                (w := second.graphql(WEBHOOKS, {"id": shop["id"]}, "m1")["shop"]["webhooks"])["registeredAddress"]
                == second_address
                and w
            ),
            what="the new address on the shop",
        )
        assert shown["registrationError"] is None
        # and a sale at TikTok is pushed to the new address and arrives without any poll (the scheduler is off)
        sku = next(
            s["id"]
            for p in sandbox.control("GET", f"/shops/{tiktok_id}/products")["products"]
            if p["status"] == "ACTIVATE"
            for s in p["skus"]
            if not s.get("combined_skus") and sum(i["quantity"] for i in s.get("inventory", [])) > 0
        )
        sale = sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})

        def arrived() -> dict[str, Any] | None:
            edges = second.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["orders"]["edges"]
            return next((e["node"] for e in edges if e["node"]["tiktokOrderId"] == sale["order_id"]), None)

        wait_until(arrived, what="the sold order, pushed to the new address")
        deliveries = sandbox.control("GET", f"/webhooks/log?shop_id={tiktok_id}&type=1")["deliveries"]
        assert deliveries and all((d["url"], d["status_code"]) == (second_address, 200) for d in deliveries), deliveries
    finally:
        for server in servers:
            if server.served.thread.is_alive():
                server.stop()
        sandbox.stop()
