"""The id ledger: per shop and kind (orders, products, SKUs), the next id sequence never issued, so that the sandbox
never hands out an id twice, as TikTok never does: not after a reseed, a reset (`make run RESET_SANDBOX=1`) or a
restart.

Every id is `make_id(kind, shop, sequence, id_seed)` (sandbox/data.py), a bijection of the sequence for one kind,
shop index and `id_seed`; so fresh sequences under one fixed `id_seed` give fresh ids. Generated data and later
additions (sales, added orders, Seller Center products) all take their sequences here; line item, package and
buyer ids derive from their order's sequence. The `id_seed` is the seed the ledger was first made with: a reseed
to another seed changes the data, not the permutation of ids (under two salts, two id sets could meet).

Memory only without a directory. With one, `<dir>/sandbox-ids.json` holds the sequences reserved so far, written
(atomically) before any of them is issued, a block ahead; on start every sequence starts past what was reserved.
The file is apart from the saved state: `--reset-sandbox` deletes the state, never the ledger. A new file starts
at `FIRST_SEQUENCE_ON_DISK`, past every sequence earlier sandbox versions issued (they restarted at 0 on every reset).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

FILE_NAME = "sandbox-ids.json"
ORDERS, PRODUCTS, SKUS = "order", "product", "sku"
KINDS = (ORDERS, PRODUCTS, SKUS)
FIRST_SEQUENCE_ON_DISK = 10**9
RESERVE_AHEAD = 1000  # sequences reserved on disk per write beyond those asked: one write per ~1000 sales
FORMAT_VERSION = 1


class IdLedgerError(Exception):
    """The ledger file exists but cannot be read or written: ids could repeat, so the sandbox refuses to start."""


class IdLedger:
    """`take(shop_index, kind, count)` -> the first of `count` consecutive sequences never issued before."""

    def __init__(self, directory: str | None, seed: int, writable: Callable[[], bool] | None = None) -> None:
        """`directory` must exist (the world's StateDir made it); `writable`, asked before each write, says whether it
        may still be written (False once it was removed or replaced: the ledger then goes on in memory alone, as the
        world does, sandbox/statedir.py)."""
        self.path = Path(directory) / FILE_NAME if directory else None
        self._writable = writable
        self.id_seed = seed
        self._next: dict[str, int] = {}  # "<shop index>:<kind>" -> next sequence
        self._reserved: dict[str, int] = {}  # the same keys -> every sequence below was (maybe) issued
        self._first = 0
        if self.path is not None:
            self._first = FIRST_SEQUENCE_ON_DISK
            if self.path.exists():
                self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            saved = json.loads(path.read_text())
            if saved.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {saved.get('version')!r}, this sandbox reads {FORMAT_VERSION}")
            self.id_seed = int(saved["id_seed"])
            self._reserved = {str(key): int(value) for key, value in saved["reserved"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise IdLedgerError(
                f"sandbox: cannot read its id ledger {path} ({error}); it keeps the sandbox from issuing an id twice: "
                "repair it, or delete it together with the data that holds sandbox ids"
            ) from error
        self._next = dict(self._reserved)  # whatever was reserved may have been issued before a crash

    def peek(self, shop_index: int, kind: str) -> int:
        """The sequence `take` would return next (for data generated before its size is known)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        return self._next.get(f"{shop_index}:{kind}", self._first)

    def take(self, shop_index: int, kind: str, count: int = 1) -> int:
        """The first of `count` (>= 0) fresh sequences for this shop and kind, reserved on disk first."""
        first = self.peek(shop_index, kind)
        if count < 0:
            raise ValueError("count must be >= 0")
        key = f"{shop_index}:{kind}"
        self._next[key] = first + count
        if self.path is not None and first + count > self._reserved.get(key, self._first):
            self._reserved[key] = first + count + RESERVE_AHEAD
            if self._writable is None or self._writable():
                self._write(self.path)
        return first

    def _write(self, path: Path) -> None:
        document = {"version": FORMAT_VERSION, "id_seed": self.id_seed, "reserved": self._reserved}
        try:
            handle, temporary = tempfile.mkstemp(prefix=".sandbox-ids-", dir=path.parent)
            with os.fdopen(handle, "w") as file:
                json.dump(document, file)
            os.replace(temporary, path)
        except OSError as error:
            raise IdLedgerError(f"sandbox: cannot write its id ledger {path}: {error}") from error
