"""The sandbox's state on disk (issue 12.1): with `SandboxConfig.state_dir` set, tokens, authorizations, data
(every shop generated so far, with its stock, orders and sales), added sellers, webhook registrations and
settings, the clock offset and the oracle survive a restart, so `make run` can be stopped mid-import and started
again without turning shops REVOKED.

One file, `<state_dir>/sandbox-state.pickle`, written atomically (temporary file + rename): after every token
change and each shop's data generation (so a crash never regenerates a shop under new ids), every 30 s while the
sandbox runs, and when it stops; into the directory made when the sandbox started, never one made again after it
was removed (sandbox/statedir.py). The file is the sandbox's own (never exchanged);
one written by an incompatible sandbox version, or unreadable, is set aside as `.bad` and the sandbox starts
fresh with a warning. Traffic knobs (faults, latency, rate limit, counters) are not kept. The data settings
(products and orders per shop, seed) are those saved: when the ones given at start differ, one warning line says
so and how to start over.

The id ledger (sandbox/ids.py, `<state_dir>/sandbox-ids.json`) is a file of its own: deleting the saved state to
start over leaves it, so the fresh state's ids are still never ones issued before.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.clock import MAX_OFFSET_SECONDS

if TYPE_CHECKING:
    from sandbox.state import World

FORMAT_VERSION = 1
FILE_NAME = "sandbox-state.pickle"

logger = logging.getLogger("sandbox")


def state_file(state_dir: str) -> Path:
    return Path(state_dir) / FILE_NAME


def shop_ids(state_dir: str) -> set[str]:
    """The ids of every shop a sandbox started from `state_dir` serves: its built-in sellers' and, when a state is
    saved there, the sellers added at run time (`POST /_sandbox/sellers`). What a reset of that state takes away."""
    from sandbox.sellers import build_sellers

    sellers = dict(build_sellers())
    path = state_file(state_dir)
    if path.exists():
        try:
            with path.open("rb") as file:
                sellers.update(pickle.load(file)["sellers"])  # noqa: S301 (the sandbox's own file, as in `load`)
        except Exception as error:  # unreadable: `load` would start fresh from the built-in sellers too
            logger.warning("sandbox: could not read the sellers of %s (%s)", path, error)
    return {shop.id for seller in sellers.values() for shop in seller.shops}


def snapshot(world: World) -> dict[str, Any]:
    tokens = world.tokens
    return {
        "version": FORMAT_VERSION,
        "app_key": world.app_key,
        "clock_offset": world.clock.offset,
        "data": (world.products_per_shop, world.orders_per_shop, world.seed, world.data_now),
        "rare_cases": world.rare_cases,  # set by a reseed too; absent from states saved before it could be
        "sellers": world.sellers,
        "tokens": (tokens.codes, tokens.by_access, tokens.by_refresh, tokens.authorized_until),
        "registrations": world.registrations.by_shop,
        "webhook_settings": world.webhooks.settings,
        "shop_data": world._shop_data,
        "oracle": world.oracle,
        "expiration_days": world.notices._expiration_day,
    }


def save(world: World, state_dir: str) -> None:
    """Write the world's state atomically into `state_dir`, which must exist: it is never made here (the world made
    it when it started, and writes only while it is that one: sandbox/statedir.py). A failure is logged, never
    raised (the sandbox keeps serving)."""
    path = state_file(state_dir)
    try:
        handle, temporary = tempfile.mkstemp(prefix=".sandbox-state-", dir=path.parent)
        with os.fdopen(handle, "wb") as file:
            pickle.dump(snapshot(world), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except OSError as error:
        logger.warning("sandbox: could not save its state to %s: %s", path, error)


def load(world: World, state_dir: str) -> bool:
    """Restore a saved state into a fresh world; False (and a fresh world) when there is none or it is unusable."""
    path = state_file(state_dir)
    if not path.exists():
        return False
    try:
        with path.open("rb") as file:
            # The file is the sandbox's own, written by save() above into the app's private data directory.
            state = pickle.load(file)  # noqa: S301
        if state.get("version") != FORMAT_VERSION or state.get("app_key") != world.app_key:
            raise ValueError("written by another sandbox version or app")
        _apply(world, state)
    except Exception as error:  # anything unreadable: keep it for a human, start fresh
        logger.warning("sandbox: ignoring its saved state %s (%s); starting fresh", path, error)
        path.replace(path.with_suffix(".bad"))
        return False
    _say_what_applies(world, path)
    return True


def _say_what_applies(world: World, path: Path) -> None:
    """One line at start: the saved data wins over the data settings given now; say so when they differ."""
    saved = (world.products_per_shop, world.orders_per_shop, world.seed)
    config = world.config
    given = (config.products, config.orders, config.seed)
    if saved == given:
        logger.info("sandbox: restored its saved state from %s", path)
        return
    # Under `make run`, deleting the file by hand left Shopbridge's shops of the old world ACTIVE with tokens the
    # fresh sandbox refuses: the reset (gql/cli.py) deletes them too, so the warning names it first.
    logger.warning(
        "sandbox: restored its saved state from %s, made with %d products and %d orders per shop, seed %d; the "
        "%d products, %d orders, seed %d given now apply to a fresh state only. To start over: `make run "
        "RESET_SANDBOX=1` (`shopbridge demo --reset-sandbox`) deletes that file, not the id ledger beside it, and "
        "the shops connected to it from Shopbridge's database (connect them again); a sandbox run alone "
        "(`python -m sandbox --state-dir`): stop it and delete that file",
        path, *saved, *given,
    )  # fmt: skip


def _clock_offset(saved: Any) -> float:
    """The saved clock offset when one `POST /_sandbox/clock` could reach (finite, 0 to 100 years); else 0 with a
    warning: a state saved before the clock was bounded may hold 1e308, which broke every token and date."""
    if isinstance(saved, int | float) and not isinstance(saved, bool) and 0 <= saved <= MAX_OFFSET_SECONDS:
        return float(saved)  # (NaN fails the comparison; an infinity the bound)
    logger.warning(
        "sandbox: its saved clock offset %r s is not one from 0 to %d (100 years); the clock starts again at now",
        saved, MAX_OFFSET_SECONDS,
    )  # fmt: skip
    return 0.0


def _apply(world: World, state: dict[str, Any]) -> None:
    world.clock.offset = _clock_offset(state["clock_offset"])
    world.products_per_shop, world.orders_per_shop, world.seed, world.data_now = state["data"]
    world.rare_cases = bool(state.get("rare_cases", world.rare_cases))  # the saved data's, as its sizes and seed
    world.sellers = state["sellers"]
    world.shops_by_id = {shop.id: shop for seller in world.sellers.values() for shop in seller.shops}
    world.shops_by_cipher = {shop.cipher: shop for shop in world.shops_by_id.values()}
    tokens = world.tokens
    tokens.codes, tokens.by_access, tokens.by_refresh, tokens.authorized_until = state["tokens"]
    world.registrations.by_shop = state["registrations"]
    world.webhooks.settings = state["webhook_settings"]
    if world.config.webhook_url:  # a URL given at start wins over the one saved (the demo's port may differ)
        world.webhooks.settings.url = world.config.webhook_url
    world._shop_data = state["shop_data"]
    world.oracle = state["oracle"]
    world.notices._expiration_day = state["expiration_days"]
