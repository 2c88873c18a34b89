"""What a seller does in Seller Center, behind the app's back: create a product, edit one (title, status, seller
SKUs, stock). Each change pushes the webhook TikTok sends (sec. 2.4): 16 PRODUCT_CREATION, 15
PRODUCT_INFORMATION_CHANGE (`changed_fields` title and/or `others` for SKU edits), 5 PRODUCT_STATUS_CHANGE. A stock
edit alone pushes nothing (TikTok's inventory topic is not in the Event API): it is drift the app must discover.

- `POST /_sandbox/shops/{shop_id}/products` `{title, status?, skus: [{seller_sku?, quantity?, price?}]}` ->
  `{product_id, sku_ids}` (price a decimal string in the shop's currency, `sandbox.data.parse_price`: "12.5" is
  12.50; a sign, an exponent, grouping or a third decimal is 400; one warehouse, the shop's first).
- `POST /_sandbox/products/{product_id}` `{title?, status?, skus?: [{id, seller_sku?, quantity?}] (a `price` is
  400: it is set at creation only), remove_skus?:
  [id], restore_skus?: [id]}` -> the product. `remove_skus`: the seller deletes those variants (at least one SKU
  stays): the product lists them no more, buyers cannot order them, Update Inventory refuses them (12052556); their
  open orders stay and still ship or cancel (a cancelled unit goes back to the removed SKU's stock).
  `restore_skus`: SKUs removed from this product come back with their ids, seller SKUs and stock (TikTok keeps a
  SKU's id). Either is a SKU edit: webhook 15 with `others` (live-sync.md sec. 2.4: seller SKU edits are not named).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.catalog import MAX_QUANTITY
from sandbox.control import BadInput, Control, _json
from sandbox.data import PRODUCT, PRODUCT_STATUSES, SKU, BadPrice, make_id, parse_price
from sandbox.ids import PRODUCTS, SKUS
from sandbox.quote import quoted
from sandbox.state import ShopData, World


def _text(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{name} must be a non-empty string")
    return value


def _quantity(body: dict[str, Any]) -> int | None:
    value = body.get("quantity")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise BadInput(f"quantity must be an integer between 0 and {MAX_QUANTITY}")
    return value


def _price(body: dict[str, Any], currency: str) -> str | None:
    """`body["price"]`, kept as written, if the sandbox reads it exactly (`sandbox.data.parse_price`: "12.5" is
    12.50); BadInput (400) otherwise, here rather than as a 500 of a later sale or generated order that reads it."""
    price = _text(body, "price")
    if price is not None:
        try:
            parse_price(price, currency)
        except BadPrice as error:
            raise BadInput(str(error)) from None
    return price


def _status(body: dict[str, Any]) -> str | None:
    status = body.get("status")
    if status is not None and status not in PRODUCT_STATUSES:
        raise BadInput(f"status must be one of {list(PRODUCT_STATUSES)}")
    return status


class SellerCenter:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/shops/{shop_id}/products", Control._guard(self.create), methods=["POST"]),
            Route("/_sandbox/products/{product_id}", Control._guard(self.edit), methods=["POST"]),
        ]

    async def create(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        shop = self.world.shops_by_id.get(request.path_params["shop_id"])
        if shop is None:
            raise BadInput(f"unknown shop id {quoted(request.path_params['shop_id'])}", 404)
        data = self.world.shop_data(shop)
        title, status = _text(body, "title", required=True), _status(body) or "ACTIVATE"
        sku_specs = body.get("skus")
        if (
            not isinstance(sku_specs, list)
            or not 1 <= len(sku_specs) <= 100
            or not all(isinstance(spec, dict) for spec in sku_specs)
        ):
            raise BadInput("skus must be a list of 1..100 objects")
        catalog, now = data.catalog, int(self.world.clock())
        number = catalog.created_products
        # Fresh sequences from the world's ledger (sandbox/ids.py): never an id issued before, even by an earlier
        # generation of this shop's data (a reseed or reset).
        ids = self.world.ids
        product_id = make_id(PRODUCT, shop, ids.take(shop.index, PRODUCTS), data.ids_seed)
        first_sku = ids.take(shop.index, SKUS, len(sku_specs))
        default_price = "150000" if shop.currency == "IDR" else "19.99"
        skus = []
        for position, spec in enumerate(sku_specs):
            price = _price(spec, shop.currency) or default_price
            skus.append(
                {
                    "id": make_id(SKU, shop, first_sku + position, data.ids_seed),
                    "seller_sku": _text(spec, "seller_sku") or f"SB-NEW-{number:04d}-{position}",
                    "price": {"currency": shop.currency, "sale_price": price, "tax_exclusive_price": price},
                    "inventory": [{"warehouse_id": catalog.warehouse_ids[0], "quantity": _quantity(spec) or 0}],
                }
            )
        product = {
            "id": product_id,
            "title": title,
            "status": status,
            "create_time": now,
            "update_time": now,
            "sales_regions": [shop.region],
            "is_not_for_sale": False,
            "skus": skus,
        }
        catalog.add(product)
        self.world.notices.product_created(shop, product)
        return {"product_id": product_id, "sku_ids": [sku["id"] for sku in skus]}

    async def edit(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        data, product = self._find(request.path_params["product_id"])
        title, status = _text(body, "title"), _status(body)
        edits = body.get("skus", [])
        if not isinstance(edits, list) or not all(isinstance(edit, dict) for edit in edits):
            raise BadInput("skus must be a list of objects")
        skus = {sku["id"]: sku for sku in product["skus"]}
        planned = []
        for edit in edits:  # validate everything before changing anything
            if edit.get("id") not in skus:
                raise BadInput(f"sku {quoted(edit.get('id'))} is not in product {product['id']}")
            if "price" in edit:  # not silently ignored: a price is set once, at creation (`_price`)
                raise BadInput("a SKU's price is set when its product is created; an edit changes seller_sku, quantity")
            planned.append((skus[edit["id"]], _text(edit, "seller_sku"), _quantity(edit)))
        removed, restored = self._sku_ids(body, "remove_skus"), self._sku_ids(body, "restore_skus")
        for sku_id in removed:
            if sku_id not in skus:
                raise BadInput(f"sku {quoted(sku_id)} is not in product {product['id']}")
        if removed and len(set(removed)) >= len(skus):
            raise BadInput("a product keeps at least one SKU")
        for sku_id in restored:
            if data.catalog.removed.get(sku_id, ("",))[0] != product["id"]:
                raise BadInput(f"sku {quoted(sku_id)} was not removed from product {product['id']}")
        changed: list[str] = []
        if title is not None and title != product["title"]:
            product["title"] = title
            changed.append("title")
        if removed or restored:
            data.catalog.remove_skus(product, removed)
            data.catalog.restore_skus(product, list(dict.fromkeys(restored)))
            changed.append("others")
        for sku, seller_sku, quantity in planned:
            if seller_sku is not None and seller_sku != sku["seller_sku"]:
                sku["seller_sku"] = seller_sku
                if "others" not in changed:
                    changed.append("others")
            if quantity is not None:
                for stock in sku["inventory"]:
                    stock["quantity"] = quantity if stock is sku["inventory"][0] else 0
        status_changed = status is not None and status != product["status"]
        if status_changed:
            product["status"] = status
        if changed or status_changed:
            product["update_time"] = max(int(self.world.clock()), product["update_time"])
        if changed:
            self.world.notices.product_changed(data.shop, product, changed)
        if status_changed:
            self.world.notices.product_status_changed(data.shop, product)
        return {"product": product}

    @staticmethod
    def _sku_ids(body: dict[str, Any], name: str) -> list[str]:
        ids = body.get(name, [])
        if not isinstance(ids, list) or not all(isinstance(sku_id, str) for sku_id in ids):
            raise BadInput(f"{name} must be a list of SKU ids")
        return ids

    def _find(self, product_id: str) -> tuple[ShopData, dict[str, Any]]:
        # Product ids carry the shop's index in digits 4-5 (sandbox/data.py make_id).
        index = int(product_id[3:5]) if len(product_id) == 19 and product_id.isdigit() else -1
        for shop in self.world.shops_by_id.values():
            if shop.index == index:
                data = self.world.shop_data(shop)
                product = data.catalog.by_id.get(product_id)
                if product is not None:
                    return data, product
        raise BadInput(f"unknown product id {quoted(product_id)}", 404)
