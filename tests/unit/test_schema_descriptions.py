"""Every part of the GraphQL schema says what it is: each type, field, argument, input field and enum value has a
description (STYLE.md and README: "docstrings of public functions and GraphQL fields give shapes, units (seconds,
minor units, UTC), errors raised or codes returned, and where a rule comes from").

85 of 162 fields had none (try-out newcomer52, defect 6: `SyncTask.created` read as a time beside `createdAt`; it is
a count of records). The schema read is the committed `schema.graphql`, which a test holds equal to the code's."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
)

from gql import descriptions

SCHEMA: GraphQLSchema = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def undocumented(schema: GraphQLSchema) -> list[str]:
    """Coordinates (`Type`, `Type.field`, `Type.field(arg)`, `Enum.VALUE`) of what has no or an empty description."""
    missing: list[str] = []

    def check(coordinate: str, description: str | None) -> None:
        if not (description or "").strip():
            missing.append(coordinate)

    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        check(name, graphql_type.description)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in graphql_type.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name}:)", arg.description)
        elif isinstance(graphql_type, GraphQLInputObjectType):
            for field_name, input_field in graphql_type.fields.items():
                check(f"{name}.{field_name}", input_field.description)
        elif isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                check(f"{name}.{value_name}", value.description)
    return missing


def test_every_type_field_argument_input_field_and_enum_value_has_a_description() -> None:
    assert undocumented(SCHEMA) == []


def test_an_undocumented_field_argument_or_enum_value_is_named() -> None:
    # given a schema with one of each undocumented, then each is named by its schema coordinate
    schema = build_schema('"""A."""\ntype Query {\n  """B."""\n  f(a: Int): E\n  g: Int\n}\n"""C."""\nenum E { X }')
    assert undocumented(schema) == ["Query.f(a:)", "Query.g", "E.X"]


def test_a_domain_enum_described_without_one_of_its_members_is_refused() -> None:
    # given a domain enum (no strawberry.enum_value in the standard library) and words for one member of two
    class Colour(Enum):
        RED = "RED"
        BLUE = "BLUE"

    # then its GraphQL enum is not built: a member added to the domain cannot reach the schema undescribed
    with pytest.raises(ValueError, match="BLUE"):
        descriptions.enum(Colour, {Colour.RED: "Red."}, description="Colours.")


def test_every_number_a_client_sends_says_its_range() -> None:
    """Rule (STYLE.md: descriptions give shapes and units; README "The GraphQL API": out-of-range input is refused
    with INVALID_INPUT or BAD_USER_INPUT saying the rule): each Int or Float input field and argument states the
    values it takes (a digit in its description), or says it takes any Int. `InventoryItemCreateInput.safetyStock`
    said "Units kept back from every shop." while 0 to 1,000,000,000 was enforced, as `InventoryItemUpdateInput`'s
    says (api66 F4)."""
    silent: list[str] = []
    for name, graphql_type in SCHEMA.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLInputObjectType):
            numbers = {f"{name}.{field}": f for field, f in graphql_type.fields.items()}
        elif isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            numbers = {
                f"{name}.{field}({arg})": a for field, f in graphql_type.fields.items() for arg, a in f.args.items()
            }
        else:
            continue
        for coordinate, value in numbers.items():
            description = value.description or ""
            if str(get_named_type(value.type)) in {"Int", "Float"} and not (
                "any Int" in description or any(c.isdigit() for c in description)
            ):
                silent.append(coordinate)
    assert silent == []
