"""How failures reach clients: expected ones as `userErrors` (or a coded GraphQL error), the rest masked and logged.

DomainError (domain.errors)   -> a UserError in the mutation payload, with its stable code
BadRequestError               -> a GraphQL error with `extensions.code`, shown as is (bad arguments)
the database cannot serve    -> "The database is unavailable; try again shortly." (SERVICE_UNAVAILABLE); one
  (down, read-only, full,        WARNING line naming the cause, no traceback (adapters/db/outage.py); so does a
  not answering...)              database error while this process waits for `shopbridge migrate` (MIGRATIONS_PENDING)
  or not migrated yet
the SQLite file was removed  -> "The database file was removed or replaced while this server ran; restart the
  or replaced while the         server ..." (SERVICE_UNAVAILABLE, as /readyz's `database` check says): no wait
  process ran                   mends it (adapters/db/outage.py `file_moved`); the same WARNING line
this process's pool exhausted -> "The server is busy: its database connections are all in use; try again shortly."
  (the database answering)       (DATABASE_BUSY); one WARNING line a minute naming the pool's size and the settings
the database aborted the      -> "The database aborted this request's transaction ... try again." (TRANSACTION_CONFLICT,
  transaction (40P01, 40001)     SQLSTATE class 40, PostgreSQL's "retry the transaction"); one WARNING line with the
                                 SQLSTATE: a use case not run again whole (`domain.services.conflicts`) was the victim
anything else                 -> "Unexpected error." (INTERNAL_SERVER_ERROR) for the client; the traceback goes
                                 to our log at ERROR

Every GraphQL error carries `extensions.code` (`error_code`); the client's mistakes are logged at INFO, one line
without a traceback. Field and value suggestions ("Did you mean ...?") are removed from every message.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from enum import Enum

from graphql import DocumentNode, FieldNode, GraphQLError, GraphQLSyntaxError, OperationType, located_error
from graphql.utilities import get_operation_ast
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError

from adapters.db.errors import transaction_conflict
from adapters.db.outage import behind_migrations, busy_line, describe, file_moved, pool_exhausted, unavailable
from adapters.text import one_line
from domain.errors import DomainError, ValidationErrors
from gql.operations import BAD_REQUEST
from gql.throttled_log import ThrottledLog
from gql.types import UserError

log = logging.getLogger("shopbridge.graphql")
# A pool exhausted fails every request of the process at once (soak53: thousands of lines); one line a minute says it.
BUSY_LOG_INTERVAL_SECONDS = 60.0
_busy_log = ThrottledLog(log, BUSY_LOG_INTERVAL_SECONDS)


class BadRequestError(Exception):
    """A query argument out of bounds; shown to the client with `extensions.code = BAD_USER_INPUT`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.extensions = {"code": "BAD_USER_INPUT"}


class UnauthenticatedError(BadRequestError):
    """No merchant: shown with `extensions.code = UNAUTHENTICATED`."""

    def __init__(self, message: str = "Send an Authorization: Bearer <token> header.") -> None:
        super().__init__(message)
        self.extensions = {"code": "UNAUTHENTICATED"}


def user_error(error: DomainError) -> UserError:
    return UserError(field=list(error.field) if error.field else None, message=error.message, code=error.code)


def user_errors(error: DomainError) -> list[UserError]:
    """`error` as a payload's `userErrors`: one per field a `ValidationErrors` names, in its order; else one."""
    return [user_error(each) for each in (error.errors if isinstance(error, ValidationErrors) else (error,))]


# Codes of errors about the request itself (documented in the README, "The GraphQL API").
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly."
# SQLite's file removed or replaced under the running process (`make clean` beside `make run`, tryout61 F2): "try
# again shortly" was never true, the process refuses every read and write until it is restarted, as /readyz says
# (adapters/db/engine.py `SqliteFile`). No path: the client's answer names no file of the server.
DATABASE_FILE_GONE_MESSAGE = (
    "The database file was removed or replaced while this server ran; restart the server (after restoring the file "
    "or running `shopbridge migrate`)."
)
DATABASE_BUSY = "DATABASE_BUSY"  # this process's connection pool exhausted, the database up (adapters/db/outage.py)
DATABASE_BUSY_MESSAGE = "The server is busy: its database connections are all in use; try again shortly."
# PostgreSQL aborted the request's transaction so that a concurrent one could go on (SQLSTATE 40P01 deadlock detected,
# 40001 serialization failure): its manual's advice is to retry the transaction, which the client can do at once.
# Use cases that cannot be told apart from the client's retry are run again whole instead (`run_again_on_conflict`).
TRANSACTION_CONFLICT = "TRANSACTION_CONFLICT"
TRANSACTION_CONFLICT_MESSAGE = (
    "The database aborted this request's transaction to let a concurrent one go on (a deadlock or a serialization "
    "failure); what it was writing was rolled back: try again."
)
MAX_MESSAGE_CHARS = 300  # of an error's message, quotes of the client's input included

