"""Prometheus metrics (prometheus-client): what every process records, and the exposition `/metrics` serves.

Several processes on one host (uvicorn workers, `shopbridge worker` processes) share one directory named by
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's own setting, read at import): each process writes its samples
there and `/metrics` of any API process serves the sum of all. Without it each process counts alone.

Metric names (a contract: dashboards and alerts use them; see the README's Operations section):

    shopbridge_graphql_operations_total{operation,type,outcome}      outcome: ok | error
    shopbridge_graphql_operation_duration_seconds{operation,type}    histogram
    shopbridge_tiktok_requests_total{endpoint,outcome}               outcome: ok | rate_limited | server | ...
    shopbridge_tiktok_retries_total{endpoint}
    shopbridge_sync_records_imported_total{kind,outcome}             outcome: created | updated | unchanged | failed
    shopbridge_sync_task_duration_seconds{kind,status}               histogram, from start to end of a task
    shopbridge_sync_tasks{status}                                    QUEUED / RUNNING tasks, read at scrape time
    shopbridge_broker_queue_messages{queue}                          messages waiting in Redis, read at scrape time
    shopbridge_dependency_up{dependency}                             database | redis: 1 answered the last readiness
                                                                     check (each /readyz and each scrape), 0 did not
    shopbridge_webhooks_received_total{outcome}                      POST /webhooks/tiktok answers, outcome: stored |
                                                                     duplicate | unauthorized | malformed | too_large |
                                                                     failed
    shopbridge_webhook_events_received_total{type,outcome}           verified pushes by event type (TikTok's name, or
                                                                     OTHER) and inbox outcome: stored | duplicate |
                                                                     failed (not stored: answered 500)
    shopbridge_webhook_events_processed_total{type,outcome}          events settled, outcome: processed | ignored |
                                                                     failed (unknown shops: ignored at receipt)
    shopbridge_webhook_processing_lag_seconds                        histogram, an event's receipt to its settlement by
                                                                     a worker (seconds)
    shopbridge_webhook_intake_batch_size                             histogram, pushes stored per inbox transaction
    shopbridge_webhook_events_pruned_total                           settled events deleted by the retention sweep
    shopbridge_sync_tasks_pruned_total                               finished tasks deleted by the retention sweep
    shopbridge_authorization_requests_pruned_total                   expired OAuth requests deleted by the sweep
    shopbridge_deleted_shop_lines_pruned_total                       records of deleted shops' lines the sweep deleted
    shopbridge_unreadable_records_pruned_total                       unreadable-record marks the sweep deleted
    shopbridge_inventory_pushes_total{outcome}                       Update Inventory per product: ok | partial |
                                                                     retry | noop
    shopbridge_inventory_push_lag_seconds                            histogram: last stock change -> TikTok told
    shopbridge_inventory_drift_total                                 linked SKUs a reconcile found off target
    shopbridge_requests_rate_limited_total{endpoint}                 requests refused with 429 RATE_LIMITED, endpoint:
                                                                     graphql (per merchant) | graphql_ws (an
                                                                     operation over the WebSocket, per merchant) |
                                                                     console_login (per client address)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from adapters.logs import bind_log_context, bound_task_id
from domain.intake import EventOutcome, WebhookEvent, event_type_name
from domain.ports import EventPublisher
from domain.services.inventory_push import PushMetrics
from domain.sync import SyncTask, SyncTaskStatus

GRAPHQL_OPERATIONS = Counter(
    "shopbridge_graphql_operations_total", "GraphQL operations by name, type and outcome.",
    ["operation", "type", "outcome"],
)  # fmt: skip
GRAPHQL_DURATION = Histogram(
    "shopbridge_graphql_operation_duration_seconds", "Time to execute a GraphQL operation (seconds).",
    ["operation", "type"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
TIKTOK_REQUESTS = Counter(
    "shopbridge_tiktok_requests_total", "TikTok API responses and failures by endpoint and outcome.",
    ["endpoint", "outcome"],
)  # fmt: skip
TIKTOK_RETRIES = Counter(
    "shopbridge_tiktok_retries_total", "TikTok requests retried after a transient failure.", ["endpoint"]
)
RECORDS_IMPORTED = Counter(
    "shopbridge_sync_records_imported_total", "Records imported by sync tasks, by kind and outcome.",
    ["kind", "outcome"],
)  # fmt: skip
TASK_DURATION = Histogram(
    "shopbridge_sync_task_duration_seconds", "Sync tasks from start to end (seconds), by kind and final status.",
    ["kind", "status"], buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)  # fmt: skip
SYNC_TASKS = Gauge(
    "shopbridge_sync_tasks", "Sync tasks waiting (QUEUED) and running (RUNNING), from the database.", ["status"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
BROKER_QUEUE = Gauge(
    "shopbridge_broker_queue_messages", "Messages waiting in a Redis broker queue.", ["queue"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
DEPENDENCY_UP = Gauge(
    "shopbridge_dependency_up", "Whether a dependency (database, redis) answered the last readiness check (1 or 0).",
    ["dependency"], multiprocess_mode="mostrecent",
)  # fmt: skip

WEBHOOKS_RECEIVED = Counter(
    "shopbridge_webhooks_received_total",
    "TikTok webhook pushes by answer: stored, duplicate, unauthorized, malformed, too_large, too_slow, failed.",
    ["outcome"],
)

WEBHOOK_EVENTS_RECEIVED = Counter(
    "shopbridge_webhook_events_received_total",
    "Verified TikTok webhook events by type and inbox outcome: stored, duplicate, failed (answered 500).",
    ["type", "outcome"],
)
WEBHOOK_EVENTS_PROCESSED = Counter(
    "shopbridge_webhook_events_processed_total",
    "Webhook events settled by type and outcome: processed, ignored, failed.",
    ["type", "outcome"],
)
WEBHOOK_PROCESSING_LAG = Histogram(
    "shopbridge_webhook_processing_lag_seconds", "Webhook events from receipt to settlement by a worker (seconds).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)  # fmt: skip
WEBHOOK_INTAKE_BATCH = Histogram(
    "shopbridge_webhook_intake_batch_size", "Webhook pushes stored per inbox transaction (group commit).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)  # fmt: skip
WEBHOOK_EVENTS_PRUNED = Counter(
    "shopbridge_webhook_events_pruned_total",
    "Settled webhook events deleted by the retention sweep (older than SHOPBRIDGE_WEBHOOK_RETENTION).",
)
SYNC_TASKS_PRUNED = Counter(
    "shopbridge_sync_tasks_pruned_total",
    "Finished sync tasks deleted by the retention sweep (finished before SHOPBRIDGE_TASK_RETENTION, superseded).",
)
AUTHORIZATION_REQUESTS_PRUNED = Counter(
    "shopbridge_authorization_requests_pruned_total",
    "OAuth authorization requests deleted by the retention sweep (a day past their expiry).",
)
DELETED_SHOP_LINES_PRUNED = Counter(
    "shopbridge_deleted_shop_lines_pruned_total",
    "Records of a deleted shop's open lines and units sold unseen deleted by the retention sweep (no reconnect can "
    "match them: 97 days).",
)
UNREADABLE_RECORDS_PRUNED = Counter(
    "shopbridge_unreadable_records_pruned_total",
    "Marks of records a sync could not read (RECORDS_UNREADABLE) deleted by the retention sweep (first failed before "
    "SHOPBRIDGE_TASK_RETENTION).",
)
INVENTORY_PUSHES = Counter(
    "shopbridge_inventory_pushes_total",
    "Product pushes (one Update Inventory each, a warehouse refresh may add one) by outcome: ok, partial, retry, noop, "
    "not_on_sale.",
    ["outcome"],
)
INVENTORY_PUSH_LAG = Histogram(
    "shopbridge_inventory_push_lag_seconds",
    "From a product's last stock change (outbox dirty mark) to TikTok accepting the push (seconds).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
INVENTORY_DRIFT = Counter(
    "shopbridge_inventory_drift_total", "Linked SKUs whose TikTok stock a reconcile found different from the target."
)

REQUESTS_RATE_LIMITED = Counter(
    "shopbridge_requests_rate_limited_total",
    "Requests refused RATE_LIMITED (SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT), by endpoint.",
    ["endpoint"],
)


class PrometheusPushMetrics(PushMetrics):
    """`domain.services.inventory_push.PushMetrics` onto the counters above."""

    def push_sent(self, outcome: str) -> None:
        INVENTORY_PUSHES.labels(outcome).inc()

    def push_lag(self, seconds: float) -> None:
        INVENTORY_PUSH_LAG.observe(seconds)

    def drift_found(self, count: int) -> None:
        INVENTORY_DRIFT.inc(count)


_LONG_ID = re.compile(r"/\d{7,}(?=/|$)")  # ids in paths (a product id); the 6-digit API versions stay


def tiktok_request(what: str, outcome: str) -> None:
    """The TikTok transport's observer: `what` is "METHOD /path", outcome "ok", an error kind, or "retry"."""
    endpoint = _LONG_ID.sub("/{id}", what)
    if outcome == "retry":
        TIKTOK_RETRIES.labels(endpoint).inc()
    else:
        TIKTOK_REQUESTS.labels(endpoint, outcome).inc()


