"""The schema, its limits (depth, tokens, aliases) and error masking. `schema.graphql` is its committed print."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from gql import types as t
from gql.cost import BoundedValidationCache, QueryCostLimiter
from gql.errors import located_in_subscription, mask_errors, process_errors
from gql.extension_runner import StreamingExtensionsRunner
from gql.inputs import DATETIME_SCALAR
from gql.inventory.mutations import InventoryMutation
from gql.inventory.queries import InventoryQuery
from gql.inventory.subscriptions import InventorySubscription
from gql.inventory.types import InventoryItemNode
from gql.inventory_policy.mutations import InventoryPolicyMutation
from gql.list_sizes import ListLiteralSize, ListSizes
from gql.metrics import OperationMetrics
from gql.mutations import Mutation
from gql.operations import OperationChoice
from gql.parsing import ReportingParserCache
from gql.queries import Query
from gql.request_rate import MutationFields
from gql.shared_events import SharedEventExecutor
from gql.subscriptions import Subscription
from gql.text_inputs import StorableText
from gql.webhooks.mutations import WebhookMutation
from gql.webhooks.queries import WebhookQuery
from gql.webhooks.types import WebhookEventNode

MAX_DEPTH = 10
MAX_TOKENS = 2000
MAX_ALIASES = 30
MAX_OBJECTS = 5_000  # e.g. 50 shops with 100 orders each

# The depth and alias rules are built ONCE. A limiter builds a new rule class in its constructor, the extensions
# below are per-operation factories, and ValidationCache keys on the rule classes: a new class per operation made
# every request miss the cache and validate its whole document again (a quarter of the orders page's CPU).
_DEPTH_RULE = QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules[0]
_ALIASES_RULE = MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules[0]


class ShopbridgeSchema(strawberry.Schema):
    """Every error gets a code and no suggestion; the client's mistakes are logged at INFO, the server's failures at
    ERROR or WARNING, each kind in one line a response (gql/errors.py `process_errors`)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        if execution_context is not None:
            located_in_subscription(errors, execution_context.graphql_document, execution_context.operation_name)
        process_errors(errors)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        # Per streamed result, only the extensions that take part (gql/extension_runner.py).
        return StreamingExtensionsRunner(execution_context=execution_context, extensions=extensions)


def _root(name: str, description: str, *types: type) -> type:
    """`merge_types` of the feature packages' root types, with the root type's own description (merge_types drops
    the parts' descriptions: the merged type is a new one)."""
    merged = merge_types(name, types)
    merged.__strawberry_definition__.description = description  # type: ignore[attr-defined]
    return merged


schema = ShopbridgeSchema(
    # Feature packages (gql/webhooks/, ...) bring their own root fields, merged into the roots here.
    query=_root(
        "Query",
        "Reads of the signed-in merchant's data: shops, their products, orders and sync tasks, webhook events, the "
        "inventory pool. Another merchant's objects do not exist here.",
        Query,
        WebhookQuery,
        InventoryQuery,
    ),
    mutation=_root(
        "Mutation",
        "Changes; each answers a payload whose `userErrors` carry the expected failures with stable codes.",
        Mutation,
        WebhookMutation,
        InventoryMutation,
        InventoryPolicyMutation,
    ),
    subscription=_root(
        "Subscription",
        "Live changes over WebSocket (graphql-transport-ws); each field says what it sends first and when it ends.",
        Subscription,
        InventorySubscription,
    ),
    types=[t.Shop, t.SyncTask, t.Product, t.Order, WebhookEventNode, InventoryItemNode],
    # Factories, not instances: an extension instance is per operation and must not leak state between them.
    extensions=[
        OperationMetrics,  # first: it times and counts everything, refusals by the limiters included
        lambda: AddValidationRules([_DEPTH_RULE]),  # QueryDepthLimiter(max_depth=MAX_DEPTH)'s rule
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules([_ALIASES_RULE]),  # MaxAliasesLimiter(max_alias_count=MAX_ALIASES)'s rule
        lambda: ReportingParserCache(maxsize=256),  # a document that does not parse is the client's error
        lambda: AddValidationRules([ListLiteralSize]),  # a list literal of more than 100 values (gql/list_sizes.py)
        # Refuses variables holding a list of more than 100 items before validation, and so before coercion.
        ListSizes,
        # Refuses a document whose fragments expand beyond 10,000 selections before any rule walks it (gql/cost.py).
        lambda: BoundedValidationCache(maxsize=256),
        # After ValidationCache, which sets the validation errors itself: the cost verdict must come last.
        lambda: QueryCostLimiter(max_objects=MAX_OBJECTS),
        OperationChoice,  # which operation runs: one named when there are several, no subscription over HTTP
        StorableText,  # no NUL or lone surrogate in any argument or variable: no column can store them
        MutationFields,  # last before execution: a valid mutation takes one unit of the rate limit per field
        mask_errors,
    ],
    config=StrawberryConfig(disable_field_suggestions=True),
    # A subscription event is executed once per distinct operation, variables and merchant, not once per
    # subscriber (gql/shared_events.py).
    execution_context_class=SharedEventExecutor,
    scalar_overrides={datetime: DATETIME_SCALAR},
)


def printed_schema() -> str:
    """The SDL as committed in schema.graphql (with its trailing newline)."""
    return schema.as_str() + "\n"
