"""Column values to Python values, shared by the repositories (domain objects) and the read queries (read models)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping

from domain.sync import RecordFailure, SyncKind, SyncTaskStatus, SyncTrigger

_TASK_PLAIN_COLUMNS = (
    "id", "shop_id", "merchant_id", "created_at", "orders_created_since", "orders_created_until", "processed",
    "total", "created", "updated", "unchanged", "failed", "attempts", "failed_attempts", "error_code", "error_message",
    "started_at", "finished_at", "heartbeat_at", "retry_at",
)  # fmt: skip


def sync_task_fields(m: RowMapping) -> dict[str, Any]:
    """Keyword arguments common to `SyncTask` and `SyncTaskRead` (failures as a tuple; no checkpoint)."""
    fields = {name: m[name] for name in _TASK_PLAIN_COLUMNS}
    fields.update(
        kind=SyncKind(m["kind"]),
        trigger=SyncTrigger(m["trigger"]),
        status=SyncTaskStatus(m["status"]),
        failures=tuple(RecordFailure(f["tiktok_id"], f["reason"]) for f in m["failures"]),
        cancel_requested=bool(m["cancel_requested"]),
    )
    return fields
