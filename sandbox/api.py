"""TikTok's business endpoints (shops, product search and detail, order search and detail, inventory search and
update) as handlers behind the gateway: each validates its parameters like TikTok and returns the envelope's `data`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sandbox import envelope as codes
from sandbox import pagetokens
from sandbox.catalog import ProductFilter
from sandbox.data import ORDER_STATUSES, PRODUCT_STATUSES
from sandbox.envelope import ApiError
from sandbox.events import delete_webhook, get_webhooks, put_webhook
from sandbox.faults import served, unreadable_order, unreadable_product
from sandbox.gateway import ApiRoute, Call
from sandbox.logistics import warehouses
from sandbox.orderbook import SORT_FIELDS, OrderFilter
from sandbox.params import optional_int, optional_str, optional_str_list, page_size, type_error
from sandbox.quote import quoted

MAX_SELLER_SKUS = 10
MAX_ORDER_IDS = 50
MAX_INVENTORY_PRODUCT_IDS = 100
MAX_INVENTORY_SKU_IDS = 600
MAX_UPDATE_SKUS = 100


def _fingerprint(*parts: Any) -> str:
    """Ties a page token to the search it came from, so a token replayed with other filters is refused."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


async def authorized_shops(call: Call) -> dict[str, Any]:
    return {"shops": [shop.as_tiktok() for shop in call.seller.shops]}


def _product_filter(body: dict[str, Any]) -> ProductFilter:
    status = optional_str(body, "status")
    if status is not None and status != "ALL" and status not in PRODUCT_STATUSES:
        raise ApiError(codes.INVALID_PARAMETER, f"param status is invalid: {quoted(status)}")
    seller_skus = optional_str_list(body, "seller_skus")
    if seller_skus is not None and len(seller_skus) > MAX_SELLER_SKUS:
        raise ApiError(codes.PRODUCT_TOO_MANY_SELLER_SKUS, f"seller_skus can hold at most {MAX_SELLER_SKUS} items.")
    times = {
        name: optional_int(body, name)
        for name in ("create_time_ge", "create_time_le", "update_time_ge", "update_time_le")
    }
    for prefix, code in (
        ("create_time", codes.PRODUCT_CREATE_TIME_INVALID),
        ("update_time", codes.PRODUCT_UPDATE_TIME_INVALID),
    ):
        low, high = times[f"{prefix}_ge"], times[f"{prefix}_le"]
        if (
            (low is not None and low < 0)
            or (high is not None and high < 0)
            or (low is not None and high is not None and low > high)
        ):
            raise ApiError(code, f"The {prefix} range of the search is invalid.")
    return ProductFilter(status=status, seller_skus=frozenset(seller_skus) if seller_skus else None, **times)


async def search_products(call: Call) -> dict[str, Any]:
    """Offset paging in opaque tokens; a search matching more than the cap is refused (12052180)."""
    size = page_size(call.query, codes.PRODUCT_PAGE_SIZE_INVALID)
    product_filter = _product_filter(call.json_body())
    query_fingerprint = _fingerprint(
        product_filter.status, sorted(product_filter.seller_skus or ()), product_filter.create_time_ge,
        product_filter.create_time_le, product_filter.update_time_ge, product_filter.update_time_le,
    )  # fmt: skip
    offset = 0
    if call.query.get("page_token"):
        payload = pagetokens.decode(call.query["page_token"])
        if payload is None or payload.get("q") != query_fingerprint or not isinstance(payload.get("offset"), int):
            raise ApiError(codes.PRODUCT_PAGE_TOKEN_INVALID, "The page_token is invalid for this search.")
        offset = payload["offset"]
    matches = call.shop_data().catalog.search(product_filter)
    cap = call.world.config.product_search_cap
    if len(matches) > cap:
        raise ApiError(codes.PRODUCT_SEARCH_CAP, f"The total number of search results can not exceed {cap}.")
    end = offset + size
    next_token = pagetokens.encode({"offset": end, "q": query_fingerprint}) if end < len(matches) else ""
    page = served(matches[offset:end], call.world.unreadable_records, unreadable_product)
    return {"products": page, "total_count": len(matches), "next_page_token": next_token}


def _order_filter(body: dict[str, Any]) -> OrderFilter:
    status = optional_str(body, "order_status")
    if status is not None and status not in ORDER_STATUSES:
        raise ApiError(codes.ORDER_INVALID_PARAMETER, f"param order_status is invalid: {quoted(status)}")
    # Documented filters the sandbox type-checks but does not apply.
    optional_str(body, "shipping_type")
    optional_str(body, "buyer_user_id")
    optional_str_list(body, "warehouse_ids")
    if "is_buyer_request_cancel" in body and not isinstance(body["is_buyer_request_cancel"], bool):
        raise type_error("is_buyer_request_cancel", body["is_buyer_request_cancel"], "bool")
    return OrderFilter(
        create_time_ge=optional_int(body, "create_time_ge"),
        create_time_lt=optional_int(body, "create_time_lt"),
        update_time_ge=optional_int(body, "update_time_ge"),
        update_time_lt=optional_int(body, "update_time_lt"),
        status=status,
    )


