"""The pool's GraphQL contract over real HTTP and WebSocket, on SQLite and PostgreSQL: mutations with userErrors,
links by hand, the Node interface, the `inventoryItemUpdated` subscription, and tenant isolation."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest

from gql.ids import internal_id
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.quiet_reads import fallback_ticks, read_statements, reads_over_fallback_intervals
from tests.fixtures.ws import OperationError

CREATE = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { id sku onHand reserved safetyStock available oversold version } userErrors { code field } } }"""
ADJUST = """mutation($input: InventoryAdjustInput!) { inventoryAdjust(input: $input) {
  inventoryItem { onHand available version } userErrors { code field } } }"""
UPDATE = """mutation($input: InventoryItemUpdateInput!) { inventoryItemUpdate(input: $input) {
  inventoryItem { safetyStock available oversold } userErrors { code field } } }"""
LINK = """mutation($input: SkuLinkInput!) { skuLink(input: $input) {
  skuLink { state source sku { id } inventoryItem { sku } } userErrors { code field } } }"""
UNLINK = """mutation($input: SkuUnlinkInput!) { skuUnlink(input: $input) {
  skuLink { state source inventoryItem { sku } } userErrors { code field } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on InventoryItem { sku onHand
  movements(first: 10) { edges { node { kind onHandDelta reason } } } } } }"""
SKUS = """query($id: ID!) { shop(id: $id) { products(first: 50) { edges { node { status skus { id sellerSku
  link { state source inventoryItem { id sku } } } } } } } }"""
UPDATED = """subscription($id: ID, $sku: String) { inventoryItemUpdated(inventoryItemId: $id, sku: $sku) {
  sku onHand available version } }"""
SYNC_PRODUCTS = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) { tasks { id }
  userErrors { code } } }"""
SEARCH = """query($q: String, $oversold: Boolean) { inventoryItems(query: $q, oversold: $oversold) {
  totalCount edges { node { sku } } } }"""


def create(app: ShopbridgeServer, sku: str, on_hand: int, merchant: str = "m1") -> dict[str, Any]:
    payload = app.graphql(CREATE, {"input": {"sku": sku, "onHand": on_hand}}, merchant)["inventoryItemCreate"]
    assert payload["userErrors"] == [], payload
    return dict(payload["inventoryItem"])


def test_merchant_edits_and_their_errors(app: ShopbridgeServer) -> None:
    item = create(app, "  LAMP-1 ", 10)
    assert (item["sku"], item["onHand"], item["available"], item["oversold"]) == ("LAMP-1", 10, 10, False)
    taken = app.graphql(CREATE, {"input": {"sku": "LAMP-1"}}, "m1")["inventoryItemCreate"]
    assert taken == {"inventoryItem": None, "userErrors": [{"code": "SKU_ALREADY_EXISTS", "field": ["sku"]}]}
    adjusted = app.graphql(ADJUST, {"input": {"inventoryItemId": item["id"], "delta": -3, "reason": "broken"}}, "m1")
    assert adjusted["inventoryAdjust"]["inventoryItem"] == {"onHand": 7, "available": 7, "version": item["version"] + 1}
    no_reason = app.graphql(ADJUST, {"input": {"inventoryItemId": item["id"], "delta": 1, "reason": " "}}, "m1")
    assert no_reason["inventoryAdjust"]["userErrors"] == [{"code": "INVALID_INPUT", "field": ["reason"]}]
    # more kept back than held, nothing sold: available below 0, but not oversold (reserved is not above on-hand)
    safer = app.graphql(UPDATE, {"input": {"inventoryItemId": item["id"], "safetyStock": 9}}, "m1")
    assert safer["inventoryItemUpdate"]["inventoryItem"] == {"safetyStock": 9, "available": -2, "oversold": False}
    assert app.graphql(SEARCH, {"q": "lamp", "oversold": True}, "m1")["inventoryItems"]["totalCount"] == 0
    assert [e["node"]["sku"] for e in app.graphql(SEARCH, {"q": "lamp", "oversold": False}, "m1")["inventoryItems"][
        "edges"]] == ["LAMP-1"]  # fmt: skip
    # the node and its movements, newest first
    node = app.graphql(NODE, {"id": item["id"]}, "m1")["node"]
    assert [m["node"]["kind"] for m in node["movements"]["edges"]] == ["ADJUSTED", "CREATED"]
    assert node["movements"]["edges"][0]["node"] == {"kind": "ADJUSTED", "onHandDelta": -3, "reason": "broken"}
    # another merchant: the item does not exist
    assert app.graphql(NODE, {"id": item["id"]}, "m2")["node"] is None
    foreign = app.graphql(ADJUST, {"input": {"inventoryItemId": item["id"], "delta": 1, "reason": "x"}}, "m2")
    assert foreign["inventoryAdjust"]["userErrors"] == [{"code": "NOT_FOUND", "field": ["inventoryItemId"]}]
    assert app.graphql(SEARCH, {"q": None, "oversold": None}, "m2")["inventoryItems"]["totalCount"] == 0


def test_an_adjustment_sent_again_with_the_on_hand_seen_applies_once(app: ShopbridgeServer) -> None:
    # given an item of 10 units, and an adjustment of +5 sent with the on-hand the client read
    item = create(app, "VASE-1", 10)
    adjustment = {"inventoryItemId": item["id"], "delta": 5, "reason": "delivery", "compareOnHand": 10}
    first = app.graphql(ADJUST, {"input": adjustment}, "m1")["inventoryAdjust"]
    assert first["inventoryItem"] == {"onHand": 15, "available": 15, "version": item["version"] + 1}
    # when the client, its answer lost, sends the same adjustment again
    again = app.graphql(ADJUST, {"input": adjustment}, "m1")["inventoryAdjust"]
    # then it is refused as a conflict and the units are added once (one ADJUSTED movement)
    assert again == {"inventoryItem": None, "userErrors": [{"code": "VERSION_CONFLICT", "field": ["compareOnHand"]}]}
    node = app.graphql(NODE, {"id": item["id"]}, "m1")["node"]
    assert node["onHand"] == 15
    assert [m["node"]["kind"] for m in node["movements"]["edges"]] == ["ADJUSTED", "CREATED"]


CREATE_SAYING_WHY = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { sku } userErrors { code field message } } }"""
LOOK_ALIKE = (
    "A SKU must not contain invisible characters (zero-width, no-break or blank characters): "
    "it would look like another SKU (found {})."
)


