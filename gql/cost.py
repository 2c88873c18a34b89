"""A cost limit: how many objects a document could make us load, from the `first` of every nested page.

Depth, token and alias limits do not stop `shops(first: 100) { orders(first: 100) { lineItems } }`, which
asks for 10,000 orders. This extension estimates the objects a document can return (each `first`, or its
default, multiplying the pages under it, aliases and fragments included) and refuses it before validation
and execution when the estimate exceeds the limit.

Fragments are also a cost of their own, before anything is loaded: a fragment that spreads the next one twice,
thirty deep (`fragment F0 on Query { ...F1 ...F1 } fragment F1 on Query { ...F2 ...F2 } ...`), is ~300 tokens that
expand to 2^30 selections, and every rule that follows spreads (Strawberry's depth and alias limits, this estimate)
walked all of them on the event loop: one such request of any signed-in merchant held the API's CPU for hours, every
other request waiting behind it. So `BoundedValidationCache` counts a document's selections with its fragments
expanded (`expanded_selections`, linear: each fragment is counted once) and refuses more than
`MAX_EXPANDED_SELECTIONS` before any validation rule runs, and the estimate below counts each fragment once too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension, ValidationCache

from gql.readers import MAX_PAGE  # the largest page every connection's resolver accepts

DEFAULT_PAGE = 20
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# Selections (fields, inline fragments, fragment spreads) of a document once its fragments are expanded. The token
# limit (2,000) bounds a document without fragments to about 2,000 selections; the console's largest asks ~100.
MAX_EXPANDED_SELECTIONS = 10_000


def estimate_objects(document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]) -> int:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
    return max(
        (_walk(op.selection_set, 1, fragments, _with_defaults(op, variables), (), {}) for op in chosen), default=0
    )


def expanded_selections(document: DocumentNode) -> int:
    """How many selections (fields, inline fragments, fragment spreads) the document's operations and fragments
    hold with every spread replaced by its fragment, itself counted once per spread. Linear in the document's
    size: each fragment's own count is computed once (a cycle, a validation error, is not followed)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    counted: dict[str, int] = {}

    def count(selections: SelectionSetNode | None, expanding: tuple[str, ...]) -> int:
        total = 0
        for selection in selections.selections if selections is not None else ():
            total += 1
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in expanding:
                    if name not in counted:
                        counted[name] = count(fragments[name].selection_set, (*expanding, name))
                    total += counted[name]
            elif isinstance(selection, FieldNode | InlineFragmentNode):
                total += count(selection.selection_set, expanding)
        return total

    return sum(
        count(definition.selection_set, ())
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    )


def _with_defaults(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> Mapping[str, Any]:
    """The variables as execution sees them: one the request leaves out takes its default from the document."""
    defaults = {
        definition.variable.name.value: int(definition.default_value.value)
        for definition in operation.variable_definitions or ()
        if isinstance(definition.default_value, IntValueNode)
    }
    return {**defaults, **variables}


def _walk(
    selections: SelectionSetNode | None,
    multiplier: int,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    expanding: tuple[str, ...],
    per_fragment: dict[str, int],
) -> int:
    """The objects under `selections` when `multiplier` copies of them are loaded; the estimate is proportional to
    `multiplier`, so each fragment's estimate for one copy is computed once (`per_fragment`) and multiplied."""
    if selections is None:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.selection_set is None:
                continue
            size = _page_size(selection, variables)
            objects = multiplier * size
            # Pages load objects; wrappers (edges, node, pageInfo) and small lists ride along with them.
            total += (objects if size > 1 or _is_page(selection) else 0) + _walk(
                selection.selection_set, objects, fragments, variables, expanding, per_fragment
            )
        elif isinstance(selection, InlineFragmentNode):
            total += _walk(selection.selection_set, multiplier, fragments, variables, expanding, per_fragment)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in expanding:  # a cycle is a validation error, not a cost
                if name not in per_fragment:
                    per_fragment[name] = _walk(
                        fragments[name].selection_set, 1, fragments, variables, (*expanding, name), per_fragment
                    )
                total += multiplier * per_fragment[name]
    return total


def _page_size(field: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return _bounded(int(value.value))
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return _bounded(given) if isinstance(given, int) else DEFAULT_PAGE
        return DEFAULT_PAGE
    return DEFAULT_PAGE if field.name.value in _PAGED_FIELDS else 1


def _bounded(first: int) -> int:
    """A `first` outside a page's 1 to MAX_PAGE is not a cost but a bad value, refused with its own code: beyond
    GraphQL's 32-bit Int by validation (counted as the default page), otherwise by the resolver (BAD_USER_INPUT
    "first must be between 1 and 100."; counted as a full page, so that the estimate does not answer first)."""
    return min(max(1, first), MAX_PAGE) if first <= _MAX_INT else DEFAULT_PAGE


_MAX_INT = 2**31 - 1


def _is_page(field: FieldNode) -> bool:
    return field.name.value in _PAGED_FIELDS or any(a.name.value == "first" for a in field.arguments or ())


# Connection fields whose `first` defaults to a page when omitted (every field of the schema with a `first`).
_PAGED_FIELDS = frozenset(
    {"shops", "products", "orders", "syncTasks", "inventoryItems", "movements", "unlinkedSkus", "webhookEvents"}
)


class QueryCostLimiter(SchemaExtension):
    def __init__(self, max_objects: int) -> None:
        self.max_objects = max_objects

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            cost = estimate_objects(context.graphql_document, context.operation_name, context.variables or {})
            if cost > self.max_objects:
                # Set before validation runs: Strawberry then answers these errors and executes nothing.
                context.pre_execution_errors = [
                    GraphQLError(
                        f"This query could load up to {cost:,} objects; the limit is {self.max_objects:,}. "
                        "Ask for smaller pages.",
                        extensions={"code": QUERY_TOO_COMPLEX},
                    )
                ]
        yield


class BoundedValidationCache(ValidationCache):
    """Strawberry's `ValidationCache` (validation, cached by document and rules), which first refuses a document of
    more than `max_selections` selections with its fragments expanded (`expanded_selections`): QUERY_TOO_COMPLEX,
    and no validation rule runs. Strawberry's depth and alias rules follow every spread anew, exponential in how
    deep fragments spread fragments twice; validation must not start on such a document."""

    def __init__(self, maxsize: int, max_selections: int = MAX_EXPANDED_SELECTIONS) -> None:
        super().__init__(maxsize=maxsize)
        self.max_selections = max_selections

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and (size := expanded_selections(document)) > self.max_selections:
            context.pre_execution_errors = [
                GraphQLError(
                    f"This query holds {size:,} selections once its fragments are expanded; the limit is "
                    f"{self.max_selections:,}. Spread fewer fragments.",
                    extensions={"code": QUERY_TOO_COMPLEX},
                )
            ]
            yield
            return
        yield from super().on_validate()
