"""`PerBroker`: one object per Dramatiq broker, made on its first use and forgotten with the broker.

State a process keeps about the queue it sends to (the pending-message markers of `adapters.pending_messages`, the
Redis outage window of `adapters.queue`) belongs to the broker, not to the module: each test builds a broker of its
own, so it starts with fresh state, and a process has one broker, so one of each there:

    _windows = PerBroker(lambda broker: OutageWindow(15.0))
    window = _windows.of(broker)   # the same object for every call with this broker
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

import dramatiq

_T = TypeVar("_T")


class PerBroker(Generic[_T]):
    """`make(broker)` once per broker, kept as long as the broker lives (a weak key); thread-safe."""

    def __init__(self, make: Callable[[dramatiq.Broker], _T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[dramatiq.Broker, _T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, broker: dramatiq.Broker) -> _T:
        """The broker's object, made on the first call for it."""
        with self._lock:
            made = self._made.get(broker)
            if made is None:
                made = self._made[broker] = self._make(broker)
            return made
