"""One execution per subscription event and distinct subscription, shared by every subscriber that asked it.

graphql-core executes a subscription's selection set once per event *per subscriber* (the spec's
ExecuteSubscriptionEvent: the event is the root value of a fresh execution). When 1,000 sockets follow one task,
that is 1,000 executions of the same selection over the same object: half of the API's CPU in the fan-out benchmark
(`bench/README.md`, benchmark 6). Strawberry lets a schema choose graphql-core's executor class
(`strawberry.Schema(execution_context_class=...)`), and graphql-core runs each event through the executor's
`execute_operation(serially=False)`; `SharedEventExecutor` answers that call from a memo when the same event
object (the very object a subscription's generator yielded: `gql.subscriptions` hands every subscriber of a
merchant's feed the same `SyncTask` per task and read) meets the same operation (the same parsed document:
`ParserCache` returns one per query text), the same variables and the same merchant.

So the public API and its semantics stay Strawberry's and graphql-core's: each subscriber's generator still decides
what it yields and when (scope, coalescing, completion, token expiry); only the rendering of an event object into
`data`/`errors` is done once. What could differ between two subscribers is excluded from sharing by the key: the
merchant (`context.merchant_id`; loaders are scoped by it) and the variables. A selection with an async field
(`shop`) shares the one execution in flight (`asyncio.shield`: a subscriber that leaves does not cancel it for the
others). The memo lives as long as the event object: it is attached through `weakref.finalize`, so no cache size
or expiry is needed, and an object yielded once (a task's final state after a shop deletion) costs one dict.

Tokens: the execution runs with the context of the subscriber that asked first, so nothing in it checks a token
(`gql.context.executing_message`: `require_merchant` is then the merchant alone, the loaders' check included): one
socket's expiry is never every socket's UNAUTHENTICATED (review56 F4). Each subscriber's own token is checked by its
generator before it yields, and here once more when a result that was awaited (a field read, a wait through a
database outage) is handed to it: expired by then, that subscriber's operation ends with UNAUTHENTICATED
(`RECONNECT_MESSAGE`, a `next` with `data: null`, then `complete`, as when its generator raises it), and the others get
the message.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gql.context import executing_message

# id(event object) -> {(operation id, merchant, variables): (operation, result or its shared task)}. An entry
# leaves with its event object (weakref.finalize), so that id is not reused while the entry exists; the entry holds
# its operation node, so that id is not reused either.
_results: dict[int, dict[tuple[object, ...], tuple[object, Any]]] = {}


class SharingStats:
    """Counters for tests and the fan-out benchmark: events executed, and events answered from an execution."""

    executed = 0
    shared = 0


def _forget(key: int) -> None:
    _results.pop(key, None)


class _Answered:
    """A per-event executor whose event was already executed for the same key: `execute_operation` answers with
    that execution's result (graphql-core's `execute_subscription_event` calls nothing else on it), handed to this
    subscriber if its own token is still valid (`_delivered`)."""

    __slots__ = ("context", "found")

    def __init__(self, found: Any, context: Any) -> None:
        self.found = found
        self.context = context

    def execute_operation(self, serially: bool | None = None) -> Any:
        SharingStats.shared += 1
        found = self.found
        return _delivered(self.context, asyncio.shield(found)) if isinstance(found, asyncio.Future) else found


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; a subscription event already executed for the same operation, variables and merchant
    is answered with that execution's result."""

    def build_per_event_executor(self, payload: Any) -> Any:
        # graphql-core copies the whole executor per event and subscriber before executing; when the event was
        # already executed for this key (every subscriber but the first), answer without the copy (a tenth of the
        # API thread's CPU with 300 subscribers of one task, bench/README.md).
        if self.operation.operation is OperationType.SUBSCRIPTION:
            memo = _results.get(id(payload))
            if memo is not None:
                key = self._sharing_key()
                entry = memo.get(key) if key is not None else None
                if entry is not None and entry[0] is self.operation:
                    return _Answered(entry[1], self.context_value)
        executor = super().build_per_event_executor(payload)
        return _own_subfield_memo(executor)

    def execute_operation(self, serially: bool | None = None) -> Any:
        if serially is not False or self.operation.operation is not OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)  # queries, mutations, and a subscription's first step
        key = self._sharing_key()
        if key is None:  # executed for this subscriber alone, yet checks no token either: one rule for every message
            with executing_message():
                result = super().execute_operation(serially)
            return _delivered(self.context_value, _executed(result)) if self.is_awaitable(result) else result
        event = self.root_value
        memo = _results.get(id(event))
        entry = memo.get(key) if memo is not None else None
        if entry is not None and entry[0] is self.operation:
            SharingStats.shared += 1
            found = entry[1]
            return _delivered(self.context_value, asyncio.shield(found)) if isinstance(found, asyncio.Future) else found
        with executing_message():  # its synchronous part (sync fields run, async ones' coroutines made) and its task
            result = super().execute_operation(serially)
            task = asyncio.ensure_future(_executed(result)) if self.is_awaitable(result) else None
        SharingStats.executed += 1
        if memo is None:
            try:
                weakref.finalize(event, _forget, id(event))
            except TypeError:  # an object without weak references: not shared (nothing yields such today)
                return result if task is None else _delivered(self.context_value, task)
            memo = _results[id(event)] = {}
        if task is not None:
            memo[key] = (self.operation, task)
            return _delivered(self.context_value, asyncio.shield(task))
        memo[key] = (self.operation, result)
        return result

    def _sharing_key(self) -> tuple[object, ...] | None:
        # The same for every event of a subscription (its operation, variables and connection's merchant are
        # fixed): computed once per executor, and kept by its per-event copies.
        cached: tuple[tuple[object, ...] | None] | None = self.__dict__.get("_shared_key")
        if cached is None:
            cached = self.__dict__["_shared_key"] = (self._compute_sharing_key(),)
        return cached[0]

    def _compute_sharing_key(self) -> tuple[object, ...] | None:
        merchant = getattr(self.context_value, "merchant_id", None)
        if merchant is None:
            return None
        try:
            variables = tuple(sorted(self.variable_values.coerced.items()))
            hash(variables)
        except TypeError:  # a list or input object among the variables: executed per subscriber
            return None
        return (id(self.operation), merchant, variables)  # the node itself: compared by identity, never hashed


