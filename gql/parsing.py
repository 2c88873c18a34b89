"""Strawberry's `ParserCache`, with a document that does not parse reported as the client's error on every transport.

`ParserCache.on_parse` parses in the extension hook, which Strawberry enters *before* its own error handling of the
parse step. Over HTTP an outer `except Exception` turned the escaped `GraphQLSyntaxError` into an error response;
over the WebSocket (`Schema.stream`, graphql-transport-ws) nothing caught it: the operation's task died, the client
got a bare `complete` with no error and our log a traceback at ERROR. Every parse-time failure took that path: a
syntax error, and the token limit (`MaxTokensLimiter` makes the parser stop past `MAX_TOKENS` with a syntax error).

Here a document that fails to parse is not cached (`functools.lru_cache` stores results, not exceptions) and is left
to Strawberry's own parse, inside its error handling, which raises the same error again and reports it as a
pre-execution error: `GRAPHQL_PARSE_FAILED` or `QUERY_TOO_COMPLEX` (gql/errors.py), one INFO line, on HTTP and on
the WebSocket alike. Only failing documents are parsed twice, and the token limit bounds that work.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class ReportingParserCache(ParserCache):
    """`ParserCache(maxsize)` whose parse failures reach Strawberry's error handling (and so the client)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None  # Strawberry parses it next, where its error is reported
        yield
