"""Text no column can store is refused before anything runs: `BAD_USER_INPUT`, on HTTP and the WebSocket alike.

A GraphQL `String` may hold any code point, and JSON variables may even carry an unpaired surrogate (`"\\ud800"`):
graphql-core coerces both as they are. Neither can be stored: PostgreSQL refuses a NUL (U+0000) in text
("invalid byte sequence for encoding UTF8: 0x00"), and a lone surrogate (U+D800 to U+DFFF) is not encodable as
UTF-8 at all, for SQLite, hashing (the OAuth `state`) or the log. Such an input reached the resolvers and came back
as `INTERNAL_SERVER_ERROR` with a traceback at ERROR (an SKU, an adjustment's reason, a search, an OAuth state).

No input of this API means either (SKUs, names, reasons, searches, states and ids are text a person or TikTok
typed), so `StorableText` checks every string of the request once, before execution: each string argument written
in the document (graphql-core's parser already refuses a lone surrogate there, but decodes `\\u0000`) and every
string in the variables, keys included. A failing request gets one error, `BAD_USER_INPUT`, naming where the
character is (`$input.sku`, located at `$input`'s definition as graphql-core locates a variable it cannot coerce,
or the literal's location); nothing runs, and the client's mistake is one INFO line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    StringValueNode,
    VariableDefinitionNode,
    Visitor,
    visit,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from gql.errors import BAD_USER_INPUT

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "Text may not contain a NUL character (U+0000) or an unpaired surrogate (U+D800 to U+DFFF)"
_MAX_SHOWN_PATH = 100


class StorableText(SchemaExtension):
    """Refuses a request whose arguments or variables hold text no column can store (see the module)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and not context.pre_execution_errors:  # valid so far
            error = unstorable_literal(context.graphql_document, context.query or "")
            if error is None:
                operation = get_operation_ast(context.graphql_document, context.operation_name)
                error = unstorable_variable(context.variables or {}, operation)
            if error is not None:
                context.pre_execution_errors = [error]
        yield


def unstorable_literal(document: DocumentNode, source: str) -> GraphQLError | None:
    """The error for a string literal of the document holding NUL, else None.

    A NUL reaches a literal only raw or through an escape (`\\u0000`, `\\u{0}`): without either in the source text,
    the document's tree is not walked.
    """
    if "\x00" not in source and "\\u" not in source:
        return None
    found: list[StringValueNode] = []

    class _Finder(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
            if not found and UNSTORABLE.search(node.value):
                found.append(node)
            return None

    visit(document, _Finder())
    if not found:
        return None
    return GraphQLError(f"{MESSAGE}.", found, extensions={"code": BAD_USER_INPUT})


def unstorable_variable(
    variables: Mapping[str, Any], operation: OperationDefinitionNode | None = None
) -> GraphQLError | None:
    """The error for a string of the variables (a value or an object's key) holding NUL or a lone
    surrogate, naming its path (`$input.sku`, `$ids[2]`; cut at 100 characters), else None. Located at the
    variable's definition in `operation` (`$input: ...`), as graphql-core locates a variable it cannot coerce; a
    variable the operation does not define has no location.

    Walked without recursion (JSON nests deep), each string searched once; a path stops growing once cut.
    """
    stack: list[tuple[str, str, object]] = [(name, f"${_shown(name)}", name) for name in variables]
    stack += [(name, f"${_shown(name)}", value) for name, value in variables.items()]
    while stack:
        root, path, value = stack.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                return GraphQLError(f"{MESSAGE}: {path}.", _definition(operation, root), extensions=_CODE)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                inner = _inner(path, f".{_shown(key)}")
                stack += [(root, inner, key), (root, inner, item)]
        elif isinstance(value, list):
            stack.extend((root, _inner(path, f"[{index}]"), item) for index, item in enumerate(value))
    return None


_CODE = {"code": BAD_USER_INPUT}


def _definition(operation: OperationDefinitionNode | None, name: str) -> list[VariableDefinitionNode]:
    """The definition of the variable `name` in the operation, as a list of nodes (none: not defined there)."""
    defined = operation.variable_definitions or () if operation is not None else ()
    return [variable for variable in defined if variable.variable.name.value == name]


def _shown(name: object) -> str:
    return UNSTORABLE.sub("?", str(name)[:_MAX_SHOWN_PATH])


def _inner(path: str, step: str) -> str:
    if len(path) >= _MAX_SHOWN_PATH:
        return path if path.endswith("…") else path + "…"
    return (path + step)[:_MAX_SHOWN_PATH]
