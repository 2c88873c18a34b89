"""With a state directory, the sandbox keeps tokens, data, registrations and its clock across a restart
(issue 12.1): a shop connected before `make run` stops still works after it starts again."""

from __future__ import annotations

import math
import pickle
import shutil

import pytest

from sandbox.config import SandboxConfig
from sandbox.persistence import FILE_NAME
from tests.fixtures.sandbox import SMALL_DATA, TikTokCaller, connect, start_sandbox

SHOPS = "/authorization/202309/shops"
EVENTS = "/event/202309/webhooks"


def test_a_restart_keeps_tokens_data_registrations_and_the_clock(tmp_path) -> None:
    config = SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path), allow_insecure_webhook_urls=True)
    first = start_sandbox(config)
    try:
        caller = connect(first, "us-local")
        assert (tmp_path / FILE_NAME).exists()  # saved as soon as the token was issued
        shop_id = first.world.sellers["us-local"].shops[0].id
        products = first.control("GET", f"shops/{shop_id}/products")["products"]
        sku = next(s for p in products if p["status"] == "ACTIVATE" for s in p["skus"] if s["inventory"][0]["quantity"])
        order_id = first.control("POST", f"shops/{shop_id}/sales", {"sku_id": sku["id"], "quantity": 1})["order_id"]
        hook = {"address": "http://127.0.0.1:9/hooks", "event_type": "ORDER_STATUS_CHANGE"}
        assert caller.call("PUT", EVENTS, body=hook)["code"] == 0
        first.control("POST", "clock", {"advance_seconds": 3600})
        added = first.control("POST", "sellers", {"name": "Later Seller", "region": "GB"})
        stock_before = caller.call("POST", "/product/202309/inventory/search", body={"sku_ids": [sku["id"]]})["data"]
    finally:
        first.stop()

    second = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        again = TikTokCaller(second, caller.access_token, caller.shop_cipher)
        assert again.call("GET", SHOPS, with_cipher=False)["code"] == 0  # the old token still works
        (order,) = again.call("GET", "/order/202309/orders", {"ids": order_id})["data"]["orders"]
        assert order["line_items"][0]["sku_id"] == sku["id"]
        stock = again.call("POST", "/product/202309/inventory/search", body={"sku_ids": [sku["id"]]})["data"]
        assert stock == stock_before
        assert again.call("GET", EVENTS)["data"]["webhooks"][0]["address"] == hook["address"]
        assert second.control("GET", "clock")["offset_seconds"] == 3600
        assert added["key"] in {seller["key"] for seller in second.control("GET", "shops")["sellers"]}
    finally:
        second.stop()


def test_a_shops_data_is_saved_when_made_so_a_crash_right_after_keeps_its_ids(tmp_path) -> None:
    """Rule (sandbox/persistence.py): the state is saved after every token change, every 30 s and at a stop; a
    shop's data is generated on first use under ids never issued before (sandbox/ids.py). Saved only by the next
    30-s save, a hard kill of `make run` within those 30 s (a newly connected shop's import is running then) lost
    the data, and the restarted sandbox generated the shop anew under other ids: every product and SKU Shopbridge
    had imported was unknown to TikTok (12052048 on each push), the import resumed into another catalog."""
    config = SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path))
    # given a shop connected and its products read once (its data generated), then a crash: no stop's save
    first = start_sandbox(config)
    try:
        connect(first, "us-local")
        shop_id = first.world.sellers["us-local"].shops[0].id
        imported = [p["id"] for p in first.control("GET", f"shops/{shop_id}/products")["products"]]
        on_disk_at_the_crash = (tmp_path / FILE_NAME).read_bytes()
    finally:
        first.stop()
    (tmp_path / FILE_NAME).write_bytes(on_disk_at_the_crash)
    # when the sandbox starts again, then it serves the same products
    again = start_sandbox(config)
    try:
        assert [p["id"] for p in again.control("GET", f"shops/{shop_id}/products")["products"]] == imported
    finally:
        again.stop()


