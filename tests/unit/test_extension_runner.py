"""The schema's extension runner for streamed results: the same masking and extension results as Strawberry's."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from gql.errors import INTERNAL_SERVER_ERROR, mask_errors
from gql.schema import ShopbridgeSchema


@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def checked(self) -> int:
        if self.n == 2:
            raise RuntimeError("database password in a message")  # an unexpected failure: masked
        return self.n


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[Tick, None]:
        for n in (1, 2, 3):
            yield Tick(n=n)


class Counting(SchemaExtension):
    """An extension with its own stream hook and results: both must still run for every result."""

    def __init__(self) -> None:
        self.seen = 0

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self.seen += 1
        yield

    def get_results(self) -> dict[str, Any]:
        return {"seen": self.seen}


async def _results(extensions: list[Any]) -> list[Any]:
    schema = ShopbridgeSchema(query=Query, subscription=Subscription, extensions=extensions)
    stream = await schema.subscribe("subscription { ticks { n checked } }")
    assert not isinstance(stream, Exception)
    return [result async for result in stream]  # type: ignore[union-attr]


async def test_an_unexpected_error_in_a_streamed_result_is_masked_with_a_code() -> None:
    results = await _results([mask_errors])

    assert [r.data for r in results] == [
        {"ticks": {"n": 1, "checked": 1}},
        None,  # `checked` is non-null: the failure nulls the whole result
        {"ticks": {"n": 3, "checked": 3}},
    ]
    assert [r.errors is None for r in results] == [True, False, True]
    (error,) = results[1].errors
    assert error.message == "Unexpected error."
    assert error.extensions == {"code": INTERNAL_SERVER_ERROR}


async def test_another_extension_with_a_stream_hook_and_results_still_runs_for_every_result() -> None:
    results = await _results([mask_errors, Counting])

    assert [r.extensions for r in results] == [{"seen": 0}, {"seen": 1}, {"seen": 2}]  # counted after each frame
    assert results[1].errors[0].message == "Unexpected error."
