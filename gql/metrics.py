"""A Strawberry extension that counts GraphQL operations by name, type and outcome, and times them.

Labels: `operation` is the operation's name when it is a plain GraphQL name of at most 64 characters, else
`anonymous` (no name) or `other`; `type` is query, mutation or subscription (`unknown` when the document did
not parse); `outcome` is `ok`, or `error` when the response carries any error. A subscription is timed up to
its first result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from adapters.metrics import GRAPHQL_DURATION, GRAPHQL_OPERATIONS

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # no document (a parse error) or no such operation
            kind = "unknown"
        name = context.operation_name
        label = "anonymous" if not name else name if _NAME.fullmatch(name) else "other"
        errors = context.pre_execution_errors or (context.result.errors if context.result is not None else None)
        GRAPHQL_OPERATIONS.labels(label, kind, "error" if errors else "ok").inc()
        GRAPHQL_DURATION.labels(label, kind).observe(time.perf_counter() - started)
