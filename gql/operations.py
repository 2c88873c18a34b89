"""Which operation of a document runs, refused before validation and execution when the choice is not possible.

- Several operations and no `operationName`: `BAD_REQUEST`, "Must provide operation name if query contains
  multiple operations." (GraphQL spec, 6.1 GetOperation).
- A subscription over HTTP (GET or POST): `OPERATION_NOT_SUPPORTED`, HTTP 400 whatever the `Accept` (gql/view.py):
  subscriptions run over the WebSocket at /graphql, protocol `graphql-transport-ws`.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode, OperationType
from strawberry.extensions import SchemaExtension

BAD_REQUEST = "BAD_REQUEST"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
MULTIPLE_OPERATIONS = "Must provide operation name if query contains multiple operations."
SUBSCRIPTION_OVER_HTTP = "Subscriptions run over the WebSocket at /graphql (graphql-transport-ws)."


class OperationChoice(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not context.pre_execution_errors:  # valid (ValidationCache ran first)
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            # The request's `operationName`: Strawberry's `operation_name` falls back on the first operation's.
            name: str | None = getattr(context, "_provided_operation_name", context.operation_name)
            chosen = [op for op in operations if name is None or (op.name is not None and op.name.value == name)]
            if name is None and len(operations) > 1:
                context.pre_execution_errors = [GraphQLError(MULTIPLE_OPERATIONS, extensions={"code": BAD_REQUEST})]
            elif chosen and chosen[0].operation is OperationType.SUBSCRIPTION and _over_http(context.context):
                error = GraphQLError(SUBSCRIPTION_OVER_HTTP, extensions={"code": OPERATION_NOT_SUPPORTED})
                context.pre_execution_errors = [error]
        yield


def _over_http(context: object) -> bool:
    request = getattr(context, "request", None)
    scope = getattr(request, "scope", None)
    return isinstance(scope, dict) and scope.get("type") == "http"
