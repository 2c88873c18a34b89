"""Ids over real HTTP: the sandbox never issues an id twice, as TikTok never does: not after a reseed (to more
orders, or the same seed), a reset (its saved state deleted, as `make run RESET_SANDBOX=1` does) or a restart
(newcomer trial: a cancelled sale's id came back as a generated order after a reseed, and a later 2-unit sale
overwrote the order Shopbridge had stored under that id)."""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.persistence import FILE_NAME as STATE
from tests.fixtures.sandbox import SMALL_DATA, SandboxServer, start_sandbox


def shop_id(server: SandboxServer, seller: str = "us-local") -> str:
    return server.world.sellers[seller].shops[0].id


def order_ids(server: SandboxServer) -> set[str]:
    return {order["id"] for order in server.control("GET", f"shops/{shop_id(server)}/orders")["orders"]}


def catalog_ids(server: SandboxServer) -> tuple[set[str], set[str]]:
    """(product ids, SKU ids) of the shop."""
    products = server.control("GET", f"shops/{shop_id(server)}/products")["products"]
    return {p["id"] for p in products}, {s["id"] for p in products for s in p["skus"]}


def sell(server: SandboxServer, quantity: int) -> str:
    products = server.control("GET", f"shops/{shop_id(server)}/products")["products"]
    sku = next(
        sku
        for product in products
        if product["status"] == "ACTIVATE"
        for sku in product["skus"]
        if not sku.get("combined_skus") and sum(stock["quantity"] for stock in sku["inventory"]) >= quantity
    )
    answer = server.http.post(
        f"{server.url}/_sandbox/shops/{shop_id(server)}/sales", json={"sku_id": sku["id"], "quantity": quantity}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["order_id"])


def create_product(server: SandboxServer) -> tuple[str, list[str]]:
    body = {"title": "Made in Seller Center", "skus": [{"quantity": 5}, {"quantity": 6}]}
    created = server.control("POST", f"shops/{shop_id(server)}/products", body)
    return created["product_id"], created["sku_ids"]


def test_a_reseed_to_more_orders_never_reissues_a_sales_id(sandbox_factory) -> None:
    # given sales after the generated orders, one of them cancelled
    server = sandbox_factory(SandboxConfig(**SMALL_DATA))
    cancelled = sell(server, 1)
    status = server.http.post(f"{server.url}/_sandbox/orders/{cancelled}/status", json={"status": "cancel"})
    assert status.status_code == 200, status.text
    earlier = order_ids(server) | {sell(server, 1)}
    # when the sandbox is reseeded with more orders per shop (same seed), and sells again
    server.control("POST", "reseed", {"orders": SMALL_DATA["orders"] + 20})
    regenerated = order_ids(server)
    later_sale = sell(server, 2)
    # then neither a generated order nor a later sale carries an id issued before
    assert len(regenerated) == SMALL_DATA["orders"] + 20
    assert cancelled not in regenerated and regenerated.isdisjoint(earlier)
    assert later_sale not in earlier | regenerated
    # and orders added through the control surface are new too
    added = server.control("POST", f"shops/{shop_id(server)}/orders", {"orders": [{}]})["orders"][0]["id"]
    assert added not in earlier | regenerated | {later_sale}


def test_a_reseed_never_reissues_product_or_sku_ids(sandbox_factory) -> None:
    # given the generated catalog and a product a seller created in Seller Center
    server = sandbox_factory(SandboxConfig(**SMALL_DATA))
    created_product, created_skus = create_product(server)
    products, skus = catalog_ids(server)
    # when the sandbox is reseeded with the same seed (the same data) and the seller creates another product
    server.control("POST", "reseed", {"seed": 1})
    again_products, again_skus = catalog_ids(server)
    later_product, later_skus = create_product(server)
    # then every product and SKU id is new
    assert created_product in products and set(created_skus) <= skus
    assert len(again_products) == len(products) - 1 and again_products.isdisjoint(products)
    assert again_skus.isdisjoint(skus)
    assert later_product not in products | again_products
    assert set(later_skus).isdisjoint(skus | again_skus)


def test_a_reset_or_a_restart_never_reissues_an_id(tmp_path) -> None:
    config = SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path))
    # given a sandbox with a state directory, a sale and a created product
    first = start_sandbox(config)
    try:
        sale = sell(first, 2)
        created_product, _ = create_product(first)
        issued_orders, (issued_products, issued_skus) = order_ids(first), catalog_ids(first)
    finally:
        first.stop()
    # when it restarts and sells again
    second = start_sandbox(config)
    try:
        assert order_ids(second) == issued_orders  # the saved state is served again
        after_restart = sell(second, 1)
        issued_orders.add(after_restart)
    finally:
        second.stop()
    # and when it is reset (its saved state deleted, as `make run RESET_SANDBOX=1` does) and starts again
    (tmp_path / STATE).unlink()
    third = start_sandbox(config)
    try:
        fresh_orders, (fresh_products, fresh_skus) = order_ids(third), catalog_ids(third)
        after_reset = sell(third, 1)
    finally:
        third.stop()
    # then the restart's sale, the regenerated data and the reset's sale all carry ids never issued before
    assert sale in issued_orders and after_restart != sale and created_product in issued_products
    assert len(fresh_orders) == SMALL_DATA["orders"] and fresh_orders.isdisjoint(issued_orders)
    assert fresh_products.isdisjoint(issued_products) and fresh_skus.isdisjoint(issued_skus)
    assert after_reset not in issued_orders | fresh_orders
    assert (tmp_path / "sandbox-ids.json").exists()  # what keeps it so: the id ledger (sandbox/ids.py) stays


def test_a_crash_that_loses_the_last_save_never_reissues_an_id(tmp_path) -> None:
    config = SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path))
    # given a sandbox whose state was saved after one sale, then sold again before it crashed unsaved
    server = start_sandbox(config)
    try:
        sell(server, 1)
        server.world.save()
        saved_before_the_crash = (tmp_path / STATE).read_bytes()
        lost_sale = sell(server, 1)
    finally:
        server.stop()
    (tmp_path / STATE).write_bytes(saved_before_the_crash)  # the stop's save is lost with the crash
    # when it starts again from the older state and sells
    again = start_sandbox(config)
    try:
        assert lost_sale not in order_ids(again)
        # then the new sale does not take the lost sale's id (Shopbridge may have stored it)
        assert sell(again, 1) != lost_sale
    finally:
        again.stop()
