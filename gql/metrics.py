"""A Strawberry extension that counts GraphQL operations by name, type and outcome, and times them.

Labels: `operation` is the operation's name when it is a plain GraphQL name of at most 64 characters and one of the
first `MAX_OPERATION_NAMES` distinct names this process saw, else `anonymous` (no name) or `other`: clients choose
the names, and each new one added a counter and a histogram series (17 samples) for the life of the process, so a
client sending ever new names grew the API's memory and every scrape without end; `type` is query, mutation or
subscription (`unknown` when the document did not parse); `outcome` is `ok`, or `error` when the response carries
any error. A subscription is timed up to its first result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from adapters.metrics import GRAPHQL_DURATION, GRAPHQL_OPERATIONS

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
MAX_OPERATION_NAMES = 200  # distinct `operation` labels per process; an application names far fewer operations
_labelled: set[str] = set()  # the names that have their own label in this process


def operation_label(name: str | None) -> str:
    """The `operation` label of an operation named `name` (see the module's docstring)."""
    if not name:
        return "anonymous"
    if not _NAME.fullmatch(name):
        return "other"
    if name not in _labelled:
        if len(_labelled) >= MAX_OPERATION_NAMES:
            return "other"
        _labelled.add(name)
    return name


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # no document (a parse error) or no such operation
            kind = "unknown"
        label = operation_label(context.operation_name)
        errors = context.pre_execution_errors or (context.result.errors if context.result is not None else None)
        GRAPHQL_OPERATIONS.labels(label, kind, "error" if errors else "ok").inc()
        GRAPHQL_DURATION.labels(label, kind).observe(time.perf_counter() - started)