def _own_subfield_memo(executor: Any) -> Any:
    """The per-event executor with a memo of collected subfields of its own, dropped with it after its event.

    graphql-core 3.3 memoizes `Executor.collect_subfields` in `_relevant_sub_fields`, keyed by (type, id of the
    field group) and holding the group alive so that its id is not reused; `build_per_event_executor` makes a shallow
    `copy`, so every event of a subscription adds its entries to the one dict of the subscription's executor: the
    groups are collected afresh per event (`execute_operation` collects the root fields each time), so no entry is
    ever found again and none is ever dropped. ~1.7 KB per executed event (per object in the selection a
    `CollectedFields` with its lists, and a `FieldDetails` per field), kept until the subscription ends: soak53b's
    ~1.9 KB per message on long-lived sockets, whose all-items `inventoryItemUpdated` then executed every message for
    its subscriber alone (now the one node per item and read of its merchant's item feed, gql/inventory/item_feed.py)
    (tests/integration/test_subscription_memory.py; bench/README.md, "Subscriptions' memory under constant load").
    graphql-js memoizes in a WeakMap, so its entries go with their field group; an entry here was only ever found
    within the same event (a list's items), which the fresh memo still serves. Found in graphql-core 3.3.2 and in its
    main branch's executor.py (same shared dict); no upstream issue found. Without that private attribute (another
    graphql-core) nothing is changed."""
    if isinstance(getattr(executor, "_relevant_sub_fields", None), dict):
        executor._relevant_sub_fields = {}
    return executor


async def _executed(result: Awaitable[ExecutionResult]) -> ExecutionResult:
    """The execution's asynchronous rest (its awaited fields), run as a subscription message's
    (`executing_message`): no one subscriber's token is checked in it."""
    with executing_message():
        return await result


async def _delivered(context: Any, execution: Awaitable[ExecutionResult]) -> ExecutionResult:
    """The message's result for one subscriber, once its execution (awaited: a field's read, maybe through a database
    outage's wait) is done, if that subscriber's own token is still valid: else UnauthenticatedError
    (`Context.require_token`), which ends that subscriber's operation alone. A result at once needs no check: the
    generator checked the token just before it yielded."""
    result = await execution
    context.require_token()
    return result
