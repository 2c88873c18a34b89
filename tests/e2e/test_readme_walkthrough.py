"""README's walk-throughs run as written, against a real Shopbridge and the sandbox over HTTP (tryout67 F1).

tests/unit/test_readme_examples.py holds each GraphQL example of README.md valid against the schema; valid is not
enough when a walk-through sends them one after another: the inventory pool's walk-through said "repeat step 2-3"
for its second shop, and step 2's `shopAuthorizationStart` names the shop "My US shop", which the first shop took
in step 3: a newcomer doing exactly that got `NAME_TAKEN` and no second shop.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.fixtures.app import CONNECT, ShopbridgeServer
from tests.unit.test_readme_examples import README

QUICK_START = README[README.index("## Quick start") : README.index("## Web console")]
POOL_WALK_THROUGH = README[README.index("**Walk-through** (after the quick start's steps 1\N{EN DASH}3") :]
POOL_WALK_THROUGH = POOL_WALK_THROUGH[: POOL_WALK_THROUGH.index("\n2. ")]
FENCED = re.compile(r"```graphql\n(.*?)```", re.S)


def _authorization_start(section: str) -> str:
    """The section's `shopAuthorizationStart` example, as a reader pastes it."""
    found = [doc for doc in FENCED.findall(section) if "shopAuthorizationStart" in doc]
    assert len(found) == 1, found
    return found[0]


def _connect_as_written(app: ShopbridgeServer, document: str, seller: str) -> dict[str, object]:
    """Send the README's start as written, Approve as `seller` on the sandbox's consent page, complete: the shop."""
    started = app.graphql(document, None, "demo-merchant")["shopAuthorizationStart"]
    assert started["userErrors"] == [], started
    state = parse_qs(urlsplit(started["authorizationUrl"]).query)["state"][0]
    redirect = app.sandbox.authorize(seller, state)
    done = app.graphql(CONNECT, {"input": redirect}, "demo-merchant")["shopAuthorizationComplete"]
    assert done["userErrors"] == [], done
    return dict(done["shop"])


def test_the_pool_walk_through_connects_its_second_shop_after_the_quick_starts_first(app: ShopbridgeServer) -> None:
    # given the quick start's steps 2-3 done as written: its start, Approve next to us-local
    first = _connect_as_written(app, _authorization_start(QUICK_START), "us-local")
    # when the pool's walk-through authorizes its second shop as it says (its own example, else step 2's again),
    # Approve next to us-local-2
    assert "us-local-2" in POOL_WALK_THROUGH
    fenced = [doc for doc in FENCED.findall(POOL_WALK_THROUGH) if "shopAuthorizationStart" in doc]
    second_start = fenced[0] if fenced else _authorization_start(QUICK_START)
    second = _connect_as_written(app, second_start, "us-local-2")
    # then the merchant has both shops, under the names the README gave them
    assert second["id"] != first["id"]
    shops = app.graphql("{ shops { edges { node { name } } } }", None, "demo-merchant")["shops"]["edges"]
    assert sorted(edge["node"]["name"] for edge in shops) == sorted([first["name"], second["name"]])