def test_a_sku_the_merchant_types_with_an_invisible_character_is_refused_but_tiktoks_is_taken_as_it_is(
    app: ShopbridgeServer,
) -> None:
    # given an item NEW-2
    create(app, "NEW-2", 1)
    # when the merchant creates one that shows as NEW-2 (or as NEW 2): a zero-width space, word joiner, BOM, Braille
    # blank or no-break space anywhere, at the end too (trimming removes whitespace, not these)
    look_alikes = {
        "NEW-2\u200b": "U+200B ZERO WIDTH SPACE", "\u2060NEW-2": "U+2060 WORD JOINER",
        "NEW-\ufeff2": "U+FEFF ZERO WIDTH NO-BREAK SPACE", "NEW-2\u2800": "U+2800 BRAILLE PATTERN BLANK",
        "NEW\u00a02": "U+00A0 NO-BREAK SPACE", "NEW-2\ufe0f": "U+FE0F VARIATION SELECTOR-16",
    }  # fmt: skip
    for sku, named in look_alikes.items():
        refused = app.graphql(CREATE_SAYING_WHY, {"input": {"sku": sku}}, "m1")["inventoryItemCreate"]
        # then it is refused on the field, saying why and naming the character it cannot see, and no item is made
        message = LOOK_ALIKE.format(named)
        assert refused == {
            "inventoryItem": None, "userErrors": [{"code": "INVALID_INPUT", "field": ["sku"], "message": message}]
        }, ascii(sku)  # fmt: skip
    assert create(app, "  NEW 3 ", 0)["sku"] == "NEW 3"  # a plain space inside is a space; surrounding ones trimmed
    assert app.graphql(SEARCH, {"q": "new", "oversold": None}, "m1")["inventoryItems"]["totalCount"] == 2
    # and a seller SKU TikTok sends with a zero-width space at its end is imported as it is, and links to the item its
    # visible part names (matching trims invisible characters at the ends: `domain.text.strip_invisible`)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    path = f"/shops/{shop['tiktokShopId']}/products"
    app.sandbox.control("POST", path, {"title": "Odd lamp", "skus": [{"seller_sku": "TT-3\u200b", "quantity": 2}]})
    sync = app.graphql(SYNC_PRODUCTS, {"id": shop["id"]}, "m1")["syncStart"]
    assert app.wait_for_task(sync["tasks"][0]["id"], "m1")["status"] == "SUCCEEDED"
    skus = [
        sku for edge in app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
        for sku in edge["node"]["skus"] if sku["sellerSku"] == "TT-3\u200b"
    ]  # fmt: skip
    assert [(s["link"]["state"], s["link"]["inventoryItem"]["sku"]) for s in skus] == [("LINKED", "TT-3")]


CAFE_COMPOSED, CAFE_DECOMPOSED = "CAF\u00c9-1", "CAFE\u0301-1"  # É precomposed, and E + U+0301: they show alike


