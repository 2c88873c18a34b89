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

A document longer than `MAX_CACHED_DOCUMENT_CHARS` is not cached either (nor validated through the cache:
gql/cost.py): the cache kept each of its 256 documents with its text, and a string literal is one token however
long, so 256 distinct queries of ~1 MB each (`shop(id: "…1 MB…")`, inside the request limit and a minute's
requests) pinned ~540 MB of the API process for as long as no other documents replaced them. Documents as long
are no client's everyday queries (the console's are a few KB); parsed every time, they cost the process their
parse, not their memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache

# Longer documents are parsed and validated every time, never kept by the caches (module docstring).
MAX_CACHED_DOCUMENT_CHARS = 32_768


class ReportingParserCache(ParserCache):
    """`ParserCache(maxsize)` whose parse failures reach Strawberry's error handling (and so the client), and which
    keeps no document longer than `MAX_CACHED_DOCUMENT_CHARS`."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if len(context.query or "") > MAX_CACHED_DOCUMENT_CHARS:
            context.graphql_document = None  # Strawberry parses it next, uncached
            yield
            return
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None  # Strawberry parses it next, where its error is reported
        yield
