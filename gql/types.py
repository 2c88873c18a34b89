"""GraphQL object types: plain DTOs built from domain objects or read models, never from ORM rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

import strawberry

from domain.attention import SyncFacts, shop_attention
from gql.context import Info
from gql.descriptions import TRIGGER_FILTER, After, First
from gql.enums import (
    OrderStatus,
    Region,
    ShopAttentionCode,
    ShopStatus,
    SyncKind,
    SyncTaskStatus,
    SyncTrigger,
    UserErrorCode,
)
from gql.ids import to_global_id
from gql.inventory_policy.types import InventoryPolicy
from gql.live_outage import load_live

if TYPE_CHECKING:
    from gql.inventory.types import SkuLink


@strawberry.type(description="Something the merchant should know or do about a shop.")
class ShopAttention:
    code: ShopAttentionCode = strawberry.field(description="What it is about; branch on this.")  # type: ignore[valid-type]
    message: str = strawberry.field(description="What happened and what to do, in words (English).")
    at: datetime = strawberry.field(
        description="UTC. REAUTHORIZATION_REQUIRED: since when (unreadable tokens: when they were authorized); "
        "EXPIRING_SOON: when the authorization ends; "
        "WEBHOOKS_SILENT: the last notification received; SYNC_FAILING: when the sync failed; "
        "RECORDS_UNREADABLE: when the first of those records failed."
    )


@strawberry.interface(description="An object with a global, opaque id.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global, opaque id: pass it to `node(id:)` or an input's id.")


@strawberry.type(description="An expected failure: what went wrong, with a stable code and the input field.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='The path of the offending field within the input, e.g. ["name"]; null when no one field is.'
    )
    message: str = strawberry.field(description="What went wrong and what is allowed, in words (English).")
    code: UserErrorCode = strawberry.field(description="Stable code; branch on this.")  # type: ignore[valid-type]


@strawberry.type(description="An amount of money as TikTok gives it: a decimal in major units with its currency.")
class Money:
    amount: str = strawberry.field(
        description='Exact decimal in major units, as a string ("12.50" is twelve and a half dollars; not minor '
        'units): TikTok\'s digits ("12.5" stays "12.5"), always in plain notation (an exponent form TikTok may send, '
        '"1e3", is written out: "1000"); an amount longer than 40 characters written out is unreadable '
        "(RECORDS_UNREADABLE)."
    )
    currency: str = strawberry.field(description="ISO 4217 code as TikTok gives it, e.g. USD, GBP, MYR, SGD.")


@strawberry.type(description="Where a page sits in its list (Relay's cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more follow: read on with `after: endCursor`.")
    has_previous_page: bool = strawberry.field(description="Always false: lists are read forward only.")
    start_cursor: str | None = strawberry.field(description="The first edge's cursor; null for an empty page.")
    end_cursor: str | None = strawberry.field(description="The last edge's cursor; null for an empty page.")


NodeT = TypeVar("NodeT")


@strawberry.type(description="One item of a page, with its cursor (Relay's edge).")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque; pass it as `after` to read on after this item.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list (Relay's cursor connection): its items and where it sits.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The page's items, in the list's order.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more follow.")
    total_count: int = strawberry.field(description="How many items the whole list has (every page), now.")


def connection(nodes_with_cursors: list[tuple[str, NodeT]], has_next: bool, total: int) -> Connection[NodeT]:
    edges = [Edge(cursor=cursor, node=node) for cursor, node in nodes_with_cursors]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=False,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )


@strawberry.type(description="How TikTok's webhooks reach Shopbridge for a shop (see the README, Live sync).")
class ShopWebhooks:
    registered_at: datetime | None = strawberry.field(
        description="When Shopbridge last registered its webhook address for this shop with TikTok's Event API "
        "(null: not yet, or the address is configured app-wide in Partner Center)."
    )
    registered_address: str | None = strawberry.field(
        description="The address registered then (null: not yet, or registered before Shopbridge kept it). When a "
        "process starts with another SHOPBRIDGE_PUBLIC_URL, it registers its own address again."
    )
    registration_error: str | None = strawberry.field(
        description="Why the last registration failed; it is retried, and cleared by the next success."
    )
    last_received_at: datetime | None = strawberry.field(
        description="UTC. When the last processed webhook arrived; null: none yet."
    )


@strawberry.type(description="A TikTok Shop connected to the merchant.")
class Shop(Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the shop.")
    name: str = strawberry.field(description="The merchant's custom name for the shop.")
    region: Region = strawberry.field(description="Where the shop sells (chosen at authorization).")  # type: ignore[valid-type]
    status: ShopStatus = strawberry.field(  # type: ignore[valid-type]
        description="Its authorization's state now (moves with the clock as expiresAt nears)."
    )
    tiktok_shop_id: str = strawberry.field(
        description="TikTok's shop id (Get Authorized Shops `id`, tiktok-api.md §6), also webhooks' `shop_id`."
    )
    tiktok_shop_name: str = strawberry.field(description="TikTok's shop name (Get Authorized Shops `name`).")
    tiktok_shop_code: str | None = strawberry.field(
        description="The shop code Seller Center shows (Get Authorized Shops `code`); null when TikTok gave none."
    )
    seller_name: str | None = strawberry.field(
        description="The seller's name as TikTok's token answer gives it (`seller_name`); null when it gave none."
    )
    authorized_at: datetime = strawberry.field(description="UTC. When the shop was last (re-)authorized.")
    expires_at: datetime = strawberry.field(
        description="UTC. When the authorization ends: the refresh token's expiry, or the end TikTok announced "
        "(webhook 7) if earlier; a re-authorization replaces both."
    )
    last_synced_at: datetime | None = strawberry.field(
        description="UTC. When a sync task of the shop (import or poll) last SUCCEEDED; null: none yet."
    )
    created_at: datetime = strawberry.field(description="UTC. When the shop was first connected to Shopbridge.")
    webhooks: ShopWebhooks = strawberry.field(description="How TikTok's webhooks reach Shopbridge for this shop.")
    internal_id: strawberry.Private[str]
    revoked_at: strawberry.Private[datetime | None] = None
    tokens_unreadable: strawberry.Private[bool] = False  # no configured key decrypts its tokens: REVOKED
    # From the webhook intake (migration 0002); None until it is there: the attention rule then stays quiet.
    authorization_expires_at: strawberry.Private[datetime | None] = None
    webhooks_registered_at: strawberry.Private[datetime | None] = None
    last_webhook_at: strawberry.Private[datetime | None] = None
    # Read with the shop by `shopsUpdated`'s feed (gql/shop_feeds.py): `attention` then reads nothing more.
    sync_facts: strawberry.Private[SyncFacts | None] = None

    @strawberry.field(
        description="What the merchant should know or do about the shop, most urgent first; empty when all is "
        "well. Rules: domain/attention.py."
    )
    async def attention(self, info: Info) -> list[ShopAttention]:
        return await attention_of(self, info)

    @strawberry.field(description="How much of the inventory pool this shop shows on TikTok (issue 8).")
    async def inventory_policy(self, info: Info) -> InventoryPolicy:
        return await load_live(info, info.context.loaders.inventory_policy, self.internal_id)

    @strawberry.field(
        description="How many of the shop's SKUs draw on an inventory item (LINKED, whatever their product's status); "
        "with `availableAtMost`, only those whose item's available is at most that many units: given a push policy's "
        "outOfStockThreshold, how many SKUs that policy pushes 0 (InventoryPolicy's rule), so that a client can say "
        "so before it saves a threshold (one COUNT over the shop's links)."
    )
    async def linked_sku_count(
        self,
        info: Info,
        available_at_most: Annotated[
            int | None,
            strawberry.argument(
                description="Units (any Int): count only the SKUs whose item's available (onHand - reserved - "
                "safetyStock) is at most this; null: every LINKED SKU."
            ),
        ] = None,
    ) -> int:
        from gql import readers

        return await readers.linked_sku_count(info, self.internal_id, available_at_most)

    @strawberry.field(
        description="How many of the shop's SKUs joined an inventory item the pool already had (LINKED to an item "
        "their own TikTok stock did not seed: another shop's SKU or the merchant brought it, at the import by seller "
        "SKU or by hand). With inventoryPolicy.pushEnabled, a push replaces TikTok's stock of these SKUs with the "
        "item's available; with push off TikTok keeps its own until push is turned on. Among linkedSkuCount (those "
        "that seeded their item show the stock they brought). One GROUP BY per batch of shops."
    )
    async def joined_sku_count(self, info: Info) -> int:
        return await load_live(info, info.context.loaders.joined_sku_count, self.internal_id)

    @strawberry.field(
        description="The shop's imported products: its running count, a lookup whatever the shop's size (a product "
        "an older release's process stored during a rolling deploy is counted from the shop's next products import)."
    )
    async def product_count(self, info: Info) -> int:
        return await load_live(info, info.context.loaders.product_count, self.internal_id)

    @strawberry.field(
        description="The shop's imported orders (those of the import's window and after): its running count, as "
        "`orders.totalCount` without filters, a lookup whatever the shop's size."
    )
    async def order_count(self, info: Info) -> int:
        return await load_live(info, info.context.loaders.order_count, self.internal_id)

    @strawberry.field(description="The shop's imported products, newest first.")
    async def products(self, info: Info, first: First = 20, after: After = None) -> Connection[Product]:
        from gql import readers

        return await readers.products(info, self.internal_id, first, after)

    @strawberry.field(description="The shop's imported orders, newest first (by TikTok's create_time).")
    async def orders(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
        status: Annotated[
            OrderStatus | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only orders in this status; null: every status."),
        ] = None,
        created_after: Annotated[
            datetime | None,
            strawberry.argument(description="Only orders TikTok created after this time (strictly; UTC); null: all."),
        ] = None,
    ) -> Connection[Order]:
        from gql import readers

        return await readers.orders(info, self.internal_id, first, after, status, created_after)

    @strawberry.field(
        description="The shop's sync tasks (imports and polls), newest first, every status; optionally only those "
        "started by some triggers (`trigger`, a set as in Query.syncTasks)."
    )
    async def sync_tasks(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
        trigger: Annotated[
            list[SyncTrigger] | None,  # type: ignore[valid-type]
            strawberry.argument(description=TRIGGER_FILTER),
        ] = None,
    ) -> Connection[SyncTask]:
        from gql import readers

        return await readers.sync_tasks(info, self.internal_id, None, first, after, trigger)


@strawberry.type(description="A product's variant at TikTok (TikTok's SKU); `node(id:)` finds it by its id.")
class Sku(Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the SKU.")
    tiktok_sku_id: str = strawberry.field(description="TikTok's SKU id (Search Products `skus[].id`).")
    seller_sku: str | None = strawberry.field(
        description="The seller's own SKU code (`seller_sku`); null when the seller gave none (its link is "
        "NO_SELLER_SKU), or one over 255 characters, which Shopbridge does not keep (its link is LONG_SELLER_SKU: "
        "shorten it on TikTok, or link it by hand). Links the SKU to the inventory item of the same (trimmed) SKU."
    )
    price: Money = strawberry.field(description="TikTok's sale price of the SKU (`price.sale_price`, `currency`).")
    quantity: int = strawberry.field(
        description="TikTok's available stock of the SKU, summed over warehouses (units), as last known: the newer of "
        "the last read of its product (import, poll or product webhook) and the last quantity TikTok accepted from the "
        "inventory pool (`link.pushedQuantity`, once that push lands: it wins over a read sent before it landed, which "
        "may show the stock before it; a read sent after it landed wins). A "
        "SKU the pool never pushed (unlinked, or linked but not pushed yet) keeps the value its product's last read "
        "imported."
    )
    internal_id: strawberry.Private[str] = ""

    @strawberry.field(
        description="The SKU's place in the shared inventory pool (UNLINKED until decided); null for a SKU of a "
        "product TikTok reports DELETED: TikTok sells it no more, so it draws on no item and nothing is pushed to it "
        "(its open orders still count on the item it was linked to)."
    )
    async def link(self, info: Info) -> Annotated[SkuLink, strawberry.lazy("gql.inventory.types")] | None:
        link: SkuLink | None = await load_live(info, info.context.loaders.sku_link, self.internal_id)
        return link if link is not None and link.in_pool else None


@strawberry.type(description="A product of a shop as last imported from TikTok (Search Products, tiktok-api.md §7).")
class Product(Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the product.")
    tiktok_product_id: str = strawberry.field(description="TikTok's product id.")
    title: str = strawberry.field(description="TikTok's product title.")
    status: str = strawberry.field(
        description="TikTok's product status as last read (tiktok-api.md §7: ACTIVATE, DRAFT, PENDING, FAILED, "
        "SELLER_DEACTIVATED, PLATFORM_DEACTIVATED, FREEZE, DELETED; UNKNOWN when TikTok gave none)."
    )
    skus: list[Sku] = strawberry.field(description="Its variants (TikTok's SKUs), as last read.")
    created_at: datetime = strawberry.field(description="UTC. TikTok's create_time of the product.")
    updated_at: datetime = strawberry.field(
        description="UTC. TikTok's update_time of the product (its create_time when TikTok gave none)."
    )


@strawberry.type(
    description="One line of an order: one unit of a SKU (TikTok's 202309 line items carry no quantity, "
    "tiktok-api.md §8). A line has its own status: one the seller cancelled alone (item-level cancellation) shows "
    "CANCELLED on an open order, and is not one to ship."
)
class LineItem:
    tiktok_line_item_id: str = strawberry.field(
        description="TikTok's line item id (Get Order Detail `line_items[].id`, tiktok-api.md §8): the id TikTok's "
        "Cancel Order (`order_line_item_ids`) and returns name."
    )
    display_status: OrderStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="The line's own status (Get Order Detail `line_items[].display_status`, tiktok-api.md §8; "
        "live-sync.md §3.2): it may differ from the order's, CANCELLED for a line cancelled alone, IN_TRANSIT for a "
        "line shipped from a PARTIALLY_SHIPPING order. Null when TikTok gave none, for a status this version does "
        "not know yet, or for a line stored before Shopbridge kept it (until its order's next change or import)."
    )
    cancel_reason: str | None = strawberry.field(
        description="Why TikTok says the line was cancelled, as TikTok words it (Get Order Detail "
        '`line_items[].cancel_reason`, live-sync.md §3.2), e.g. "Out of stock"; null while it is not cancelled '
        "or when TikTok gave none."
    )
    cancel_user: str | None = strawberry.field(
        description="Who cancelled the line (Get Order Detail `line_items[].cancel_user`, live-sync.md §3.2): "
        "SELLER, BUYER or SYSTEM as TikTok names them; null while it is not cancelled or when TikTok gave none."
    )
    tiktok_sku_id: str = strawberry.field(description="TikTok's id of the SKU sold (`sku_id`).")
    tiktok_product_id: str | None = strawberry.field(
        description="TikTok's id of its product (`product_id`); null when TikTok gave none."
    )
    seller_sku: str | None = strawberry.field(
        description="The seller's SKU code at the sale; null when none, or when "
        "it has more than 255 characters (not kept: the line counts on its SKU by tiktokSkuId).",
    )
    product_name: str = strawberry.field(description="The product's name at the sale, as TikTok gives it.")
    quantity: int = strawberry.field(
        description="Units of the line: TikTok's `quantity`, 1 when it gives none (a 202309 line item is one unit)."
    )
    sale_price: Money = strawberry.field(description="TikTok's `sale_price` of the line, in the line's currency.")


@strawberry.type(description="An order of a shop as last imported from TikTok (Get Order List, tiktok-api.md §8).")
class Order(Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the order.")
    tiktok_order_id: str = strawberry.field(description="TikTok's order id.")
    status: OrderStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="TikTok's status; null for a status TikTok added that this version does not know yet."
    )
    created_at: datetime = strawberry.field(description="UTC. TikTok's create_time of the order (when it was placed).")
    updated_at: datetime = strawberry.field(
        description="UTC. TikTok's update_time of the order as last imported (its create_time when TikTok gave none)."
    )
    total: Money = strawberry.field(description="What the buyer pays: TikTok's `payment.total_amount` and currency.")
    line_items: list[LineItem] = strawberry.field(description="Its lines, in TikTok's order.")


@strawberry.type(description="A record a sync task could not import.")
class SyncFailure:
    tiktok_id: str = strawberry.field(description='TikTok\'s id of the product or order ("(no id)" when it had none).')
    reason: str = strawberry.field(description="Why it could not be imported, in words.")


@strawberry.type(
    description="One import or poll of a shop's products or orders (a sync task), as the Task Center lists it. "
    "Counts are of records (products or orders), not pages."
)
class SyncTask(Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the task.")
    kind: SyncKind = strawberry.field(description="What it imports.")  # type: ignore[valid-type]
    trigger: SyncTrigger = strawberry.field(description="What started it.")  # type: ignore[valid-type]
    status: SyncTaskStatus = strawberry.field(description="Where it is now.")  # type: ignore[valid-type]
    processed: int = strawberry.field(
        description="Records handled so far (products or orders): created + updated + unchanged + failed."
    )
    total: int | None = strawberry.field(
        description="Records to handle (TikTok's `total_count`, raised to `processed` if below); null when TikTok "
        "did not tell it."
    )
    progress: float | None = strawberry.field(description="processed / total, from 0 to 1, when total is known.")
    created: int = strawberry.field(description="Count of records new to Shopbridge (a number, not a time).")
    updated: int = strawberry.field(description="Count of records already stored that TikTok had changed.")
    unchanged: int = strawberry.field(description="Count of records already stored as TikTok has them.")
    failed: int = strawberry.field(description="Count of records that could not be imported (see `failures`).")
    failures: list[SyncFailure] = strawberry.field(
        description="The first records that could not be imported, at most 100 (`failed` counts them all)."
    )
    attempts: int = strawberry.field(
        description="Runs begun: each retry after a failure, and each resumption after a restart, a deploy or a "
        "redelivery (its run interrupted, not failed). Not what the retry budget counts: see failedAttempts."
    )
    failed_attempts: int = strawberry.field(
        description="Runs that failed: ended by an error another run may get past (TikTok unavailable beyond the "
        "client's retries, the run's time limit, a bug: retried from the checkpoint), or the one that FAILED the "
        "task, or a run whose worker died without a word (killed, crashed). The task FAILS once this reaches "
        "SHOPBRIDGE_SYNC_MAX_ATTEMPTS; runs a shutdown or deploy interrupted do not count."
    )
    cancel_requested: bool = strawberry.field(
        description="True once syncTaskCancel asked it to stop (it stops at its next page, then CANCELLED)."
    )
    error_code: str | None = strawberry.field(
        description=(
            "Why the task FAILED: REAUTHORIZATION_REQUIRED, TIKTOK_UNAVAILABLE, MISSING_SCOPE, TIKTOK_REJECTED, "
            "TIKTOK_CURSOR_STUCK, TIME_LIMIT_EXCEEDED, INTERNAL, or a rule's code: a UserErrorCode value. While "
            "QUEUED or RUNNING after a failed run (failedAttempts > 0: TIKTOK_UNAVAILABLE, TIME_LIMIT_EXCEEDED, "
            "INTERNAL), why that run failed: "
            "the task is retried by itself; null once a run succeeds, before any run failed, and once CANCELLED "
            "(a cancel is its own reason; only syncTaskUpdated's last message of a task deleted with its shop says "
            "SHOP_DELETED)."
        )
    )
    error_message: str | None = strawberry.field(
        description="What failed, in words (of errorCode: the task's end, or its last failed run while it is "
        "retried); names TikTok's code, message and request id when TikTok refused."
    )
    retry_at: datetime | None = strawberry.field(
        description="While QUEUED after a run failed on an outage (errorCode TIKTOK_UNAVAILABLE): when the queue runs "
        "it again (UTC, ISO 8601; later if every worker is busy then). Null otherwise: before "
        "any run failed, while a run is under way, once the task ended, or when the retry's time is unknown (a run "
        "ended by its time limit or a bug, also retried by itself)."
    )
    orders_created_since: datetime | None = strawberry.field(
        description="UTC, ISO 8601. An ORDERS import's window start: it reads the orders TikTok created at or after "
        "then (at most 90 days before it was queued); null for PRODUCTS and polls, which have no such window."
    )
    orders_created_until: datetime | None = strawberry.field(
        description="UTC, ISO 8601. An ORDERS import's window end: it reads the orders TikTok created before then "
        "(when it was queued: an order created later is the polls' and webhooks'); a re-run of an import a lost "
        "authorization failed (trigger REAUTHORIZATION: after a re-authorization, or a token refresh that lifted the "
        "shop's revocation) reads from the failed import's start, or 90 days before here if that is earlier "
        "(TikTok's bound, as ordersCreatedSince), to here. Null for PRODUCTS and polls, which have no such window."
    )
    created_at: datetime = strawberry.field(description="UTC. When the task was created (QUEUED).")
    started_at: datetime | None = strawberry.field(description="UTC. When its first run began; null until then.")
    finished_at: datetime | None = strawberry.field(
        description="UTC. When it SUCCEEDED, FAILED or was CANCELLED; null until then."
    )
    internal_id: strawberry.Private[str]
    shop_internal_id: strawberry.Private[str]

    @strawberry.field(description="Its shop; null once the shop is deleted.")
    async def shop(self, info: Info) -> Shop | None:
        # In a syncTaskUpdated message, a busy pool delays the message as the feed's read does (soak55 F2)
        return await load_live(info, info.context.loaders.shop, self.shop_internal_id)


async def attention_of(shop: Shop, info: Info) -> list[ShopAttention]:
    """`Shop.attention`: the domain's rule over the shop and its sync facts (one batched query per operation, none
    when the facts came with the shop; waited out in a subscription's message: `load_live`)."""
    facts = shop.sync_facts
    if facts is None:
        facts = await load_live(info, info.context.loaders.sync_facts, shop.internal_id)
    return attention_at(shop, facts, info.context.services.clock.now())


def attention_at(shop: Shop, facts: SyncFacts, now: datetime) -> list[ShopAttention]:
    """The shop's attention at `now`, given its sync facts."""
    notices = shop_attention(
        now,
        expires_at=shop.expires_at,
        revoked_at=shop.revoked_at,
        authorization_expires_at=shop.authorization_expires_at,
        webhooks_registered_at=shop.webhooks_registered_at,
        last_webhook_at=shop.last_webhook_at,
        sync=facts,
        tokens_unreadable_since=shop.authorized_at if shop.tokens_unreadable else None,
    )
    return [ShopAttention(code=n.code, message=n.message, at=n.at) for n in notices]


def global_id(type_name: str, internal: str) -> strawberry.ID:
    return strawberry.ID(to_global_id(type_name, internal))
