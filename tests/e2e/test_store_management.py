"""Store management through GraphQL over real HTTP, against the sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.tls import tls_context
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.processes import oneshot

SHOP_FIELDS = "id name region status tiktokShopId tiktokShopName sellerName authorizedAt expiresAt lastSyncedAt"

START = """mutation($input: ShopAuthorizationStartInput!) {
  shopAuthorizationStart(input: $input) { authorizationUrl expiresAt userErrors { field message code } retryAt } }"""
COMPLETE = f"""mutation($input: ShopAuthorizationCompleteInput!) {{
  shopAuthorizationComplete(input: $input) {{
    reauthorized alreadyConnected previousName alreadyCompleted shop {{ {SHOP_FIELDS} }}
    userErrors {{ field message code }} }} }}"""
REAUTH = """mutation($id: ID!) { shopReauthorizationStart(input: {shopId: $id}) {
  authorizationUrl expiresAt userErrors { field code } retryAt } }"""
RENAME = """mutation($id: ID!, $name: String!) { shopRename(input: {shopId: $id, name: $name}) {
  shop { id name } userErrors { field message code } } }"""
DELETE = """mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId userErrors { field code } } }"""
SHOPS = "query($first: Int, $after: String) { shops(first: $first, after: $after) { totalCount "
SHOPS += f"edges {{ cursor node {{ {SHOP_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"


def codes(payload: dict) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


def start(app: ShopbridgeServer, merchant: str, region: str = "US", name: str = "My shop", confirmed: bool = True):
    data = app.graphql(START, {"input": {"region": region, "name": name, "regionConfirmed": confirmed}}, merchant)
    return data["shopAuthorizationStart"]


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def complete(app: ShopbridgeServer, merchant: str, state: str, code: str | None = None, error: str | None = None):
    data = app.graphql(COMPLETE, {"input": {"state": state, "code": code, "error": error}}, merchant)
    return data["shopAuthorizationComplete"]


@subject_not_the_database("the authorization flow's checks and answers")
class TestAuthorize:
    def test_the_whole_walkthrough_connects_a_shop(self, app: ShopbridgeServer) -> None:
        # given a merchant who starts an authorization
        started = start(app, "m1", "US", "  Main US store  ")
        assert started["userErrors"] == []
        url = started["authorizationUrl"]
        assert url.startswith(app.settings.tiktok.authorize_url) and "service_id=" in url
        # when the seller approves on TikTok's consent page and TikTok redirects back
        redirect = app.sandbox.authorize("us-local", state_of(url))
        done = complete(app, "m1", redirect["state"], code=redirect["code"])
        # then the shop is connected under the custom name, with TikTok's facts beside it
        assert done["userErrors"] == [] and done["reauthorized"] is False
        assert (done["alreadyConnected"], done["previousName"]) == (False, None)
        shop = done["shop"]
        assert shop["name"] == "Main US store" and shop["region"] == "US" and shop["status"] == "ACTIVE"
        truth = app.tiktok_shop("us-local")
        assert shop["tiktokShopId"] == truth["id"] and shop["tiktokShopName"] == truth["name"]
        listed = app.graphql(SHOPS, {}, "m1")["shops"]
        assert listed["totalCount"] == 1 and listed["edges"][0]["node"] == shop

    def test_browser_callback_hands_the_code_to_the_frontend_which_completes_it(self, app: ShopbridgeServer) -> None:
        state = state_of(start(app, "m1")["authorizationUrl"])
        query = app.sandbox.authorize("us-local", state)
        # when TikTok's redirect reaches the callback
        response = oneshot.get(f"{app.url}/oauth/tiktok/callback", params=query, follow_redirects=False)
        # then it completes nothing: the browser goes on to the frontend with the code and the state, unspent
        assert response.status_code == 303
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        location = urlsplit(response.headers["location"])
        assert location._replace(query="").geturl() == app.settings.frontend_url
        assert parse_qs(location.query) == {"code": [query["code"]], "state": [state]}
        assert app.graphql(SHOPS, {}, "m1")["shops"]["totalCount"] == 0
        # the same redirect again hands the same off: only a completion spends the state
        again = oneshot.get(f"{app.url}/oauth/tiktok/callback", params=query, follow_redirects=False)
        assert again.headers["location"] == response.headers["location"]
        # when the frontend completes under the merchant's token, then the shop is connected, once
        first = complete(app, "m1", state, code=query["code"])
        assert first["shop"]["status"] == "ACTIVE"
        # (again: the same shop, already completed, nothing connected twice: tryout60 F4)
        again = complete(app, "m1", state, code=query["code"])
        assert again["alreadyCompleted"] is True and again["shop"]["id"] == first["shop"]["id"]
        assert app.graphql(SHOPS, {}, "m1")["shops"]["totalCount"] == 1

    def test_a_consent_link_sent_to_another_seller_connects_nothing_to_its_merchant(
        self, app: ShopbridgeServer
    ) -> None:
        """RFC 6749 sec. 10.12: the callback completed whatever state it got, with no login, so merchant m1 could
        send its consent link to a seller ("free analytics"), whose approval connected the seller's shop to m1:
        m1 read its orders (buyer data) and pushed its stock."""
        # given m1's authorization, and its consent link approved by another seller in that seller's browser
        state = state_of(start(app, "m1")["authorizationUrl"])
        query = app.sandbox.authorize("us-local", state)
        with httpx.Client(verify=tls_context()) as victim:  # no merchant token, no cookie of m1's
            handed = victim.get(f"{app.url}/oauth/tiktok/callback", params=query, follow_redirects=False)
        # then no shop is connected to m1, nor to anyone
        assert handed.status_code == 303
        assert app.graphql(SHOPS, {}, "m1")["shops"]["totalCount"] == 0 and app.row_counts()["shops"] == 0
        # nor when the seller, a merchant of Shopbridge too, completes it in its own frontend: the state is m1's
        assert codes(complete(app, "m2", state, code=query["code"])) == ["INVALID_STATE"]
        assert app.row_counts()["shops"] == 0
        # while m1's own frontend, under m1's token, completes it (m1's seller approving on m1's behalf)
        assert (
            complete(app, "m1", state, code=query["code"])["shop"]["tiktokShopId"] == app.tiktok_shop("us-local")["id"]
        )

    def test_browser_callback_without_frontend_answers_a_page_to_finish_in_the_app(self, app_factory) -> None:
        app = app_factory(frontend_url=None)
        state = state_of(start(app, "m1")["authorizationUrl"])
        query = app.sandbox.authorize("us-local", state)
        response = oneshot.get(f"{app.url}/oauth/tiktok/callback", params=query, follow_redirects=False)
        # a page naming the state and the code for shopAuthorizationComplete, never cached nor sent on as a Referer
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "shopAuthorizationComplete" in response.text
        assert f"<code>{state}</code>" in response.text and f"<code>{query['code']}</code>" in response.text
        assert app.row_counts()["shops"] == 0
        # a denial is handed off too: the merchant's completion tells it (and spends the state)
        denied = oneshot.get(f"{app.url}/oauth/tiktok/callback", params={"state": state, "error": "auth_denied"})
        assert denied.status_code == 200 and "<code>auth_denied</code>" in denied.text
        assert codes(complete(app, "m1", state, error="auth_denied")) == ["AUTHORIZATION_DENIED"]
        # a redirect with no state names nothing to finish
        bare = oneshot.get(f"{app.url}/oauth/tiktok/callback", params={"code": "x"})
        assert bare.status_code == 400 and "INVALID_STATE" in bare.text

    @pytest.mark.parametrize(
        ("variables", "code", "field"),
        [
            ({"region": "US", "name": "   ", "regionConfirmed": True}, "INVALID_NAME", ["name"]),
            ({"region": "US", "name": "\u200b\ufeff", "regionConfirmed": True}, "INVALID_NAME", ["name"]),
            ({"region": "US", "name": "x" * 65, "regionConfirmed": True}, "INVALID_NAME", ["name"]),
            ({"region": "US", "name": "bad\u0007name", "regionConfirmed": True}, "INVALID_NAME", ["name"]),
            ({"region": "US", "name": "ok", "regionConfirmed": False}, "REGION_NOT_CONFIRMED", ["regionConfirmed"]),
        ],
    )
    def test_start_refuses_bad_input(self, app: ShopbridgeServer, variables: dict, code: str, field: list) -> None:
        payload = app.graphql(START, {"input": variables}, "m1")["shopAuthorizationStart"]
        assert payload["authorizationUrl"] is None
        assert payload["userErrors"][0]["code"] == code and payload["userErrors"][0]["field"] == field

    def test_start_tells_every_fields_refusal_at_once(self, app: ShopbridgeServer) -> None:
        # when a start has an empty name and an unconfirmed region
        variables = {"region": "US", "name": "", "regionConfirmed": False}
        payload = app.graphql(START, {"input": variables}, "m1")["shopAuthorizationStart"]
        # then both are told, each on its field with its code, the region's first as before (the console shows the
        # first): before, the region's alone, and the form learnt of the name on its next try
        assert payload["authorizationUrl"] is None and payload["expiresAt"] is None
        assert payload["userErrors"] == [
            {
                "field": ["regionConfirmed"],
                "code": "REGION_NOT_CONFIRMED",
                "message": "Confirm that the shop is a local shop in a supported region (US, UK, MY, SG).",
            },
            {"field": ["name"], "code": "INVALID_NAME", "message": "The shop name must not be empty."},
        ]

    def test_unknown_region_is_a_schema_error(self, app: ShopbridgeServer) -> None:
        body = app.raw_graphql(START, {"input": {"region": "ID", "name": "x", "regionConfirmed": True}}, "m1")
        assert "errors" in body and "Region" in body["errors"][0]["message"]

    @pytest.mark.parametrize(
        ("seller", "region", "code"),
        [
            ("cross-border", "UK", "CROSS_BORDER_SHOP"),
            ("id-local", "US", "UNSUPPORTED_REGION"),
            ("uk-local", "US", "REGION_MISMATCH"),
            ("my-local", "SG", "REGION_MISMATCH"),
        ],
    )
    def test_consent_outcome_is_checked(self, app: ShopbridgeServer, seller: str, region: str, code: str) -> None:
        state = state_of(start(app, "m1", region)["authorizationUrl"])
        redirect = app.sandbox.authorize(seller, state)
        payload = complete(app, "m1", state, code=redirect["code"])
        assert codes(payload) == [code] and payload["shop"] is None
        assert app.graphql(SHOPS, {}, "m1")["shops"]["totalCount"] == 0

    @pytest.mark.parametrize(("seller", "region"), [("uk-local", "UK"), ("my-local", "MY"), ("sg-local", "SG")])
    def test_every_supported_region_connects(self, app: ShopbridgeServer, seller: str, region: str) -> None:
        shop = app.connect_shop("m1", seller, region)
        assert shop["region"] == region

    def test_denied_consent(self, app: ShopbridgeServer) -> None:
        state = state_of(start(app, "m1")["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state, decision="deny")
        assert redirect.get("error") == ["auth_denied"] or redirect.get("error") == "auth_denied"
        assert codes(complete(app, "m1", state, error="auth_denied")) == ["AUTHORIZATION_DENIED"]

    def test_state_is_single_use_bound_to_the_merchant_and_expiring(self, app: ShopbridgeServer) -> None:
        assert codes(complete(app, "m1", "made-up-state", code="x")) == ["INVALID_STATE"]
        # another merchant cannot complete (nor burn) m1's state
        state = state_of(start(app, "m1")["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state)
        assert codes(complete(app, "m2", state, code=redirect["code"])) == ["INVALID_STATE"]
        assert complete(app, "m1", state, code=redirect["code"])["userErrors"] == []
        # used, by a completion that did not connect the shop (denied): refused
        denied = state_of(start(app, "m1", "UK", "Denied shop")["authorizationUrl"])
        assert codes(complete(app, "m1", denied, error="auth_denied")) == ["AUTHORIZATION_DENIED"]
        assert codes(complete(app, "m1", denied, code="whatever")) == ["INVALID_STATE"]
        # a state older than 30 minutes has expired
        late = state_of(start(app, "m1", "UK", "Late shop")["authorizationUrl"])
        app.clock.advance(timedelta(minutes=30, seconds=1))
        assert codes(complete(app, "m1", late, code="whatever")) == ["INVALID_STATE"]

    def test_every_invalid_state_names_the_state_input(self, app: ShopbridgeServer) -> None:
        """Rule (README, userErrors: `field` is the input at fault): whatever made the state unusable (unknown,
        another merchant's, already used, expired), INVALID_STATE is on `state`. It was on `state` for an unknown
        or another merchant's state and on no field for a used or expired one, so a client marking the field at
        fault marked nothing for the two refusals a merchant meets most."""

        def refusal(merchant: str, state: str, code: str) -> tuple[str, list[str] | None]:
            (error,) = complete(app, merchant, state, code=code)["userErrors"]
            return error["code"], error["field"]

        on_state = ("INVALID_STATE", ["state"])
        assert refusal("m1", "made-up-state", "x") == on_state
        state = state_of(start(app, "m1")["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state)
        assert refusal("m2", state, redirect["code"]) == on_state
        assert complete(app, "m1", state, code=redirect["code"])["userErrors"] == []
        denied = state_of(start(app, "m1", "UK", "Denied shop")["authorizationUrl"])
        assert codes(complete(app, "m1", denied, error="auth_denied")) == ["AUTHORIZATION_DENIED"]
        assert refusal("m1", denied, "whatever") == on_state  # used
        late = state_of(start(app, "m1", "UK", "Late shop")["authorizationUrl"])
        app.clock.advance(timedelta(minutes=30, seconds=1))
        assert refusal("m1", late, "whatever") == on_state  # expired

    def test_a_completion_submitted_again_answers_its_shop_and_does_nothing_again(self, app: ShopbridgeServer) -> None:
        """Rule (`AuthorizationRequest.completed_for`, ShopAuthorizationCompletePayload `alreadyCompleted`, tryout60
        F4): the same merchant completing a state whose completion connected the shop (a double-submitted callback,
        a second tab, a retry whose answer was lost) gets that shop, not "already used; start again" (which sent the
        merchant through TikTok's consent again); the state stays single-use: nothing is exchanged, connected or
        imported again, another merchant is still refused, and a used state that connected nothing too."""
        # given a shop connected by m1's authorization
        state = state_of(start(app, "m1", name="Race")["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state)
        first = complete(app, "m1", state, code=redirect["code"])
        assert first["userErrors"] == [] and first["alreadyCompleted"] is False
        tasks = app.count_rows("sync_tasks")
        app.clock.advance(timedelta(minutes=1))  # (a second exchange would renew the tokens: authorizedAt would move)
        # when m1 submits the same completion again
        again = complete(app, "m1", state, code=redirect["code"])
        # then it answers that shop, connected, and says it was already completed
        assert again["userErrors"] == [], again
        assert again["alreadyCompleted"] is True and again["reauthorized"] is False
        assert again["shop"]["id"] == first["shop"]["id"] and again["shop"]["name"] == "Race"
        assert again["shop"]["authorizedAt"] == first["shop"]["authorizedAt"]  # no code exchanged again
        assert app.count_rows("shops") == 1 and app.count_rows("sync_tasks") == tasks  # nothing imported again
        # and another merchant with that state is still refused, the shop not named
        refused = complete(app, "m2", state, code=redirect["code"])
        assert codes(refused) == ["INVALID_STATE"] and refused["shop"] is None

    def test_tiktok_down_is_reported(self, app: ShopbridgeServer) -> None:
        state = state_of(start(app, "m1")["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state)
        app.sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["http_503"]})
        assert codes(complete(app, "m1", state, code=redirect["code"])) == ["TIKTOK_UNAVAILABLE"]


class TestAuthorizationBound:
    def test_a_merchant_may_start_so_many_until_they_expire_used_or_not(self, app_factory) -> None:
        """SHOPBRIDGE_MAX_AUTHORIZATION_STARTS (security review 44): each start stored a row kept a day past its
        expiry, so a loop of `shopAuthorizationStart` (or of starts each spent by a denied completion) filled the
        database. Now a merchant's requests not yet expired nor completed are bounded (a completed one frees its
        place: newcomer54 finding 8, the test below). The refusal said "complete one", and not when: it says which
        count and when now, `retryAt` the time."""
        app = app_factory(max_authorization_starts=3)
        # given m1's connected shop (a completed start, which no longer counts), then three starts within 30
        # minutes: one denied (the oldest), two pending
        shop = app.connect_shop("m1", "us-local", "US")
        first = start(app, "m1")
        assert codes(complete(app, "m1", state_of(first["authorizationUrl"]), error="auth_denied")) == [
            "AUTHORIZATION_DENIED"
        ]
        assert start(app, "m1", "MY")["userErrors"] == []
        assert start(app, "m1", "UK")["userErrors"] == []
        # when m1 starts a fourth, or a re-authorization, it is refused with no consent link and no row stored
        refused = start(app, "m1", "SG")
        assert (refused["authorizationUrl"], refused["expiresAt"]) == (None, None)
        (error,) = refused["userErrors"]
        assert (error["code"], error["field"]) == ("TOO_MANY_AUTHORIZATIONS", None)
        # saying that finished starts count too, and when the next may start: once the oldest (the denied) expires
        retry_at = datetime.fromisoformat(refused["retryAt"])
        assert retry_at == datetime.fromisoformat(first["expiresAt"])
        seconds = (retry_at - app.clock.now()).total_seconds()
        pattern = r"^At most 3 authorizations .* left uncompleted: a pending, denied or failed one counts .*"
        match = re.search(pattern + r" Try again in (\d+) seconds \(at (\S+)Z\)\.$", error["message"])
        assert match and 0 < seconds <= int(match[1]) <= 1800, (error["message"], seconds)
        assert datetime.fromisoformat(match[2]).replace(tzinfo=UTC) == retry_at.replace(microsecond=0)
        reauth = app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]
        assert (reauth["authorizationUrl"], codes(reauth)) == (None, ["TOO_MANY_AUTHORIZATIONS"])
        assert datetime.fromisoformat(reauth["retryAt"]) == retry_at
        assert app.count_rows("authorization_requests") == 4
        # another merchant is not held back by m1's
        assert start(app, "m2")["userErrors"] == []
        # and once they have expired, they no longer count
        app.clock.advance(timedelta(minutes=30, seconds=1))
        assert start(app, "m1", "SG")["userErrors"] == []
        assert app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]["userErrors"] == []

    def test_completed_re_authorizations_free_their_place_denied_and_pending_ones_do_not(self, app_factory) -> None:
        """newcomer54 finding 8: every start of the last 30 minutes counted, completed ones too, so a merchant renewing
        a fleet of shops that expire together was held 30 minutes after every SHOPBRIDGE_MAX_AUTHORIZATION_STARTS.
        Now a start whose completion connected or renewed a shop frees its place; denied and pending ones still
        count (anyone may post a denial), and every start counts toward ten times the limit (the rows' bound)."""
        app = app_factory(max_authorization_starts=1)

        def reauthorized(shop_id: str) -> list[str]:
            started = app.graphql(REAUTH, {"id": shop_id}, "m1")["shopReauthorizationStart"]
            if started["userErrors"]:
                return codes(started)
            redirect = app.sandbox.authorize("us-local", state_of(started["authorizationUrl"]))
            return codes(complete(app, "m1", redirect["state"], code=redirect["code"]))

        # given m1's shop connected (one completed start), when it is re-authorized nine times in a row, each
        # completed, then none is refused though the limit is 1
        shop = app.connect_shop("m1", "us-local", "US")
        assert [reauthorized(shop["id"]) for _ in range(9)] == [[]] * 9
        # and the tenth start within 30 minutes, past ten times the limit completed or not, is refused, saying so
        ceiling = start(app, "m1", "SG")
        (error,) = ceiling["userErrors"]
        assert (ceiling["authorizationUrl"], error["code"]) == (None, "TOO_MANY_AUTHORIZATIONS")
        assert re.match(r"^At most 10 authorizations .* within 30 minutes, completed or not: ", error["message"])
        assert datetime.fromisoformat(ceiling["retryAt"]) > app.clock.now()
        assert app.count_rows("authorization_requests") == 10
        # when they have expired, one start left pending counts: the next is refused
        app.clock.advance(timedelta(minutes=30, seconds=1))
        pending = start(app, "m1", "UK")
        assert pending["userErrors"] == []
        assert codes(app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]) == [
            "TOO_MANY_AUTHORIZATIONS"
        ]
        # and denying it frees nothing either
        assert codes(complete(app, "m1", state_of(pending["authorizationUrl"]), error="auth_denied")) == [
            "AUTHORIZATION_DENIED"
        ]
        refused = start(app, "m1", "SG")
        assert codes(refused) == ["TOO_MANY_AUTHORIZATIONS"]
        assert datetime.fromisoformat(refused["retryAt"]) == datetime.fromisoformat(pending["expiresAt"])


class TestOwnership:
    def test_a_shop_belongs_to_one_merchant_until_deleted(self, app: ShopbridgeServer) -> None:
        first = app.connect_shop("m1", "us-local", "US")
        state = state_of(start(app, "m2")["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state)
        assert codes(complete(app, "m2", state, code=redirect["code"])) == ["SHOP_ALREADY_CONNECTED"]
        assert app.graphql(DELETE, {"id": first["id"]}, "m1")["shopDelete"]["userErrors"] == []
        assert app.connect_shop("m2", "us-local", "US")["tiktokShopId"] == first["tiktokShopId"]

    async def test_two_merchants_completing_at_the_same_moment(self, app: ShopbridgeServer) -> None:
        redirects = []
        for merchant in ("m1", "m2"):
            state = state_of(start(app, merchant)["authorizationUrl"])
            redirects.append((merchant, app.sandbox.authorize("us-local", state)))
        results = await asyncio.gather(
            *(
                app.agraphql(COMPLETE, {"input": {"state": r["state"], "code": r["code"]}}, merchant)
                for merchant, r in redirects
            )
        )
        payloads = [result["shopAuthorizationComplete"] for result in results]
        winners = [p for p in payloads if p["shop"] is not None]
        losers = [p for p in payloads if p["shop"] is None]
        assert len(winners) == 1 and [codes(p) for p in losers] == [["SHOP_ALREADY_CONNECTED"]]
        assert app.count_rows("shops") == 1

    async def test_the_same_merchant_in_two_tabs_at_the_same_moment(self, app: ShopbridgeServer) -> None:
        redirects = []
        for _ in range(2):
            state = state_of(start(app, "m1")["authorizationUrl"])
            redirects.append(app.sandbox.authorize("us-local", state))
        results = await asyncio.gather(
            *(app.agraphql(COMPLETE, {"input": {"state": r["state"], "code": r["code"]}}, "m1") for r in redirects)
        )
        payloads = [result["shopAuthorizationComplete"] for result in results]
        assert all(p["userErrors"] == [] for p in payloads), payloads
        assert sorted(p["reauthorized"] for p in payloads) == [False, True]
        assert payloads[0]["shop"]["id"] == payloads[1]["shop"]["id"] and app.count_rows("shops") == 1

    def test_the_same_merchant_authorizing_again_is_a_reauthorization(self, app: ShopbridgeServer) -> None:
        """Rule (domain.shops `connect_or_renew`, ShopAuthorizationCompletePayload `alreadyConnected`,
        `previousName`): Add store on a TikTok Shop the merchant connected already re-authorizes it under the name
        typed, and the payload says so, with the name it had. It said only `reauthorized: true`, as for Re-authorize:
        the console told "“Typed again” is re-authorized." and the merchant never learnt that no shop was added and
        which of theirs had been renamed."""
        first = app.connect_shop("m1", "us-local", "US", name="First name")
        state = state_of(start(app, "m1", name="  Typed again ")["authorizationUrl"])
        payload = complete(app, "m1", state, code=app.sandbox.authorize("us-local", state)["code"])
        assert payload["reauthorized"] is True and payload["shop"]["id"] == first["id"]
        # the name the merchant typed in the connect form is applied, not silently dropped (issue 12, item 13)
        assert payload["shop"]["name"] == "Typed again" and app.count_rows("shops") == 1
        listed = app.graphql("query($id: ID!) { shop(id: $id) { name } }", {"id": first["id"]}, "m1")
        assert listed["shop"]["name"] == "Typed again"
        # and the payload says the shop was connected already, under its former name
        assert (payload["alreadyConnected"], payload["previousName"]) == (True, "First name")
        # Add store again under the same name (in another case) is refused at the start: the name is that shop's
        # (NAME_TAKEN, tryout60 F3), and its message points to Re-authorize, which renews it under its name
        refused = start(app, "m1", name="TYPED AGAIN")
        assert codes(refused) == ["NAME_TAKEN"] and "Re-authorize it instead" in refused["userErrors"][0]["message"]
        state = state_of(app.graphql(REAUTH, {"id": first["id"]}, "m1")["shopReauthorizationStart"]["authorizationUrl"])
        again = complete(app, "m1", state, code=app.sandbox.authorize("us-local", state)["code"])
        assert (again["reauthorized"], again["alreadyConnected"], again["previousName"]) == (True, False, None)
        assert again["shop"]["name"] == "Typed again"


class TestManage:
    def test_a_reauthorization_approved_after_its_shop_was_deleted_says_so(self, app: ShopbridgeServer) -> None:
        """Rule (domain.authorization `AuthorizationRequest.shop_to_reauthorize`): a re-authorization whose shop was
        deleted since it started (another tab, another device) is refused as NOT_FOUND in those words, on `state`,
        before the code is exchanged, and connects nothing. It was "Unknown authorization state; start again."
        (INVALID_STATE, which the console words as an expired, used or foreign link): the deletion had taken the
        pending request with it."""
        # given a re-authorization started for a shop, approved at TikTok while the shop is deleted in Shopbridge
        shop = app.connect_shop("m1", "us-local", "US")
        started = app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]
        assert started["userErrors"] == [], started
        state = state_of(started["authorizationUrl"])
        redirect = app.sandbox.authorize("us-local", state)
        assert app.graphql(DELETE, {"id": shop["id"]}, "m1")["shopDelete"]["userErrors"] == []
        issued = set(app.issued_tokens())
        # when the merchant's console completes it
        payload = complete(app, "m1", state, code=redirect["code"])
        # then it says the shop was deleted, and nothing is connected
        assert payload["shop"] is None and payload["userErrors"] == [
            {
                "field": ["state"],
                "code": "NOT_FOUND",
                "message": "The shop this re-authorization was for has been deleted, so nothing was connected. "
                "To connect it again, start a new authorization (Add store).",
            }
        ]
        assert app.graphql(SHOPS, {}, "m1")["shops"]["totalCount"] == 0
        assert set(app.issued_tokens()) == issued  # the code is never exchanged: TikTok issues no tokens
        # and the state is spent: completing it again is INVALID_STATE as for any used link
        assert codes(complete(app, "m1", state, code=redirect["code"])) == ["INVALID_STATE"]

    def test_rename(self, app: ShopbridgeServer) -> None:
        shop = app.connect_shop("m1", "us-local", "US")
        payload = app.graphql(RENAME, {"id": shop["id"], "name": "  Renamed 🛍️ "}, "m1")["shopRename"]
        assert payload == {"shop": {"id": shop["id"], "name": "Renamed 🛍️"}, "userErrors": []}
        bad = app.graphql(RENAME, {"id": shop["id"], "name": ""}, "m1")["shopRename"]
        assert codes(bad) == ["INVALID_NAME"] and bad["shop"] is None
        # a zero-width space is as empty as no name at all: same code, same message, and the name stays
        invisible = app.graphql(RENAME, {"id": shop["id"], "name": "\u200b"}, "m1")["shopRename"]
        assert invisible["userErrors"][0]["code"] == "INVALID_NAME" and invisible["shop"] is None
        assert "must not be empty" in invisible["userErrors"][0]["message"]
        listed = app.graphql("query($id: ID!) { shop(id: $id) { name } }", {"id": shop["id"]}, "m1")
        assert listed["shop"]["name"] == "Renamed 🛍️"

    def test_a_name_is_stored_in_nfc_as_it_shows_and_is_typed(self, app: ShopbridgeServer) -> None:
        # given a shop, when it is renamed "Café shop" spelled with e + U+0301 COMBINING ACUTE ACCENT
        shop = app.connect_shop("m1", "us-local", "US")
        payload = app.graphql(RENAME, {"id": shop["id"], "name": "Cafe\u0301 shop"}, "m1")["shopRename"]
        # then it is stored with the precomposed é a keyboard types (what the Delete dialog asks for)
        assert payload == {"shop": {"id": shop["id"], "name": "Caf\u00e9 shop"}, "userErrors": []}
        listed = app.graphql("query($id: ID!) { shop(id: $id) { name } }", {"id": shop["id"]}, "m1")
        assert listed["shop"]["name"] == "Caf\u00e9 shop"

    def test_a_name_and_a_sku_refuse_the_same_look_alikes(self, app: ShopbridgeServer) -> None:
        # attack56 F-unicode-names: "a" + U+200B renamed a shop (shown as "a") and a lone U+0301 made a SKU
        shop = app.connect_shop("m1", "us-local", "US", name="Visible")
        create = "mutation($sku: String!) { inventoryItemCreate(input: {sku: $sku}) { userErrors { code message } } }"
        for text, found in [("a\u200b", "U+200B ZERO WIDTH SPACE"), ("\u0301", "U+0301 COMBINING ACUTE ACCENT")]:
            renamed = app.graphql(RENAME, {"id": shop["id"], "name": text}, "m1")["shopRename"]
            created = app.graphql(create, {"sku": text}, "m1")["inventoryItemCreate"]
            assert renamed["shop"] is None and [e["code"] for e in renamed["userErrors"]] == ["INVALID_NAME"]
            assert [e["code"] for e in created["userErrors"]] == ["INVALID_INPUT"], created
            assert found in renamed["userErrors"][0]["message"] and found in created["userErrors"][0]["message"]
        listed = app.graphql(
            "query($id: ID!) { shop(id: $id) { name } inventoryItems { totalCount } }", {"id": shop["id"]}, "m1"
        )
        assert listed == {"shop": {"name": "Visible"}, "inventoryItems": {"totalCount": 0}}

    def test_a_name_that_renders_blank_is_empty_on_connect_and_rename(self, app: ShopbridgeServer) -> None:
        # given a connected shop
        shop = app.connect_shop("m1", "us-local", "US", name="Visible")
        empty = {"field": ["name"], "message": "The shop name must not be empty.", "code": "INVALID_NAME"}
        # a Braille cell without dots (U+2800, a symbol, not a format character: it was accepted), with spaces, and
        # the Hangul fillers and format characters Unicode also renders blank
        for name in ["\u2800", "\u2800 \u2800", "\u3164", "\u115f\u1160", "\uffa0", "\u200b\u2060\ufeff"]:
            # when the merchant connects or renames with that name
            started = start(app, "m1", name=name)
            renamed = app.graphql(RENAME, {"id": shop["id"], "name": name}, "m1")["shopRename"]
            # then both refuse it as empty, and the name stays
            assert (started["authorizationUrl"], started["userErrors"]) == (None, [empty]), ascii(name)
            assert renamed["shop"] is None and renamed["userErrors"][0]["code"] == "INVALID_NAME", ascii(name)
            assert renamed["userErrors"][0]["message"] == "The shop name must not be empty."
        listed = app.graphql("query($id: ID!) { shop(id: $id) { name } }", {"id": shop["id"]}, "m1")
        assert listed["shop"]["name"] == "Visible"

    def test_reauthorize_renews_expiry_and_keeps_name(self, app_factory) -> None:
        app = app_factory(refresh_token_ttl=3 * 24 * 3600)
        shop = app.connect_shop("m1", "us-local", "US", name="Short lived")
        assert shop["status"] == "EXPIRING_SOON"
        app.set_refresh_token_ttl(365 * 24 * 3600)
        started = app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]
        state = state_of(started["authorizationUrl"])
        payload = complete(app, "m1", state, code=app.sandbox.authorize("us-local", state)["code"])
        assert payload["userErrors"] == [] and payload["reauthorized"] is True
        # Re-authorize renews the shop it was started for: not a connection that found it (nothing renamed)
        assert (payload["alreadyConnected"], payload["previousName"]) == (False, None)
        renewed = payload["shop"]
        assert renewed["id"] == shop["id"] and renewed["name"] == "Short lived"
        assert renewed["status"] == "ACTIVE" and renewed["expiresAt"] > shop["expiresAt"]

    def test_reauthorize_with_another_shop_changes_nothing(self, app: ShopbridgeServer) -> None:
        app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        listed = app.graphql("{ shops { edges { node { " + SHOP_FIELDS + " } } } }", {}, "m1")
        shop = listed["shops"]["edges"][0]["node"]
        state = state_of(app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]["authorizationUrl"])
        payload = complete(app, "m1", state, code=app.sandbox.authorize("us-local-2", state)["code"])
        assert codes(payload) == ["SHOP_MISMATCH"]
        after = app.graphql("query($id: ID!) { shop(id: $id) { " + SHOP_FIELDS + " } }", {"id": shop["id"]}, "m1")
        assert after["shop"] == shop

    def test_expired_status(self, app_factory) -> None:
        app = app_factory(refresh_token_ttl=3600)
        shop = app.connect_shop("m1", "us-local", "US")
        app.clock.advance(timedelta(hours=2))
        again = app.graphql("query($id: ID!) { shop(id: $id) { status } }", {"id": shop["id"]}, "m1")
        assert again["shop"]["status"] == "EXPIRED"

    def test_delete_removes_everything_of_that_shop_only(self, app: ShopbridgeServer) -> None:
        kept = app.connect_shop("m1", "uk-local", "UK")
        gone = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        before = app.row_counts()
        kept_before = app.row_counts(shop_tiktok_id=kept["tiktokShopId"])
        payload = app.graphql(DELETE, {"id": gone["id"]}, "m1")["shopDelete"]
        assert payload == {"deletedShopId": gone["id"], "userErrors": []}
        assert app.row_counts(shop_tiktok_id=gone["tiktokShopId"]) == dict.fromkeys(before, 0)
        assert app.row_counts(shop_tiktok_id=kept["tiktokShopId"]) == kept_before
        assert app.graphql(SHOPS, {}, "m1")["shops"]["totalCount"] == 1
        # TikTok still has the shop and its data: nothing was sent there
        assert app.tiktok_shop("us-local")["id"] == gone["tiktokShopId"]
        assert codes(app.graphql(DELETE, {"id": gone["id"]}, "m1")["shopDelete"]) == ["NOT_FOUND"]

    def test_paging(self, app: ShopbridgeServer) -> None:
        for seller, region in (("us-local", "US"), ("uk-local", "UK"), ("my-local", "MY"), ("sg-local", "SG")):
            app.connect_shop("m1", seller, region)
        seen, after = [], None
        while True:
            page = app.graphql(SHOPS, {"first": 3, "after": after}, "m1")["shops"]
            assert page["totalCount"] == 4
            seen += [edge["node"]["id"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == 4
        body = app.raw_graphql(SHOPS, {"first": 101}, "m1")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert app.raw_graphql(SHOPS, {"after": "garbage"}, "m1")["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@subject_not_the_database("ownership checks")
class TestIsolation:
    def test_another_merchants_shop_does_not_exist(self, app: ShopbridgeServer) -> None:
        shop = app.connect_shop("m1", "us-local", "US")
        q = "query($id: ID!) { shop(id: $id) { id } node(id: $id) { id } }"
        assert app.graphql(q, {"id": shop["id"]}, "m2") == {"shop": None, "node": None}
        assert app.graphql(SHOPS, {}, "m2")["shops"] == {
            "totalCount": 0,
            "edges": [],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
        assert codes(app.graphql(RENAME, {"id": shop["id"], "name": "x"}, "m2")["shopRename"]) == ["NOT_FOUND"]
        assert codes(app.graphql(DELETE, {"id": shop["id"]}, "m2")["shopDelete"]) == ["NOT_FOUND"]
        assert codes(app.graphql(REAUTH, {"id": shop["id"]}, "m2")["shopReauthorizationStart"]) == ["NOT_FOUND"]
        sync = "mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) { userErrors { code } } }"
        assert codes(app.graphql(sync, {"id": shop["id"]}, "m2")["syncStart"]) == ["NOT_FOUND"]
        # and m1 still has it, unchanged
        assert app.graphql(q, {"id": shop["id"]}, "m1")["shop"] == {"id": shop["id"]}

    def test_garbage_ids_are_not_found(self, app: ShopbridgeServer) -> None:
        for bad in ("", "nope", "U2hvcDo=", "VXNlcjox"):
            assert app.graphql("query($id: ID!) { node(id: $id) { id } }", {"id": bad}, "m1") == {"node": None}
            assert codes(app.graphql(DELETE, {"id": bad}, "m1")["shopDelete"]) == ["NOT_FOUND"]


class TestApiSurface:
    @subject_not_the_database("authentication")
    def test_requests_without_a_valid_token_are_refused(self, app: ShopbridgeServer) -> None:
        query = {"query": "{ supportedRegions }"}
        assert oneshot.post(f"{app.url}/graphql", json=query).status_code == 401
        bad = {"Authorization": "Bearer not-a-jwt"}
        assert oneshot.post(f"{app.url}/graphql", json=query, headers=bad).status_code == 401
        expired = {"Authorization": f"Bearer {app.token('m1', ttl=-10)}"}
        response = oneshot.post(f"{app.url}/graphql", json=query, headers=expired)
        assert response.status_code == 401 and response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert app.graphql("{ supportedRegions }", {}, "m1") == {"supportedRegions": ["US", "UK", "MY", "SG"]}

    @pytest.mark.parametrize("name", ["query", "%71uery", "q%75ery"])
    @subject_not_the_database("authentication")
    def test_no_encoding_of_a_get_query_skips_authentication(self, app: ShopbridgeServer, name: str) -> None:
        # given a GET that looks like a browser asking for GraphiQL, but carries a query under an encoded name
        url = f"{app.url}/graphql?{name}=%7BsupportedRegions%7D"
        response = oneshot.get(url, headers={"accept": "text/html"})
        # then it is refused like any request without a token
        assert response.status_code == 401 and "supportedRegions" not in response.text
        with_token = oneshot.get(
            url, headers={"accept": "application/json", "Authorization": f"Bearer {app.token('m1')}"}
        )
        assert with_token.json() == {"data": {"supportedRegions": ["US", "UK", "MY", "SG"]}}

    @subject_not_the_database("GraphiQL")
    def test_graphiql_is_served(self, app: ShopbridgeServer) -> None:
        page = oneshot.get(f"{app.url}/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()

    @subject_not_the_database("the document limits")
    def test_limits(self, app: ShopbridgeServer) -> None:
        # cheap (first: 1 everywhere), but deeper than 10
        opening = "{ shops(first: 1) { edges { node { " + "syncTasks(first: 1) { edges { node { shop { " * 3
        deep = opening + "id" + " }" * opening.count("{")
        body = app.raw_graphql(deep, {}, "m1")
        assert "depth" in body["errors"][0]["message"], body
        aliases = "{ " + " ".join(f"a{i}: supportedRegions" for i in range(40)) + " }"
        assert app.raw_graphql(aliases, {}, "m1")["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        # a document that could load 10,000 orders is refused before it runs, variables and fragments included
        costly = "query($n: Int) { shops(first: 100) { edges { node { ...o } } } } "
        costly += "fragment o on Shop { orders(first: $n) { edges { node { lineItems { quantity } } } } }"
        refused = app.raw_graphql(costly, {"n": 100}, "m1")
        assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX" and refused.get("data") is None
        # and one within the limit runs: 100 shops + 800 orders + their line items, counted 5 each = 4,900 objects
        assert "errors" not in app.raw_graphql(costly, {"n": 8}, "m1")

    def test_no_token_in_any_response_or_log_line(self, app: ShopbridgeServer, caplog) -> None:
        caplog.set_level(logging.DEBUG)
        shop = app.connect_shop("m1", "us-local", "US")
        app.graphql(RENAME, {"id": shop["id"], "name": "n"}, "m1")
        responses = app.transcript()
        secrets = [*app.issued_tokens(), app.settings.tiktok.app_secret]
        assert secrets
        for secret in secrets:
            assert secret not in responses
            assert all(secret not in record.getMessage() for record in caplog.records)
        stored = app.raw_token_columns()
        assert stored and all(value not in secrets for value in stored)

    def test_schema_file_is_current(self) -> None:
        from pathlib import Path

        from gql.schema import printed_schema

        committed = Path(__file__).resolve().parents[2] / "schema.graphql"
        assert committed.read_text() == printed_schema(), "run: .venv/bin/shopbridge export-schema"
