"""What executing benchmark 5's orders page costs the GraphQL libraries alone, with no database and no code of ours.

    python -m bench.executor_floor [--rounds 300]

Benchmark 5 compares the orders page (50 orders with line items and `totalCount`) with `{ __typename }` on the same
server; its goal is a requests/s ratio >= 0.3, i.e. a page may cost at most ~3.3x the ceiling's CPU. This script
measures the floor of that page's CPU: the same document executed over plain in-memory objects, 50 orders with
2 or 3 line items each (2.5 on average, as the benchmark's store), by

- `graphql-core`: a schema built from SDL, default resolvers over dicts, `execute_sync` (the library Strawberry
  executes with, on its fastest path);
- `strawberry`: a minimal Strawberry schema with the same types (plain fields over dataclasses, no resolvers of
  ours; only the parser and validation caches the server has too), `execute_sync`, and `execute`: the server's
  path (every Strawberry server executes asynchronously).

and `{ __typename }` on each, for scale. Figures: the median CPU (`time.process_time`) of `--rounds` executions in
milliseconds, and per resolved field in microseconds. The document is parsed and validated once (the server
caches both), so these are execution alone. Benchmark 5 runs `measure` in the same run and reports the best CPU
ratio the library allows: the server's `{ __typename }` CPU / (that + Strawberry's own execution of the page).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import build_schema, execute_sync, parse, validate
from strawberry.extensions import ParserCache, ValidationCache

from bench.query_bench import QUERY

ORDERS = 50
CEILING = "{ __typename }"
SDL = """
type Query { shop(id: ID!): Shop }
type Shop { orders(first: Int): OrderConnection! }
type OrderConnection { totalCount: Int! edges: [OrderEdge!]! }
type OrderEdge { node: Order! }
type Order { tiktokOrderId: String! status: String! total: Money! lineItems: [LineItem!]! }
type LineItem { tiktokSkuId: String! quantity: Int! salePrice: Money! }
type Money { amount: String! currency: String! }
"""


def _page() -> dict[str, Any]:
    orders = []
    for n in range(ORDERS):
        items = [
            {"tiktokSkuId": f"17290000000{n:03d}{i}", "quantity": 1 + i,
             "salePrice": {"amount": "12.50", "currency": "USD"}}
            for i in range(2 + n % 2)
        ]  # fmt: skip
        total = {"amount": "37.50", "currency": "USD"}
        orders.append({"node": {"tiktokOrderId": f"57700000000{n:05d}", "status": "AWAITING_SHIPMENT",
                                "total": total, "lineItems": items}})  # fmt: skip
    return {"shop": {"orders": {"totalCount": 1000, "edges": orders}}}


def resolved_fields(data: Any) -> int:
    """Fields in a result (each key of each object), the executor's unit of work."""
    if isinstance(data, dict):
        return len(data) + sum(resolved_fields(v) for v in data.values())
    if isinstance(data, list):
        return sum(resolved_fields(v) for v in data)
    return 0


# The same types for Strawberry: plain fields, no resolvers.
@strawberry.type
class Money:
    amount: str
    currency: str


@strawberry.type
class LineItem:
    tiktok_sku_id: str
    quantity: int
    sale_price: Money


@strawberry.type
class Order:
    tiktok_order_id: str
    status: str
    total: Money
    line_items: list[LineItem]


@strawberry.type
class OrderEdge:
    node: Order


@strawberry.type
class OrderConnection:
    total_count: int
    edges: list[OrderEdge]


@dataclass
class _ShopData:
    connection: OrderConnection


@strawberry.type
class Shop:
    data: strawberry.Private[_ShopData]

    @strawberry.field
    def orders(self, first: int = 50) -> OrderConnection:
        return self.data.connection


def _strawberry_page() -> OrderConnection:
    page = _page()["shop"]["orders"]
    edges = []
    for edge in page["edges"]:
        node = edge["node"]
        items = [
            LineItem(tiktok_sku_id=i["tiktokSkuId"], quantity=i["quantity"], sale_price=Money(**i["salePrice"]))
            for i in node["lineItems"]
        ]
        order = Order(tiktok_order_id=node["tiktokOrderId"], status=node["status"], total=Money(**node["total"]),
                      line_items=items)  # fmt: skip
        edges.append(OrderEdge(node=order))
    return OrderConnection(total_count=page["totalCount"], edges=edges)


_CONNECTION = _strawberry_page()


@strawberry.type
class Query:
    @strawberry.field
    def shop(self, id: strawberry.ID) -> Shop:
        return Shop(data=_ShopData(_CONNECTION))


def median_ms(run: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000


def measure(rounds: int = 300) -> dict[str, Any]:
    """Median CPU ms of the page and of `{ __typename }` per executor, and the page's resolved fields."""
    variables = {"id": "U2hvcDox"}
    core_schema = build_schema(SDL)
    root = _page()
    straw = strawberry.Schema(query=Query, extensions=[ParserCache(maxsize=16), ValidationCache(maxsize=16)])
    loop = asyncio.new_event_loop()

    def core(query: str) -> Callable[[], Any]:
        document = parse(query)
        assert not validate(core_schema, document)

        def run() -> Any:
            result = execute_sync(core_schema, document, root_value=root, variable_values=variables)
            assert not result.errors, result.errors
            return result.data

        return run

    def straw_sync(query: str) -> Callable[[], Any]:
        def run() -> Any:
            result = straw.execute_sync(query, variable_values=variables)
            assert not result.errors, result.errors
            return result.data

        return run

    def straw_async(query: str) -> Callable[[], Any]:
        def run() -> Any:
            result = loop.run_until_complete(straw.execute(query, variable_values=variables))
            assert not result.errors, result.errors
            return result.data

        return run

    fields = resolved_fields(core(QUERY)())
    assert straw_sync(QUERY)() == core(QUERY)(), "both libraries must give the same page"
    figures: dict[str, Any] = {"fields": fields, "rounds": rounds}
    try:
        for name, make in (("graphql-core", core), ("strawberry_sync", straw_sync), ("strawberry_async", straw_async)):
            figures[name] = {"page_ms": median_ms(make(QUERY), rounds), "ceiling_ms": median_ms(make(CEILING), rounds)}
    finally:
        loop.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    figures = measure(args.rounds)
    print(f"orders page: {figures['fields']} resolved fields; median CPU of {args.rounds} executions each")
    print(f"{'executor':28} {'page ms':>9} {'{ __typename } ms':>18} {'us/field':>9}")
    for name in ("graphql-core", "strawberry_sync", "strawberry_async"):
        page_ms, ceiling_ms = figures[name]["page_ms"], figures[name]["ceiling_ms"]
        per_field = (page_ms - ceiling_ms) * 1000 / figures["fields"]
        print(f"{name:28} {page_ms:9.2f} {ceiling_ms:18.3f} {per_field:9.1f}")


if __name__ == "__main__":
    main()
