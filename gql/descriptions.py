"""Descriptions shared across the schema: enum values of the domain's enums, and the paging arguments.

Rule (STYLE.md, README): every type, field, argument, input field and enum value says what it is, with its unit
(units, seconds, UTC) and where a value comes from; tests/unit/test_schema_descriptions.py holds the schema to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Annotated, TypeVar

import strawberry

FIRST = "How many to return: 1 to 100 (null: 20); outside that, BAD_USER_INPUT."
AFTER = (
    "An `endCursor` (or an edge's `cursor`) of this same list, to read on after it; null: from the start; a string "
    "that is no cursor of it: BAD_USER_INPUT."
)

# syncTasks' `trigger` (Query and Shop): polls come every SHOPBRIDGE_POLL_INTERVAL (a shop's last 3 empty ones of
# each kind are kept, and every one that found a change), and the imports a merchant started sank under them, out of
# view (newcomer57 F12: 18 of the first 27 tasks with 4 shops).
TRIGGER_FILTER = (
    "Only tasks started by one of these triggers: [AUTHORIZATION, MANUAL, REAUTHORIZATION] lists the imports "
    "without the polls, "
    "[SCHEDULED] the polls alone; []: none; null: every trigger."
)

USER_ERRORS = "Expected failures, each with a stable code and the input field; empty when the mutation succeeded."
GLOBAL_ID = "Global, opaque id"

First = Annotated[int | None, strawberry.argument(description=FIRST)]
After = Annotated[str | None, strawberry.argument(description=AFTER)]


E = TypeVar("E", bound=Enum)


def enum(cls: type[E], values: Mapping[E, str], *, name: str | None = None, description: str) -> type[E]:
    """`strawberry.enum(cls)` with a description for each value: the domain's enums (standard library only, no
    `strawberry.enum_value`) get theirs here. `values` must name every member, no more: a member added to the domain
    without words is refused at import."""
    members: set[E] = set(cls)
    if set(values) != members:
        raise ValueError(
            f"{cls.__name__}: describe exactly its members; off: {sorted(map(str, members ^ set(values)))}"
        )
    graphql_enum = strawberry.enum(cls, name=name, description=description)
    for value in graphql_enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[cls(value.value)]
    return graphql_enum
