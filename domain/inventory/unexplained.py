"""Units a shop's delete took off as sold unseen that no sale explained: when they go back on on-hand (soak59 F3).

A shop's delete takes the units its links' holds still stand for off their items' on-hand ("shop deleted: sold
unseen") and keeps them by merchant, TikTok shop, SKU and item (`deleted_shop_holds`, README "Deleting a shop"):
the same TikTok shop connected again imports those sales' orders, and the first open lines of the SKU made before
the hold's last push take the record's units back (`domain.inventory.ledger.back_from_unseen`). A hold is the push
fence's reading (TikTok's available fell by more than the ledger explains), not a sale seen: a Seller Center edit,
or the fence's own false positive under fast link changes and sales (soak59 run4), leaves a record no line ever
takes, and its units stayed off the pool for good (the retention sweep dropped the record after 97 days, not the
deduction).

The rule here: a record is **unexplained** once the same merchant's connection of that TikTok shop has imported
its products and its orders since the delete, both SUCCEEDED (an import, not a poll: `SyncTrigger.SCHEDULED` is
left out), the orders import's window (orders created in `[orders_created_since, orders_created_until)`, by create
time, each read in its state then: live-sync.md 3.3, `domain.sync.SyncTask.queue`) reaching back at least the hold's
horizon before the hold's last push (`sold_before`: the sales a hold stands for were made after the push before it,
within the horizon, `domain.inventory_push.carried_hold`), and no line of that SKU waits for its link on that
connection (`PENDING_LINK`: a waiting line takes the record once linked, `relink_lines`). By then every order made
before the push has been read and applied in the import's own transactions (`domain.services.inventory.
pool_orders`): a sale behind the hold took the record's units, and whatever is left stood for no sale. Why not a
horizon counted from the delete: while the shop is not connected again the pool cannot see its orders, and the
delete's premise (TikTok still has the merchant ship those sales from the shared shelf) holds for a real sale;
giving its units back then would put them on sale twice for good, the larger harm (run3's 5 units were real sales).
A TikTok shop never connected again keeps the deduction, as before, until the merchant counts.

Given back: the record's units return to its item's on-hand (`available` up as much; pushed to every shop of the
item), a movement of their own (`MovementKind.CORRECTED`, reason `UNEXPLAINED_HOLD_REASON`) in the item's history;
none when the merchant counted the item since the delete (the last `SET` at or after `deleted_at`): that count set
on-hand to the shelf, which held those units, as `ledger.unseen_back_on_hand` rules for a line taking them. The
record goes either way, once: a line arriving later moves as any line of the new connection (open, it reserves on
the on-hand given back; shipped under the kept link, it deducts), the outcome a line taking the record would have
had.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.sync import SyncKind

UNEXPLAINED_HOLD_REASON = "shop connected again: no sale unseen"  # the movement's reason (stable: tests, console)


@dataclass(frozen=True, slots=True)
class ImportDone:
    """A SUCCEEDED import (not a poll) of the connection: `kind` PRODUCTS or ORDERS, queued at `created_at`; an
    ORDERS import's window starts at `orders_created_since` (None for PRODUCTS)."""

    kind: str
    created_at: datetime
    orders_created_since: datetime | None = None


def hold_unexplained(
    deleted_at: datetime, sold_before: datetime, imports: Iterable[ImportDone], hold_horizon: timedelta, *,
    waiting: bool,
) -> bool:  # fmt: skip
    """Whether a `deleted_shop_holds` record (its delete `deleted_at`, the hold's last push `sold_before`) is one no
    sale explains: the connection of its TikTok shop since the delete imported its products and its orders (both
    queued at or after `deleted_at`, SUCCEEDED), the orders import reaching back to `sold_before - hold_horizon` at
    least, and no line of its SKU waits for a link there (`waiting`). The rule and why: this module's docstring."""
    if waiting:
        return False
    done = [i for i in imports if i.created_at >= deleted_at]
    products = any(i.kind == SyncKind.PRODUCTS for i in done)
    orders = any(
        i.kind == SyncKind.ORDERS
        and i.orders_created_since is not None
        and i.orders_created_since <= sold_before - hold_horizon
        for i in done
    )
    return products and orders


def unexplained_back_on_hand(quantity: int, counted_at: datetime | None) -> int:
    """Units of an unexplained record of `quantity` units that go back on its item's on-hand: all of them, none when
    the merchant counted the item since the delete (`counted_at`: the last SET at or after the record's
    `deleted_at`; None: none), as `domain.inventory.ledger.unseen_back_on_hand` rules for a line that takes them."""
    return quantity if counted_at is None else 0
