"""`python -m workers.run BROKER [dramatiq options]`: Dramatiq's own CLI, with Shopbridge's log format set first.

Dramatiq's master and worker processes then log through the same handler as the API (text or JSON lines); its
`logging.basicConfig()` does nothing once a handler is there.
"""

from __future__ import annotations

import sys

from adapters.config import load_settings
from adapters.logs import configure_logging


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    from dramatiq.cli import main as dramatiq_main

    return int(dramatiq_main() or 0)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    sys.exit(main())
