"""A list input holds at most `MAX_LIST_ITEMS` (100) items, and an input object of the variables at most
`MAX_OBJECT_FIELDS` (100) fields: more is `BAD_USER_INPUT`, refused before anything runs.

Security audit 50: `query($s: [SyncTaskStatus!]) { a0: syncTasks(status: $s, first: 1) {…} … a29: … }` with
100,000 x "QUEUED" in the variables (a 1 MB body, inside the request limit) held the API's event loop ~1.8 s per
request while graphql-core coerced the list and thirty resolvers took it in: another merchant's query went from 9 ms
to 1,714 ms. No argument of the schema needs such a list: its list arguments are `syncTasks(status:)`
([SyncTaskStatus!], 5 values) and `SyncStartInput.kinds` ([SyncKind!], 2 values); 100, the page size, is the most any
list input may hold, a bound for the lists to come (ids of a page) as well.

- Variables: `ListSizes` walks the request's variables (the JSON as received, whatever the operation declares)
  before validation, and so before graphql-core coerces them; the first list longer than the limit refuses the
  request, naming where it is (`$s`, `$input.kinds`; located at the variable's definition when the operation has
  one) and the limit. The walk goes without recursion and does not look inside a list it refuses.
- Input objects in the variables (tryout71 F3): an object of 40,000 keys (a 650 KB body) held the event loop 1-3 s
  while graphql-core coerced it: each of the first 50 unknown fields' errors prints the whole object
  (`graphql.pyutils.inspect`), a request's probe of `{ __typename }` beside it waited 2.9 s. The schema's input
  types have at most 5 fields; the walk refuses an object of more than 100 the same way, naming it (`$input`).
  The variables' own mapping is not one: its size is the variables the client sent, read by name only.
- The variables' count (tryout71 O1): more than `MAX_VARIABLES` (500, the most a document within the 2,000-token
  limit declares) is `QUERY_TOO_COMPLEX`, refused by `len` before any walk: 40,000 unused ones cost ~0.7 s of the
  event loop a request in the walks here and in `gql.text_inputs`.
- Literals in the document: `ListLiteralSize`, a validation rule (cached with the document's validation), refuses a
  list of more values alike. The 2,000-token limit already bounds them (about 2,000 values a document).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import GraphQLError, ListValueNode, OperationDefinitionNode, ValidationRule, VariableDefinitionNode
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from gql.errors import BAD_USER_INPUT, QUERY_TOO_COMPLEX

MAX_LIST_ITEMS = 100
MAX_OBJECT_FIELDS = 100  # the schema's input types have at most 5 fields (ShopInventoryPolicyUpdateInput)
# A document within the 2,000-token limit (gql.schema.MAX_TOKENS) declares at most 500 variables (`$`, its name,
# `:` and its type: four tokens each), so no request it accepts needs more values than that.
MAX_VARIABLES = 500
_MAX_SHOWN_PATH = 100
_CODE = {"code": BAD_USER_INPUT}


def _message(where: str, items: int) -> str:
    return f"A list input holds at most {MAX_LIST_ITEMS} items; {where} holds {items:,}."


def _object_message(where: str, fields: int) -> str:
    return f"An input object holds at most {MAX_OBJECT_FIELDS} fields; {where} holds {fields:,}."


class ListSizes(SchemaExtension):
    """Refuses a request whose variables hold a list longer than `MAX_LIST_ITEMS` before validation (see the
    module). Listed before the validation cache, which leaves a document already refused alone."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.variables and not context.pre_execution_errors:
            operation = get_operation_ast(context.graphql_document, context.operation_name)
            error = too_many_variables(context.variables) or oversized_variable(context.variables, operation)
            if error is not None:
                context.pre_execution_errors = [error]
        yield


def too_many_variables(variables: Mapping[str, Any]) -> GraphQLError | None:
    """`QUERY_TOO_COMPLEX` for variables of more than `MAX_VARIABLES` entries (one `len`), else None: more than any
    document within the token limit can declare. The token limit bounds the document, not the variables sent beside
    it (only the 1 MB body does), and the walks over every entry (this module's, `gql.text_inputs`'), declared or not,
    took ~0.6 s of the event loop for 40,000 unused ones (tryout71 O1: 0.7 s a request, a probe beside it 0.89 s)."""
    if len(variables) <= MAX_VARIABLES:
        return None
    message = f"A request holds at most {MAX_VARIABLES} variables; this one holds {len(variables):,}."
    return GraphQLError(message, extensions={"code": QUERY_TOO_COMPLEX})


def oversized_variable(
    variables: Mapping[str, Any], operation: OperationDefinitionNode | None = None
) -> GraphQLError | None:
    """The error for the first list of the variables longer than `MAX_LIST_ITEMS`, or input object (a mapping inside
    them) of more than `MAX_OBJECT_FIELDS` fields, naming its path (`$s`, `$input.kinds[0]`; cut at 100 characters)
    and located at its variable's definition in `operation`, else None."""
    stack = [(name, _shown(f"${name}"), value) for name, value in variables.items()]
    while stack:
        root, path, value = stack.pop()
        if isinstance(value, list):
            if len(value) > MAX_LIST_ITEMS:
                return GraphQLError(_message(path, len(value)), _definition(operation, root), extensions=_CODE)
            stack.extend(
                (root, _shown(f"{path}[{index}]"), item)
                for index, item in enumerate(value)
                if isinstance(item, (list, Mapping))
            )
        elif isinstance(value, Mapping):
            if len(value) > MAX_OBJECT_FIELDS:
                return GraphQLError(_object_message(path, len(value)), _definition(operation, root), extensions=_CODE)
            stack.extend(
                (root, _shown(f"{path}.{key}"), item)
                for key, item in value.items()
                if isinstance(item, (list, Mapping))
            )
    return None


def _shown(path: str) -> str:
    """`path` cut at 100 characters, any unpaired surrogate of a JSON key (`"\\ud800"`) shown as `?`."""
    return path[:_MAX_SHOWN_PATH].encode("utf-8", "replace").decode()


def _definition(operation: OperationDefinitionNode | None, name: str) -> list[VariableDefinitionNode]:
    defined = operation.variable_definitions or () if operation is not None else ()
    return [variable for variable in defined if variable.variable.name.value == name]


class ListLiteralSize(ValidationRule):
    """A list literal of the document longer than `MAX_LIST_ITEMS`: `BAD_USER_INPUT` at the list (see the module)."""

    def enter_list_value(self, node: ListValueNode, *_args: Any) -> None:
        if len(node.values) > MAX_LIST_ITEMS:
            message = _message("a list in the document", len(node.values))
            self.report_error(GraphQLError(message, node, extensions=_CODE))