_SUGGESTION = re.compile(r"\s*Did you mean\b[^?]*\?")
# Strawberry's limiters report plain validation errors; these are their messages (pinned by tests/e2e).
_LIMIT_MESSAGES = (
    re.compile(r"exceeds maximum operation depth of \d+"),
    re.compile(r"^\d+ aliases found\. Allowed: \d+"),
    re.compile(r"Document contains more than \d+ tokens"),
    re.compile(r"Source contains more than \d+ code points"),
)
# graphql-core's messages when variables cannot be coerced (validation messages about variables differ).
_VARIABLE_COERCION = re.compile(
    r"^Variable '\$[^']+' (has invalid (default )?value|got invalid value|of (required|non-null) type .* "
    r"(was not provided|must not be null))"
)


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.original_error if isinstance(current, GraphQLError) else current.__cause__
    return chain


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:  # a validation or parse error from graphql-core: about the client's document
        return True
    # A GraphQLError as the cause is graphql-core's own verdict on the request (e.g. a variable's bad enum value);
    # CannotGetOperationTypeError is Strawberry's: the document has no operation, or none of `operationName`.
    return (
        isinstance(original, (BadRequestError, DomainError, GraphQLError, CannotGetOperationTypeError))
        or unavailable(original)
        or behind_migrations(original)
        or transaction_conflict(original, through_context=False) is not None
    )


def error_code(error: GraphQLError) -> str:
    """The stable `extensions.code` of an error, from its own extensions, its cause, or where it arose."""
    for cause in _causes(error):
        extensions = getattr(cause, "extensions", None)
        if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
            return str(extensions["code"])
        if isinstance(cause, DomainError):
            return cause.code.value
        if isinstance(cause, CannotGetOperationTypeError):
            return BAD_REQUEST  # as HTTP answers it (400): no operation to run
    if error.original_error is not None and pool_exhausted(error.original_error):
        return DATABASE_BUSY
    original = error.original_error
    if original is not None and transaction_conflict(original, through_context=False) is not None:
        return TRANSACTION_CONFLICT
    if error.original_error is not None and (
        unavailable(error.original_error) or behind_migrations(error.original_error)
    ):
        return SERVICE_UNAVAILABLE
    if not _is_expected(error):
        return INTERNAL_SERVER_ERROR
    if any(pattern.search(error.message) for pattern in _LIMIT_MESSAGES):
        return QUERY_TOO_COMPLEX
    if isinstance(error, GraphQLSyntaxError):
        return GRAPHQL_PARSE_FAILED
    if _VARIABLE_COERCION.match(error.message) or error.original_error is not None:
        return BAD_USER_INPUT  # the variables (or an argument value) could not be coerced
    if error.path is None:
        return GRAPHQL_VALIDATION_FAILED
    return INTERNAL_SERVER_ERROR  # an execution error graphql-core raised itself (e.g. a null in a non-null field)


def located_in_subscription(errors: list[GraphQLError], document: DocumentNode | None, operation: str | None) -> None:
    """Errors a subscription's resolver raised, located at its field (in place): `locations` and `path`.

    graphql-core locates what a query's or mutation's resolver raises at its field; a subscription's resolver is an
    async generator that first runs when iterated, and Strawberry passes what that iteration raises on as a bare
    GraphQLError, so NOT_FOUND (an unknown id, a shop deleted while followed), BAD_USER_INPUT (two contradicting
    arguments) or UNAUTHENTICATED (the token expired) came without either. A subscription has exactly one root field
    (spec, "Single root field"), so such an error is that field's, as graphql-core would locate it (`path` is its
    response key, alias included). Only our resolvers' own refusals (`DomainError`, `BadRequestError` and its kin)
    and the database's refusals (a process behind its migrations, MIGRATIONS_PENDING; an outage, which a
    subscription's reads wait out (gql/live_outage.py) but any read of a resolver that did not would raise: its
    WARNING line names the field, where it said "in None") are located: an error from before execution (validation,
    limits, the operation's type) stays as it is.
    """
    if document is None:
        return
    definition = get_operation_ast(document, operation)
    if definition is None or definition.operation is not OperationType.SUBSCRIPTION:
        return
    selections = definition.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return  # a root fragment: graphql-core's validation refuses more than one field, this one is left alone
    field = selections[0]
    key = (field.alias or field.name).value
    for index, error in enumerate(errors):
        original = error.original_error
        if error.nodes or error.path or original is None:
            continue
        if not (
            isinstance(original, DomainError | BadRequestError) or unavailable(original) or behind_migrations(original)
        ):
            continue
        errors[index] = located_error(original, [field], [key])


