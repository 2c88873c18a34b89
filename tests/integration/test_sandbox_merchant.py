"""Issue 8's sandbox over real HTTP: local shops sharing seller SKUs, more local sellers, warehouses, the oracle."""

from __future__ import annotations

from collections import Counter

from tests.fixtures.sandbox import connect

WAREHOUSES = "/logistics/202309/warehouses"


def seller_skus(server, seller: str) -> list[str]:
    shop_id = server.world.sellers[seller].shops[0].id
    products = server.control("GET", f"shops/{shop_id}/products")["products"]
    return [sku["seller_sku"] for product in products for sku in product["skus"]]


def test_local_shops_share_most_seller_skus_with_a_few_quirks(sandbox) -> None:
    us, us2 = seller_skus(sandbox, "us-local"), seller_skus(sandbox, "us-local-2")
    shared = set(us) & set(us2) - {""}
    assert len(shared) >= 0.7 * len(set(us))
    # Cross-border shops keep their own.
    assert not set(seller_skus(sandbox, "cross-border")) & set(us)
    # Across all local shops: some SKUs without a seller SKU, some repeated within a shop.
    local = ("us-local", "us-local-2", "uk-local", "my-local", "sg-local")
    everything = [seller_skus(sandbox, key) for key in local]
    assert any("" in skus for skus in everything)
    assert any(count > 1 for skus in everything for sku, count in Counter(skus).items() if sku)
    # A SKU in two warehouses.
    shop_id = sandbox.world.sellers["us-local"].shops[0].id
    products = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
    assert any(len(sku["inventory"]) == 2 for product in products for sku in product["skus"])


def test_a_new_local_seller_gets_its_own_shop_with_shared_skus(sandbox) -> None:
    created = sandbox.control("POST", "sellers", {"name": "Third Shop Co", "region": "US"})
    assert created["key"] == "third-shop-co" and created["name"] == "Third Shop Co"
    (shop,) = created["shops"]
    assert shop["region"] == "US" and shop["cipher"].startswith("GCP_")
    again = sandbox.control("POST", "sellers", {"name": "Third Shop Co", "region": "GB"})
    assert again["key"] == "third-shop-co-2" and again["shops"][0]["id"] != shop["id"]
    listed = {seller["key"] for seller in sandbox.control("GET", "shops")["sellers"]}
    assert {"third-shop-co", "third-shop-co-2"} <= listed
    # It consents and calls like any seller, and sells the merchant's SKUs.
    caller = connect(sandbox, "third-shop-co")
    assert caller.call("GET", "/authorization/202309/shops", with_cipher=False)["data"]["shops"] == [shop]
    assert len(set(seller_skus(sandbox, "third-shop-co")) & set(seller_skus(sandbox, "us-local"))) > 10
    for bad in ({"name": "", "region": "US"}, {"name": "X", "region": "FR"}, {"region": "US"}):
        assert sandbox.http.post(f"{sandbox.url}/_sandbox/sellers", json=bad).status_code == 400


def test_warehouses(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    answer = caller.call("GET", WAREHOUSES)
    assert answer["code"] == 0
    warehouses = answer["data"]["warehouses"]
    shop_id = sandbox.world.sellers["us-local"].shops[0].id
    sales = [w["id"] for w in warehouses if w["type"] == "SALES_WAREHOUSE"]
    assert sales == sandbox.control("GET", f"shops/{shop_id}/products")["warehouse_ids"]
    assert [w["is_default"] for w in warehouses].count(True) == 1 and warehouses[0]["is_default"]
    assert {w["type"] for w in warehouses} == {"SALES_WAREHOUSE", "RETURN_WAREHOUSE"}
    assert all(w["effect_status"] == "ENABLED" and w["address"]["region"] == "US" for w in warehouses)
    assert caller.call("GET", WAREHOUSES, with_cipher=False)["code"] == 106013


def sellable(server, seller: str) -> dict[str, int]:
    """Seller SKU -> available units, for SKUs appearing once in the shop on a live product."""
    shop_id = server.world.sellers[seller].shops[0].id
    products = server.control("GET", f"shops/{shop_id}/products")["products"]
    skus = [(p["status"], s) for p in products for s in p["skus"]]
    counts = Counter(s["seller_sku"] for _, s in skus)
    return {
        s["seller_sku"]: sum(stock["quantity"] for stock in s["inventory"])
        for status, s in skus
        if status == "ACTIVATE" and s["seller_sku"] and counts[s["seller_sku"]] == 1
    }


def sell(server, seller: str, seller_sku: str, quantity: int) -> str:
    shop_id = server.world.sellers[seller].shops[0].id
    body = {"seller_sku": seller_sku, "quantity": quantity}
    return server.control("POST", f"shops/{shop_id}/sales", body)["order_id"]


def test_the_oracle_counts_units_sold_across_shops_against_the_physical_stock(sandbox) -> None:
    us, us2 = sellable(sandbox, "us-local"), sellable(sandbox, "us-local-2")
    seller_sku = next(sku for sku in us if us[sku] >= 2 and us2.get(sku, 0) >= 1)
    assert sandbox.control("POST", "oracle", {"stock": {seller_sku: 2}})["oversold_total"] == 0
    first = sell(sandbox, "us-local", seller_sku, 2)
    sell(sandbox, "us-local-2", seller_sku, 1)
    report = sandbox.control("GET", "oracle")
    assert {"seller_sku": seller_sku, "sold": 3, "physical_stock": 2, "oversold": 1} in report["skus"]
    assert report["oversold_total"] == 1
    sandbox.control("POST", f"orders/{first}/status", {"status": "cancel"})
    report = sandbox.control("GET", "oracle")
    assert {"seller_sku": seller_sku, "sold": 1, "physical_stock": 2, "oversold": 0} in report["skus"]
    assert sandbox.http.post(f"{sandbox.url}/_sandbox/oracle", json={"stock": {"x": -1}}).status_code == 400


def test_the_oracle_counts_a_bundles_sale_as_its_components_units(sandbox) -> None:
    # given the virtual bundle of a local shop (2 units of a component per bundle), on sale, and the component's
    # physical stock told to Shopbridge as 3
    shop_id = sandbox.world.sellers["us-local"].shops[0].id
    products = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
    bundle = next(p for p in products if "COMBINED_PRODUCT" in p.get("product_types", []))
    sandbox.control("POST", f"products/{bundle['id']}", {"status": "ACTIVATE"})
    sku = bundle["skus"][0]
    (part,) = sku["combined_skus"]
    sandbox.control("POST", "oracle", {"stock": {part["seller_sku"]: 3}})
    # when a buyer takes 2 bundles: 4 units of the component leave the shelf
    order_id = sandbox.control("POST", f"shops/{shop_id}/sales", {"sku_id": sku["id"], "quantity": 2})["order_id"]
    # then the oracle counts them on the component's seller SKU (the bundle has no stock of its own)
    report = sandbox.control("GET", "oracle")
    sold = {entry["seller_sku"]: entry["sold"] for entry in report["skus"]}
    assert sold[part["seller_sku"]] == 2 * part["sku_count"]
    assert sold.get(sku["seller_sku"], 0) == 0
    assert report["oversold_total"] == 2 * part["sku_count"] - 3
    # and a cancellation gives them back
    sandbox.control("POST", f"orders/{order_id}/status", {"status": "cancel"})
    assert sandbox.control("GET", "oracle")["oversold_total"] == 0
