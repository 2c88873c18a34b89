"""Inventory Search and Update Inventory over real HTTP: real stock changes and per-SKU failures under `code: 0`."""

from __future__ import annotations

import httpx
import pytest

from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SMALL_DATA, connect
from tests.fixtures.waiting import wait_until

SEARCH = "/product/202309/inventory/search"


def update_path(product_id: str) -> str:
    return f"/product/202309/products/{product_id}/inventory/update"


def multi_warehouse_product(sandbox, seller: str = "us-local") -> dict:
    products = sandbox.control("GET", f"shops/{sandbox.world.sellers[seller].shops[0].id}/products")["products"]
    return next(
        p for p in products
        if p["status"] == "ACTIVATE" and len(p["skus"]) >= 2 and len(p["skus"][0]["inventory"]) == 2
    )  # fmt: skip


def test_inventory_search_by_products_or_by_skus(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    by_product = caller.call("POST", SEARCH, body={"product_ids": [product["id"]]})
    assert by_product["code"] == 0
    [entry] = by_product["data"]["inventory"]
    assert entry["product_id"] == product["id"] and len(entry["skus"]) == len(product["skus"])
    sku = entry["skus"][0]
    assert sku["total_available_quantity"] == sum(w["available_quantity"] for w in sku["warehouse_inventory"])
    assert [w["available_quantity"] for w in sku["warehouse_inventory"]] == [
        i["quantity"] for i in product["skus"][0]["inventory"]
    ]
    # sku_ids win over product_ids
    by_sku = caller.call("POST", SEARCH, body={"product_ids": ["1"], "sku_ids": [product["skus"][1]["id"]]})
    assert [s["id"] for s in by_sku["data"]["inventory"][0]["skus"]] == [product["skus"][1]["id"]]
    assert caller.call("POST", SEARCH, body={})["code"] == 36009004
    assert caller.call("POST", SEARCH, body={"product_ids": "x"})["code"] == 36009004


def test_an_update_really_changes_stock(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    sku = product["skus"][0]
    rows = [
        {"warehouse_id": w["warehouse_id"], "quantity": q} for w, q in zip(sku["inventory"], (0, 99_999), strict=True)
    ]
    envelope = caller.call("POST", update_path(product["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]})
    assert envelope["code"] == 0 and envelope["data"] == {}
    stock = caller.call("POST", SEARCH, body={"sku_ids": [sku["id"]]})["data"]["inventory"][0]["skus"][0]
    assert [w["available_quantity"] for w in stock["warehouse_inventory"]] == [0, 99_999]
    after = multi_warehouse_product(sandbox)
    assert [i["quantity"] for i in after["skus"][0]["inventory"]] == [0, 99_999]


def test_a_sku_whose_global_product_edits_its_stock_is_refused_until_that_ends(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    sku = product["skus"][0]
    rows = [{"warehouse_id": w["warehouse_id"], "quantity": 7} for w in sku["inventory"]]
    body = {"skus": [{"id": sku["id"], "inventory": rows}]}
    sandbox.control("POST", f"skus/{sku['id']}/global-stock", {"global": True})
    envelope = caller.call("POST", update_path(product["id"]), body=body)
    assert [(e["code"], e["detail"]["sku_id"]) for e in envelope["data"]["errors"]] == [(12052141, sku["id"])]
    assert multi_warehouse_product(sandbox)["skus"][0]["inventory"] == sku["inventory"]  # untouched
    sandbox.control("POST", f"skus/{sku['id']}/global-stock", {"global": False})
    assert caller.call("POST", update_path(product["id"]), body=body)["data"] == {}


def test_per_sku_failures_come_back_under_code_0(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    good, bad = product["skus"][0], product["skus"][1]
    warehouse = bad["inventory"][0]["warehouse_id"]
    body = {
        "skus": [
            {
                "id": good["id"],
                "inventory": [{"warehouse_id": w["warehouse_id"], "quantity": 7} for w in good["inventory"]],
            },
            {
                "id": bad["id"],
                "inventory": [
                    {"warehouse_id": "7060000000000000000", "quantity": 1},
                    {"warehouse_id": warehouse, "quantity": 100_000},
                ],
            },
            {"id": "1730000000000000000", "inventory": [{"warehouse_id": warehouse, "quantity": 1}]},
        ]
    }
    envelope = caller.call("POST", update_path(product["id"]), body=body)
    assert envelope["code"] == 0
    errors = envelope["data"]["errors"]
    assert errors[0]["code"] == 12052990 and errors[0]["detail"]["sku_id"] == bad["id"]
    assert [e["code"] for e in errors[0]["detail"]["extra_errors"]] == [12052097, 12052055]
    assert errors[1]["code"] == 12052556 and errors[1]["detail"]["sku_id"] == "1730000000000000000"
    stock = caller.call("POST", SEARCH, body={"product_ids": [product["id"]]})["data"]["inventory"][0]["skus"]
    assert stock[0]["warehouse_inventory"][0]["available_quantity"] == 7  # the good SKU was applied
    assert (
        stock[1]["warehouse_inventory"][0]["available_quantity"] == bad["inventory"][0]["quantity"]
    )  # the bad one not


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 36009004),
        ({"skus": []}, 36009004),
        ({"skus": [{"id": "1", "inventory": [{"quantity": "5"}]}]}, 36009004),
        ({"skus": [{"id": 1, "inventory": [{"quantity": 5}]}]}, 36009004),
    ],
)
def test_malformed_updates_are_refused(sandbox, tiktok, body: dict, code: int) -> None:
    product = multi_warehouse_product(sandbox)
    assert tiktok("us-local").call("POST", update_path(product["id"]), body=body)["code"] == code


def test_updating_an_unknown_product_is_refused(tiktok) -> None:
    envelope = tiktok("us-local").call("POST", update_path("1720000000000000000"), body={"skus": []})
    assert envelope["code"] == 12052048


def test_updating_a_deleted_product_is_refused_as_a_product_not_in_the_shop(sandbox, tiktok) -> None:
    """Rule (live-sync.md §1.1: Update Inventory wants the product `ACTIVATE`; tiktok-api.md §7: TikTok serves no
    DELETED product, Get Product answers 12052048): a product the seller deleted takes no stock any more, though
    Search Products still lists it with its SKUs. Before, the sandbox took the update and changed its stock."""
    products = sandbox.control("GET", f"shops/{sandbox.world.sellers['us-local'].shops[0].id}/products")["products"]
    deleted = next(p for p in products if p["status"] == "DELETED" and p["skus"])
    sku = deleted["skus"][0]
    rows = [{"warehouse_id": w["warehouse_id"], "quantity": w["quantity"] + 1} for w in sku["inventory"]]
    envelope = tiktok("us-local").call(
        "POST", update_path(deleted["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]}
    )
    assert envelope["code"] == 12052048
    after = sandbox.control("GET", f"shops/{sandbox.world.sellers['us-local'].shops[0].id}/products")["products"]
    assert next(p for p in after if p["id"] == deleted["id"])["skus"][0]["inventory"] == sku["inventory"]


@pytest.mark.parametrize(
    "status", ["DRAFT", "PENDING", "FAILED", "SELLER_DEACTIVATED", "PLATFORM_DEACTIVATED", "FREEZE"]
)
def test_updating_a_product_not_on_sale_is_refused_as_its_status_does_not_allow_it(sandbox, tiktok, status) -> None:
    """Rule (live-sync.md §1.1: Update Inventory wants the product `ACTIVATE`; its error list names `12052901`
    "product status does not allow it", live-sync.md §1.1's table): a product in review, a draft, one the seller or
    TikTok deactivated, or frozen takes no stock; nothing changes. Before, the sandbox took the update."""
    shop_id = sandbox.world.sellers["us-local"].shops[0].id
    product = multi_warehouse_product(sandbox)
    sandbox.control("POST", f"products/{product['id']}", {"status": status})
    sku = product["skus"][0]
    rows = [{"warehouse_id": w["warehouse_id"], "quantity": w["quantity"] + 1} for w in sku["inventory"]]
    envelope = tiktok("us-local").call(
        "POST", update_path(product["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]}
    )
    assert envelope["code"] == 12052901
    after = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
    assert next(p for p in after if p["id"] == product["id"])["skus"][0]["inventory"] == sku["inventory"]
    # and once ACTIVATE again it takes the update
    sandbox.control("POST", f"products/{product['id']}", {"status": "ACTIVATE"})
    envelope = tiktok("us-local").call(
        "POST", update_path(product["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]}
    )
    assert (envelope["code"], envelope["data"]) == (0, {})


def test_every_assigned_warehouse_must_be_given(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    sku = product["skus"][0]
    one = {"id": sku["id"], "inventory": [{"warehouse_id": sku["inventory"][0]["warehouse_id"], "quantity": 3}]}
    envelope = caller.call("POST", update_path(product["id"]), body={"skus": [one]})
    assert envelope["code"] == 0 and envelope["data"]["errors"][0]["code"] == 12019028
    stock = caller.call("POST", SEARCH, body={"sku_ids": [sku["id"]]})["data"]["inventory"][0]["skus"][0]
    assert [w["available_quantity"] for w in stock["warehouse_inventory"]] == [i["quantity"] for i in sku["inventory"]]


def test_batch_rules_one_call_at_most_100_distinct_skus(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    row = {"id": product["skus"][0]["id"], "inventory": [{"warehouse_id": "1", "quantity": 1}]}
    assert caller.call("POST", update_path(product["id"]), body={"skus": [row] * 2})["code"] == 12052553
    many = [{**row, "id": str(n)} for n in range(101)]
    assert caller.call("POST", update_path(product["id"]), body={"skus": many})["code"] == 12052050


def test_a_bundles_stock_cannot_be_edited(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    shop_id = sandbox.world.sellers["us-local"].shops[0].id
    products = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
    bundle = next(p for p in products if "COMBINED_PRODUCT" in p.get("product_types", []))
    sku = bundle["skus"][0]
    (component,) = sku["combined_skus"]
    assert component["sku_count"] == 2 and component["sku_id"] in {s["id"] for p in products for s in p["skus"]}
    rows = [{"warehouse_id": w["warehouse_id"], "quantity": 9} for w in sku["inventory"]]
    envelope = caller.call("POST", update_path(bundle["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]})
    assert envelope["code"] == 0 and envelope["data"]["errors"][0]["code"] == 12052850


def test_quantity_bounds_are_configurable(sandbox_factory) -> None:
    server = sandbox_factory(SandboxConfig(**SMALL_DATA, inventory_allow_zero=False, inventory_max_quantity=999_999))
    caller = connect(server, "us-local")
    product = multi_warehouse_product(server)
    sku = product["skus"][0]

    def push(quantity: int) -> dict:
        rows = [{"warehouse_id": w["warehouse_id"], "quantity": quantity} for w in sku["inventory"]]
        return caller.call("POST", update_path(product["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]})

    refused = push(0)["data"]["errors"][0]["detail"]["extra_errors"]
    assert {error["code"] for error in refused} == {12052055}
    assert push(999_999)["data"] == {}
    assert push(1_000_000)["data"]["errors"]


def test_a_held_update_whose_client_hung_up_is_applied_once_released(sandbox, tiktok) -> None:
    # given Update Inventory calls held at the sandbox (a test's gate)
    caller = tiktok("us-local")
    product = multi_warehouse_product(sandbox)
    sku = product["skus"][0]
    rows = [{"warehouse_id": w["warehouse_id"], "quantity": 7} for w in sku["inventory"]]
    sandbox.control("POST", "inventory-updates/hold", {"held": True})
    # when a client's update is held and the client hangs up (its timeout, its process killed)
    with pytest.raises(httpx.ReadTimeout):
        caller.request(
            "POST", update_path(product["id"]), body={"skus": [{"id": sku["id"], "inventory": rows}]}, timeout=0.5
        )
    # then the call still waits, and releasing the hold applies it: TikTok applies a request it received whether or
    # not its sender still waits (what a push's intent rests on, `domain.inventory_push.settled`)
    wait_until(lambda: sandbox.control("GET", "inventory-updates")["waiting"] == 1, "the update to be held")
    sandbox.control("POST", "inventory-updates/hold", {"held": False})
    wait_until(lambda: sandbox.control("GET", "inventory-updates")["updates"] != [], "the held update to apply")
    assert [i["quantity"] for i in multi_warehouse_product(sandbox)["skus"][0]["inventory"]] == [7] * len(rows)