async def search_orders(call: Call) -> dict[str, Any]:
    """Keyset paging: the token holds the last (time, id) seen, so pages stay right when orders are added."""
    size = page_size(call.query, codes.ORDER_INVALID_PARAMETER)
    sort_field = call.query.get("sort_field") or "create_time"
    sort_order = call.query.get("sort_order") or "DESC"
    if sort_field not in SORT_FIELDS:
        raise ApiError(codes.ORDER_INVALID_PARAMETER, f"The sort_field is invalid: {quoted(sort_field)}.")
    if sort_order not in ("ASC", "DESC"):
        raise ApiError(codes.ORDER_INVALID_PARAMETER, f"The sort_order is invalid: {quoted(sort_order)}.")
    order_filter = _order_filter(call.json_body())
    query_fingerprint = _fingerprint(sort_field, sort_order, order_filter)
    after = None
    if call.query.get("page_token"):
        payload = pagetokens.decode(call.query["page_token"])
        key = payload.get("k") if payload else None
        valid = (
            payload is not None and payload.get("q") == query_fingerprint and isinstance(key, list) and len(key) == 2
            and isinstance(key[0], int) and isinstance(key[1], str)
        )  # fmt: skip
        if not valid or key is None:
            raise ApiError(codes.ORDER_INVALID_PARAMETER, "The page_token is invalid for this search.")
        after = (key[0], key[1])
    page = call.shop_data().orders.search(order_filter, sort_field, sort_order == "DESC", after, size)
    next_token = pagetokens.encode({"k": list(page.next_key), "q": query_fingerprint}) if page.next_key else ""
    now, lagging = call.world.clock(), call.world.search_lag  # not indexed yet (`World.search_lag`): left out
    indexed = [order for order in page.orders if lagging.get(order["id"], now) <= now]
    listed = served(indexed, call.world.unreadable_records, unreadable_order)
    return {"orders": listed, "total_count": page.total_count, "next_page_token": next_token}


async def order_detail(call: Call) -> dict[str, Any]:
    """Up to 50 comma-joined ids of this shop; other ids are left out, and none found is 21008111. An order the
    control surface put under read-after-write lag (`World.detail_lag`) is left out as if it did not exist yet; one
    under read lag after a change (`World.stale_detail`) is served as it was before that change."""
    raw_ids = call.query.get("ids", "")
    ids = list(dict.fromkeys(part.strip() for part in raw_ids.split(",") if part.strip()))
    if not ids:
        raise ApiError(codes.ORDER_INVALID_PARAMETER, "The ids query parameter is required.")
    if len(ids) > MAX_ORDER_IDS:
        raise ApiError(codes.ORDER_INVALID_PARAMETER, f"The ids query parameter can hold at most {MAX_ORDER_IDS} ids.")
    if call.world.failing_records.intersection(ids):
        raise ApiError(codes.INTERNAL_ERROR, "Internal error, please retry.", 500)
    book = call.shop_data().orders
    lagging = call.world.detail_lag
    stale = call.world.stale_detail
    orders = [
        stale.get(order["id"], order)
        for order in map(book.get, ids)
        if order is not None and order["id"] not in lagging
    ]
    if not orders:
        raise ApiError(codes.ORDER_NOT_OWNED, "The order or package does not belong to the current seller.")
    return {"orders": served(orders, call.world.unreadable_records, unreadable_order)}


async def search_inventory(call: Call) -> dict[str, Any]:
    body = call.json_body()
    product_ids = optional_str_list(body, "product_ids") or []
    sku_ids = optional_str_list(body, "sku_ids") or []
    if not product_ids and not sku_ids:
        raise ApiError(codes.INVALID_PARAMETER, "Either product_ids or sku_ids is required.")
    if len(product_ids) > MAX_INVENTORY_PRODUCT_IDS or len(sku_ids) > MAX_INVENTORY_SKU_IDS:
        raise ApiError(codes.INVALID_PARAMETER, "At most 100 product_ids or 600 sku_ids.")
    return {"inventory": call.shop_data().catalog.inventory(product_ids, sku_ids)}


def _inventory_updates(body: dict[str, Any]) -> list[tuple[str, list[tuple[str | None, int]]]]:
    skus = body.get("skus")
    if not isinstance(skus, list) or not skus:
        raise (
            type_error("skus", skus, "[]object")
            if skus is not None
            else ApiError(codes.INVALID_PARAMETER, "param skus is required.")
        )
    updates = []
    for sku in skus:
        if not isinstance(sku, dict):
            raise type_error("skus", sku, "object")
        sku_id = sku.get("id")
        if not isinstance(sku_id, str) or not sku_id:
            raise type_error("skus.id", sku_id, "string")
        rows = sku.get("inventory")
        if not isinstance(rows, list) or not rows:
            raise type_error("skus.inventory", rows, "[]object")
        parsed = []
        for row in rows:
            if not isinstance(row, dict):
                raise type_error("skus.inventory", row, "object")
            warehouse_id, quantity = row.get("warehouse_id"), row.get("quantity")
            if warehouse_id is not None and not isinstance(warehouse_id, str):
                raise type_error("warehouse_id", warehouse_id, "string")
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                raise type_error("quantity", quantity, "int32")
            parsed.append((warehouse_id or None, quantity))
        updates.append((sku_id, parsed))
    return updates


