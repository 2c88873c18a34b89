"""A Strawberry extension that counts GraphQL operations by name, type and outcome, and times them.

Labels: `operation` is the operation's name when the server ran it (see below), the name is a plain GraphQL name of
at most 64 characters, and it is one of the first `MAX_OPERATION_NAMES` distinct names this process ran; else
`anonymous` (no name) or `other`. Clients choose the names, and each new one added a counter and a histogram series
(17 samples) for the life of the process: a client sending ever new names grew the API's memory and every scrape
without end, and one sending 200 documents that did not even parse (`query Junk1 {`, each `GRAPHQL_PARSE_FAILED`)
took every label, so the console's own operations were counted as `other` until a restart (attack56, F-metrics).
So a name earns its label only once the server ran it: it parsed, validated and passed every limit, and, for a
query or mutation, its execution began (graphql-core answered with `data`, or with an error located at a field);
a subscription earns it once validated (its source may still refuse it, e.g. `NOT_FOUND`). Parse failures,
validation failures, refused limits, variables that do not coerce, an `operationName` the document does not have, a
document without an operation and a mutation sent with GET (405) count as `other` (`anonymous` without a name).
Past the cap a new name counts as `other` too, so the series stay bounded and no operation goes uncounted; the
first name left out logs one WARNING on `shopbridge.metrics` for the life of the process (`OperationLabels`): the
cap was reached silently, and an operator saw the console's operations under `other` with nothing saying why.
`type` is query, mutation or subscription (`unknown` when the document did not parse or names no operation to run);
`outcome` is `ok`, or `error` when the response carries any error. A subscription is timed up to its first result.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

from graphql import OperationType
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext

from adapters.metrics import GRAPHQL_DURATION, GRAPHQL_OPERATIONS

log = logging.getLogger("shopbridge.metrics")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
MAX_OPERATION_NAMES = 200  # distinct `operation` labels per process; an application names far fewer operations


class OperationLabels:
    """The operation names that have a label of their own in this process: the first `limit` distinct names it ran.
    A later new name is refused (counted as `other`), and the first one refused logs one WARNING, once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.named: set[str] = set()
        self.full = False  # a name was refused: the WARNING was logged

    def admit(self, name: str) -> bool:
        """Whether `name` has, or now gets, a label of its own."""
        if name in self.named:
            return True
        if len(self.named) < self.limit:
            self.named.add(name)
            return True
        if not self.full:
            self.full = True
            log.warning(
                "%d GraphQL operation names have a metrics label of their own in this process "
                '(MAX_OPERATION_NAMES): %s and every later new name are counted as operation="other" in '
                "shopbridge_graphql_operations_total and _duration_seconds until a restart (logged once)",
                self.limit,
                name,
            )
        return False


_labels = OperationLabels(MAX_OPERATION_NAMES)


def operation_label(name: str | None, ran: bool = True) -> str:
    """The `operation` label of an operation named `name`; `ran`: whether the server ran it (module docstring)."""
    if not name:
        return "anonymous"
    if not ran or not _NAME.fullmatch(name):
        return "other"
    return name if _labels.admit(name) else "other"


class OperationMetrics(SchemaExtension):
    _executing = False  # set when Strawberry enters execution: parse, validation and every limit passed

    def on_execute(self) -> Iterator[None]:
        self._executing = True
        yield

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except (CannotGetOperationTypeError, InvalidOperationTypeError):
            # Strawberry raises these through the operation, before validation: the document has no operation of
            # `operationName`, or none at all (the view answers BAD_REQUEST), or its type is not allowed (a mutation
            # over GET: 405). The code below the yield never ran for them, so they went uncounted (small56).
            self._count(started, refused=True)
            raise
        self._count(started, refused=False)

    def _count(self, started: float, refused: bool) -> None:
        """One operation in the counter and the histogram; `refused`: Strawberry refused it with an exception."""
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # no document (a parse error) or no such operation
            kind = "unknown"
        label = operation_label(context.operation_name, not refused and self._executing and _ran(context, kind))
        result = context.result
        errors = refused or context.pre_execution_errors or (result.errors if result is not None else None)
        GRAPHQL_OPERATIONS.labels(label, kind, "error" if errors else "ok").inc()
        GRAPHQL_DURATION.labels(label, kind).observe(time.perf_counter() - started)


def _ran(context: ExecutionContext, kind: str) -> bool:
    """Whether an operation that entered execution ran: a subscription, always; a query or mutation when graphql-core
    answered `data` (null too when a non-null root field failed, then with an error at a field's `path`), not when it
    refused the operation first (variables that do not coerce: no data, errors without a path)."""
    if kind == OperationType.SUBSCRIPTION.value:
        return True
    result = context.result
    if result is None:
        return False
    return result.data is not None or any(error.path for error in result.errors or ())
