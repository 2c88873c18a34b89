"""What a merchant should do about a shop: `Shop.attention`, a list of notices, each with a code, a message and a
date. Computed from the shop and facts about its syncs; some inputs arrive with the webhook intake and are None
until then (the rule simply stays quiet about what it cannot know). `tokens_unreadable_since`: None unless the
shop's stored tokens cannot be decrypted, then when they were authorized.

Codes:
    REAUTHORIZATION_REQUIRED  revoked (TikTok refused the tokens, the seller deauthorized) or expired; `at`: since;
                              or the stored tokens cannot be decrypted with the configured keys (the encryption
                              key was lost or changed); `at`: when those tokens were authorized
    EXPIRING_SOON             the authorization ends within 30 days (the earlier of the refresh token's expiry
                              and the end TikTok announced with webhook 7); `at`: when it ends. live-sync.md §7.8
                              asks for warnings 30, 7 and 1 days ahead: the message counts the days.
    WEBHOOKS_SILENT           webhooks are registered, yet polls kept finding changes for over an hour after
                              the last webhook arrived: pushes are being lost; `at`: the last webhook (or the
                              registration)
    SYNC_FAILING              the latest sync of a kind FAILED (other than for a lost authorization); `at`: when;
                              the message says the next poll retries it, except for a failure retrying cannot
                              mend (MISSING_SCOPE: re-authorize) or may not (TIKTOK_REJECTED: see the Task Center)
    RECORDS_UNREADABLE        records TikTok sent could not be read (e.g. an order with `create_time: 0`) and no
                              later read of them was stored: the message counts them and gives the first one's
                              reason; `at`: when the first failed. It stays until every one is stored by a poll,
                              an import or a webhook (try-out livesync52 defect 5: it used to show on the failing
                              polls only, about a minute; each poll reads them again by id, `domain.services.
                              rereads`), TikTok says it no longer has it, or it failed first more than
                              `SHOPBRIDGE_TASK_RETENTION` ago (the retention sweep: `UNREADABLE_RECORDS`). At
                              most `domain.sync.MAX_UNREADABLE_RECORDS` per kind are kept: the message says "100 or
                              more" then.
    STOCK_COPIED              a SKU of the shop draws on an item its own TikTok stock seeded as a copy of another
                              item's count, and the merchant has not settled it: the SKU was LINKED to that item when
                              its seller SKU changed in Seller Center to one no item had, so the new item was seeded
                              from TikTok's stock, which showed the old item's pushes (README "Shared inventory
                              pool" -> Seeding; `domain.inventory.links.seed_copies`, `sku_links.seeded_from_item_id`,
                              migration 0030). Both items then count the same shelf, and a sale on one no longer
                              lowers what the other's shops show (tryout72 F1). The message names the SKU, the new item,
                              the item it copied, and what to do; `at`: when the new item was seeded. It stays while
                              the SKU is LINKED to that seeded item, the item it copied still exists, and neither
                              `inventorySetOnHand` nor `inventoryAdjust` was made on the new item (a `HAND_MADE`
                              movement: a count of the same value is one too). So it goes while the SKU is linked
                              to another item or unlinked, and for good once the new item is counted or deleted, or
                              the copied item is deleted (nothing counts the shelf twice then). A SKU unlinked then
                              linked by hand to the new item again brings it back, with the same seed: a link is no
                              count, and both items still count one shelf (review72c F2). Several such SKUs: one
                              notice counting them, naming the first seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import ErrorCode
from domain.shops import TOKENS_UNREADABLE_MESSAGE, ShopStatus, authorization_end, shop_status
from domain.sync import MAX_UNREADABLE_RECORDS

EXPIRY_WARNING = timedelta(days=30)
WEBHOOK_SILENCE = timedelta(hours=1)


class AttentionCode(StrEnum):
    REAUTHORIZATION_REQUIRED = "REAUTHORIZATION_REQUIRED"
    EXPIRING_SOON = "EXPIRING_SOON"
    WEBHOOKS_SILENT = "WEBHOOKS_SILENT"
    SYNC_FAILING = "SYNC_FAILING"
    RECORDS_UNREADABLE = "RECORDS_UNREADABLE"
    STOCK_COPIED = "STOCK_COPIED"


@dataclass(frozen=True, slots=True)
class Attention:
    code: AttentionCode
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SyncFacts:
    """What the shop's sync tasks say. `changes_found_at`: when a poll last found a change (finished);
    `failing_since`/`failing_kind`: the latest task of that kind FAILED, at that time; `unreadable`: records that
    could not be read and are still not stored (None: none); `failing_code`: that failed task's `error_code` (an
    `ErrorCode` value, None when it has none); `copied_stock`: the shop's SKUs on an item seeded as a copy of another
    item's count and not settled (STOCK_COPIED; None: none)."""

    changes_found_at: datetime | None = None
    failing_since: datetime | None = None
    failing_kind: str | None = None
    unreadable: Unreadable | None = None
    failing_code: str | None = None
    copied_stock: CopiedStock | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Records of the shop TikTok sent that could not be read and are not stored since (`unreadable_records`):
    how many (all kinds), the first one's kind ("ORDERS"/"PRODUCTS"), TikTok id and reason, and when it failed."""

    count: int
    kind: str
    tiktok_id: str
    reason: str
    since: datetime


@dataclass(frozen=True, slots=True)
class CopiedStock:
    """The shop's SKUs LINKED to an item their seller SKU's rename seeded as a copy of another item's count, unsettled
    (STOCK_COPIED): how many, and the first seeded: its seller SKU (as the link matched it), the new item's SKU, the
    SKU of the item whose count it copied, and when the new item was created (UTC)."""

    count: int
    seller_sku: str
    item_sku: str
    copied_sku: str
    since: datetime


