"""The shop's push policy use case over fakes: a change is stored and re-pushes every linked product; no change,
no linked product or push turned off pushes nothing; unknown fields and other merchants' shops are refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.errors import DomainError, ErrorCode
from domain.inventory_push import InventoryPolicy
from domain.services.inventory_policy import update_policy
from tests.fakes import T0, FakeClock, FakeStore, FakeTaskQueue, FakeUnitOfWork, make_shop
from tests.fakes_inventory_push import FakeLink


class World:
    def __init__(self) -> None:
        self.store, self.queue, self.clock = FakeStore(), FakeTaskQueue(), FakeClock(T0 + timedelta(hours=1))
        self.shop = make_shop("m1", now=T0)
        self.store.shops[self.shop.id] = self.shop

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def link(self, sku: str, product: str, state: str = "LINKED") -> None:
        self.store.push.link(self.shop.id, FakeLink(sku, f"t-{sku}", product, f"item-{sku}", 5, state=state))

    async def update(self, changes: dict[str, Any], merchant_id: str = "m1") -> InventoryPolicy:
        shop, policy = await update_policy(self.uow, self.queue, self.clock, merchant_id, self.shop.id, changes)
        assert shop.id == self.shop.id
        return policy

    def dirty(self) -> dict[str, tuple[int, object]]:
        return {p: (row.dirty_version, row.next_attempt_at) for (_, p), row in self.store.push.outbox.items()}


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"push_enabled": False}, InventoryPolicy(False, 30, None, 2)),
        ({"share_percent": 40}, InventoryPolicy(True, 40, None, 2)),
        ({"max_quantity": 12}, InventoryPolicy(True, 30, 12, 2)),
        ({"out_of_stock_threshold": 3}, InventoryPolicy(True, 30, None, 3)),
        ({"share_percent": 1, "max_quantity": 0}, InventoryPolicy(True, 1, 0, 2)),
    ],
)
async def test_each_field_changes_alone_and_the_others_keep_their_values(
    world: World, changes: dict[str, Any], expected: InventoryPolicy
) -> None:
    # given a stored policy of 30 %, out of stock at 2
    await world.update({"share_percent": 30, "out_of_stock_threshold": 2})
    world.clock.advance(timedelta(minutes=5))
    # when one or two fields change, then the others keep their values; the row is dated now
    assert await world.update(changes) == expected
    assert world.store.push.policies[world.shop.id] == expected
    assert world.store.push.policies_updated_at[world.shop.id] == T0 + timedelta(hours=1, minutes=5)


async def test_a_change_marks_every_linked_product_dirty_and_enqueues_one_push_after_commit(world: World) -> None:
    world.link("s1", "p1")
    world.link("s2", "p1")
    world.link("s3", "p2")
    world.link("s4", "p3", state="EXCLUDED")  # not pushed: not re-pushed either
    await world.update({"share_percent": 50})
    assert world.dirty() == {"p1": (1, T0 + timedelta(hours=1)), "p2": (1, T0 + timedelta(hours=1))}
    assert world.queue.inventory_pushes == [world.shop.id]
    assert world.store.commits == 1


async def test_no_change_stores_and_pushes_nothing(world: World) -> None:
    world.link("s1", "p1")
    assert await world.update({"share_percent": 100, "push_enabled": True}) == InventoryPolicy()
    assert await world.update({}) == InventoryPolicy()
    assert world.store.push.policies == {} and world.dirty() == {} and world.queue.inventory_pushes == []


async def test_a_change_with_no_linked_product_is_stored_and_pushes_nothing(world: World) -> None:
    world.link("s1", "p1", state="EXCLUDED")
    assert await world.update({"max_quantity": 7}) == InventoryPolicy(max_quantity=7)
    assert world.store.push.policies[world.shop.id] == InventoryPolicy(max_quantity=7)
    assert world.dirty() == {} and world.queue.inventory_pushes == []


async def test_turning_push_off_is_stored_and_pushes_nothing_turning_it_on_again_re_pushes(world: World) -> None:
    world.link("s1", "p1")
    assert await world.update({"push_enabled": False}) == InventoryPolicy(push_enabled=False)
    assert world.dirty() == {} and world.queue.inventory_pushes == []
    assert world.store.push.rebase_pending == {}
    assert await world.update({"push_enabled": True}) == InventoryPolicy()
    assert world.dirty() == {"p1": (1, T0 + timedelta(hours=1))} and world.queue.inventory_pushes == [world.shop.id]
    # and the shop's push fence waits to be re-based before its next push measures anything (tryout63 F1)
    assert world.store.push.rebase_pending == {world.shop.id: T0 + timedelta(hours=1)}


async def test_another_merchants_or_no_shop_is_not_found_and_nothing_is_stored(world: World) -> None:
    world.link("s1", "p1")
    with pytest.raises(DomainError) as refused:
        await world.update({"share_percent": 50}, merchant_id="m2")
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        ErrorCode.NOT_FOUND,
        ("shopId",),
        "Shop not found.",
    )
    with pytest.raises(DomainError) as missing:
        await update_policy(world.uow, world.queue, world.clock, "m1", "no-such-shop", {"share_percent": 50})
    assert (missing.value.code, missing.value.field) == (ErrorCode.NOT_FOUND, ("shopId",))
    assert world.store.push.policies == {} and world.queue.inventory_pushes == []


async def test_an_invalid_value_is_refused_with_its_code_and_nothing_is_stored(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        await world.update({"share_percent": 0})
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_SHARE_PERCENT, ("sharePercent",))
    assert world.store.push.policies == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, "not policy fields: ['colour']"),
        ({"share_percent": 5, "shop_id": "x", "b": 1}, "not policy fields: ['b', 'shop_id']"),
    ],
)
async def test_fields_outside_the_policy_are_a_programming_error(
    world: World, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        await world.update(changes)
    assert str(refused.value) == message
    assert world.store.push.policies == {} and world.store.commits == 0
