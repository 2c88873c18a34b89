"""gql/loaders.py and gql/context.py: a set of loaders, and a request's context with its loaders, are freed by
reference counting as soon as nothing uses them, not left for the garbage collector's next full collection.

A subscription builds a set of loaders per message (or per shared read of a followed object) and every request one;
while each set was a reference cycle, the sets spent, with every value their caches held, piled up between full
collections: 50 sockets following the pool left ~50 MB of Python objects there, and the process kept that memory
(soak53 item 2; bench/README.md, "Subscriptions' memory"). The garbage collector is off during each test, so an
object still alive after its last reference went is one only a collection would free. The loaders read for no
merchant here (they read nothing), so the services are never touched."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gql.context import Context
from gql.loaders import Loaders

UNUSED: Any = None  # the services: loaders for no merchant read nothing


@contextmanager
def collector_off() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def test_a_set_of_loaders_is_freed_once_let_go() -> None:
    with collector_off():
        # given a set of loaders that has answered a load (its cache holds the answer)
        loaders = Loaders(UNUSED, lambda: None)
        assert await loaders.shop.load("shop-1") is None
        freed = weakref.ref(loaders)
        # when the last reference to it goes
        del loaders
        # then it is gone at once, with its caches
        assert freed() is None


async def test_a_context_and_its_loaders_are_freed_once_the_request_ends() -> None:
    with collector_off():
        # given a request's context whose loaders answered a load
        context = Context(UNUSED, None)
        assert await context.loaders.inventory_item.load("item-1") is None
        freed_context, freed_loaders = weakref.ref(context), weakref.ref(context.loaders)
        # when the request lets its context go
        del context
        # then the context and its loaders are gone at once
        assert freed_context() is None
        assert freed_loaders() is None


async def test_a_subscriptions_spent_loaders_are_freed_when_it_takes_fresh_ones() -> None:
    with collector_off():
        # given a socket's context (it lives as long as the socket) whose loaders answered one message
        context = Context(UNUSED, None)
        assert await context.loaders.shop.load("shop-1") is None
        spent = weakref.ref(context.loaders)
        # when the next message takes fresh loaders
        assert await context.fresh_loaders().shop.load("shop-1") is None
        # then the spent set is gone at once
        assert spent() is None
