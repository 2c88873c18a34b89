"""Stop signals that would be lost or fatal while a command starts: Ctrl+C (SIGINT) and SIGTERM, remembered.

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
`workers.cli.run_worker` before it starts Dramatiq (it starts nothing) and once it has (it stops it as at a
Ctrl+C).

SIGTERM is a process manager's request to stop, and `serve`, `demo`, `worker` and `sandbox` stop gracefully on it,
exit 0. They did only once their own handling was in place, after seconds of imports (uvicorn, Starlette,
SQLAlchemy, the settings): a SIGTERM in a process's first second killed it by Python's default (status 143), which a
restart-on-failure policy or a deploy tool reads as a crash. `record_sigterm()`, among the first lines of the
`shopbridge` command (not of a process that merely imports `gql.cli`, a test's: it would no longer stop on SIGTERM),
gives SIGTERM a handler that only records it; the commands ask `terminated()` where they would start something and
stop instead, and the others (`migrate`, `token`, ...) hand SIGTERM back to its default with `sigterm_default()`,
which acts on one that came meanwhile, as it would have. Only while the interpreter itself starts, before the
command's first lines, does the default still apply.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

_pressed = False
_terminated = False
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


def record_sigterm() -> None:
    """From now on SIGTERM only sets `terminated()`; main thread only."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def terminated() -> bool:
    """True once SIGTERM reached `_on_sigterm` in this process: it was asked to stop."""
    return _terminated


def sigterm_default() -> None:
    """SIGTERM's default again (the process ends, status 143), for commands that do not stop gracefully; one that
    arrived while it was only recorded is delivered now. Nothing if `record_sigterm` was not called. Main thread
    only."""
    if signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _terminated:
        signal.raise_signal(signal.SIGTERM)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _terminated
    _terminated = True


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


def _unraisable(unraisable: Any) -> None:
    if _pressed and isinstance(unraisable.exc_type, type) and issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    _reported(unraisable)
