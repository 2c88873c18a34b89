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
    GraphQLArgument,
    GraphQLDirective,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    GraphQLWrappingType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.language.visitor import BREAK
from graphql.validation.rules.overlapping_fields_can_be_merged import MAX_COMPLEXITY_BUDGET
from graphql.validation.validate import ValidationAbortedError
from graphql.validation.validation_context import MAX_FRAGMENT_WORK
from strawberry.extensions import SchemaExtension, ValidationCache

from gql.parsing import MAX_CACHED_DOCUMENT_CHARS
from gql.readers import MAX_PAGE  # the largest page every connection's resolver accepts

DEFAULT_PAGE = 20
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# Selections (fields, inline fragments, fragment spreads) of a document once its fragments are expanded. The token
# limit (2,000) bounds a document without fragments to about 2,000 selections; the console's largest asks ~100.
MAX_EXPANDED_SELECTIONS = 10_000


def estimate_objects(
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    schema: GraphQLSchema | None = None,
) -> int:
    """The objects the operation could return: pages by their `first` (module docstring) and, given the `schema`,
    introspection's objects (`__schema`, `__type`) counted exactly over it (`_IntrospectionCount`): thirty aliases of
    `__schema { types { fields { type { fields { args { name } } } } } }` answered ~766 KB for ~0.5 s of CPU each,
    counted as nothing. GraphiQL's own introspection query counts ~1,300 objects of this schema."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
    introspection = _IntrospectionCount(schema, fragments) if schema is not None else None
    return max(
        (_walk(op.selection_set, 1, fragments, _with_defaults(op, variables), (), {}, introspection) for op in chosen),
        default=0,
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


def _huge_int_literal(document: DocumentNode) -> IntValueNode | None:
    """The document's first Int literal of more than 20 digits (none is a 32-bit Int), or None. Validation refuses such
    a literal, but graphql-core's `int()` of one past Python's 4,300 digits raised ValueError first: an
    INTERNAL_SERVER_ERROR and a traceback (verify50). Linear in the document, whose tokens are bounded."""
    finder = _HugeIntFinder()
    visit(document, finder)
    return finder.found


class _HugeIntFinder(Visitor):
    """Stops at the first Int literal of more than 20 digits (`found`). Defined once: a class defined per operation
    is a reference cycle (~18 objects) left for the garbage collector's full collection (soak53 item 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: IntValueNode | None = None

    def enter_int_value(self, node: IntValueNode, *_: object) -> object:
        if len(node.value.lstrip("-")) > 20:
            self.found = node
            return BREAK
        return None


def _int_literal(text: str) -> int:
    """A GraphQL Int literal's value; one longer than any 64-bit integer (past Python's 4,300 digits `int()` raised
    ValueError: an INTERNAL_SERVER_ERROR and a traceback, verify50) counts as 2**63, far past every limit: validation
    then refuses it as no 32-bit Int."""
    return int(text) if len(text) <= 20 else 2**63


