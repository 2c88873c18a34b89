"""The pool's use cases over fakes: merchants' edits and links (validated, not-found for other merchants, stored),
and the after-commit work of every pool change: one push enqueued per shop with dirty rows, one signal per item
(at most 100), failures of either logged and skipped, nothing sent before the commit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import DomainError, ErrorCode
from domain.inventory.items import InventoryItem
from domain.inventory.removal import ItemUse, check_deletable
from domain.ports import PoolChange
from domain.services import inventory
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeStore,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_order,
    make_product,
    make_shop,
)
from tests.fakes_inventory_push import FakeLink

NOW = T0 + timedelta(hours=2)


class World:
    def __init__(self) -> None:
        self.store, self.clock = FakeStore(), FakeClock(NOW)
        self.store.push.now = NOW
        self.queue, self.events = FakeTaskQueue(), FakeEventPublisher()
        self.shop = make_shop("m1", now=T0)
        self.store.shops[self.shop.id] = self.shop

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def create(
        self, sku: str = "MUG-1", on_hand: int = 10, safety: int = 0, merchant: str = "m1"
    ) -> InventoryItem:
        return await inventory.create_item(
            self.uow, self.queue, self.events, self.clock, merchant, sku, on_hand, safety
        )

    def link(self, sku_id: str, product: str, item: InventoryItem | None, **kw: bool) -> None:
        state = "LINKED" if item is not None else "UNLINKED"
        made = FakeLink(sku_id, f"t-{sku_id}", product, item.id if item else "", 0, state=state, **kw)  # type: ignore[arg-type]
        self.store.push.link(self.shop.id, made)

    def dirty(self) -> dict[str, int]:
        return {p: row.dirty_version for (_, p), row in self.store.push.outbox.items()}


@pytest.fixture
def world() -> World:
    return World()


def refused(error: pytest.ExceptionInfo[DomainError]) -> tuple[ErrorCode, tuple[str, ...] | None, str]:
    return error.value.code, error.value.field, error.value.message


async def test_an_item_is_created_trimmed_with_its_counters_and_signalled(world: World) -> None:
    item = await world.create("  MUG-1 ", on_hand=10, safety=2)
    assert (item.merchant_id, item.sku, item.on_hand, item.reserved, item.safety_stock) == ("m1", "MUG-1", 10, 0, 2)
    assert (item.created_at, item.updated_at) == (NOW, NOW) and len(item.id) == 32
    assert world.store.push.items[item.id] == item
    assert world.store.push.movements == [(item.id, "CREATED", 10, None)]
    assert world.events.item_changes == [item.id] and world.queue.inventory_pushes == []


@pytest.mark.parametrize(
    ("sku", "on_hand", "safety", "field", "message"),
    [
        ("  ", 1, 0, ("sku",), "A SKU has 1 to 255 characters (this one is empty)."),
        ("A", -1, 0, ("onHand",), "onHand must be between 0 and 1000000000 units (this one is -1)."),
        ("A", 1, -1, ("safetyStock",), "safetyStock must be between 0 and 1000000000 units (this one is -1)."),
    ],
)
async def test_an_item_with_bad_input_is_refused(
    world: World, sku: str, on_hand: int, safety: int, field: tuple[str, ...], message: str
) -> None:
    with pytest.raises(DomainError) as error:
        await world.create(sku, on_hand, safety)
    assert refused(error) == (ErrorCode.INVALID_INPUT, field, message)
    assert world.store.push.items == {}


async def test_setting_on_hand_pushes_every_linked_product_and_signals_the_item(world: World) -> None:
    item = await world.create(on_hand=10)
    world.link("s1", "p1", item)
    world.link("s2", "p2", item)
    world.events.item_changes.clear()
    updated = await inventory.set_item_on_hand(world.uow, world.queue, world.events, "m1", item.id, 4, 10)
    assert (updated.on_hand, world.store.push.items[item.id].on_hand) == (4, 4)
    assert world.dirty() == {"p1": 1, "p2": 1}
    assert world.queue.inventory_pushes == [world.shop.id] and world.events.item_changes == [item.id]


async def test_setting_on_hand_to_its_value_records_the_count_and_pushes_nothing(world: World) -> None:
    # given a linked item with 10 on hand
    item = await world.create(on_hand=10)
    world.link("s1", "p1", item)
    world.events.item_changes.clear()
    # when the merchant's count finds 10
    updated = await inventory.set_item_on_hand(world.uow, world.queue, world.events, "m1", item.id, 10, None)
    # then the count is in its history, a SET of 0 units (before: no trace), and nothing else changed or was pushed
    assert world.store.push.movements[-1] == (item.id, "SET", 0, None)
    assert updated == item and world.dirty() == {} and world.queue.inventory_pushes == []
    assert world.events.item_changes == [item.id]  # its history changed: followers may read it again


async def test_setting_on_hand_from_a_stale_value_is_a_conflict(world: World) -> None:
    item = await world.create(on_hand=10)
    with pytest.raises(DomainError) as error:
        await inventory.set_item_on_hand(world.uow, world.queue, world.events, "m1", item.id, 4, 9)
    assert refused(error)[:2] == (ErrorCode.VERSION_CONFLICT, ("compareOnHand",))
    assert world.store.push.items[item.id].on_hand == 10


async def test_an_adjustment_adds_units_for_its_reason(world: World) -> None:
    item = await world.create(on_hand=10)
    world.link("s1", "p1", item)
    updated = await inventory.adjust_item(world.uow, world.queue, world.events, "m1", item.id, -3, " damaged ")
    assert updated.on_hand == 7 and world.store.push.movements[-1] == (item.id, "ADJUSTED", -3, "damaged")
    assert world.events.item_changes == [item.id, item.id]  # created, then adjusted
    assert world.dirty() == {"p1": 1} and world.queue.inventory_pushes == [world.shop.id]


async def test_safety_stock_changes_push_again_and_the_same_value_does_nothing(world: World) -> None:
    item = await world.create(on_hand=10)
    world.link("s1", "p1", item)
    updated = await inventory.update_safety_stock(world.uow, world.queue, world.events, "m1", item.id, 3)
    assert updated.safety_stock == 3 and world.store.push.items[item.id].safety_stock == 3
    assert world.dirty() == {"p1": 1} and world.queue.inventory_pushes == [world.shop.id]
    assert world.events.item_changes == [item.id, item.id]  # created, then changed
    again = await inventory.update_safety_stock(world.uow, world.queue, world.events, "m1", item.id, 3)
    assert again == updated and world.dirty() == {"p1": 1} and world.queue.inventory_pushes == [world.shop.id]


async def test_a_bad_safety_stock_is_refused_before_the_item_is_looked_up(world: World) -> None:
    with pytest.raises(DomainError) as error:
        await inventory.update_safety_stock(world.uow, world.queue, world.events, "m1", "no-such-item", -1)
    assert refused(error) == (
        ErrorCode.INVALID_INPUT,
        ("safetyStock",),
        "safetyStock must be between 0 and 1000000000 units (this one is -1).",
    )


async def test_another_merchants_item_is_not_found_for_every_edit(world: World) -> None:
    item = await world.create(on_hand=10)
    edits = [
        inventory.set_item_on_hand(world.uow, world.queue, world.events, "m2", item.id, 4, None),
        inventory.adjust_item(world.uow, world.queue, world.events, "m2", item.id, 1, "count"),
        inventory.update_safety_stock(world.uow, world.queue, world.events, "m2", item.id, 1),
        inventory.link_sku(world.uow, world.queue, world.events, "m2", "s1", item.id),
    ]
    for edit in edits:
        with pytest.raises(DomainError) as error:
            await edit
        assert refused(error) == (ErrorCode.NOT_FOUND, ("inventoryItemId",), "Inventory item not found.")
    assert world.store.push.items[item.id] == item


async def test_a_sku_is_linked_unlinked_and_another_merchants_is_not_found(world: World) -> None:
    first, second = await world.create("A"), await world.create("B")
    world.link("s1", "p1", first)
    world.events.item_changes.clear()
    await inventory.link_sku(world.uow, world.queue, world.events, "m1", "s1", second.id)
    link = world.store.push.links[(world.shop.id, "s1")]
    assert (link.state, link.inventory_item_id) == ("LINKED", second.id)
    assert world.dirty() == {"p1": 1} and world.queue.inventory_pushes == [world.shop.id]
    assert sorted(world.events.item_changes) == sorted([first.id, second.id])
    await inventory.link_sku(world.uow, world.queue, world.events, "m1", "s1", None)
    assert world.store.push.links[(world.shop.id, "s1")].state == "UNLINKED"
    with pytest.raises(DomainError) as error:
        await inventory.link_sku(world.uow, world.queue, world.events, "m2", "s1", None)
    assert refused(error) == (ErrorCode.NOT_FOUND, ("skuId",), "SKU not found.")


async def test_a_bundle_sku_is_not_linkable(world: World) -> None:
    item = await world.create("A")
    world.link("s1", "p1", None, bundle=True)
    with pytest.raises(DomainError) as error:
        await inventory.link_sku(world.uow, world.queue, world.events, "m1", "s1", item.id)
    assert refused(error)[:2] == (ErrorCode.SKU_NOT_LINKABLE, ("skuId",))


async def commit_change(world: World, change: PoolChange, *, queue: bool = True, events: bool = True) -> None:
    sent = (list(world.queue.inventory_pushes), list(world.events.item_changes))
    async with world.uow() as uow:
        inventory.after_pool_change(uow, world.queue if queue else None, world.events if events else None, change)
        assert (world.queue.inventory_pushes, world.events.item_changes) == sent  # nothing before the commit
        await uow.commit()


async def test_after_commit_a_push_per_shop_in_order_and_a_signal_per_item(world: World) -> None:
    await commit_change(world, PoolChange(frozenset({"i2", "i1"}), frozenset({"shop-b", "shop-a"}), "m1"))
    assert world.queue.inventory_pushes == ["shop-a", "shop-b"] and world.events.item_changes == ["i1", "i2"]


@pytest.mark.parametrize(
    ("change", "pushes", "signals"),
    [
        (PoolChange(frozenset(), frozenset({"s"}), "m1"), ["s"], []),
        (PoolChange(frozenset({"i"}), frozenset(), "m1"), [], ["i"]),
        (PoolChange(frozenset({"i"}), frozenset({"s"}), None), ["s"], []),  # no merchant: nobody to signal
        (PoolChange(), [], []),
    ],
)
async def test_after_commit_sends_what_the_change_holds(
    world: World, change: PoolChange, pushes: list[str], signals: list[str]
) -> None:
    await commit_change(world, change)
    assert (world.queue.inventory_pushes, world.events.item_changes) == (pushes, signals)


async def test_without_a_queue_or_publisher_the_other_still_goes(world: World) -> None:
    change = PoolChange(frozenset({"i"}), frozenset({"s"}), "m1")
    await commit_change(world, change, queue=False)
    assert (world.queue.inventory_pushes, world.events.item_changes) == ([], ["i"])
    await commit_change(world, change, events=False)
    assert (world.queue.inventory_pushes, world.events.item_changes) == (["s"], ["i"])


async def test_at_most_100_items_are_signalled_per_commit(world: World) -> None:
    ids = [f"i{n:03d}" for n in range(101)]
    await commit_change(world, PoolChange(frozenset(ids), frozenset(), "m1"))
    assert world.events.item_changes == ids[:100]


async def test_a_failing_enqueue_or_signal_is_skipped_and_the_others_still_go(world: World) -> None:
    class Flaky(FakeTaskQueue):
        async def enqueue_inventory_push(self, shop_id: str) -> None:
            if shop_id == "a":
                raise ConnectionError("redis down")
            await super().enqueue_inventory_push(shop_id)

    class FlakyEvents(FakeEventPublisher):
        async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
            if item_id == "i1":
                raise ConnectionError("redis down")
            await super().inventory_item_changed(item_id, merchant_id)

    world.queue, world.events = Flaky(), FlakyEvents()
    await commit_change(world, PoolChange(frozenset({"i1", "i2"}), frozenset({"a", "b"}), "m1"))
    assert (world.queue.inventory_pushes, world.events.item_changes) == (["b"], ["i2"])


async def test_orders_and_products_reach_the_ledger_and_its_change_is_sent(world: World) -> None:
    world.store.push.ledger_change = PoolChange(frozenset({"i1"}), frozenset({"s1"}), "m1")
    async with world.uow() as uow:
        await inventory.pool_orders(uow, world.queue, world.events, "s1", [])
        await inventory.pool_products(uow, world.queue, world.events, "s1", [])
        assert (uow.inventory.applied_orders, uow.inventory.linked_products) == ([], [])
        await uow.commit()
    assert world.queue.inventory_pushes == []
    async with world.uow() as uow:
        await inventory.pool_orders(uow, world.queue, world.events, "s1", [make_order(1, T0)])
        await inventory.pool_products(uow, world.queue, None, "s1", [make_product(2)])
        assert (uow.inventory.applied_orders, uow.inventory.linked_products) == (["o000001"], ["p00002"])
        assert uow.inventory.pooled_shops == ["s1", "s1"]
        await uow.commit()
    assert world.queue.inventory_pushes == ["s1", "s1"] and world.events.item_changes == ["i1"]
    async with world.uow() as uow:
        await inventory.pool_products(uow, None, world.events, "s1", [make_product(3)])
        await uow.commit()
    assert world.events.item_changes == ["i1", "i1"]


async def test_each_signal_names_the_merchant_of_the_change(world: World) -> None:
    class Recording(FakeEventPublisher):
        def __init__(self) -> None:
            super().__init__()
            self.merchants: list[str] = []

        async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
            self.merchants.append(merchant_id)
            await super().inventory_item_changed(item_id, merchant_id)

    recording = Recording()
    world.events = recording
    await commit_change(world, PoolChange(frozenset({"i1", "i2"}), frozenset(), "m7"))
    assert recording.merchants == ["m7", "m7"]


async def test_an_item_nothing_draws_on_is_deleted_and_signalled_once(world: World) -> None:
    # given an item typed by mistake
    item = await world.create("Sb-00000-black", on_hand=40)
    world.events.item_changes.clear()
    # when another merchant deletes it: NOT_FOUND, it stays
    with pytest.raises(DomainError) as foreign:
        await inventory.delete_item(world.uow, world.queue, world.events, "m2", item.id)
    assert refused(foreign)[:2] == (ErrorCode.NOT_FOUND, ("inventoryItemId",)) and item.id in world.store.push.items
    # when the merchant deletes it: gone, its subscribers told after the commit
    assert await inventory.delete_item(world.uow, world.queue, world.events, "m1", item.id) == item.id
    assert item.id not in world.store.push.items and world.events.item_changes == [item.id]
    # and a second delete is NOT_FOUND
    with pytest.raises(DomainError) as again:
        await inventory.delete_item(world.uow, world.queue, world.events, "m1", item.id)
    assert refused(again)[0] is ErrorCode.NOT_FOUND


async def test_an_item_with_links_or_reserved_units_is_refused_and_kept(world: World) -> None:
    # given an item two shop SKUs link to
    item = await world.create("MUG-1", on_hand=10)
    world.link("s1", "p1", item)
    world.link("s2", "p1", item)
    # when it is deleted: ITEM_LINKED, naming how many
    with pytest.raises(DomainError) as linked:
        await inventory.delete_item(world.uow, world.queue, world.events, "m1", item.id)
    assert refused(linked) == (
        ErrorCode.ITEM_LINKED, ("inventoryItemId",), '2 shop SKUs are linked to "MUG-1": unlink them first.'
    )  # fmt: skip
    assert item.id in world.store.push.items


def test_the_delete_rule_refuses_reserved_units_and_lines_reserved_on_the_item() -> None:
    item = InventoryItem("i1", "m1", "MUG-1", 10, 2, 0, 3, NOW, NOW)
    with pytest.raises(DomainError) as reserved:
        check_deletable(item, ItemUse())
    assert reserved.value.code is ErrorCode.ITEM_IN_USE and "2 unit(s) reserved" in reserved.value.message
    with pytest.raises(DomainError) as lines:
        check_deletable(InventoryItem("i1", "m1", "MUG-1", 10, 0, 0, 3, NOW, NOW), ItemUse(reserved_lines=1))
    assert lines.value.code is ErrorCode.ITEM_IN_USE and "1 order line(s)" in lines.value.message
    check_deletable(InventoryItem("i1", "m1", "MUG-1", 10, 0, 5, 3, NOW, NOW), ItemUse())  # safety stock: no use


def test_the_delete_rule_refusing_held_units_names_their_hold_s_end_as_one_a_later_unseen_sale_restarts() -> None:
    """review63 F4: a later sale of the SKU that TikTok shows before its order is read restarts the hold, carrying the
    item's units (`_items_of_push`): the end named is no deadline, and the message must not promise one."""
    item = InventoryItem("i1", "m1", "MUG-1", 10, 0, 0, 3, NOW, NOW)
    with pytest.raises(DomainError) as held:
        check_deletable(item, ItemUse(held_units=3, held_until=NOW + timedelta(minutes=10)))
    assert held.value.code is ErrorCode.ITEM_IN_USE and held.value.field == ("inventoryItemId",)
    message = held.value.message
    assert "3 unit(s) sold at TikTok" in message and "an orders sync reads them now" in message
    ends = (
        f"their hold ends at {NOW + timedelta(minutes=10):%Y-%m-%d %H:%M:%S} UTC unless the SKU sells at TikTok again"
    )
    assert ends in message and "at the latest" not in message


def test_item_in_uses_description_says_what_the_delete_does_with_a_deleted_shops_kept_lines() -> None:
    """tryout62 M1: the API said a deleted shop's lines kept for its reconnect refuse the delete (ITEM_IN_USE);
    `check_deletable` never counts them (`ItemUse` holds links and RESERVED lines of connected shops): they are
    dropped with the item. The description a frontend developer reads says so."""
    from gql.enums import UserErrorCode

    definition = UserErrorCode.__strawberry_definition__  # type: ignore[attr-defined]
    (description,) = [value.description for value in definition.values if value.name == "ITEM_IN_USE"]
    assert "a deleted shop's kept for its reconnect too" not in description
    assert "does not refuse the delete: it is dropped with the item" in description
