"""One log line per TikTok call: in the embedded default the sandbox is served by this very process, so each call
would appear twice, as httpx's request line and as uvicorn's access line. httpx's line (redacted) is the one kept,
since it is also the only one in production."""

from __future__ import annotations

import logging

from adapters.config import SANDBOX_MOUNT

# Pages a browser opens (the consent page) and the control surface are not TikTok calls of ours: keep those.
_KEPT = (f"{SANDBOX_MOUNT}/oauth/", f"{SANDBOX_MOUNT}/_sandbox/")


class EmbeddedSandboxAccessFilter(logging.Filter):
    """Drops uvicorn access lines of TikTok API paths under the embedded sandbox's mount."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) < 3:
            return True
        path = str(args[2])
        return not path.startswith(SANDBOX_MOUNT + "/") or path.startswith(_KEPT)


_FILTER = EmbeddedSandboxAccessFilter()


def install_embedded_sandbox_access_filter() -> None:
    """Attach the filter to uvicorn's access logger once per process (idempotent)."""
    target = logging.getLogger("uvicorn.access")
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)