def test_a_sku_in_either_unicode_spelling_is_one_item_found_by_either_and_tiktoks_is_kept_as_sent(
    app: ShopbridgeServer,
) -> None:
    # given CAFÉ-1 created with a combining accent (as some keyboards and pastes spell it)
    item = create(app, CAFE_DECOMPOSED, 5)
    # then it is stored in NFC, the spelling of a keyboard's É
    assert item["sku"] == CAFE_COMPOSED
    # when the merchant creates CAFÉ-1 spelled precomposed, then it is the same SKU: no second row showing alike
    taken = app.graphql(CREATE, {"input": {"sku": CAFE_COMPOSED}}, "m1")["inventoryItemCreate"]
    assert taken == {"inventoryItem": None, "userErrors": [{"code": "SKU_ALREADY_EXISTS", "field": ["sku"]}]}
    # and a search in either spelling finds it, and in either width ("CAF" in full-width letters, as a CJK input
    # method types it)
    for query in ("caf\u00e9", "cafe\u0301", "\uff23\uff21\uff26"):
        found = app.graphql(SEARCH, {"q": query, "oversold": None}, "m1")["inventoryItems"]
        assert [e["node"]["sku"] for e in found["edges"]] == [CAFE_COMPOSED], ascii(query)
    # and a SKU typed in full-width letters is its own item, kept as typed, found by a search in either width
    full_width = create(app, "\uff34\uff25\uff21-\uff12", 1)["sku"]  # "TEA-2"
    assert full_width == "\uff34\uff25\uff21-\uff12"
    for query in ("tea-2", "\uff34\uff25\uff21"):
        found = app.graphql(SEARCH, {"q": query, "oversold": None}, "m1")["inventoryItems"]
        assert [e["node"]["sku"] for e in found["edges"]] == [full_width], ascii(query)
    # and an adjustment's reason is stored in NFC too
    reason = {"inventoryItemId": item["id"], "delta": 1, "reason": "Cafe\u0301 count"}
    assert app.graphql(ADJUST, {"input": reason}, "m1")["inventoryAdjust"]["userErrors"] == []
    movements = app.graphql(NODE, {"id": item["id"]}, "m1")["node"]["movements"]["edges"]
    assert movements[0]["node"]["reason"] == "Caf\u00e9 count"
    # when a shop's seller SKU spells it with the combining accent too, then the SKU links to the item, and shows
    # the seller SKU as TikTok sent it
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    path = f"/shops/{shop['tiktokShopId']}/products"
    app.sandbox.control("POST", path, {"title": "Café mug", "skus": [{"seller_sku": CAFE_DECOMPOSED, "quantity": 2}]})
    sync = app.graphql(SYNC_PRODUCTS, {"id": shop["id"]}, "m1")["syncStart"]
    assert app.wait_for_task(sync["tasks"][0]["id"], "m1")["status"] == "SUCCEEDED"
    skus = [
        sku for edge in app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
        for sku in edge["node"]["skus"] if sku["sellerSku"] == CAFE_DECOMPOSED
    ]  # fmt: skip
    assert [(s["link"]["state"], s["link"]["inventoryItem"]["id"]) for s in skus] == [("LINKED", item["id"])]
    assert app.graphql(SEARCH, {"q": "caf", "oversold": None}, "m1")["inventoryItems"]["totalCount"] == 1


