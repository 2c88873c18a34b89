"""No two of a merchant's shops share a custom name (tryout60 F3), through GraphQL over real HTTP, against the sandbox
over real HTTP, on SQLite and PostgreSQL.

Rule (domain.shops `folded_shop_name`, `NameTakenError`; migration 0057): names are compared trimmed, in NFC and
caseless; shopRename and shopAuthorizationStart refuse a name another of the merchant's shops has with NAME_TAKEN on
`name` and that shop's id in `nameTakenBy`, changing nothing; a completion whose name was taken since its start
connects the shop as "Name (2)" (`requestedName` says so). Both were accepted: every picker of the console then
showed two identical entries, and the merchant could not tell which shop a sync, a link or a task was about.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from adapters.db.migrate import sync_url
from domain.shops import shop_name_key
from gql.ids import from_global_id
from tests.e2e.test_store_management import START, codes, start, state_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.waiting import until

RENAME = """mutation($id: ID!, $name: String!) { shopRename(input: {shopId: $id, name: $name}) {
  shop { id name } userErrors { field message code } nameTakenBy } }"""
START_TAKEN = """mutation($input: ShopAuthorizationStartInput!) {
  shopAuthorizationStart(input: $input) { authorizationUrl userErrors { field message code } nameTakenBy } }"""
COMPLETE = """mutation($input: ShopAuthorizationCompleteInput!) { shopAuthorizationComplete(input: $input) {
  shop { id name } requestedName userErrors { field code } } }"""
NAMES = "{ shops { edges { node { id name } } } }"
COLUMNS = "SELECT column_name FROM information_schema.columns WHERE table_name = 'shops' ORDER BY ordinal_position"


def names(app: ShopbridgeServer, merchant: str = "m1") -> dict[str, str]:
    return {e["node"]["id"]: e["node"]["name"] for e in app.graphql(NAMES, None, merchant)["shops"]["edges"]}


def rename(app: ShopbridgeServer, shop_id: str, name: str, merchant: str = "m1") -> dict:
    return dict(app.graphql(RENAME, {"id": shop_id, "name": name}, merchant)["shopRename"])


def test_a_rename_to_another_shops_name_in_any_case_or_spacing_is_refused_naming_that_shop(
    app: ShopbridgeServer,
) -> None:
    # given two shops of m1
    maple = app.connect_shop("m1", "us-local", "US", "Brand new shop")
    desert = app.connect_shop("m1", "us-local-2", "US", "Desert")
    before = names(app)
    # when Desert is renamed to Maple's name in other case and spaces, or spelled with a combining accent or "ß"
    for typed in ["  brand NEW shop ", "BRAND NEW SHOP", "Brand new shop"]:
        refused = rename(app, desert["id"], typed)
        # then NAME_TAKEN on `name`, naming the other shop by its name and id, and nothing changes
        assert refused["shop"] is None and refused["nameTakenBy"] == maple["id"], refused
        assert refused["userErrors"] == [
            {
                "field": ["name"],
                "code": "NAME_TAKEN",
                "message": "Another of your shops is named “Brand new shop”: give this one a name none of your other "
                "shops has (names are compared ignoring upper and lower case and extra spaces).",
            }
        ]
    assert names(app) == before
    # Unicode: canonically equivalent spellings and full case folding ("ß" is "ss") are one name too
    assert rename(app, maple["id"], "Caf\u00e9 Straße")["userErrors"] == []
    for typed in ["CAFE\u0301 STRASSE", "café strasse"]:
        assert codes(rename(app, desert["id"], typed)) == ["NAME_TAKEN"], typed
    # and so are names whose words stand apart by other spaces (review61b N1: two spaces, a no-break space; tryout65:
    # a Braille blank U+2800, shown as a space), while a name that differs inside is another name
    for typed in ["Café  Straße", "Café\u00a0Straße", "Café\u3000Straße", "Café\u2800Straße"]:
        assert codes(rename(app, desert["id"], typed)) == ["NAME_TAKEN"], typed
    assert rename(app, desert["id"], "Café Straßen")["userErrors"] == []


def test_a_shop_keeps_or_respells_its_own_name_and_another_merchant_may_use_it(app: ShopbridgeServer) -> None:
    # given m1's shop "Maple"
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    # when it is saved again under its own name, or its own name in another case
    assert rename(app, maple["id"], "Maple") == {"shop": {"id": maple["id"], "name": "Maple"}, "userErrors": [],
                                                  "nameTakenBy": None}  # fmt: skip
    assert rename(app, maple["id"], " MAPLE ")["shop"] == {"id": maple["id"], "name": "MAPLE"}
    # then another merchant may name its shop so, by Add store and by rename
    theirs = app.connect_shop("m2", "us-local-2", "US", "maple")
    assert theirs["name"] == "maple"
    assert rename(app, theirs["id"], "MAPLE", "m2")["userErrors"] == []
    assert names(app, "m1") == {maple["id"]: "MAPLE"} and names(app, "m2") == {theirs["id"]: "MAPLE"}


def test_add_store_under_a_name_another_shop_has_is_refused_before_tiktok(app: ShopbridgeServer) -> None:
    # given m1's shop "Maple"
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    requests = app.count_rows("authorization_requests")
    # when m1 starts Add store under " maple "
    variables = {"input": {"region": "US", "name": " maple ", "regionConfirmed": True}}
    started = app.graphql(START_TAKEN, variables, "m1")["shopAuthorizationStart"]
    # then NAME_TAKEN on `name`, naming Maple, with a pointer to Re-authorize; no consent link, nothing recorded
    assert started["authorizationUrl"] is None and started["nameTakenBy"] == maple["id"]
    assert started["userErrors"] == [
        {
            "field": ["name"],
            "code": "NAME_TAKEN",
            "message": "Another of your shops is named “Maple”: give this new shop a name none of your other shops "
            "has (names are compared ignoring upper and lower case and extra spaces). To renew the "
            "authorization of “Maple”, Re-authorize it instead.",
        }
    ]
    assert app.count_rows("authorization_requests") == requests
    # and the input's own refusals come first (an empty name is INVALID_NAME, not looked up)
    assert codes(start(app, "m1", name=" ")) == ["INVALID_NAME"]
    # while another merchant may start under it
    assert app.graphql(START, variables, "m2")["shopAuthorizationStart"]["userErrors"] == []


def test_a_name_taken_between_start_and_completion_connects_the_shop_numbered(app: ShopbridgeServer) -> None:
    """Decision (domain.services.shops `_free_name`): after the seller's consent, refusing would send the merchant
    through TikTok again; the shop is connected as "Name (2)" and `requestedName` tells the name typed."""
    # given m1's Add store under "Maple" started, and meanwhile another shop of m1 renamed "MAPLE", one "Maple (2)"
    state = state_of(start(app, "m1", name="Maple")["authorizationUrl"])
    desert = app.connect_shop("m1", "us-local-2", "US", "Desert")
    oak = app.connect_shop("m1", "sg-local", "SG", "Oak")
    assert rename(app, desert["id"], "MAPLE")["userErrors"] == []
    assert rename(app, oak["id"], "maple (2)")["userErrors"] == []
    # when the seller approves and the console completes it
    redirect = app.sandbox.authorize("us-local", state)
    done = app.graphql(COMPLETE, {"input": {"state": state, "code": redirect["code"]}}, "m1")
    payload = done["shopAuthorizationComplete"]
    # then the shop is connected under the first number free, and the payload says which name was asked for
    assert payload["userErrors"] == [] and payload["shop"]["name"] == "Maple (3)"
    assert payload["requestedName"] == "Maple"
    assert sorted(names(app).values()) == ["MAPLE", "Maple (3)", "maple (2)"]
    # and a connect under a name still free says nothing of it
    state = state_of(start(app, "m1", "UK", "Pine")["authorizationUrl"])
    redirect = app.sandbox.authorize("uk-local", state)
    plain = app.graphql(COMPLETE, {"input": {"state": state, "code": redirect["code"]}}, "m1")
    assert plain["shopAuthorizationComplete"]["shop"]["name"] == "Pine"
    assert plain["shopAuthorizationComplete"]["requestedName"] is None


@POSTGRES_ONLY
async def test_two_concurrent_renames_to_one_name_one_wins_the_other_is_name_taken(app: ShopbridgeServer) -> None:
    """Both renames find the name free (neither sees the other's uncommitted write); the unique index on
    (merchant_id, name_key) lets one through and refuses the other, which runs again and answers NAME_TAKEN naming
    the winner, never INTERNAL_SERVER_ERROR. SQLite's single writer serialises them: no race there."""
    # given two shops of m1, and a transaction inserting a third named "Target", uncommitted: both renames below pass
    # their look (they do not see it), then wait at the name's unique index for that transaction
    first = app.connect_shop("m1", "us-local", "US", "First")
    second = app.connect_shop("m1", "us-local-2", "US", "Second")
    engine = sa.create_engine(sync_url(app.settings.database_url), poolclass=sa.pool.NullPool)
    columns = [row["column_name"] for row in app.rows(COLUMNS)]
    copied = {"id": "md5('held')", "name": "'Target'", "name_key": f"'{shop_name_key('Target')}'",
              "tiktok_shop_id": "'held'"}  # fmt: skip
    picked = ", ".join(copied.get(column, column) for column in columns)
    try:
        with engine.connect() as holder:
            holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            holder.execute(
                sa.text(f"INSERT INTO shops ({', '.join(columns)}) SELECT {picked} FROM shops WHERE id = :id"),
                {"id": from_global_id(first["id"])[1]},
            )
            # when the two shops are renamed "target" and "TARGET" at the same moment
            renames = [
                asyncio.ensure_future(app.agraphql(RENAME, {"id": shop["id"], "name": name}, "m1"))
                for shop, name in [(first, "target"), (second, "TARGET")]
            ]
            blocked = f"SELECT count(*) AS n FROM pg_stat_activity WHERE {holder_pid} = ANY(pg_blocking_pids(pid))"
            await until(lambda: app.rows(blocked)[0]["n"] == 2, "both renames waiting at the name's unique index")
            holder.rollback()  # the third shop never was: both renames go on, one after the other
        payloads = [(await rename)["shopRename"] for rename in renames]
    finally:
        engine.dispose()
    # then exactly one is renamed, and the other is refused with NAME_TAKEN naming the winner
    won = [p for p in payloads if p["shop"] is not None]
    lost = [p for p in payloads if p["shop"] is None]
    assert len(won) == 1 and len(lost) == 1, payloads
    assert codes(lost[0]) == ["NAME_TAKEN"] and lost[0]["nameTakenBy"] == won[0]["shop"]["id"]
    loser = second if won[0]["shop"]["id"] == first["id"] else first
    assert names(app) == {won[0]["shop"]["id"]: won[0]["shop"]["name"], loser["id"]: loser["name"]}


@pytest.mark.parametrize("taken", ["Maple", "MAPLE "])
def test_a_deleted_shop_frees_its_name(app: ShopbridgeServer, taken: str) -> None:
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    delete = "mutation($id: ID!) { shopDelete(input: {shopId: $id}) { userErrors { code } } }"
    assert app.graphql(delete, {"id": maple["id"]}, "m1")["shopDelete"]["userErrors"] == []
    assert app.connect_shop("m1", "us-local-2", "US", taken)["name"] == taken.strip()


@POSTGRES_ONLY
async def test_a_connect_that_loses_its_name_to_a_concurrent_writer_is_connected_numbered(
    app: ShopbridgeServer,
) -> None:
    """The connect's look finds "Target" free, then its insert waits at the unique index for a transaction that takes
    the name and commits: the insert is refused (`ShopNameRaceLostError`), the completion runs again and connects the
    shop as "Target (2)", never an INTERNAL_SERVER_ERROR after the seller's consent."""
    # given m1's shop, and Add store under "Target" approved at TikTok
    first = app.connect_shop("m1", "us-local-2", "US", "First")
    state = state_of(start(app, "m1", name="Target")["authorizationUrl"])
    redirect = app.sandbox.authorize("us-local", state)
    engine = sa.create_engine(sync_url(app.settings.database_url), poolclass=sa.pool.NullPool)
    columns = [row["column_name"] for row in app.rows(COLUMNS)]
    copied = {"id": "md5('held')", "name": "'TARGET'", "name_key": f"'{shop_name_key('TARGET')}'",
              "tiktok_shop_id": "'held'"}  # fmt: skip
    picked = ", ".join(copied.get(column, column) for column in columns)
    try:
        with engine.connect() as holder:
            holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            # and a transaction inserting another shop of m1 named "TARGET", not committed yet
            holder.execute(
                sa.text(f"INSERT INTO shops ({', '.join(columns)}) SELECT {picked} FROM shops WHERE id = :id"),
                {"id": from_global_id(first["id"])[1]},
            )
            # when the console completes the authorization, and its insert waits at the name's index
            completion = asyncio.ensure_future(
                app.agraphql(COMPLETE, {"input": {"state": state, "code": redirect["code"]}}, "m1")
            )
            blocked = f"SELECT count(*) AS n FROM pg_stat_activity WHERE {holder_pid} = ANY(pg_blocking_pids(pid))"
            await until(lambda: app.rows(blocked)[0]["n"] == 1, "the connect waiting at the name's unique index")
            holder.commit()  # the other shop takes the name
        payload = (await completion)["shopAuthorizationComplete"]
    finally:
        engine.dispose()
    # then the shop is connected as "Target (2)", and the payload says "Target" was asked for
    assert payload["userErrors"] == [] and payload["shop"]["name"] == "Target (2)", payload
    assert payload["requestedName"] == "Target"
    assert sorted(names(app).values()) == ["First", "TARGET", "Target (2)"]
