"""Strawberry's extension runner, with the two steps it repeats for every streamed result made cheap.

Strawberry runs two extension steps for each result of a subscription, for each subscriber: `on_stream_result`
builds a context manager that looks up every extension's hook (nine here) and wraps the one that has it
(`MaskErrors`) in a fresh `contextlib.contextmanager` and an `AsyncExitStack`; `get_extensions_results` awaits
every extension's `get_results`, though none of ours overrides it. With 1,000 subscribers of one task that was
~12 % of the API thread's CPU (`bench/README.md`, benchmark 6). This runner finds once, per operation, which
extensions take part in each step; error masking runs Strawberry's own hook body directly, before the frame is
sent, as the hook would; any other extension with a stream hook goes through Strawberry's context manager, as
before. Same rules, fewer allocations.
"""

from __future__ import annotations

import contextlib
from typing import Any

from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.context import StreamResultContextManager
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

_NOTHING = contextlib.nullcontext()


class StreamingExtensionsRunner(SchemaExtensionsRunner):
    """`SchemaExtensionsRunner` with per-operation lists of the extensions that take part in each result."""

    _parts: tuple[list[SchemaExtension], list[MaskErrors], list[SchemaExtension]] | None = None

    def _split(self) -> tuple[list[SchemaExtension], list[MaskErrors], list[SchemaExtension]]:
        """(extensions with results of their own, error maskers, other extensions with a stream hook)."""
        if self._parts is None:
            with_results = [e for e in self.extensions if type(e).get_results is not SchemaExtension.get_results]
            stream = [e for e in self.extensions if type(e).on_stream_result is not SchemaExtension.on_stream_result]
            maskers = [e for e in stream if isinstance(e, MaskErrors) and type(e).on_stream_result is _MASK_HOOK]
            others = [e for e in stream if not any(e is m for m in maskers)]
            self._parts = (with_results, maskers, others)
        return self._parts

    def on_stream_result(self, result: Any) -> Any:
        _, maskers, others = self._split()
        for masker in maskers:
            # Strawberry's MaskErrors.on_stream_result masks before its `yield`: run it up to there.
            next(_MASK_HOOK(masker, result), None)
        return StreamResultContextManager(others, result) if others else _NOTHING

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        with_results, _, _ = self._split()
        data: dict[str, Any] = {}
        for extension in with_results:
            data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


_MASK_HOOK = MaskErrors.on_stream_result