def process_errors(errors: list[GraphQLError]) -> None:
    """Give every error its code, drop suggestions, and log: the client's mistakes at INFO, the rest at ERROR or
    WARNING, each kind in at most one line a response (the unexpected ones: one a distinct bug).

    The client's mistakes of one response are one INFO line (`_log_client_errors`): the first, then how many more
    and their codes. A line each let one request of 2,000 tokens write 101 lines (graphql-core stops validating at
    100 errors, then adds one saying so), 60,000 a minute per merchant at the request cap (tryout71 F1). The same
    holds for the server's failures (`_log_server_errors`): the unexpected ones (ERROR, with the traceback, one line
    per distinct bug: exception class and the frame that raised it, `_by_raising_frame`; review72b F2), the
    pool exhausted (DATABASE_BUSY, besides at most a line a minute), the transactions aborted (TRANSACTION_CONFLICT),
    the database behind its migrations and the database unavailable (WARNING) each write one line naming the first
    error, then how many more, their classes or codes, and a few of their paths: a document of 30 aliases wrote 30
    lines (30 tracebacks for a bug) a request, every request of an outage (lows72)."""
    client: list[tuple[str, GraphQLError]] = []
    server: dict[_Failure, list[tuple[str, GraphQLError]]] = {failure: [] for failure in _Failure}
    for error in errors:
        error.message = client_message(_SUGGESTION.sub("", error.message))
        code = error_code(error)
        error.extensions = {**(error.extensions or {}), "code": code}
        original = error.original_error
        if code == INTERNAL_SERVER_ERROR:
            server[_Failure.UNEXPECTED].append((type(original or error).__name__, error))
        elif code == DATABASE_BUSY and original is not None:
            error.message = DATABASE_BUSY_MESSAGE
            server[_Failure.BUSY].append((code, error))
        elif code == TRANSACTION_CONFLICT and original is not None:
            error.message = TRANSACTION_CONFLICT_MESSAGE
            server[_Failure.CONFLICT].append((code, error))
        elif code == SERVICE_UNAVAILABLE and original is not None:
            # the driver's words may name hosts: they stay in our log
            error.message = DATABASE_FILE_GONE_MESSAGE if file_moved(original) else DATABASE_UNAVAILABLE_MESSAGE
            failure = _Failure.MIGRATIONS_PENDING if behind_migrations(original) else _Failure.UNAVAILABLE
            server[failure].append((code, error))
        else:
            client.append((code, error))
    _log_client_errors(client)
    _log_server_errors(server)


class _Failure(Enum):
    """The server's failures `process_errors` logs, one line a response each."""

    UNEXPECTED = "unexpected"
    BUSY = "busy"
    CONFLICT = "conflict"
    MIGRATIONS_PENDING = "migrations pending"
    UNAVAILABLE = "unavailable"


MAX_PATHS_LOGGED = 3  # of the errors after a line's first: a few say where, the count says how many


def _where(error: GraphQLError) -> object:
    """Where an error arose, for a log line: its path; a path-less one of the database is a subscription's,
    unlocated (`located_in_subscription` locates only ours), and an unexpected one arose outside any field (in an
    extension: the operation's)."""
    if error.path:
        return error.path
    return "the operation" if error_code(error) == INTERNAL_SERVER_ERROR else "a subscription"


def _more(rest: list[tuple[str, GraphQLError]], *, paths: bool = True) -> str:
    """The tail of a line for the errors after its first, `(label, error)` in the response's order:
    ` (and N more: LABEL xK, ...)` by count, with `paths` ` in PATH, PATH, PATH and M other paths` (the first
    `MAX_PATHS_LOGGED` distinct ones); "" when there are none. Labels are codes or class names, never messages."""
    if not rest:
        return ""
    counts = Counter(label for label, _ in rest)
    more = ", ".join(f"{label} x{count}" for label, count in counts.most_common())
    if paths:
        where = list(dict.fromkeys(str(_where(error)) for _, error in rest))
        others = len(where) - MAX_PATHS_LOGGED
        more += " in " + ", ".join(where[:MAX_PATHS_LOGGED]) + (f" and {others} other paths" if others > 0 else "")
    return one_line(f" (and {len(rest)} more: {more})", MAX_MESSAGE_CHARS)


def _raising_frame(error: GraphQLError) -> tuple[type[BaseException], str, int] | None:
    """What tells an unexpected error's bug apart: its exception's class and the frame that raised it, the innermost
    frame of its traceback (file, line); None without a traceback."""
    raised: BaseException = error.original_error or error
    tb = raised.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return type(raised), tb.tb_frame.f_code.co_filename, tb.tb_lineno


