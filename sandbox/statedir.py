"""The sandbox's state directory (`--state-dir`; `<data directory>/sandbox` under `shopbridge demo`): made when the
sandbox starts, then written (the saved state, sandbox/persistence.py; the id ledger, sandbox/ids.py) only while
it is still the directory the sandbox started with.

Once it is removed or replaced while the sandbox runs, it is never written again, and one WARNING line says so: the
sandbox serves on from memory. Before (tryout61 F2), each save made the directory again (`mkdir(parents=True)`): a
demo left running after `make clean` (`rm -rf var`) re-created `var/` within 30 s with the default umask's mode (0755,
where Shopbridge makes it 0700), and kept overwriting the state file the next demo restored and saved there, whose
newly connected shops were REVOKED at its next restart (the state restored was the old demo's, which never issued
their tokens). A directory made again at the same path by someone else (the next demo) is another directory (its
device and inode), and is not written either.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger("sandbox")


class StateDir:
    """`writable()`: whether the sandbox may write into `path` now. The directory is made at construction (and its
    parents), as the first save made it before; one that cannot be made is said in one WARNING line and never
    written."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the directory the sandbox started with
        self._gone = False
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            found = os.stat(self.path)
        except OSError as error:
            self._gone = True
            logger.warning("sandbox: cannot make its state directory %s (%s): its state is not saved", path, error)
            return
        self._identity = (found.st_dev, found.st_ino)

    def writable(self) -> bool:
        """True while `path` is the directory the sandbox started with (one `os.stat`); from the first time it is not
        (removed, or replaced by another directory), False for good, said once at WARNING."""
        if self._gone:
            return False
        try:
            found = os.stat(self.path)
            same = (found.st_dev, found.st_ino) == self._identity
        except OSError:
            same = False
        if not same:
            self._gone = True
            logger.warning(
                "sandbox: its state directory %s was removed or replaced while it ran (as `make clean` does beside "
                "`make run`): its state and id ledger are no longer saved, there or anywhere; it serves on from "
                "memory until stopped (stop it: the next start restores what the directory then holds)",
                self.path,
            )
        return same
