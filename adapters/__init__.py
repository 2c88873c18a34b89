"""Everything that talks to the outside world: configuration, database, TikTok, queue, events, crypto."""

import sys

# httpx's own command-line client (`httpx._main`), which `import httpx` loads whenever click, rich and pygments are
# installed (a development environment: import-linter brings rich), only to offer `httpx.main`: ~0.1 s of CPU at every
# start of a process (imports71). A None in sys.modules makes its import fail as when they are not installed (as in
# production), and httpx falls back to a stub `main`; nothing of ours runs httpx's CLI.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