def _with_defaults(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> Mapping[str, Any]:
    """The variables as execution sees them: one the request leaves out takes its default from the document."""
    defaults = {
        definition.variable.name.value: _int_literal(definition.default_value.value)
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
    per_fragment: dict[tuple[str, frozenset[str]], int],
    introspection: _IntrospectionCount | None = None,
    lists: frozenset[str] = frozenset(),
) -> int:
    """The objects under `selections` when `multiplier` copies of them are loaded, inside the unpaged lists `lists`
    (`_UNPAGED_LISTS`); the estimate is proportional to `multiplier`, so each fragment's estimate for one copy is
    computed once per such context (`per_fragment`) and multiplied."""
    if selections is None:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name in _INTROSPECTION_ROOTS:
                total += multiplier * (introspection.root(selection, variables) if introspection is not None else 0)
                continue
            if selection.selection_set is None:
                continue
            size = _list_size(name, lists) if name in _UNPAGED_LISTS else _page_size(selection, variables)
            objects = multiplier * size
            inner = lists | {name} if name in _UNPAGED_LISTS else lists
            # Pages and lists load objects; wrappers (edges, node, pageInfo) and single objects ride along with them.
            total += (objects if size > 1 or _is_page(selection) else 0) + _walk(
                selection.selection_set, objects, fragments, variables, expanding, per_fragment, introspection, inner
            )
        elif isinstance(selection, InlineFragmentNode):
            total += _walk(
                selection.selection_set, multiplier, fragments, variables, expanding, per_fragment, introspection,
                lists,
            )  # fmt: skip
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in expanding:  # a cycle is a validation error, not a cost
                if (name, lists) not in per_fragment:
                    per_fragment[name, lists] = _walk(
                        fragments[name].selection_set, 1, fragments, variables, (*expanding, name), per_fragment,
                        introspection, lists,
                    )  # fmt: skip
                total += multiplier * per_fragment[name, lists]
    return total


def _list_size(name: str, lists: frozenset[str]) -> int:
    """The objects one unpaged list `name` is counted as: its usual size (`_UNPAGED_LISTS`), or a full page
    (`MAX_PAGE`) inside a list of the same name, which only a cycle of the schema reaches (an item's links, each
    link's item, its links again: the same objects, as many times over as the merchant has links)."""
    return MAX_PAGE if name in lists else _UNPAGED_LISTS[name]


def _page_size(field: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return _bounded(_int_literal(value.value))
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
_INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def _is_page(field: FieldNode) -> bool:
    return field.name.value in _PAGED_FIELDS or any(a.name.value == "first" for a in field.arguments or ())


# Lists of objects without pages (the whole list in one answer), by field name, with the objects one is counted as:
# about as many as such a list usually holds, so that a page of them stays within the limit (an Orders page of 100
# orders with their line items is 600 objects). Before (sec49), each counted as one object: a merchant with 30 SKUs
# linked to one item asked `inventoryItem { links { inventoryItem { links { ... } } } }` four levels deep in 118
# characters, counted as 0 objects, and was answered 810,000 links (16 MB) after 18 s, every other request of the
# process waiting behind it. A list nested in one of its own name costs a full page (`_list_size`). Every list of
# objects of the schema is here or a connection (`tests/unit/test_query_cost.py`).
_UNPAGED_LISTS: Mapping[str, int] = {
    "links": 5,  # InventoryItem.links: an item's SKUs, one or two per shop
    "lineItems": 5,  # Order.lineItems
    "skus": 10,  # Product.skus: its variants
    "failures": 5,  # SyncTask.failures: grouped by reason
    "attention": 3,  # Shop.attention: what needs the merchant, a few kinds
    "tasks": 2,  # SyncStartPayload.tasks: one per kind
}

# Connection fields whose `first` defaults to a page when omitted (every field of the schema with a `first`).
_PAGED_FIELDS = frozenset(
    {"shops", "products", "orders", "syncTasks", "inventoryItems", "movements", "unlinkedSkus", "webhookEvents"}
)


class _IntrospectionCount:
    """The objects an introspection selection (`__schema`, `__type`) returns, counted over the schema it describes:
    each `__Type`, `__Field`, `__InputValue`, `__EnumValue` and `__Directive` one object, as execution would make
    them. Exact rather than a page estimate: the schema is known, and an object's count depends on which type it
    describes (`types { fields { type { fields { args } } } } }` is the sum, over every field of every type, of its
    type's fields' arguments). Memoized by selection set and described object, so a document costs its selection sets
    times the schema's size at most, however deep fragments or `ofType` chains go."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.memo: dict[tuple[int, int], int] = {}

    def fields(self, selections: SelectionSetNode | None, expanding: tuple[str, ...] = ()) -> Iterator[FieldNode]:
        """The fields of `selections`, inline fragments and spreads flattened (a cycle is a validation error)."""
        for selection in selections.selections if selections is not None else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self.fields(selection.selection_set, expanding)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in self.fragments and name not in expanding:
                    yield from self.fields(self.fragments[name].selection_set, (*expanding, name))

    def root(self, field: FieldNode, variables: Mapping[str, Any]) -> int:
        """`__schema { ... }` or `__type(name:) { ... }` at the root; 0 for any other field."""
        if field.name.value == "__schema":
            return 1 + self.of(field.selection_set, self.schema)
        if field.name.value == "__type":
            named = self.schema.type_map.get(_type_name(field, variables) or "")
            candidates = [named] if named is not None else list(self.schema.type_map.values())
            return max((1 + self.of(field.selection_set, t) for t in candidates), default=0)
        return 0

    def of(self, selections: SelectionSetNode | None, described: object) -> int:
        """The objects under `selections` for the introspection object describing `described` (the schema, a type,
        a field, an argument or input field, a directive)."""
        if selections is None:
            return 0
        key = (id(selections), id(described))
        if key not in self.memo:
            self.memo[key] = 0  # a cycle (only through fragments, a validation error) costs nothing more
            self.memo[key] = sum(self._children(field, described) for field in self.fields(selections))
        return self.memo[key]

    def _children(self, field: FieldNode, described: object) -> int:
        name = field.name.value
        return sum(1 + self.of(field.selection_set, child) for child in _introspected(self.schema, described, name))


def _type_name(field: FieldNode, variables: Mapping[str, Any]) -> str | None:
    for argument in field.arguments or ():
        if argument.name.value == "name":
            if isinstance(argument.value, StringValueNode):
                return argument.value.value
            if isinstance(argument.value, VariableNode):
                given = variables.get(argument.value.name.value)
                return given if isinstance(given, str) else None
    return None


def _introspected(schema: GraphQLSchema, described: object, name: str) -> list[object]:
    """What introspection field `name` of the object describing `described` returns, as the objects it describes
    (empty for a scalar field, a null or an empty list). `fields`, `enumValues` and `args` are counted with their
    deprecated members (GraphiQL asks for them)."""
    if isinstance(described, GraphQLSchema):
        roots = {"queryType": described.query_type, "mutationType": described.mutation_type}
        roots["subscriptionType"] = described.subscription_type
        if name == "types":
            return list(described.type_map.values())
        if name == "directives":
            return list(described.directives)
        return [roots[name]] if roots.get(name) is not None else []
    if isinstance(described, GraphQLWrappingType):
        return [described.of_type] if name == "ofType" else []
    if isinstance(described, GraphQLObjectType | GraphQLInterfaceType):
        if name == "fields":
            return list(described.fields.values())
        if name == "interfaces":
            return list(described.interfaces)
    if isinstance(described, GraphQLInterfaceType | GraphQLUnionType) and name == "possibleTypes":
        return list(schema.get_possible_types(described))
    if isinstance(described, GraphQLEnumType) and name == "enumValues":
        return list(described.values.values())
    if isinstance(described, GraphQLInputObjectType) and name == "inputFields":
        return list(described.fields.values())
    if isinstance(described, GraphQLField | GraphQLDirective) and name == "args":
        return list(described.args.values())
    if isinstance(described, GraphQLField | GraphQLArgument | GraphQLInputField) and name == "type":
        return [described.type]
    return []


# The largest figure a refusal shows (tryout72 F4): past it the estimate is only "more than" it. Nesting multiplies
# pages, so a document of 60 levels estimated a 91-digit figure, noise in logs and UIs; the limit is far below.
SHOWN_COST_CAP = 1_000_000_000


def too_costly(cost: int, limit: int) -> str:
    """QUERY_TOO_COMPLEX's message for a document estimated to load `cost` objects past `limit` (both counts of
    objects): "This query could load up to 12,000 objects; the limit is 5,000. Ask for smaller pages."; a `cost`
    above `SHOWN_COST_CAP` reads "more than 1,000,000,000 objects" instead of its figure."""
    figure = f"more than {SHOWN_COST_CAP:,}" if cost > SHOWN_COST_CAP else f"up to {cost:,}"
    return f"This query could load {figure} objects; the limit is {limit:,}. Ask for smaller pages."


class QueryCostLimiter(SchemaExtension):
    def __init__(self, max_objects: int) -> None:
        self.max_objects = max_objects

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            document, variables = context.graphql_document, context.variables or {}
            cost = estimate_objects(document, context.operation_name, variables, context.schema._schema)
            if cost > self.max_objects:
                # Set before validation runs: Strawberry then answers these errors and executes nothing.
                context.pre_execution_errors = [
                    GraphQLError(too_costly(cost, self.max_objects), extensions={"code": QUERY_TOO_COMPLEX})
                ]
        yield


def _budget_abort(error: GraphQLError) -> bool:
    """Whether graphql-core aborted validation for one of its budgets ("Validation aborted."), not for its limit of
    100 errors ("Too many validation errors, error limit reached. Validation aborted.", which stays as it is: the
    document's own mistakes, GRAPHQL_VALIDATION_FAILED)."""
    return isinstance(error, ValidationAbortedError) and error.message == "Validation aborted."


def validation_budget_exhausted() -> GraphQLError:
    """QUERY_TOO_COMPLEX for a document whose validation graphql-core aborted ("Validation aborted.", a
    `ValidationAbortedError`): its budget of `MAX_COMPLEXITY_BUDGET` units for comparing fields that share a response
    name (OverlappingFieldsCanBeMerged: 2 a pair, so 708 `__typename` in one selection set exhaust it, 707 do not) or
    of `MAX_FRAGMENT_WORK` for walking shared fragments ran out. A limit, not a validation failure: no count of ours
    before validation foresees the pairs that nesting and fragments make (45 fields of one name holding 44 each,
    within 2,000 tokens, make ~1.9 million comparisons), so the abort itself is answered as the limit it is."""
    return GraphQLError(
        "This query is too costly to validate: it exhausted GraphQL validation's budget of "
        f"{MAX_COMPLEXITY_BUDGET:,} units for comparing fields that share a response name (2 a pair: about 700 "
        f"fields of one name in a selection set) or of {MAX_FRAGMENT_WORK:,} for walking shared fragments. "
        "Ask for each field once per selection set.",
        extensions={"code": QUERY_TOO_COMPLEX},
    )


class BoundedValidationCache(ValidationCache):
    """Strawberry's `ValidationCache` (validation, cached by document and rules), which first refuses a document of
    more than `max_selections` selections with its fragments expanded (`expanded_selections`): QUERY_TOO_COMPLEX,
    and no validation rule runs. Strawberry's depth and alias rules follow every spread anew, exponential in how
    deep fragments spread fragments twice; validation must not start on such a document. A document longer than
    `MAX_CACHED_DOCUMENT_CHARS` is validated without the cache, which would keep it (gql/parsing.py). A validation
    graphql-core aborted for its own budget is QUERY_TOO_COMPLEX too (`validation_budget_exhausted`). A request an
    extension before it already refused (its variables' lists, gql/list_sizes.py) is not validated."""

    def __init__(self, maxsize: int, max_selections: int = MAX_EXPANDED_SELECTIONS) -> None:
        super().__init__(maxsize=maxsize)
        self.max_selections = max_selections

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors:  # refused before validation (gql/list_sizes.py): nothing to validate
            yield
            return
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
        if document is not None and (huge := _huge_int_literal(document)) is not None:
            digits = len(huge.value.lstrip("-"))
            context.pre_execution_errors = [
                GraphQLError(  # no code: a validation error's, GRAPHQL_VALIDATION_FAILED (gql/errors.py)
                    f"Int cannot represent non 32-bit signed integer value: {huge.value[:12]}... ({digits:,} digits).",
                    huge,
                )
            ]
            yield
            return
        source = document.loc.source.body if document is not None and document.loc is not None else ""
        if document is not None and len(source) > MAX_CACHED_DOCUMENT_CHARS:
            # validated as by the cache, but not kept (gql/parsing.py)
            from strawberry.schema.schema import validate_document  # as Strawberry's cache imports it

            context.pre_execution_errors = validate_document(context.schema._schema, document, context.validation_rules)
        else:  # as Strawberry's `ValidationCache.on_validate`; its cached list of errors is not changed in place
            context.pre_execution_errors = self.cached_validate_document(
                context.schema._schema, document, context.validation_rules
            )
        errors = context.pre_execution_errors
        if errors and any(_budget_abort(error) for error in errors):
            context.pre_execution_errors = [
                validation_budget_exhausted() if _budget_abort(error) else error for error in errors
            ]
        yield
