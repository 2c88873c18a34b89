"""How failures reach clients: expected ones as `userErrors` (or a coded GraphQL error), the rest masked and logged.

DomainError (domain.errors)   -> a UserError in the mutation payload, with its stable code
BadRequestError               -> a GraphQL error with `extensions.code`, shown as is (bad paging arguments)
anything else                 -> "Unexpected error." for the client; the traceback goes to our log
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import DomainError
from gql.types import UserError

log = logging.getLogger("shopbridge.graphql")


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


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:  # a validation or parse error from graphql-core: about the client's document
        return True
    # A GraphQLError as the cause is graphql-core's own verdict on the request (e.g. a variable's bad enum value).
    return isinstance(original, (BadRequestError, DomainError, GraphQLError))


def _should_mask(error: GraphQLError) -> bool:
    if _is_expected(error):
        return False
    log.error("unexpected error in %s", error.path, exc_info=error.original_error)
    return True


def mask_errors() -> MaskErrors:
    return MaskErrors(should_mask_error=_should_mask, error_message="Unexpected error.")
