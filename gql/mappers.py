"""Build GraphQL DTOs from domain entities and read models (they share attribute names on purpose)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.catalog import OrderStatus, plain_text
from domain.shops import shop_status
from gql import types as t


def shop(row: Any, now: datetime) -> t.Shop:
    """From a domain Shop or a shop read model; tokens are never read here."""
    return t.Shop(
        id=t.global_id("Shop", row.id),
        internal_id=row.id,
        name=row.name,
        region=row.region,
        status=shop_status(row.expires_at, row.revoked_at, now, tokens_unreadable=row.tokens_unreadable),
        tiktok_shop_id=row.tiktok_shop_id,
        tiktok_shop_name=row.tiktok_shop_name,
        tiktok_shop_code=row.tiktok_shop_code,
        seller_name=row.seller_name,
        authorized_at=row.authorized_at,
        expires_at=row.expires_at,
        last_synced_at=row.last_synced_at,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        tokens_unreadable=row.tokens_unreadable,
        authorization_expires_at=row.authorization_expires_at,
        webhooks_registered_at=row.webhooks_registered_at,
        last_webhook_at=row.last_webhook_at,
        webhooks=t.ShopWebhooks(
            registered_at=row.webhooks_registered_at,
            registered_address=row.webhooks_registered_address,
            registration_error=row.webhook_registration_error,
            last_received_at=row.last_webhook_at,
        ),
    )


def money(value: Any) -> t.Money:
    return t.Money(amount=plain_text(value.amount), currency=value.currency)  # "1000", never "1E+3"


def product(row: Any) -> t.Product:
    return t.Product(
        id=t.global_id("Product", row.id),
        tiktok_product_id=row.tiktok_product_id,
        title=row.title,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        skus=[sku(s) for s in row.skus],
    )


def sku(row: Any) -> t.Sku:
    return t.Sku(
        id=t.global_id("Sku", row.id),
        tiktok_sku_id=row.tiktok_sku_id,
        seller_sku=row.seller_sku,
        price=money(row.price),
        quantity=row.quantity,
        internal_id=row.id,
    )


def order(row: Any) -> t.Order:
    return t.Order(
        id=t.global_id("Order", row.id),
        tiktok_order_id=row.tiktok_order_id,
        status=OrderStatus.parse(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        total=money(row.total),
        line_items=[
            t.LineItem(
                tiktok_line_item_id=li.tiktok_line_item_id,
                display_status=None if li.display_status is None else OrderStatus.parse(li.display_status),
                cancel_reason=li.cancel_reason,
                cancel_user=li.cancel_user,
                tiktok_sku_id=li.tiktok_sku_id,
                tiktok_product_id=li.tiktok_product_id,
                seller_sku=li.seller_sku,
                product_name=li.product_name,
                quantity=li.quantity,
                sale_price=money(li.sale_price),
            )
            for li in row.line_items
        ],
    )


def sync_task(task: Any) -> t.SyncTask:
    """From a domain SyncTask or a sync-task read model."""
    return t.SyncTask(
        id=t.global_id("SyncTask", task.id),
        internal_id=task.id,
        shop_internal_id=task.shop_id,
        kind=task.kind,
        trigger=task.trigger,
        status=task.status,
        processed=task.processed,
        total=task.total,
        progress=task.progress,
        created=task.created,
        updated=task.updated,
        unchanged=task.unchanged,
        failed=task.failed,
        failures=[t.SyncFailure(tiktok_id=f.tiktok_id, reason=f.reason) for f in task.failures],
        attempts=task.attempts,
        failed_attempts=task.failed_attempts,
        cancel_requested=task.cancel_requested,
        error_code=task.error_code,
        error_message=task.error_message,
        retry_at=task.retry_at,
        orders_created_since=task.orders_created_since,
        orders_created_until=task.orders_created_until,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
    )