def _by_raising_frame(failed: list[tuple[str, GraphQLError]]) -> list[list[tuple[str, GraphQLError]]]:
    """The unexpected errors of a response, `(class name, error)` in its order, grouped by bug (`_raising_frame`):
    the groups in the order of their first error, each in the response's order. Rule (review72b F2): each distinct
    bug's traceback is logged once a response, its repeats counted in its line's tail. One line for them all hid a
    second bug behind the first's, as "KeyError x1" in its tail, in every response until the first was fixed; the 20
    aliases of one bug stay one line (lows72)."""
    groups: dict[object, list[tuple[str, GraphQLError]]] = {}
    for index, (label, error) in enumerate(failed):
        key = _raising_frame(error)
        groups.setdefault(index if key is None else key, []).append((label, error))
    return list(groups.values())


def _log_server_errors(server: dict[_Failure, list[tuple[str, GraphQLError]]]) -> None:
    """One line per kind of the server's failures of a response (`process_errors`), about its first error, ending
    with `_more` for the rest; the unexpected ones, one ERROR line with its traceback per distinct bug
    (`_by_raising_frame`)."""
    for same in _by_raising_frame(server[_Failure.UNEXPECTED]):
        first = same[0][1]
        log.error("unexpected error in %s%s", _where(first), _more(same[1:]), exc_info=first.original_error or first)
    if failed := server[_Failure.BUSY]:
        first = failed[0][1]
        where, line = _where(first), busy_line(first.original_error or first)
        _busy_log.warning("pool", "DATABASE_BUSY in %s: %s%s", where, line, _more(failed[1:]))
    if failed := server[_Failure.CONFLICT]:
        first = failed[0][1]
        original = first.original_error or first  # filed only with one (`process_errors`)
        log.warning(
            "TRANSACTION_CONFLICT in %s: the database aborted its transaction (SQLSTATE %s: %s); answered "
            "\"try again\" (a pair of transactions locking rows in opposite orders, if it recurs)%s",
            _where(first), transaction_conflict(original, through_context=False),
            one_line(str(original), MAX_MESSAGE_CHARS), _more(failed[1:]),
        )  # fmt: skip
    for kind, line in _DATABASE_LINES.items():
        if failed := server[kind]:
            first = failed[0][1]
            log.warning(line, _where(first), describe(first.original_error or first), _more(failed[1:]))


# The WARNING line of a database that cannot answer, by kind (`_log_server_errors`): where, the first error, `_more`.
_DATABASE_LINES = {
    _Failure.MIGRATIONS_PENDING: "database not migrated yet in %s (MIGRATIONS_PENDING: run `shopbridge migrate`): %s%s",
    _Failure.UNAVAILABLE: "database unavailable in %s: %s%s",
}


def _log_client_errors(client: list[tuple[str, GraphQLError]]) -> None:
    """One INFO line for the client's mistakes of a response, `(code, error)` in the response's order: `client error
    CODE at PATH: MESSAGE`, then, when there are more, `(and N more: CODE xK, ...)` with their codes by count."""
    if not client:
        return
    code, first = client[0]
    log.info(
        "client error %s at %s: %s%s", code, first.path or "document", first.message, _more(client[1:], paths=False)
    )


def client_message(message: str) -> str:
    """An error message on one line of at most `MAX_MESSAGE_CHARS`, however much of the client's input it quotes.

    graphql-core quotes a refused value as printed GraphQL, over several lines once it is longer than 80
    characters (a block string keeps its line breaks), and in full: the lines are joined with single spaces
    and the text is cut, so that the answer and the log line stay small.
    """
    joined = " ".join(part.strip() for part in message.splitlines() if part.strip())
    return one_line(joined, MAX_MESSAGE_CHARS)


class CodedMaskErrors(MaskErrors):
    """MaskErrors whose masked error keeps a code (INTERNAL_SERVER_ERROR)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL_SERVER_ERROR}
        return masked

    def _process_result(self, result: object) -> None:
        # Strawberry's own test is `isinstance(result, _ResultWithErrors)`, a runtime-checkable Protocol: on Python
        # 3.11 each such check walks the protocol's attributes, and it runs on every streamed result of every
        # subscriber (~12 % of the API's CPU with 1,000 subscribers of one task, bench/README.md). Same rule, read
        # directly: a result with errors gets them masked.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def _should_mask(error: GraphQLError) -> bool:
    return not _is_expected(error)


def mask_errors() -> MaskErrors:
    return CodedMaskErrors(should_mask_error=_should_mask, error_message="Unexpected error.")