_COUNTS = ("created", "updated", "unchanged", "failed")


class MeteredEvents:
    """An `EventPublisher` that counts imported records and task durations from the task changes it passes on.

    Counts are deltas between successive changes of one task seen by this process. Only a first run's own start
    (RUNNING, attempt 1: nothing imported yet) counts from zero; any other first change of a task seen here only
    sets the baseline, its earlier records having been counted by the process whose run made them: a run resumed
    on a later attempt, and changes published by what runs no import (a stale sweep re-sending a killed worker's
    task, a retry's message finding the task cancelled), which counted a killed first run's records twice.
    It also binds the task's shop and merchant to the log context of that task's own run (adapters.logs), and to
    no other: a loop that publishes many tasks' changes (the stale sweep, the scheduler's polls) lives as long as
    its process, and every later line of it named the last shop it touched.
    """

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self._seen: dict[str, tuple[int, ...]] = {}

    async def task_changed(self, task: SyncTask) -> None:
        if bound_task_id() == task.id:
            bind_log_context(shop_id=task.shop_id, merchant_id=task.merchant_id)
        self.observe(task)
        await self.inner.task_changed(task)

    async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
        await self.inner.shop_changed(shop_id, merchant_id)

    async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
        await self.inner.inventory_item_changed(item_id, merchant_id)

    def observe(self, task: SyncTask) -> None:
        counts = tuple(int(getattr(task, name)) for name in _COUNTS)
        before = self._seen.get(task.id)
        if before is None and task.status is SyncTaskStatus.RUNNING and task.attempts <= 1:
            before = (0,) * len(_COUNTS)
        if before is not None:
            for name, new, old in zip(_COUNTS, counts, before, strict=True):
                if new > old:
                    RECORDS_IMPORTED.labels(task.kind.value, name).inc(new - old)
        if task.status.is_terminal:
            self._seen.pop(task.id, None)
            if task.started_at is not None and task.finished_at is not None:
                seconds = (task.finished_at - task.started_at).total_seconds()
                TASK_DURATION.labels(task.kind.value, task.status.value).observe(max(seconds, 0.0))
        else:
            self._seen[task.id] = counts


