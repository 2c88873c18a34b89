"""Expected failures, each with a stable code that clients may branch on.

    DomainError                      a rule said no; carries `code`, `message` and the input `field` path
      ├── ValidationError            the input itself is bad (INVALID_NAME, ...)
      │     └── ValidationErrors     several fields of one input are bad at once: `errors`, each field's
      └── NotFoundError              the thing does not exist *for this merchant* (NOT_FOUND)

Anything that is not a DomainError is a bug or an outage: masked for clients, logged for us.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes of every expected failure, and of every sync task's failure (`SyncTask.error_code`: MISSING_SCOPE,
    TIKTOK_CURSOR_STUCK, TIME_LIMIT_EXCEEDED and INTERNAL are a task's only); the GraphQL `UserErrorCode` enum
    mirrors this one."""

    INVALID_INPUT = "INVALID_INPUT"
    INVALID_NAME = "INVALID_NAME"
    # Another of the merchant's shops has the name: trimmed, NFC, caseless (`domain.shops.folded_shop_name`).
    NAME_TAKEN = "NAME_TAKEN"
    UNSUPPORTED_REGION = "UNSUPPORTED_REGION"
    REGION_NOT_CONFIRMED = "REGION_NOT_CONFIRMED"
    CROSS_BORDER_SHOP = "CROSS_BORDER_SHOP"
    REGION_MISMATCH = "REGION_MISMATCH"
    SHOP_ALREADY_CONNECTED = "SHOP_ALREADY_CONNECTED"
    SHOP_MISMATCH = "SHOP_MISMATCH"
    INVALID_STATE = "INVALID_STATE"
    AUTHORIZATION_DENIED = "AUTHORIZATION_DENIED"
    # TikTok's answer to the single-use code exchange was lost (a timeout): whether it went through is unknown.
    AUTHORIZATION_UNCONFIRMED = "AUTHORIZATION_UNCONFIRMED"
    # The merchant started SHOPBRIDGE_MAX_AUTHORIZATION_STARTS authorizations within a state's life (30 minutes) and
    # did not complete them (a completed one frees its place), or ten times as many completed or not
    # (`domain.authorization.check_room`); the payload's `retryAt` tells when the next may start.
    TOO_MANY_AUTHORIZATIONS = "TOO_MANY_AUTHORIZATIONS"
    NOT_FOUND = "NOT_FOUND"
    TIKTOK_UNAVAILABLE = "TIKTOK_UNAVAILABLE"
    REAUTHORIZATION_REQUIRED = "REAUTHORIZATION_REQUIRED"
    SYNC_ALREADY_RUNNING = "SYNC_ALREADY_RUNNING"
    SYNC_TASK_FINISHED = "SYNC_TASK_FINISHED"
    INVALID_SYNC_WINDOW = "INVALID_SYNC_WINDOW"
    # The merchant started SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR syncs of a shop and kind within the last hour.
    TOO_MANY_SYNC_STARTS = "TOO_MANY_SYNC_STARTS"
    # Why TikTok refused: retrying the same request cannot help (tiktok-api.md sec. 12).
    TIKTOK_REJECTED = "TIKTOK_REJECTED"  # TikTok refused the request; its code and message are in the message
    MISSING_SCOPE = "MISSING_SCOPE"  # the app or token lacks one API's permission (105005); the shop stays usable
    TIKTOK_CURSOR_STUCK = "TIKTOK_CURSOR_STUCK"  # TikTok's paging stopped advancing (a repeated page token)
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"  # a sync run outlived SHOPBRIDGE_SYNC_TIME_LIMIT
    # A sync task's only, as the three above: a bug, not TikTok or a rule, ended it (logged); no mutation returns it.
    INTERNAL = "INTERNAL"
    # The inventory pool (issue 8).
    VERSION_CONFLICT = "VERSION_CONFLICT"  # a compare value (compareOnHand) differs from the stored one
    SKU_ALREADY_EXISTS = "SKU_ALREADY_EXISTS"  # the merchant already has an inventory item with this SKU
    SKU_NOT_LINKABLE = "SKU_NOT_LINKABLE"  # a bundle (combo) SKU: its stock is TikTok's to derive (12052850)
    PRODUCT_DELETED = "PRODUCT_DELETED"  # a SKU of a product TikTok reports DELETED: out of the pool (tiktok-api §7)
    # skuLink's compareInventoryItemId differs from the item the SKU draws on now (linked elsewhere meanwhile)
    SKU_LINK_CHANGED = "SKU_LINK_CHANGED"
    # inventoryItemCreate from a SKU, no onHand: the SKU's stored stock has no read time to pair its open orders with
    ON_HAND_REQUIRED = "ON_HAND_REQUIRED"
    # inventoryItemDelete (tryout61 F3, `domain.inventory.removal`): shop SKUs still linked to the item (unlink first)
    ITEM_LINKED = "ITEM_LINKED"
    # inventoryItemDelete: units of the item reserved, or order lines (a deleted shop's kept ones too) counting on it
    ITEM_IN_USE = "ITEM_IN_USE"
    # A shop's inventory push policy (shopInventoryPolicyUpdate).
    INVALID_SHARE_PERCENT = "INVALID_SHARE_PERCENT"
    INVALID_MAX_QUANTITY = "INVALID_MAX_QUANTITY"
    INVALID_OUT_OF_STOCK_THRESHOLD = "INVALID_OUT_OF_STOCK_THRESHOLD"


class DomainError(Exception):
    """A rule said no. `field` is the path of the offending input field, when there is one."""

    def __init__(self, code: ErrorCode, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value}, {self.message!r})"


class ValidationError(DomainError):
    """The input is malformed, whatever the state of the world."""


class ValidationErrors(ValidationError):
    """Several fields of one input are bad at once, so that a form can mark every field in one answer: `errors`, each
    a ValidationError with its own code and field, in the order the rule checks them. Its own code, message and
    field are the first's: a caller that reports one error reports what it did before."""

    def __init__(self, errors: Sequence[ValidationError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = tuple(errors)

    @classmethod
    def of(cls, errors: Sequence[ValidationError]) -> ValidationError:
        """The error to raise for `errors` (at least one): the error itself when it is alone, else all of them."""
        return errors[0] if len(errors) == 1 else cls(errors)


class NotFoundError(DomainError):
    """The object does not exist, or belongs to another merchant (the two are indistinguishable on purpose)."""

    def __init__(self, what: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found.", field)


def when_to_retry(retry_at: datetime, now: datetime) -> str:
    """When a refused start may be tried again, as a message says it: "in N seconds (at 2026-01-02T03:04:05Z)", the
    seconds from `now` rounded up (never "in 0 seconds"), then `retry_at` as a UTC time to the second. What
    TOO_MANY_SYNC_STARTS and TOO_MANY_AUTHORIZATIONS end with ("try again in ...")."""
    seconds = max(1, math.ceil((retry_at - now).total_seconds()))
    return f"in {seconds} seconds (at {retry_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"
