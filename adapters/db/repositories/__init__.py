"""SQL implementations of the domain's repository ports, over one `AsyncSession`; they flush, never commit."""

from adapters.db.repositories.authorizations import SqlAuthorizationRequestRepository
from adapters.db.repositories.catalog import SqlCatalogRepository
from adapters.db.repositories.inventory_push import SqlInventoryPushRepository
from adapters.db.repositories.poll_cursors import SqlPollCursorRepository
from adapters.db.repositories.shops import SqlShopRepository
from adapters.db.repositories.sync_tasks import SqlSyncTaskRepository
from adapters.db.repositories.webhook_events import SqlWebhookEventRepository

__all__ = [
    "SqlAuthorizationRequestRepository",
    "SqlCatalogRepository",
    "SqlInventoryPushRepository",
    "SqlPollCursorRepository",
    "SqlShopRepository",
    "SqlSyncTaskRepository",
    "SqlWebhookEventRepository",
]