def exposition(multiprocess_dir: Path | None) -> tuple[bytes, str]:
    """The text exposition and its content type: every process's samples when `multiprocess_dir` is set."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(multiprocess_dir: Path | None, pid: int) -> None:
    """At a process's exit: its live gauges no longer count (prometheus-client's multiprocess rule)."""
    if multiprocess_dir is not None:
        multiprocess.mark_process_dead(pid, str(multiprocess_dir))  # type: ignore[no-untyped-call]


def webhook_type(type_: int) -> str:
    """The `type` label of a webhook metric: TikTok's name of the type, or OTHER (bounded label values)."""
    return event_type_name(type_) or "OTHER"


def webhook_event_received(type_: int, outcome: str, event: WebhookEvent | None = None) -> None:
    """A verified push's inbox outcome: stored, duplicate or failed. A stored `event` already settled (no connected
    shop: IGNORED at receipt) also counts as processed, without a lag (no worker was involved)."""
    WEBHOOK_EVENTS_RECEIVED.labels(webhook_type(type_), outcome).inc()
    if event is not None and event.outcome is not EventOutcome.PENDING:
        webhook_events_settled([event], lag=False)


def webhook_events_settled(events: Sequence[WebhookEvent], *, lag: bool = True) -> None:
    """`IntakeDeps.on_settled`: count each settled event and observe its lag from receipt to settlement."""
    for event in events:
        if event.outcome is EventOutcome.PENDING:
            continue
        WEBHOOK_EVENTS_PROCESSED.labels(webhook_type(event.type), event.outcome.value.lower()).inc()
        if lag and event.processed_at is not None:
            WEBHOOK_PROCESSING_LAG.observe(max(0.0, (event.processed_at - event.received_at).total_seconds()))


def webhook_events_pruned(count: int) -> None:
    """The retention sweep deleted `count` settled events."""
    if count:
        WEBHOOK_EVENTS_PRUNED.inc(count)


def sync_tasks_pruned(count: int) -> None:
    """The retention sweep deleted `count` finished sync tasks."""
    if count:
        SYNC_TASKS_PRUNED.inc(count)


def authorization_requests_pruned(count: int) -> None:
    """The retention sweep deleted `count` expired authorization requests."""
    if count:
        AUTHORIZATION_REQUESTS_PRUNED.inc(count)


def deleted_shop_lines_pruned(count: int) -> None:
    """The retention sweep deleted `count` records of a deleted shop's lines (`deleted_shop_lines`)."""
    if count:
        DELETED_SHOP_LINES_PRUNED.inc(count)


def unreadable_records_pruned(count: int) -> None:
    """The retention sweep deleted `count` marks of records a sync could not read (`unreadable_records`)."""
    if count:
        UNREADABLE_RECORDS_PRUNED.inc(count)
