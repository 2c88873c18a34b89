"""Merchant tokens and the `Authorization` header (gql/auth.py): what is accepted, and that everything else is an
`AuthenticationError` (answered 401 UNAUTHENTICATED), never another exception."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from gql.auth import ALGORITHM, ISSUER, AuthenticationError, bearer_token, issue_token, verify_token

SECRET = "a-test-secret-of-at-least-32-bytes!!"


def signed(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def test_a_token_we_issued_names_its_merchant() -> None:
    assert verify_token(SECRET, issue_token(SECRET, "m-1", ttl_seconds=60)) == "m-1"


def test_an_expired_token_is_refused_as_expired() -> None:
    token = issue_token(SECRET, "m-1", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(AuthenticationError, match="expired"):
        verify_token(SECRET, token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = issue_token("another-secret-of-at-least-32-bytes!", "m-1", ttl_seconds=60)
    with pytest.raises(AuthenticationError, match="invalid"):
        verify_token(SECRET, token)


@pytest.mark.parametrize(
    "left_out_or_changed",
    [{"exp": None}, {"iss": None}, {"iss": "someone-else"}, {"sub": None}, {"sub": ""}, {"sub": 7}],
    ids=["no exp", "no iss", "foreign iss", "no sub", "blank sub", "numeric sub"],
)
def test_a_correctly_signed_token_missing_or_with_a_foreign_claim_is_refused(
    left_out_or_changed: dict[str, Any],
) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "m-1", "iat": now, "exp": now + 60, "iss": ISSUER} | left_out_or_changed
    token = signed({name: value for name, value in claims.items() if value is not None})
    with pytest.raises(AuthenticationError):  # not a KeyError or TypeError (an unexpected 500-like error)
        verify_token(SECRET, token)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    # RFC 7235 section 2.1 / RFC 6750 section 2.1: the auth-scheme is a case-insensitive token
    assert bearer_token(f"{scheme} abc.def.ghi") == "abc.def.ghi"
    assert bearer_token(f"  {scheme}   abc.def.ghi  ") == "abc.def.ghi"


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer   ", "Basic abc", "Token abc", "abc.def.ghi"])
def test_a_missing_or_other_authorization_header_is_refused(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        bearer_token(header)
