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
    `ErrorCode` value, None when it has none)."""

    changes_found_at: datetime | None = None
    failing_since: datetime | None = None
    failing_kind: str | None = None
    unreadable: Unreadable | None = None
    failing_code: str | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Records of the shop TikTok sent that could not be read and are not stored since (`unreadable_records`):
    how many (all kinds), the first one's kind ("ORDERS"/"PRODUCTS"), TikTok id and reason, and when it failed."""

    count: int
    kind: str
    tiktok_id: str
    reason: str
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