async def get_product(call: Call) -> dict[str, Any]:
    """Get Product: the product object itself is `data`; a product not in this shop is 12052048. TikTok does not
    serve FREEZE and DELETED products here (tiktok-api.md sec. 7): the same answer."""
    if call.path_params["product_id"] in call.world.failing_records:
        raise ApiError(codes.INTERNAL_ERROR, "Internal error, please retry.", 500)
    product = call.shop_data().catalog.by_id.get(call.path_params["product_id"])
    if product is None or product["status"] in ("FREEZE", "DELETED"):
        raise ApiError(codes.PRODUCT_NOT_FOUND, "The product does not exist in this shop.")
    return served([product], call.world.unreadable_records, unreadable_product)[0]


async def update_inventory(call: Call) -> dict[str, Any]:
    """Really changes stock; per-SKU refusals come back in `data.errors` under `code: 0` (empty data if none). A
    product not in this shop is 12052048, and so is a DELETED one (live-sync.md sec. 1.1: the product must be
    ACTIVATE; TikTok serves no DELETED product, Get Product's answer), though Search Products still lists it. A
    product in any other status but ACTIVATE (a draft, in review, failed review, deactivated by the seller or by
    TikTok, frozen) is 12052901, "product status does not allow it" (live-sync.md sec. 1.1; the nearest documented
    code: TikTok does not say which status answers which), and its stock is left as it is."""
    product = call.shop_data().catalog.by_id.get(call.path_params["product_id"])
    if product is None or product["status"] == "DELETED":
        raise ApiError(codes.PRODUCT_NOT_FOUND, "The product does not exist in this shop.")
    if product["status"] != "ACTIVATE":
        raise ApiError(
            codes.PRODUCT_STATUS_NOT_ALLOWED,
            f"The product status {product['status']} does not allow this operation; the product must be ACTIVATE.",
        )
    updates = _inventory_updates(call.json_body())
    if len(updates) > MAX_UPDATE_SKUS:
        raise ApiError(codes.TOO_MANY_SKUS, f"At most {MAX_UPDATE_SKUS} SKUs per call.")
    sku_ids = [sku_id for sku_id, _ in updates]
    if len(set(sku_ids)) != len(sku_ids):
        raise ApiError(codes.DUPLICATE_SKU, "Duplicate SKU ids in the request.")
    await call.world.inventory_log.wait_if_held()
    config = call.world.config
    bounds = (0 if config.inventory_allow_zero else 1, config.inventory_max_quantity)
    locks = call.world.inventory_log.promotion_locks
    global_stock = call.world.inventory_log.global_stock
    problems = call.shop_data().catalog.update_inventory(product, updates, bounds, locks, global_stock)
    errors = []
    for problem in problems:
        if problem.code is not None:
            errors.append({"code": problem.code, "message": problem.message, "detail": {"sku_id": problem.sku_id}})
        else:
            detail = {"sku_id": problem.sku_id, "extra_errors": list(problem.extra_errors)}
            errors.append({"code": codes.BATCH_CHECK_FAILED, "message": "Check failed", "detail": detail})
    sent = [{"id": sku, "inventory": [{"warehouse_id": w, "quantity": q} for w, q in rows]} for sku, rows in updates]
    refused = [problem.code or codes.BATCH_CHECK_FAILED for problem in problems]
    call.world.inventory_log.record(call.shop_data().shop.id, product["id"], sent, refused)
    return {"errors": errors} if errors else {}


ROUTES = [
    ApiRoute("GET", "/authorization/202309/shops", authorized_shops, shop_scoped=False),
    ApiRoute("POST", "/product/202309/products/search", search_products),
    ApiRoute("POST", "/order/202309/orders/search", search_orders),
    ApiRoute("GET", "/order/202309/orders", order_detail),
    ApiRoute("POST", "/product/202309/inventory/search", search_inventory),
    ApiRoute("POST", "/product/202309/products/{product_id}/inventory/update", update_inventory),
    ApiRoute("GET", "/event/202309/webhooks", get_webhooks),
    ApiRoute("PUT", "/event/202309/webhooks", put_webhook),
    ApiRoute("DELETE", "/event/202309/webhooks", delete_webhook),
    ApiRoute("GET", "/logistics/202309/warehouses", warehouses),
    ApiRoute("GET", "/product/202309/products/{product_id}", get_product),
]
