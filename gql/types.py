"""GraphQL object types: plain DTOs built from domain objects or read models, never from ORM rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

import strawberry

from domain.attention import AttentionCode as DomainAttentionCode
from domain.attention import SyncFacts, shop_attention
from domain.catalog import OrderStatus as DomainOrderStatus
from domain.errors import ErrorCode
from domain.shops import Region as DomainRegion
from domain.shops import ShopStatus as DomainShopStatus
from domain.sync import SyncKind as DomainSyncKind
from domain.sync import SyncTaskStatus as DomainSyncTaskStatus
from domain.sync import SyncTrigger as DomainSyncTrigger
from gql.context import Info
from gql.ids import to_global_id
from gql.inventory_policy.types import InventoryPolicy

if TYPE_CHECKING:
    from gql.inventory.types import SkuLink

Region = strawberry.enum(DomainRegion, description="Regions Shopbridge supports (UK is TikTok's GB).")
ShopStatus = strawberry.enum(
    DomainShopStatus,
    description="ACTIVE; EXPIRING_SOON within 7 days of expiresAt; EXPIRED once expiresAt has passed; REVOKED when "
    "TikTok no longer honours it, or when Shopbridge cannot decrypt its stored tokens (the encryption key changed): "
    "re-authorize it either way.",
)
UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode", description="Stable codes of expected failures.")
SyncKind = strawberry.enum(DomainSyncKind)
SyncTrigger = strawberry.enum(DomainSyncTrigger)
SyncTaskStatus = strawberry.enum(DomainSyncTaskStatus)
ShopAttentionCode = strawberry.enum(
    DomainAttentionCode,
    name="ShopAttentionCode",
    description="REAUTHORIZATION_REQUIRED: revoked or expired, or its stored tokens cannot be decrypted (the "
    "encryption key changed); EXPIRING_SOON: the authorization ends within 30 "
    "days; WEBHOOKS_SILENT: TikTok's notifications stopped while polls keep finding changes; SYNC_FAILING: the "
    "latest sync of a kind failed.",
)


@strawberry.type(description="Something the merchant should know or do about a shop.")
class ShopAttention:
    code: ShopAttentionCode  # type: ignore[valid-type]
    message: str
    at: datetime = strawberry.field(
        description="UTC. REAUTHORIZATION_REQUIRED: since when (unreadable tokens: when they were authorized); "
        "EXPIRING_SOON: when the authorization ends; "
        "WEBHOOKS_SILENT: the last notification received; SYNC_FAILING: when the sync failed."
    )


OrderStatus = strawberry.enum(DomainOrderStatus, description="TikTok Shop's order statuses.")


@strawberry.interface(description="An object with a global, opaque id.")
class Node:
    id: strawberry.ID


@strawberry.type(description="An expected failure: what went wrong, with a stable code and the input field.")
class UserError:
    field: list[str] | None
    message: str
    code: UserErrorCode  # type: ignore[valid-type]


@strawberry.type
class Money:
    amount: str = strawberry.field(description="Exact decimal, as a string.")
    currency: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


NodeT = TypeVar("NodeT")


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int


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
    last_received_at: datetime | None = strawberry.field(description="When the last processed webhook arrived.")


@strawberry.type(description="A TikTok Shop connected to the merchant.")
class Shop(Node):
    id: strawberry.ID
    name: str = strawberry.field(description="The merchant's custom name for the shop.")
    region: Region  # type: ignore[valid-type]
    status: ShopStatus  # type: ignore[valid-type]
    tiktok_shop_id: str
    tiktok_shop_name: str
    tiktok_shop_code: str | None
    seller_name: str | None
    authorized_at: datetime
    expires_at: datetime = strawberry.field(
        description="UTC. When the authorization ends: the refresh token's expiry, or the end TikTok announced "
        "(webhook 7) if earlier; a re-authorization replaces both."
    )
    last_synced_at: datetime | None
    created_at: datetime
    webhooks: ShopWebhooks
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
        return await info.context.loaders.inventory_policy.load(self.internal_id)

    @strawberry.field(
        description="The shop's imported products: its running count, a lookup whatever the shop's size (a product "
        "an older release's process stored during a rolling deploy is counted from the shop's next products import)."
    )
    async def product_count(self, info: Info) -> int:
        return await info.context.loaders.product_count.load(self.internal_id)

    @strawberry.field(
        description="The shop's imported orders (those of the import's window and after): its running count, as "
        "`orders.totalCount` without filters, a lookup whatever the shop's size."
    )
    async def order_count(self, info: Info) -> int:
        return await info.context.loaders.order_count.load(self.internal_id)

    @strawberry.field
    async def products(self, info: Info, first: int | None = 20, after: str | None = None) -> Connection[Product]:
        from gql import readers

        return await readers.products(info, self.internal_id, first, after)

    @strawberry.field
    async def orders(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        status: OrderStatus | None = None,  # type: ignore[valid-type]
        created_after: datetime | None = None,
    ) -> Connection[Order]:
        from gql import readers

        return await readers.orders(info, self.internal_id, first, after, status, created_after)

    @strawberry.field
    async def sync_tasks(self, info: Info, first: int | None = 20, after: str | None = None) -> Connection[SyncTask]:
        from gql import readers

        return await readers.sync_tasks(info, self.internal_id, None, first, after)


@strawberry.type(description="A product's variant at TikTok (TikTok's SKU); `node(id:)` finds it by its id.")
class Sku(Node):
    id: strawberry.ID
    tiktok_sku_id: str
    seller_sku: str | None
    price: Money
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
        link: SkuLink | None = await info.context.loaders.sku_link.load(self.internal_id)
        return link if link is not None and link.in_pool else None


@strawberry.type
class Product(Node):
    id: strawberry.ID
    tiktok_product_id: str
    title: str
    status: str
    skus: list[Sku]
    created_at: datetime
    updated_at: datetime


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
    tiktok_sku_id: str
    tiktok_product_id: str | None
    seller_sku: str | None
    product_name: str
    quantity: int
    sale_price: Money


@strawberry.type
class Order(Node):
    id: strawberry.ID
    tiktok_order_id: str
    status: OrderStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="TikTok's status; null for a status TikTok added that this version does not know yet."
    )
    created_at: datetime
    updated_at: datetime
    total: Money
    line_items: list[LineItem]


@strawberry.type
class SyncFailure:
    tiktok_id: str
    reason: str


@strawberry.type(description="One import, as the Task Center lists it.")
class SyncTask(Node):
    id: strawberry.ID
    kind: SyncKind  # type: ignore[valid-type]
    trigger: SyncTrigger  # type: ignore[valid-type]
    status: SyncTaskStatus  # type: ignore[valid-type]
    processed: int
    total: int | None
    progress: float | None = strawberry.field(description="processed / total, from 0 to 1, when total is known.")
    created: int
    updated: int
    unchanged: int
    failed: int
    failures: list[SyncFailure] = strawberry.field(description="The first records that could not be imported.")
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
    cancel_requested: bool
    error_code: str | None = strawberry.field(
        description=(
            "Why the task FAILED: REAUTHORIZATION_REQUIRED, TIKTOK_UNAVAILABLE, MISSING_SCOPE, TIKTOK_REJECTED, "
            "TIKTOK_CURSOR_STUCK, TIME_LIMIT_EXCEEDED, INTERNAL, or a rule's code; null unless FAILED."
        )
    )
    error_message: str | None = strawberry.field(
        description="What failed, in words; names TikTok's code, message and request id when TikTok refused."
    )
    orders_created_since: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    internal_id: strawberry.Private[str]
    shop_internal_id: strawberry.Private[str]

    @strawberry.field
    async def shop(self, info: Info) -> Shop | None:
        return await info.context.loaders.shop.load(self.shop_internal_id)


async def attention_of(shop: Shop, info: Info) -> list[ShopAttention]:
    """`Shop.attention`: the domain's rule over the shop and its sync facts (one batched query per operation, none
    when the facts came with the shop)."""
    facts = shop.sync_facts
    if facts is None:
        facts = await info.context.loaders.sync_facts.load(shop.internal_id)
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
