"""`hidden(*names)`: while it lasts, importing any of those packages fails as if they were not installed.

For a library that imports an optional package it finds installed whether or not its caller uses it, at a cost paid
at every start of a process (CPU measured in imports71):
- structlog (`structlog.dev`, `structlog.tracebacks`) imports rich, and rich pygments (~0.13 s), for its console
  renderer and rich tracebacks, which `adapters.logs` never uses (`format_exc_info` renders a traceback as the
  standard library does). rich is no dependency of ours: it is in a development environment only (import-linter
  brings it), so hiding it also makes that environment start as production does.
- PyJWT imports cryptography's X.509 and public-key modules (~0.06 s) for the RS/ES/EdDSA algorithms; `gql.auth`
  signs and verifies HS256 only (the standard library's hmac), and refuses any other `alg` before looking it up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """While it lasts, `import name` (and its submodules) raises ImportError for each of `names` not imported yet
    (a None in `sys.modules`, Python's documented way); afterwards they import normally again. A package already
    imported is left as it is. Process-wide while it lasts (import locks are per module, not one for the process):
    another thread importing one of `names` meanwhile fails as if it were not installed (review71b H1). So use it only
    around an import at the top of a module that the process imports at start, from its main thread (today
    `adapters.logs` and `gql.auth`), never in a lazy import a worker thread may run."""
    absent = [name for name in names if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
