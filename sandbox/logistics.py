"""`GET /logistics/202309/warehouses` (shop_cipher required) [DOC page 650aa418defece02be6e66b6, live-sync.md
sec. 1.4]: the shop's two sales warehouses (the first is the default; products use them) and a return warehouse at
the same address with its own id."""

from __future__ import annotations

from typing import Any

from sandbox.data import WAREHOUSE, make_id
from sandbox.gateway import Call

_CITY = {"US": ("Austin", "TX", "78701"), "GB": ("London", "", "SW1A 1AA"), "MY": ("Kuala Lumpur", "", "50450"),
         "SG": ("Singapore", "", "238859"), "ID": ("Jakarta", "", "10220")}  # fmt: skip


async def warehouses(call: Call) -> dict[str, Any]:
    data = call.shop_data()
    shop = data.shop
    city, state, postal_code = _CITY[shop.region]
    address = {
        "region": shop.region,
        "state": state,
        "city": city,
        "postal_code": postal_code,
        "address_line1": "1 Depot Way",
        "contact_person": shop.name,
    }
    rows = [(warehouse_id, "SALES_WAREHOUSE") for warehouse_id in data.catalog.warehouse_ids]
    rows.append((make_id(WAREHOUSE, shop, 50, data.ids_seed), "RETURN_WAREHOUSE"))
    return {
        "warehouses": [
            {
                "id": warehouse_id,
                "entity_id": make_id(WAREHOUSE, shop, 100 + n, data.ids_seed),
                "name": f"{shop.name} {'returns' if kind == 'RETURN_WAREHOUSE' else f'warehouse {n + 1}'}",
                "effect_status": "ENABLED",
                "type": kind,
                "sub_type": "DOMESTIC_WAREHOUSE",
                "is_default": n == 0,
                "address": address,
            }
            for n, (warehouse_id, kind) in enumerate(rows)
        ]
    }
