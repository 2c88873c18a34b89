"""The schema's enums: the domain's own (`domain.*`), each value described here (gql/descriptions.py `enum`)."""

from __future__ import annotations

from domain.attention import AttentionCode as DomainAttentionCode
from domain.catalog import OrderStatus as DomainOrderStatus
from domain.errors import ErrorCode
from domain.shops import Region as DomainRegion
from domain.shops import ShopStatus as DomainShopStatus
from domain.sync import SyncKind as DomainSyncKind
from domain.sync import SyncTaskStatus as DomainSyncTaskStatus
from domain.sync import SyncTrigger as DomainSyncTrigger
from gql import descriptions as d

Region = d.enum(
    DomainRegion,
    {
        DomainRegion.US: "United States (TikTok's region code US).",
        DomainRegion.UK: "United Kingdom (TikTok's region code GB, ISO 3166-1's GB).",
        DomainRegion.MY: "Malaysia (TikTok's region code MY).",
        DomainRegion.SG: "Singapore (TikTok's region code SG).",
    },
    description="Regions Shopbridge supports (UK is TikTok's GB).",
)
ShopStatus = d.enum(
    DomainShopStatus,
    {
        DomainShopStatus.ACTIVE: "Authorized; expiresAt is more than 7 days away.",
        DomainShopStatus.EXPIRING_SOON: "expiresAt is within 7 days: re-authorize it (shopReauthorizationStart).",
        DomainShopStatus.EXPIRED: "expiresAt has passed: no sync and no push until it is re-authorized.",
        DomainShopStatus.REVOKED: "TikTok no longer honours the authorization (webhook 6, or a token refresh it "
        "refused), or its stored tokens cannot be decrypted: no sync and no push until it is re-authorized.",
    },
    description="ACTIVE; EXPIRING_SOON within 7 days of expiresAt; EXPIRED once expiresAt has passed; REVOKED when "
    "TikTok no longer honours it, or when Shopbridge cannot decrypt its stored tokens (the encryption key changed): "
    "re-authorize it either way.",
)
_E = ErrorCode
UserErrorCode = d.enum(
    ErrorCode,
    {
        _E.INVALID_INPUT: "An input field is malformed or out of range (the message says its rule; `field` names it).",
        _E.INVALID_NAME: "A shop's custom name breaks its rule (trimmed, 1 to 64 characters ...: the input's "
        "description).",
        _E.NAME_TAKEN: "Another of the merchant's shops has this custom name, compared trimmed, in Unicode NFC, "
        "ignoring case (Unicode case folding) and with every run of spaces one space: shopRename and "
        "shopAuthorizationStart refuse it on `name`, their "
        "payload's `nameTakenBy` is that shop's id; nothing changed.",
        _E.UNSUPPORTED_REGION: "The region is not one Shopbridge supports, or TikTok's shop is of another one.",
        _E.REGION_NOT_CONFIRMED: "shopAuthorizationStart without regionConfirmed true.",
        _E.CROSS_BORDER_SHOP: "TikTok's shop is a cross-border one (seller_type CROSS_BORDER, tiktok-api.md §6): "
        "Shopbridge connects local shops only.",
        _E.REGION_MISMATCH: "TikTok's shop is in another region than the one the authorization was started for.",
        _E.SHOP_ALREADY_CONNECTED: "The TikTok Shop is already connected to another merchant.",
        _E.SHOP_MISMATCH: "A re-authorization granted another TikTok Shop than the one it was started for.",
        _E.INVALID_STATE: "The authorization's `state` is unknown, another merchant's, used or expired (30 minutes).",
        _E.AUTHORIZATION_DENIED: "The seller refused access at TikTok, or TikTok refused the authorization code.",
        _E.AUTHORIZATION_UNCONFIRMED: "TikTok's answer to the single-use code exchange was lost (a timeout): "
        "authorize again.",
        _E.TOO_MANY_AUTHORIZATIONS: "SHOPBRIDGE_MAX_AUTHORIZATION_STARTS (re-)authorizations started within the last "
        "30 minutes and not completed (a completed one frees its place), or ten times as many completed or not; the "
        "payload's `retryAt` says when the next may start.",
        _E.NOT_FOUND: "No such object for this merchant (another merchant's objects do not exist here).",
        _E.TIKTOK_UNAVAILABLE: "TikTok could not be reached or did not serve the request (beyond the client's "
        "retries); try again later.",
        _E.REAUTHORIZATION_REQUIRED: "The shop is REVOKED or EXPIRED: re-authorize it first.",
        _E.SYNC_ALREADY_RUNNING: "A task of a kind asked for is already queued or running: nothing started.",
        _E.SYNC_TASK_FINISHED: "The task has ended (SUCCEEDED, FAILED or CANCELLED): nothing to cancel.",
        _E.INVALID_SYNC_WINDOW: "ordersCreatedSince more than 90 days back, in the future, or without ORDERS.",
        _E.TOO_MANY_SYNC_STARTS: "SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR manual starts of this shop and kind within the "
        "hour; the payload's `retryAt` says when.",
        _E.TIKTOK_REJECTED: "TikTok refused the request, and would refuse it again; its code and message are in the "
        "message (tiktok-api.md §12).",
        _E.MISSING_SCOPE: "A sync task's only: the app or the shop's authorization lacks an API's permission "
        "(TikTok 105005, tiktok-api.md §13.8).",
        _E.TIKTOK_CURSOR_STUCK: "A sync task's only: TikTok's paging stopped advancing (a page token repeated).",
        _E.TIME_LIMIT_EXCEEDED: "A sync task's only: its runs outlived SHOPBRIDGE_SYNC_TIME_LIMIT (seconds).",
        _E.INTERNAL: "A sync task's only: a bug, not TikTok or a rule, ended it on its last attempt (logged).",
        _E.VERSION_CONFLICT: "compareOnHand differs from the stored on-hand: nothing changed; read it again.",
        _E.SKU_ALREADY_EXISTS: "The merchant already has an inventory item with this SKU.",
        _E.SKU_NOT_LINKABLE: "A bundle (combo) SKU, whose stock TikTok derives from its components.",
        _E.SKU_LINK_CHANGED: "skuLink's compareInventoryItemId differs from the item the SKU draws on now (another "
        "session linked or unlinked it since it was read), or inventoryItemCreate's skuId draws on an item now: "
        "nothing changed, no item created.",
        _E.PRODUCT_DELETED: "The SKU's product is DELETED at TikTok: out of the pool (tiktok-api.md §7).",
        _E.ON_HAND_REQUIRED: "inventoryItemCreate with skuId and no onHand, for a SKU whose stored TikTok stock has no "
        "read time (a product stored before read times were kept): its open orders cannot be counted in once; give "
        "onHand (the shelf's count), or sync the shop's products first. Nothing created.",
        _E.ITEM_LINKED: "inventoryItemDelete of an item shop SKUs are linked to (the message says how many): unlink "
        "them first (skuUnlink). Nothing deleted.",
        _E.ITEM_IN_USE: "inventoryItemDelete of an item with units reserved: its reserved count above 0, or an open "
        "order line of a connected shop RESERVED on it (an unlinked SKU's open orders stay reserved on it): once they "
        "ship or are cancelled it can be deleted; or with units sold at TikTok a stock push holds while their orders "
        "are not read (the message says how many, and when the hold ends unless the SKU sells unseen again): once an "
        "orders sync reads them it can "
        "be deleted; or while a shop SKU moved off it to another item was not pushed under that item yet (its unseen "
        "sales of this item have no hold yet): once pushed there, or a hold horizon after the move. Nothing deleted. "
        "What a deleted shop kept on the item for its reconnect does not refuse the "
        "delete: it is dropped with the item (a reconnect seeds an item anew).",
        _E.INVALID_SHARE_PERCENT: "sharePercent outside 1 to 100.",
        _E.INVALID_MAX_QUANTITY: "maxQuantity outside 0 to 99999 (null removes the maximum).",
        _E.INVALID_OUT_OF_STOCK_THRESHOLD: "outOfStockThreshold outside 0 to 1,000,000,000 (units).",
    },
    name="UserErrorCode",
    description="Stable codes of expected failures: a mutation's `userErrors`, and a FAILED sync task's "
    "`errorCode` (MISSING_SCOPE, TIKTOK_CURSOR_STUCK, TIME_LIMIT_EXCEEDED and INTERNAL are a task's only).",
)
SyncKind = d.enum(
    DomainSyncKind,
    {
        DomainSyncKind.PRODUCTS: "Products with their SKUs, prices and stock (TikTok's Search Products, "
        "tiktok-api.md §7).",
        DomainSyncKind.ORDERS: "Orders with their line items (TikTok's Get Order List, tiktok-api.md §8).",
    },
    description="What a sync task brings in from TikTok.",
)
SyncTrigger = d.enum(
    DomainSyncTrigger,
    {
        DomainSyncTrigger.AUTHORIZATION: "An import started by an authorization: the first, when a new shop is "
        "connected (before REAUTHORIZATION was added, also a re-run after a re-authorization).",
        DomainSyncTrigger.REAUTHORIZATION: "A new run of an import (AUTHORIZATION, MANUAL or REAUTHORIZATION) that "
        "a lost authorization failed (REAUTHORIZATION_REQUIRED), queued when the shop is re-authorized (or when "
        "a poll of its kind that was queued or running then succeeds), or when a token refresh lifts the shop's "
        "revocation (TikTok renewed the pair whose refused token failed the import: no re-authorization); ORDERS: "
        "from the failed task's "
        "ordersCreatedSince, within TikTok's 90 days, to now. None once an import of the kind has run since.",
        DomainSyncTrigger.MANUAL: "Started by the merchant (syncStart); bounded by "
        "SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR.",
        DomainSyncTrigger.SCHEDULED: "A poll: what changed at TikTok since the shop's cursor, by update_time "
        "(README, Live sync).",
    },
    description="What started a sync task.",
)
SyncTaskStatus = d.enum(
    DomainSyncTaskStatus,
    {
        DomainSyncTaskStatus.QUEUED: "Waiting for a worker: new, handed back by a shutdown, or between a failed run "
        "and its retry.",
        DomainSyncTaskStatus.RUNNING: "A worker is reading TikTok's pages and storing them.",
        DomainSyncTaskStatus.SUCCEEDED: "Every page was read and stored (records that failed are in `failures`).",
        DomainSyncTaskStatus.FAILED: "Ended by `errorCode`: at once when retrying cannot help, else once "
        "failedAttempts reached SHOPBRIDGE_SYNC_MAX_ATTEMPTS. What was stored is kept.",
        DomainSyncTaskStatus.CANCELLED: "Stopped by syncTaskCancel at its next page. What was stored is kept.",
    },
    description="QUEUED, then RUNNING, then SUCCEEDED, FAILED or CANCELLED (the last three are final).",
)
ShopAttentionCode = d.enum(
    DomainAttentionCode,
    {
        DomainAttentionCode.REAUTHORIZATION_REQUIRED: "The shop is REVOKED or EXPIRED, or its stored tokens cannot "
        "be decrypted: re-authorize it.",
        DomainAttentionCode.EXPIRING_SOON: "The authorization ends within 30 days.",
        DomainAttentionCode.WEBHOOKS_SILENT: "TikTok's notifications stopped while polls keep finding changes.",
        DomainAttentionCode.SYNC_FAILING: "The latest sync of a kind FAILED.",
        DomainAttentionCode.RECORDS_UNREADABLE: "Records TikTok sent could not be read and are not stored (the "
        "message counts them and gives the first one's TikTok id and reason); it clears once each is stored by a "
        "poll, an import or a webhook, or once it first failed longer ago than the task retention (30 days by "
        "default).",
        DomainAttentionCode.STOCK_COPIED: "A SKU of the shop, its seller SKU changed in Seller Center, draws on a new "
        "item whose on-hand was copied from the item it drew on before: both count the same shelf. The message names "
        "the SKU and both items; it clears once the SKU is linked to another item (or unlinked), the new item's "
        "on-hand is set or adjusted (a count of the same value confirms it), or either item is deleted.",
    },
    name="ShopAttentionCode",
    description="REAUTHORIZATION_REQUIRED: revoked or expired, or its stored tokens cannot be decrypted (the "
    "encryption key changed); EXPIRING_SOON: the authorization ends within 30 "
    "days; WEBHOOKS_SILENT: TikTok's notifications stopped while polls keep finding changes; SYNC_FAILING: the "
    "latest sync of a kind failed; RECORDS_UNREADABLE: records TikTok sent could not be read and are not stored; "
    "STOCK_COPIED: a SKU draws on a new item whose on-hand was copied from another item's (a seller SKU renamed).",
)
_O = DomainOrderStatus
OrderStatus = d.enum(
    DomainOrderStatus,
    {
        _O.UNPAID: "Placed, not paid.",
        _O.ON_HOLD: "Paid and accepted; the buyer may still cancel without the seller's approval (US and UK, about an "
        "hour); no recipient address yet.",
        _O.AWAITING_SHIPMENT: "Paid, nothing shipped yet.",
        _O.PARTIALLY_SHIPPING: "Some of its items shipped, others not yet.",
        _O.AWAITING_COLLECTION: "Shipment arranged, waiting for the carrier.",
        _O.IN_TRANSIT: "Collected by the carrier.",
        _O.DELIVERED: "Delivered to the buyer.",
        _O.COMPLETED: "Done: no further returns or refunds.",
        _O.CANCELLED: "Cancelled (by the buyer, the seller or TikTok).",
    },
    description="TikTok Shop's order statuses (Get Order List `status`, tiktok-api.md §8; live-sync.md §3.1).",
)
