"""README.md against the committed schema: its GraphQL examples run as written and its API summary names every
root field, so that a renamed field or a new mutation cannot leave the newcomer's guide behind (issue: README drift).

The schema is the committed `schema.graphql`, which a test already holds equal to the code's (gql/schema.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLSchema, build_schema, parse, validate

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEMA: GraphQLSchema = build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))

# A fenced ```graphql block, or inline code that is a GraphQL document: `{ field …`, `mutation {`, `subscription {`,
# `query …` (inline JSON such as `{"status": …}` and the sandbox's `{sellers: [...]}` shapes do not start so).
FENCED = re.compile(r"```graphql\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:\{ |mutation \{|subscription \{|query )[^`]*\})`")


def _examples() -> list[tuple[str, str]]:
    """(id, document) of every GraphQL example, the id its README line: deterministic for pytest-xdist."""
    found = [(m.start(1), m.group(1)) for m in FENCED.finditer(README)]
    found += [(m.start(1), m.group(1)) for m in INLINE.finditer(README)]
    return [(f"README.md:{README.count(chr(10), 0, at) + 1}", doc) for at, doc in sorted(found)]


EXAMPLES = _examples()


def test_the_readme_has_graphql_examples_to_check() -> None:
    # a change of the README's fences (or of these patterns) must not make the check below vacuous
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("document", [doc for _, doc in EXAMPLES], ids=[where for where, _ in EXAMPLES])
def test_every_graphql_example_of_the_readme_validates_against_the_schema(document: str) -> None:
    # given an example as a reader pastes it into GraphiQL, then it parses and fits the schema
    errors = validate(SCHEMA, parse(document))
    assert not errors, [error.message for error in errors]


@pytest.mark.parametrize("kind", ["Queries", "Mutations", "Subscription"])
def test_the_readme_api_summary_names_every_root_field(kind: str) -> None:
    """Rule (README "The GraphQL API", its table "In short"): each row names every field of its root type."""
    row = re.search(rf"^\| {kind} \|(.*)\|$", README, re.M)
    assert row, f"README's API table has no {kind} row"
    named = set(re.findall(r"`(\w+)", row.group(1)))
    root = {"Queries": SCHEMA.query_type, "Mutations": SCHEMA.mutation_type, "Subscription": SCHEMA.subscription_type}
    root_type = root[kind]
    assert isinstance(root_type, GraphQLObjectType)
    assert set(root_type.fields) - named == set()


def test_user_error_code_holds_every_code_a_sync_task_can_carry() -> None:
    """Rule (README "The GraphQL API": a failed sync task's codes, "`UserErrorCode` holds them too"; the list is
    README's "Task error codes" under Sync). `SyncTask.errorCode` stays a String, but a client mapping
    `UserErrorCode` must find each of them there: INTERNAL was missing (try-out newcomer52, defect 5). Every other
    code a task can carry is a rule's `ErrorCode` (`SyncTask.fail` takes one; mypy holds the callers to it)."""
    listed = re.search(r"\*\*Task error codes\*\* \(`SyncTask.errorCode`\): (.*?)\n- \*\*", README, re.S)
    assert listed, "README has no 'Task error codes' line under Sync"
    codes = set(re.findall(r"`([A-Z_]+)`", listed.group(1)))
    assert {"REAUTHORIZATION_REQUIRED", "TIME_LIMIT_EXCEEDED", "INTERNAL"} <= codes  # the pattern found the list
    enum = SCHEMA.get_type("UserErrorCode")
    assert isinstance(enum, GraphQLEnumType)
    assert codes - set(enum.values) == set()


def test_the_readme_list_of_user_error_codes_names_every_code() -> None:
    """Rule (README "The GraphQL API": "Expected failures are `userErrors` with stable codes: …", the list a client
    maps): each `UserErrorCode` value is named there, so a client written from that section handles every code.
    SKU_LINK_CHANGED, ON_HAND_REQUIRED, ITEM_LINKED and ITEM_IN_USE were named only deep in "Shared inventory pool"
    (api66 F3)."""
    listed = re.search(
        r"Expected failures are `userErrors` with stable codes: (.*?)\nEvery GraphQL error", README, re.S
    )
    assert listed, "README has no list of expected failures under The GraphQL API"
    named = set(re.findall(r"`([A-Z_]+)`", listed.group(1)))
    enum = SCHEMA.get_type("UserErrorCode")
    assert isinstance(enum, GraphQLEnumType)
    assert sorted(set(enum.values) - named) == []
