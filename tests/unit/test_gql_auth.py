"""Merchant tokens and the `Authorization` header (gql/auth.py): what is accepted, and that everything else is an
`AuthenticationError` (answered 401 UNAUTHENTICATED), never another exception."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from gql.auth import (
    ALGORITHM,
    CLOCK_LEEWAY_SECONDS,
    ISSUER,
    AuthenticationError,
    bearer_token,
    issue_token,
    verify_token,
    verify_token_claims,
)

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


def test_a_token_issued_by_a_clock_a_few_seconds_ahead_is_accepted() -> None:
    # sec50: `iat` 3 s ahead (the token server's clock ahead of ours) was "The token is invalid.", no word of time
    now = int(time.time())
    token = signed({"sub": "m-1", "iat": now + 3, "nbf": now + 3, "exp": now + 600, "iss": ISSUER})
    assert verify_token(SECRET, token) == "m-1"


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_issued_further_ahead_than_the_leeway_is_not_valid_yet(claim: str) -> None:
    now = int(time.time())
    token = signed({"sub": "m-1", claim: now + CLOCK_LEEWAY_SECONDS + 30, "exp": now + 600, "iss": ISSUER})
    with pytest.raises(AuthenticationError, match=r"^The token is not valid yet"):
        verify_token(SECRET, token)


def test_the_leeway_does_not_extend_the_expiry() -> None:
    now = int(time.time())
    token = signed({"sub": "m-1", "iat": now - 600, "exp": now - 1, "iss": ISSUER})
    with pytest.raises(AuthenticationError, match="expired"):
        verify_token_claims(SECRET, token)


@pytest.mark.parametrize(
    ("exp", "message"), [(10**400, "is invalid"), (-(10**400), "has expired")], ids=["past any float", "before any"]
)
def test_an_expiry_no_float_holds_is_refused(exp: int, message: str) -> None:
    # sec50: `exp: 10**400` passed PyJWT and `float(exp)` raised OverflowError: a 500 and an ERROR traceback
    token = signed({"sub": "m-1", "iat": int(time.time()), "exp": exp, "iss": ISSUER})
    with pytest.raises(AuthenticationError, match=f"^The token {message}"):
        verify_token_claims(SECRET, token)