def shop_attention(
    now: datetime,
    *,
    expires_at: datetime,
    revoked_at: datetime | None,
    authorization_expires_at: datetime | None = None,
    webhooks_registered_at: datetime | None = None,
    last_webhook_at: datetime | None = None,
    sync: SyncFacts | None = None,
    tokens_unreadable_since: datetime | None = None,
) -> list[Attention]:
    """The shop's notices, most urgent first. `expires_at`: the refresh token's expiry, or the authorization's end
    (`Shop.expires_at`, already the earlier of it and `authorization_expires_at`: taking the earlier again changes
    nothing); the webhook-related inputs come from the webhook intake (None: unknown, nothing said about them)."""
    notices: list[Attention] = []
    if tokens_unreadable_since is not None:
        notices.append(
            Attention(
                AttentionCode.REAUTHORIZATION_REQUIRED,
                TOKENS_UNREADABLE_MESSAGE,
                tokens_unreadable_since,
            )
        )
        return notices  # nothing else matters until then
    ends_at = authorization_end(expires_at, authorization_expires_at)
    status = shop_status(ends_at, revoked_at, now)
    if status in (ShopStatus.REVOKED, ShopStatus.EXPIRED):
        since = revoked_at if revoked_at is not None else ends_at
        why = "TikTok no longer honours" if revoked_at is not None else "TikTok ended"
        notices.append(
            Attention(
                AttentionCode.REAUTHORIZATION_REQUIRED,
                f"{why} the shop's authorization: re-authorize it to resume syncing.",
                since,
            )
        )
        return notices  # nothing else matters until then
    if ends_at - now <= EXPIRY_WARNING:
        left = ends_at - now
        days = math.ceil(left / timedelta(days=1))  # 9 days 23 h: "in 10 days"
        when = "within a day" if left <= timedelta(days=1) else f"in {days} days"
        notices.append(
            Attention(
                AttentionCode.EXPIRING_SOON,
                f"The shop's authorization ends {when}: re-authorize it to keep syncing.",
                ends_at,
            )
        )
    if webhooks_registered_at is not None and sync is not None and sync.changes_found_at is not None:
        heard_at = max(last_webhook_at or webhooks_registered_at, webhooks_registered_at)
        if sync.changes_found_at - heard_at > WEBHOOK_SILENCE:
            notices.append(
                Attention(
                    AttentionCode.WEBHOOKS_SILENT,
                    "TikTok's notifications have stopped arriving while changes keep happening; polling still "
                    "brings them in, with a delay of up to one poll interval.",
                    heard_at,
                )
            )
    if sync is not None and sync.failing_since is not None:
        what = f"{sync.failing_kind.lower()} sync" if sync.failing_kind else "sync"
        notices.append(Attention(AttentionCode.SYNC_FAILING, _failing(what, sync.failing_code), sync.failing_since))
    if sync is not None and sync.unreadable is not None:
        notices.append(_unreadable(sync.unreadable))
    if sync is not None and sync.copied_stock is not None:
        notices.append(_copied(sync.copied_stock))
    return notices


def _failing(what: str, error_code: str | None) -> str:
    """SYNC_FAILING's message for the last sync `what` ("products sync") that failed with `error_code`. A failure
    retrying cannot mend says what to do instead: "it is retried at the next poll" alone sent a merchant whose shop
    lacked a permission waiting for a poll that fails the same way (newcomer57 F10)."""
    if error_code == ErrorCode.MISSING_SCOPE.value:
        return (
            f"The last {what} failed: the shop's authorization lacks a permission Shopbridge needs, so the next poll "
            "fails the same way. Re-authorize the shop; the Task Center has the details."
        )
    if error_code == ErrorCode.TIKTOK_REJECTED.value:
        return (
            f"The last {what} failed: TikTok refused a request (its reason is in the Task Center). The next poll "
            "tries again, but may be refused the same way."
        )
    return f"The last {what} failed; it is retried at the next poll."


def _unreadable(records: Unreadable) -> Attention:
    """RECORDS_UNREADABLE: "2 records TikTok sent could not be read (first: order 5770…: create_time is 0: …)"."""
    count = f"{records.count} or more" if records.count >= MAX_UNREADABLE_RECORDS else str(records.count)
    noun = "record" if records.count == 1 else "records"
    what = "order" if records.kind == "ORDERS" else "product"
    return Attention(
        AttentionCode.RECORDS_UNREADABLE,
        f"{count} {noun} TikTok sent could not be read and {'is' if records.count == 1 else 'are'} not stored "
        f"(first: {what} {records.tiktok_id}: {records.reason}); each is stored once TikTok serves it readably.",
        records.since,
    )


def _copied(copied: CopiedStock) -> Attention:
    """STOCK_COPIED: 'SKU "MUG-XL" of this shop (its seller SKU changed in Seller Center) now draws on a new item,
    "MUG-XL", whose on-hand was copied from item "MUG", ...'; more than one such SKU: "(and 2 more SKUs of this shop
    like it)" after the first."""
    more = copied.count - 1
    others = f" (and {more} more SKU{'s' if more > 1 else ''} of this shop like it)" if more else ""
    new, old = copied.item_sku, copied.copied_sku
    return Attention(
        AttentionCode.STOCK_COPIED,
        f'SKU "{copied.seller_sku}" of this shop (its seller SKU changed in Seller Center) now draws on a new item, '
        f'"{new}", whose on-hand was copied from item "{old}", the one it drew on before{others}: both items count '
        "the same shelf, and a sale on one no longer lowers the stock shown for the other. Link the SKU to "
        f'"{old}" if it is the same product, or set or adjust the on-hand of "{new}" to its own count (a count of '
        "the same value confirms it).",
        copied.since,
    )