def test_an_unreadable_state_file_is_set_aside(tmp_path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not a pickle")
    server = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        assert (tmp_path / FILE_NAME).with_suffix(".bad").read_bytes() == b"not a pickle"
        assert connect(server, "us-local").call("GET", SHOPS, with_cipher=False)["code"] == 0
    finally:
        server.stop()


def test_data_settings_that_differ_from_the_saved_state_are_named_at_start(tmp_path, caplog) -> None:
    # given a state saved with the small data set
    first = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        connect(first, "us-local")
    finally:
        first.stop()
    # when the sandbox starts again with other data settings
    other = {**SMALL_DATA, "orders": SMALL_DATA["orders"] + 7}
    caplog.set_level("INFO", logger="sandbox")
    second = start_sandbox(SandboxConfig(**other, state_dir=str(tmp_path)))
    try:
        # then the saved data is what it serves, and one warning line says so and how to start over
        assert second.control("GET", "")["data"]["orders"] == SMALL_DATA["orders"]
        (line,) = [r for r in caplog.records if r.name == "sandbox" and "saved state" in r.getMessage()]
        assert line.levelname == "WARNING"
        assert f"{other['orders']} orders" in line.getMessage()
        # the way to start over that `make run` documents (README, banner), naming what it deletes
        assert "`make run RESET_SANDBOX=1` (`shopbridge demo --reset-sandbox`) deletes that file" in line.getMessage()
    finally:
        second.stop()


def test_rare_cases_turned_on_by_a_reseed_outlive_a_restart(tmp_path) -> None:
    # given a sandbox started without the rare cases, turned on by a reseed (`POST /_sandbox/reseed`)
    first = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        connect(first, "us-local")
        first.control("POST", "reseed", {"orders": 300, "rare_cases": True})
    finally:
        first.stop()
    # when it starts again from its state, with the same settings (no --rare-cases)
    second = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        # then the saved data's knob is the one served, as its sizes and seed are: a shop first read now has FBT
        # orders (before: the settings' knob, off, mixed into data reseeded with it on)
        assert second.control("GET", "")["data"]["rare_cases"] is True
        shop_id = second.world.sellers["uk-local"].shops[0].id
        orders = second.control("GET", f"shops/{shop_id}/orders")["orders"]
        assert any(o.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK" for o in orders)
    finally:
        second.stop()


@pytest.mark.parametrize("saved", [1e308, math.inf, math.nan, -1.0], ids=["1e308", "infinity", "nan", "negative"])
def test_a_saved_clock_offset_no_advance_could_reach_starts_the_clock_at_now(tmp_path, caplog, saved: float) -> None:
    # given a state saved with a clock offset out of range (before the clock was bounded, 1e308 s was taken)
    first = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        caller = connect(first, "us-local")
    finally:
        first.stop()
    state = pickle.loads((tmp_path / FILE_NAME).read_bytes())
    (tmp_path / FILE_NAME).write_bytes(pickle.dumps({**state, "clock_offset": saved}))
    # when the sandbox starts again from it
    caplog.set_level("INFO", logger="sandbox")
    second = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(tmp_path)))
    try:
        # then the clock starts at now, one warning says so, and the rest of the state (the token) is kept
        assert second.control("GET", "clock")["offset_seconds"] == 0
        (line,) = [r for r in caplog.records if r.name == "sandbox" and "clock offset" in r.getMessage()]
        assert line.levelname == "WARNING"
        again = TikTokCaller(second, caller.access_token, caller.shop_cipher)
        assert again.call("GET", SHOPS, with_cipher=False)["code"] == 0
    finally:
        second.stop()


def test_a_state_directory_removed_while_the_sandbox_runs_is_never_made_again_nor_written(tmp_path, caplog) -> None:
    """tryout61 F2: `make clean` (`rm -rf var`) beside a running `make run`. The demo's sandbox saved every 30 s with
    `mkdir(parents=True)`: it made `var/` again (mode 0755, where Shopbridge makes it 0700), and overwrote the state
    file of the next demo, which then restored the old world's tokens and revoked its own new shops."""
    state_dir = tmp_path / "var" / "sandbox"
    caplog.set_level("INFO", logger="sandbox")
    # given a sandbox keeping its state under var/sandbox, a shop connected (its token saved)
    server = start_sandbox(SandboxConfig(**SMALL_DATA, state_dir=str(state_dir)))
    try:
        connect(server, "us-local")
        assert (state_dir / FILE_NAME).exists()
        # when var/ is removed while it runs, and a token changes (a save)
        shutil.rmtree(tmp_path / "var")
        connect(server, "uk-local")
        # then var/ is not made again
        assert not (tmp_path / "var").exists()
        # when the next demo makes var/sandbox again and saves its own state there, and the old sandbox then
        # generates a shop's data (its id ledger and its state saved) and stops (its last save)
        state_dir.mkdir(parents=True)
        (state_dir / FILE_NAME).write_bytes(b"the next demo's state")
        shop_id = server.world.sellers["uk-local"].shops[0].id
        assert server.control("GET", f"shops/{shop_id}/products")["products"]
    finally:
        server.stop()
    # then the old sandbox wrote nothing into the new directory: the next demo's state is its own
    assert sorted(p.name for p in state_dir.iterdir()) == [FILE_NAME]
    assert (state_dir / FILE_NAME).read_bytes() == b"the next demo's state"
    # and one WARNING line said the directory went, and that nothing is saved any more
    (line,) = [r for r in caplog.records if r.name == "sandbox" and "removed or replaced" in r.getMessage()]
    assert line.levelname == "WARNING" and "no longer saved" in line.getMessage(), line.getMessage()