@subject_not_the_database("input length checks")
def test_a_sku_of_emojis_too_long_is_told_its_characters_and_code_points_through_graphql(
    app: ShopbridgeServer,
) -> None:
    """newcomer54 finding 7: `inventoryItemCreate` with 255 family emojis answered "A SKU has 1 to 255 characters
    (this one has 1785)."; the limit is in code points (`domain.inventory.items.MAX_SKU_LENGTH`), and says so."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, 1 character

    def created(sku: str) -> dict[str, Any]:
        return dict(app.graphql(CREATE_SAYING_WHY, {"input": {"sku": sku}}, "m1")["inventoryItemCreate"])

    # when SKUs of emojis just over the limit and far over it (past the edge's bound) are created
    # then each refusal says both counts, on the field sku
    for sku, characters in [(family * 37, 37), (family * 255, 255)]:
        said = f"A SKU has 1 to 255 Unicode code points, as the database stores it (its {characters} characters take "
        assert created(sku)["userErrors"] == [
            {"code": "INVALID_INPUT", "field": ["sku"], "message": f"{said}{len(sku)})."}
        ]
    # and one of flags (2 code points each) within 255 code points is created as typed
    flags = "\U0001f1fa\U0001f1f8" * 127
    assert created(flags) == {"inventoryItem": {"sku": flags}, "userErrors": []}


ADJUST_SAYING_WHY = """mutation($input: InventoryAdjustInput!) { inventoryAdjust(input: $input) {
  inventoryItem { onHand } userErrors { code field message } } }"""


@subject_not_the_database("input length checks")
def test_a_reason_or_sku_of_the_wrong_length_is_told_the_limit_whether_empty_long_or_huge(
    app: ShopbridgeServer,
) -> None:
    item = create(app, "LIMITS-1", 1)

    def adjusted(reason: str) -> list[dict[str, Any]]:
        given = {"inventoryItemId": item["id"], "delta": 1, "reason": reason}
        return list(app.graphql(ADJUST_SAYING_WHY, {"input": given}, "m1")["inventoryAdjust"]["userErrors"])

    def refusal(message: str, field: str = "reason") -> list[dict[str, Any]]:
        return [{"code": "INVALID_INPUT", "field": [field], "message": message}]

    # when a reason is empty, a little over the limit or far over it (the domain's rule; past 8,000 code points the
    # GraphQL edge refuses it before it is read further, in the same words), then each refusal says the limit, with
    # the code and field as before
    assert adjusted("") == refusal("A reason of 1 to 500 characters is required (this one looks empty).")
    assert adjusted("r" * 501) == refusal("A reason has at most 500 characters (this one has 501).")
    assert adjusted("r" * 5000) == refusal(
        "A reason has at most 500 characters (this one has 5000)."
    )  # was "reason is too long."
    # past 8,000 code points it is told in code points, its characters not counted (review56 F5: counting a 1 MiB
    # reason held the event loop ~0.5 s)
    assert adjusted("r" * 9000) == refusal(
        "A reason has at most 500 characters and 8000 Unicode code points (this one takes 9000 code points)."
    )
    # and a reason of 500 family emojis (7 code points each) is 500 characters, as the limit says, and taken whole
    # (outage56: the GraphQL edge refused it as "this one has 3500"); 501 are told the count the merchant sees
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    assert adjusted(family * 500) == []
    assert adjusted(family * 501) == refusal("A reason has at most 500 characters (this one has 501).")
    # and a SKU far over its limit says the SKU's limit too
    huge = app.graphql(CREATE_SAYING_WHY, {"input": {"sku": "S" * 5000}}, "m1")["inventoryItemCreate"]
    assert huge["userErrors"] == refusal("A SKU has 1 to 255 characters (this one has 5000).", "sku")


SET_ON_HAND = """mutation($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) {
  inventoryItem { onHand } userErrors { code field } } }"""


def test_a_count_compared_with_zero_is_a_conflict_when_the_on_hand_is_not_zero(app: ShopbridgeServer) -> None:
    # given an item with 5 on hand, and a merchant who counted from a stale screen that showed 0
    item = create(app, "LAMP-0", 5)
    stale = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 3, "compareOnHand": 0}}, "m1")[
        "inventorySetOnHand"
    ]
    # then 0 is compared like any count (it is not "no comparison"), and the on-hand is left alone
    assert stale == {"inventoryItem": None, "userErrors": [{"code": "VERSION_CONFLICT", "field": ["compareOnHand"]}]}
    assert app.graphql(NODE, {"id": item["id"]}, "m1")["node"]["onHand"] == 5


def test_a_count_that_finds_the_on_hand_is_recorded_as_a_set_of_zero(app: ShopbridgeServer) -> None:
    # given an item with 5 on hand
    item = create(app, "LAMP-5", 5)
    # when the merchant's stock count finds 5
    counted = app.graphql(
        SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 5, "compareOnHand": 5}}, "m1"
    )
    # then the count is in the item's history (before: no trace), moving nothing
    assert counted["inventorySetOnHand"] == {"inventoryItem": {"onHand": 5}, "userErrors": []}
    node = app.graphql(NODE, {"id": item["id"]}, "m1")["node"]
    assert [m["node"] for m in node["movements"]["edges"]] == [
        {"kind": "SET", "onHandDelta": 0, "reason": None}, {"kind": "CREATED", "onHandDelta": 5, "reason": None},
    ]  # fmt: skip


def test_a_sku_linked_by_hand_keeps_its_link_and_a_subscriber_sees_the_item_move(app: ShopbridgeServer) -> None:
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    products = app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    skus = [s for p in products for s in p["node"]["skus"]]
    # every SKU has its place in the pool, but those of a product TikTok reports DELETED (sold no more: none)
    deleted = {s["id"] for p in products if p["node"]["status"] == "DELETED" for s in p["node"]["skus"]}
    assert deleted and all((s["link"] is None) == (s["id"] in deleted) for s in skus)
    linked = next(s for s in skus if s["link"]["state"] == "LINKED")
    assert linked["link"]["source"] == "AUTO" and linked["link"]["inventoryItem"]["sku"] == linked["sellerSku"].strip()
    mine = create(app, "MY-OWN", 5)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with app.subscribe(UPDATED, {"id": mine["id"]}, "m1") as op:
            first = await op.next()
            await asyncio.to_thread(
                app.graphql, ADJUST, {"input": {"inventoryItemId": mine["id"], "delta": 4, "reason": "delivery"}}, "m1"
            )
            return first, await op.next()

    first, moved = asyncio.run(scenario())
    assert first["inventoryItemUpdated"]["onHand"] == 5 and moved["inventoryItemUpdated"]["onHand"] == 9
    # linking by hand moves the SKU to the merchant's item; another merchant cannot
    refused = app.graphql(LINK, {"input": {"skuId": linked["id"], "inventoryItemId": mine["id"]}}, "m2")["skuLink"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    done = app.graphql(LINK, {"input": {"skuId": linked["id"], "inventoryItemId": mine["id"]}}, "m1")["skuLink"]
    assert done["skuLink"] == {"state": "LINKED", "source": "MANUAL", "sku": {"id": linked["id"]},
                               "inventoryItem": {"sku": "MY-OWN"}}  # fmt: skip
    gone = app.graphql(UNLINK, {"input": {"skuId": linked["id"]}}, "m1")["skuUnlink"]["skuLink"]
    assert gone == {"state": "UNLINKED", "source": "MANUAL", "inventoryItem": None}


def test_an_unlink_compared_with_the_item_read_is_refused_when_another_tab_linked_the_sku_elsewhere(
    app: ShopbridgeServer,
) -> None:
    # given a SKU linked to HAT, read so by one tab, then linked by hand to SOCK from another (review59 F6)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    products = app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    sku = next(s for p in products for s in p["node"]["skus"] if s["link"] and s["link"]["state"] == "LINKED")
    hat, sock = create(app, "HAT-F6", 5), create(app, "SOCK-F6", 5)
    on_hat = app.graphql(LINK, {"input": {"skuId": sku["id"], "inventoryItemId": hat["id"]}}, "m1")["skuLink"]
    assert on_hat["userErrors"] == []
    moved = app.graphql(LINK, {"input": {"skuId": sku["id"], "inventoryItemId": sock["id"]}}, "m1")["skuLink"]
    assert moved["skuLink"]["inventoryItem"] == {"sku": "SOCK-F6"}

    # when the first tab unlinks it from HAT, as it read it: refused on compareInventoryItemId, nothing changed
    stale = {"skuId": sku["id"], "compareInventoryItemId": hat["id"]}
    refused = app.graphql(UNLINK, {"input": stale}, "m1")["skuUnlink"]
    changed = [{"code": "SKU_LINK_CHANGED", "field": ["compareInventoryItemId"]}]
    assert refused == {"skuLink": None, "userErrors": changed}
    links = {s["id"]: s["link"] for p in app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
             for s in p["node"]["skus"]}  # fmt: skip
    assert (links[sku["id"]]["state"], links[sku["id"]]["inventoryItem"]["sku"]) == ("LINKED", "SOCK-F6")
    # a compare with an id of another type names no item: NOT_FOUND on that field (as any id that names nothing)
    wrong = app.graphql(UNLINK, {"input": {"skuId": sku["id"], "compareInventoryItemId": sku["id"]}}, "m1")
    assert [(e["code"], e["field"]) for e in wrong["skuUnlink"]["userErrors"]] == [
        ("NOT_FOUND", ["compareInventoryItemId"])
    ]

    # then compared with the item it draws on, the unlink is done; compared with none once unlinked, it is done again
    current = {"skuId": sku["id"], "compareInventoryItemId": sock["id"]}
    done = app.graphql(UNLINK, {"input": current}, "m1")["skuUnlink"]
    assert done == {"skuLink": {"state": "UNLINKED", "source": "MANUAL", "inventoryItem": None}, "userErrors": []}
    again = app.graphql(UNLINK, {"input": {"skuId": sku["id"], "compareInventoryItemId": None}}, "m1")["skuUnlink"]
    assert again["userErrors"] == []
    # and a retry compared with the item it left is refused: it draws on none now
    late = app.graphql(UNLINK, {"input": current}, "m1")["skuUnlink"]
    assert [e["code"] for e in late["userErrors"]] == ["SKU_LINK_CHANGED"]


LINKS_UPDATED = """subscription($id: ID) { inventoryItemUpdated(inventoryItemId: $id) {
  onHand reserved version links { state source sku { id } } } }"""


def test_a_subscriber_sees_a_link_made_and_undone_that_moves_no_counter(app_factory) -> None:
    # Given a shop without orders (a link then reserves nothing: no counter of the item moves), an item of the
    # merchant's, a SKU of the shop, and a subscriber following the item
    app = app_factory(orders=0)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    products = app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    sku = next(s for p in products if p["node"]["status"] != "DELETED" for s in p["node"]["skus"])
    mine = create(app, "MY-OWN", 5)

    async def scenario() -> list[dict[str, Any]]:
        async with app.subscribe(LINKS_UPDATED, {"id": mine["id"]}, "m1") as op:
            seen = [(await op.next())["inventoryItemUpdated"]]
            # when the merchant links the SKU to the item, then unlinks it
            for mutation, payload, links in ((LINK, {"skuId": sku["id"], "inventoryItemId": mine["id"]}, 1),
                                             (UNLINK, {"skuId": sku["id"]}, 0)):  # fmt: skip
                await app.agraphql(mutation, {"input": payload}, "m1")
                # (the link's push signals the item too, once recorded: a message of the link may come after the
                # unlink's mutation answered; the unlink's own message follows it)
                while len((told := (await op.next(timeout=20))["inventoryItemUpdated"])["links"]) != links:
                    pass
                seen.append(told)
            return seen

    # then the subscriber is told each time, though the counters and version stayed as they were
    first, linked, unlinked = asyncio.run(scenario())
    assert first["links"] == [] and unlinked["links"] == []
    assert linked["links"] == [{"state": "LINKED", "source": "MANUAL", "sku": {"id": sku["id"]}}]
    assert {(m["onHand"], m["reserved"], m["version"]) for m in (first, linked, unlinked)} == {(5, 0, mine["version"])}


ALL_UPDATED = "subscription { inventoryItemUpdated { id version links { shop { id } } } }"
POOL = "{ inventoryItems(first: 100) { totalCount edges { node { id version links { shop { id } } } } } }"


def test_a_subscriber_to_every_item_sees_the_links_a_shop_deletion_takes(app_factory) -> None:
    # Given two shops without orders whose SKUs share seller SKUs (no reservation moves when one is deleted), an
    # item both link, and a subscriber following every item of the merchant
    app = app_factory(orders=0)
    first = app.connect_shop("m1", "us-local", "US")
    second = app.connect_shop("m1", "us-local-2", "US", name="Second")
    app.wait_for_idle_sync()
    pool = app.graphql(POOL, None, "m1")["inventoryItems"]
    assert pool["totalCount"] <= 100  # every item of the deleted shop is signalled (at most 100 per commit)
    shared = next(e["node"] for e in pool["edges"] if len(e["node"]["links"]) == 2)

    async def scenario() -> dict[str, Any]:
        async with app.subscribe(ALL_UPDATED, None, "m1") as op:
            # (an item made now is told once the subscription listens: the deletion's signals cannot precede it)
            probe = await asyncio.to_thread(create, app, "PROBE", 1)
            while (await op.next(timeout=20))["inventoryItemUpdated"]["id"] != probe["id"]:
                pass  # an item an import's last push recorded may be told first (a push signals its items)
            # when the second shop is deleted
            with read_statements(app, "FROM inventory_items") as reads:
                start = time.monotonic()
                await app.agraphql("mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId } }",
                                   {"id": second["id"]}, "m1")  # fmt: skip
                told = 0
                while True:  # every item the deleted shop linked is told; the shared one is among them
                    item = (await op.next(timeout=20))["inventoryItemUpdated"]
                    told += 1
                    # never a link without its shop, even from a read the deletion's commit fell between
                    assert all(link["shop"] is not None for link in item["links"]), item
                    # (a read begun before the deletion's commit may still be on its way: told with both links)
                    if item["id"] == shared["id"] and len(item["links"]) == 1:
                        break
                window = time.monotonic() - start
            # and the items one commit signals are read in one statement for the follower, not one each (soak53b:
            # ~365 single-item reads a second for 50 followers); a read begun before the commit, and fallback ticks
            # (SQLite: the mutation's own statements run on the write engine; on PostgreSQL one engine serves both)
            links = [[link["shop"]["id"] for link in e["node"]["links"]] for e in pool["edges"]]
            signalled = sum(second["id"] in shops for shops in links)
            if app.settings.database_url.startswith("sqlite"):
                assert len(reads) <= 2 + fallback_ticks(window) < signalled, (len(reads), told, signalled, window)
            return dict(item)

    # then the subscriber is told that the shared item lost the deleted shop's link, its counters unchanged
    told = asyncio.run(scenario())
    assert told == {"id": shared["id"], "version": shared["version"], "links": [{"shop": {"id": first["id"]}}]}


@subject_not_the_database("a subscription's token expiry")
async def test_an_item_subscription_ends_when_its_token_expires(app: ShopbridgeServer) -> None:
    """`inventoryItemUpdated` re-checks the token at each re-read (gql/inventory/subscriptions.py: a subscription does
    not outlive its token), even when the item no longer changes."""
    # given an item nobody moves, and a subscriber whose token expires in 2 s
    item = await asyncio.to_thread(create, app, "QUIET-1", 3)
    async with app.subscribe(UPDATED, {"id": item["id"]}, "m1", ttl=2) as op:
        assert (await op.next())["inventoryItemUpdated"]["onHand"] == 3
        # when the token expires, then the subscription ends with an error at its next re-read (every 1.5 s; a
        # deadline of many periods on a loaded machine, far below the wait of a subscription that keeps going)
        with pytest.raises(OperationError) as error:
            await op.next(timeout=20)
    assert "expired" in str(error.value)


@subject_not_the_database("whether followers share a read or not")
async def test_the_followers_of_a_quiet_item_share_one_fallback_read_per_interval(app: ShopbridgeServer) -> None:
    """Security audit 50: 400 subscriptions of one quiet item re-read it each on its own every 1.5 s, 62 % of a core;
    now one read per item and interval in a process serves them all (gql/inventory/shared_reads.py)."""
    # given an item nobody moves, followed by 10 subscriptions that have had its first state
    followers = 10
    item = await asyncio.to_thread(create, app, "QUIET-2", 3)
    async with AsyncExitStack() as stack:
        ops = [
            await stack.enter_async_context(app.subscribe(UPDATED, {"id": item["id"]}, "m1")) for _ in range(followers)
        ]
        for op in ops:
            assert (await op.next())["inventoryItemUpdated"]["onHand"] == 3
        # when three fallback intervals pass with nothing changed
        reads, start = await reads_over_fallback_intervals(app, "FROM inventory_items")
    # then the item was read about once an interval (at most one more at either edge of the window), not once per
    # follower and interval (30 reads before)
    assert 1 <= len(reads) <= 3 + 2, [round(t - start, 2) for t in reads]


@subject_not_the_database("whether followers share a read or not")
async def test_the_followers_of_an_item_share_one_read_per_signal(app: ShopbridgeServer) -> None:
    """Issue 9 ("one database read per update ... however many subscribers"): each follower of an item read it for
    itself on a signal, 10 followers 10 reads per change; now one read serves every follower that signal woke
    (gql/inventory/shared_reads.py), as the task feed does for `syncTaskUpdated`."""
    # given an item followed by 10 subscriptions that have had its first state
    followers = 10
    item = await asyncio.to_thread(create, app, "BUSY-1", 3)
    adjust = "mutation($input: InventoryAdjustInput!) { inventoryAdjust(input: $input) { userErrors { code } } }"
    async with AsyncExitStack() as stack:
        ops = [
            await stack.enter_async_context(app.subscribe(UPDATED, {"id": item["id"]}, "m1")) for _ in range(followers)
        ]
        for op in ops:
            assert (await op.next())["inventoryItemUpdated"]["onHand"] == 3
        # when one commit changes it (one signal) and every follower has received the change
        with read_statements(app, "FROM inventory_items") as reads:
            start = time.monotonic()
            done = await app.agraphql(
                adjust, {"input": {"inventoryItemId": item["id"], "delta": 1, "reason": "x"}}, "m1"
            )
            assert done["inventoryAdjust"]["userErrors"] == []
            for op in ops:
                assert (await op.next())["inventoryItemUpdated"]["onHand"] == 4
            window = time.monotonic() - start
    # then the item was read once for the signal, and at most once more per fallback tick the window held (the
    # mutation writes on its own engine), not once per follower (10 or more before)
    assert 1 <= len(reads) <= 1 + fallback_ticks(window), ([round(t - start, 2) for t in reads], window)


@subject_not_the_database("which signals wake a follower")
async def test_a_follower_of_an_item_is_not_read_again_for_changes_of_the_merchants_other_items(
    app: ShopbridgeServer,
) -> None:
    """Issue 9 (one read per update): a follower of one item re-read it on every inventory signal of its merchant,
    whichever item it named (a merchant selling 20 other SKUs cost a follower 20 reads, a console with 50 items open
    1,000); now only a signal naming its item (or one that may have lost its names) wakes its read, and the fallback
    tick still comes however many other signals arrive."""
    # given two items, each followed (the desk's follower tells when each of the desk's changes has been delivered)
    lamp, desk = create(app, "LAMP-2", 5), create(app, "DESK-2", 3)
    lamp_id = internal_id(lamp["id"], "InventoryItem", "id")
    async with (
        app.subscribe(UPDATED, {"id": lamp["id"]}, "m1") as lamp_follower,
        app.subscribe(UPDATED, {"id": desk["id"]}, "m1") as desk_follower,
    ):
        assert (await lamp_follower.next())["inventoryItemUpdated"]["onHand"] == 5
        assert (await desk_follower.next())["inventoryItemUpdated"]["onHand"] == 3
        # when the desk changes 20 times, each change delivered to its follower before the next
        changes = 20
        with read_statements(app, "FROM inventory_items", bound=lamp_id) as lamp_reads:
            start = time.monotonic()
            for n in range(1, changes + 1):
                done = await app.agraphql(
                    ADJUST, {"input": {"inventoryItemId": desk["id"], "delta": 1, "reason": "x"}}, "m1"
                )
                assert done["inventoryAdjust"]["userErrors"] == []
                assert (await desk_follower.next())["inventoryItemUpdated"]["onHand"] == 3 + n
            window = time.monotonic() - start
        # then the lamp was read at its fallback ticks at most, not once per change of the desk (20 more before)
        assert len(lamp_reads) <= fallback_ticks(window), ([round(t - start, 2) for t in lamp_reads], window)
        # and a change of the lamp itself still reaches its follower at once
        done = await app.agraphql(ADJUST, {"input": {"inventoryItemId": lamp["id"], "delta": -2, "reason": "x"}}, "m1")
        assert done["inventoryAdjust"]["userErrors"] == []
        assert (await lamp_follower.next())["inventoryItemUpdated"]["onHand"] == 3


async def test_following_an_item_ends_with_not_found_when_its_shop_deletion_takes_it(app: ShopbridgeServer) -> None:
    # given a shop whose import created the pool's items, and a merchant following one of them by id and by SKU
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    first = app.graphql(SEARCH, {"q": None, "oversold": None}, "m1")["inventoryItems"]["edges"][0]["node"]["sku"]
    item = app.graphql("query($q: String) { inventoryItems(query: $q) { edges { node { id sku } } } }",
                       {"q": first}, "m1")["inventoryItems"]["edges"][0]["node"]  # fmt: skip
    async with (
        app.subscribe(UPDATED, {"id": item["id"]}, "m1") as by_id,
        app.subscribe(UPDATED, {"sku": item["sku"]}, "m1") as by_sku,
    ):
        assert (await by_id.next())["inventoryItemUpdated"]["sku"] == item["sku"]
        assert (await by_sku.next())["inventoryItemUpdated"]["sku"] == item["sku"]
        # when the shop is deleted, taking the items only it brought
        deleted = await app.agraphql(
            "mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId } }", {"id": shop["id"]}, "m1"
        )
        assert deleted["shopDelete"]["deletedShopId"] == shop["id"]
        assert app.graphql(NODE, {"id": item["id"]}, "m1")["node"] is None
        # then both subscriptions end with NOT_FOUND, instead of staying open and silent
        for operation in (by_id, by_sku):
            with pytest.raises(OperationError) as ended:
                while True:
                    await operation.next()
            assert [e["extensions"]["code"] for e in ended.value.payload] == ["NOT_FOUND"]


@subject_not_the_database("subscription argument checks")
async def test_following_by_id_and_sku_at_once_is_bad_user_input(app: ShopbridgeServer) -> None:
    # given two items of the merchant
    lamp, desk = create(app, "LAMP-1", 5), create(app, "DESK-1", 3)
    # when a subscription names one by id and the other by SKU
    async with app.subscribe(UPDATED, {"id": lamp["id"], "sku": desk["sku"]}, "m1") as both:
        # then it is refused, rather than silently following the first and ignoring the other
        with pytest.raises(OperationError) as refused:
            await both.next()
    assert [e["extensions"]["code"] for e in refused.value.payload] == ["BAD_USER_INPUT"]
    assert refused.value.payload[0]["message"] == "Give inventoryItemId or sku, not both."


@subject_not_the_database("subscription argument checks")
async def test_following_a_sku_longer_than_any_is_bad_user_input_as_a_search_for_it_is(app: ShopbridgeServer) -> None:
    # given a SKU of 300 characters, which no item can have (255 at most)
    sku = "S" * 300
    # when a subscription follows it
    async with app.subscribe(UPDATED, {"sku": sku}, "m1") as following:
        with pytest.raises(OperationError) as refused:
            await following.next()
    # then it is refused with the limit, as inventoryItems(query:) refuses it, not told NOT_FOUND
    assert [e["extensions"]["code"] for e in refused.value.payload] == ["BAD_USER_INPUT"]
    assert refused.value.payload[0]["message"] == "sku has at most 255 characters (this one has 300)."
    searched = app.raw_graphql(SEARCH, {"q": sku, "oversold": None}, "m1")
    assert [e["extensions"]["code"] for e in searched["errors"]] == ["BAD_USER_INPUT"]
    assert searched["errors"][0]["message"] == "query has at most 255 characters (this one has 300)."
    # and a SKU of 200 family emojis (1,400 code points) is told both counts, not a count the merchant cannot see
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    told = "has at most 255 Unicode code points (its 200 characters take 1400)."
    async with app.subscribe(UPDATED, {"sku": family * 200}, "m1") as following:
        with pytest.raises(OperationError) as refused:
            await following.next()
    assert refused.value.payload[0]["message"] == f"sku {told}"
    searched = app.raw_graphql(SEARCH, {"q": family * 200, "oversold": None}, "m1")
    assert searched["errors"][0]["message"] == f"query {told}"


@subject_not_the_database("ID parsing and not-found answers")
def test_an_id_that_names_nothing_is_told_in_the_same_words_however_it_is_spelled(app: ShopbridgeServer) -> None:
    # given an item and a SKU of merchant m1
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    sku = app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"][0]["node"]["skus"][0]["id"]
    item = create(app, "WORDS-1", 1)
    theirs = create(app, "WORDS-2", 1, merchant="m2")
    link = "mutation($s: ID!, $i: ID!) { skuLink(input: {skuId: $s, inventoryItemId: $i}) { userErrors { message } } }"
    adjust = """mutation($i: ID!) { inventoryAdjust(input: {inventoryItemId: $i, delta: 1, reason: "x"}) {
      userErrors { message } } }"""

    def said(query: str, variables: dict[str, str], merchant: str) -> list[str]:
        payload = next(iter(app.graphql(query, variables, merchant).values()))
        return [e["message"] for e in payload["userErrors"]]

    # when another merchant names them, or anyone names nothing with an id that is not one of ours
    # then the message is the same sentence either way (it read "Sku not found" / "SKU not found", and
    # "InventoryItem not found" / "Inventory item not found", by the id's shape)
    assert said(link, {"s": sku, "i": theirs["id"]}, "m2") == said(link, {"s": "junk", "i": item["id"]}, "m1")
    assert said(link, {"s": sku, "i": theirs["id"]}, "m2") == ["SKU not found."]
    assert said(adjust, {"i": item["id"]}, "m2") == said(adjust, {"i": "junk"}, "m1") == ["Inventory item not found."]
    assert said(link, {"s": sku, "i": "junk"}, "m1") == ["Inventory item not found."]


MOVEMENTS = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on InventoryItem {
  movements(first: $first, after: $after) { totalCount edges { cursor node { kind } } } } } }"""


def test_movements_total_count_is_the_items_movement_count(app: ShopbridgeServer) -> None:
    # given an item with three movements (created, then two adjustments) and another item with one
    item = create(app, "TC-1", 5)
    create(app, "TC-2", 1)
    for delta in (1, -2):
        app.graphql(ADJUST, {"input": {"inventoryItemId": item["id"], "delta": delta, "reason": "count"}}, "m1")
    # when its movements are read a page of one at a time
    first = app.graphql(MOVEMENTS, {"id": item["id"], "first": 1}, "m1")["node"]["movements"]
    after = first["edges"][0]["cursor"]
    second = app.graphql(MOVEMENTS, {"id": item["id"], "first": 100, "after": after}, "m1")["node"]["movements"]
    # then totalCount is the item's count, whatever the page, never -1
    assert (first["totalCount"], len(first["edges"])) == (3, 1)
    assert (second["totalCount"], len(second["edges"])) == (3, 2)
