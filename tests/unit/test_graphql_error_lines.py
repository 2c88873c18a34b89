"""How a response's unexpected errors are logged (gql/errors.py `process_errors`): one ERROR line with its traceback
per distinct bug (exception class and raising frame), its repeats counted in that line's tail (review72b F2)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from graphql import GraphQLError, located_error

from gql.errors import process_errors


def price_of(order: dict[str, Any]) -> object:  # one bug, in one resolver
    return order["price"]


def shop_region(shop: dict[str, Any]) -> object:  # another, in another resolver: the same exception class
    return {"US": 1}[shop["region"]]


def failed(
    calls: list[tuple[list[str | int], Callable[[dict[str, Any]], object], dict[str, Any]]],
) -> list[GraphQLError]:
    errors: list[GraphQLError] = []
    for path, call, argument in calls:
        try:
            call(argument)
        except Exception as exc:  # what a resolver's bug raises, as graphql-core catches it
            errors.append(located_error(exc, None, path))
    return errors


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "shopbridge.graphql" and r.levelno == logging.ERROR]


def logged_text(record: logging.LogRecord) -> str:
    assert record.exc_info is not None and record.exc_info[1] is not None
    return "".join(traceback.format_exception(record.exc_info[1]))


def test_two_distinct_bugs_in_one_response_are_two_error_lines_each_with_its_traceback(caplog) -> None:
    """review72b two_bugs.py: one ERROR line for the response showed the second KeyError only as "KeyError x1" in
    the first's tail, its traceback lost, in every response until the first bug was fixed."""
    # given a response with two unrelated KeyErrors, in two resolvers
    errors = failed([(["orders", 0, "price"], price_of, {}), (["shop", "region"], shop_region, {"region": "XX"})])
    # when its errors are processed
    with caplog.at_level(logging.INFO, logger="shopbridge.graphql"):
        process_errors(errors)
    # then each bug has its ERROR line, naming its path, with its own traceback, and no tail counting the other
    first, second = error_lines(caplog)
    assert first.getMessage() == "unexpected error in ['orders', 0, 'price']"
    assert second.getMessage() == "unexpected error in ['shop', 'region']"
    assert "in price_of" in logged_text(first) and "in shop_region" not in logged_text(first)
    assert "in shop_region" in logged_text(second) and "in price_of" not in logged_text(second)


def test_repeats_of_one_bug_are_counted_in_its_line_and_a_distinct_one_keeps_its_own(caplog) -> None:
    """The 20-aliases case of lows72 stays one line a bug: the repeats (same class, same raising frame) are counted
    in the tail of their first one's line, whatever other bug comes between them."""
    # given a response with the price bug three times, the region bug between its first two
    errors = failed([
        (["a0", "price"], price_of, {}),
        (["b0", "region"], shop_region, {"region": "XX"}),
        (["a1", "price"], price_of, {}),
        (["a2", "price"], price_of, {}),
    ])  # fmt: skip
    # when its errors are processed
    with caplog.at_level(logging.INFO, logger="shopbridge.graphql"):
        process_errors(errors)
    # then two ERROR lines: the price bug's with its two repeats counted, then the region bug's alone
    first, second = error_lines(caplog)
    assert (
        first.getMessage()
        == "unexpected error in ['a0', 'price'] (and 2 more: KeyError x2 in ['a1', 'price'], ['a2', 'price'])"
    )
    assert second.getMessage() == "unexpected error in ['b0', 'region']"
    assert "in price_of" in logged_text(first) and "in shop_region" in logged_text(second)
    assert [e.extensions for e in errors] == [{"code": "INTERNAL_SERVER_ERROR"}] * 4
