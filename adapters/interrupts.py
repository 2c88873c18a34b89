"""Ctrl+C that Python itself would lose: a SIGINT handler that remembers it was pressed.

Python's default SIGINT handler raises KeyboardInterrupt in whatever code the main thread runs at that moment. When
that is a garbage collector's callback (a weakref callback, a `__del__`: SQLAlchemy's registries and Alembic's
migrations run many), Python cannot raise it anywhere: it prints "Exception ignored in ... KeyboardInterrupt" and
goes on. A Ctrl+C pressed while `shopbridge demo` migrated its database was lost that way one time in a dozen, and
the server started and served as if nothing had been pressed (found by `test_demo_lifecycle`'s Ctrl+C test,
which hung on a loaded machine).

`install()` replaces the default handler with one that records the press before raising, and silences Python's
report of a KeyboardInterrupt it had to drop (the press is recorded; the user asked to stop, not for a traceback).
Code that starts something long asks `pressed()` once its own signal handling is in place, and stops instead of
going on: `gql.cli.main` before running a command, `gql.serving.Server` before uvicorn starts,
`workers.cli.run_worker` once its worker processes started (it stops them as at a Ctrl+C).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

_pressed = False
_reported = sys.unraisablehook  # who reports the other unraisable exceptions


def install() -> None:
    """Handle SIGINT with `_on_sigint` and drop the unraisable KeyboardInterrupts it causes. Main thread only."""
    global _reported
    signal.signal(signal.SIGINT, _on_sigint)
    if sys.unraisablehook is not _unraisable:
        _reported, sys.unraisablehook = sys.unraisablehook, _unraisable


def pressed() -> bool:
    """True once SIGINT reached `_on_sigint` in this process, whether its KeyboardInterrupt got through or not."""
    return _pressed


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


def _unraisable(unraisable: Any) -> None:
    if _pressed and isinstance(unraisable.exc_type, type) and issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    _reported(unraisable)
