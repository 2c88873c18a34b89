"""`python -m workers.run BROKER [dramatiq options]`: Dramatiq's own CLI, with Shopbridge's log format set first.

Dramatiq's master and worker processes then log through the same handler as the API (text or JSON lines); its
`logging.basicConfig()` does nothing once a handler is there.

This process being Dramatiq's master, each worker process it forks is killed (SIGKILL) by the kernel when the master
dies without having stopped it (workers/parent_death.py). A master SIGKILLed together with `shopbridge worker`
left its worker processes running as orphans, still taking messages beside the next `shopbridge worker`. SIGKILL,
not SIGTERM: the command's death has by then often made the master hand one SIGTERM on already, and Dramatiq reads a
second as "kill", whose `sys.exit` in the main thread left the process hanging on its other threads, still
consuming. It is what `shopbridge worker` itself does to workers its master left behind (workers/cli.py); their
messages come back as any killed worker process's do (README, Production). A normal stop is untouched: the master
stops its workers and waits for them before it exits.
"""

from __future__ import annotations

import signal
import sys

from adapters.config import load_settings
from adapters.logs import configure_logging
from workers.parent_death import arm_in_forked_children


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    arm_in_forked_children(signal.SIGKILL)
    from dramatiq.cli import main as dramatiq_main

    return int(dramatiq_main() or 0)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    sys.exit(main())
