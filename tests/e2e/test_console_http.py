"""The web console as files and endpoints: served by Shopbridge itself with nothing from another host, the demo's
single-use login code, GraphiQL's asset mirror, and the OAuth callback page leading back (issue 10)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, build_schema

from gql.console import STATIC_DIR
from gql.console.login import DEMO_LOGINS, LoginCodes
from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_store_management import start, state_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.processes import oneshot

SHOPS = "{ shops { totalCount } }"


# The console's and GraphiQL's HTTP paths are the subject of the tests that start an app here, not the database.
SUBJECT = subject_not_the_database("the console's and GraphiQL's HTTP paths")


@SUBJECT
def test_the_root_and_console_paths_lead_to_the_console_which_loads_nothing_from_elsewhere(
    app: ShopbridgeServer,
) -> None:
    for path in ("/", "/console"):
        response = oneshot.get(app.url + path, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == "/console/"
    page = oneshot.get(app.url + "/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in page.text
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".html", ".css", ".js"}
    for file in files:
        served = oneshot.get(f"{app.url}/console/{file.relative_to(STATIC_DIR).as_posix()}")
        assert served.status_code == 200 and served.text == file.read_text()
        # no CDN, no other host: every import and asset is a relative path of the package
        assert not re.search(r"(src|href)=\"(https?:)?//", served.text), file
        assert not re.search(r"(import|from)\s*\(?\s*[\"'](https?:)?//", served.text), file
        assert "unpkg" not in served.text and "cdn" not in served.text.lower(), file
    module = oneshot.get(f"{app.url}/console/js/app.js")
    assert "javascript" in module.headers["content-type"]  # browsers refuse modules of another type
    imported = set(re.findall(r"from \"\./([a-z]+\.js)\"", "".join(p.read_text() for p in files)))
    assert imported <= {p.name for p in files} and "ws.js" in imported


@SUBJECT
def test_the_console_is_served_with_a_strict_policy_that_no_other_page_may_frame(app: ShopbridgeServer) -> None:
    # every file of the console (its page, its modules, its stylesheet; a revalidation's 304 too) carries the policy
    page = oneshot.get(app.url + "/console/")
    answers = [page, oneshot.get(app.url + "/console/js/app.js"), oneshot.get(app.url + "/console/console.css")]
    answers.append(oneshot.get(app.url + "/console/", headers={"If-None-Match": page.headers["etag"]}))
    assert answers[-1].status_code == 304
    for answer in answers:
        policy = {d.split()[0]: d.split()[1:] for d in answer.headers["content-security-policy"].split("; ")}
        assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'self'"], policy
        assert policy["style-src"] == ["'self'"] and policy["connect-src"] == ["'self'"], policy
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"], policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
    # which the console keeps: no inline script, event handler or style attribute in its page or its modules
    for file in sorted(p for p in STATIC_DIR.rglob("*") if p.suffix in {".html", ".js"}):
        text = file.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), file
        assert not re.search(r"\son[a-z]+=[\"']|\sstyle=[\"']|[\"']style[\"']\s*:", text), file


@SUBJECT
def test_a_login_code_gives_a_token_once(app: ShopbridgeServer) -> None:
    code = DEMO_LOGINS.issue("m-demo")
    first = oneshot.post(f"{app.url}/console/login", json={"code": code})
    assert first.status_code == 200 and first.json()["merchantId"] == "m-demo"
    assert first.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {first.json()['token']}"}
    listed = oneshot.post(f"{app.url}/graphql", json={"query": SHOPS}, headers=headers)
    assert listed.status_code == 200 and listed.json() == {"data": {"shops": {"totalCount": 0}}}
    for body in ({"code": code}, {"code": "not-a-code"}, {"code": ""}):
        again = oneshot.post(f"{app.url}/console/login", json=body)
        assert again.status_code == 400 and again.json()["error"]["code"] == "LOGIN_CODE_INVALID", body


@SUBJECT
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_the_login_endpoint_answers_any_other_method_405_allow_post(app: ShopbridgeServer, method: str) -> None:
    # Given the console's static files mounted at /console, when a code is sent any way but POST (a GET would carry
    # it in a URL, which lands in access logs), then the answer is 405 naming the one method the path has.
    answer = oneshot.request(method, f"{app.url}/console/login", params={"code": DEMO_LOGINS.issue("m-demo")})
    assert (answer.status_code, answer.headers.get("allow")) == (405, "POST")
    # and in JSON, the shape of the path's other errors (400 BAD_REQUEST, 429 RATE_LIMITED): it was plain text
    assert answer.headers["content-type"] == "application/json", answer.headers
    if method != "HEAD":  # a HEAD answer has no body
        assert answer.json()["error"] == {
            "code": "METHOD_NOT_ALLOWED",
            "message": f"/console/login takes POST only, not {method}.",
        }


@SUBJECT
def test_a_login_body_that_is_not_json_is_a_bad_request_not_an_invalid_code(app: ShopbridgeServer) -> None:
    for body in (b"code=abc", b"{", b"\xff\xfe", b"[" * 2000):
        answer = oneshot.post(f"{app.url}/console/login", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "BAD_REQUEST", body
    # nor is JSON of another shape than {"code": "..."} told that its sign-in link expired: it is told the shape
    for shape in ([1], {"code": 5}, {"code": None}, {"code": ["c"]}, {}, None, "abc"):
        answer = oneshot.post(f"{app.url}/console/login", json=shape)
        error = answer.json()["error"]
        assert (answer.status_code, error["code"]) == (400, "BAD_REQUEST"), shape
        assert error["message"] == 'The body must be a JSON object whose "code" is a string: {"code": "..."}.'


def test_a_login_code_expires() -> None:
    codes = LoginCodes()
    expired, valid = codes.issue("m1", ttl_seconds=0), codes.issue("m2")
    assert codes.consume(expired) is None
    assert codes.consume(valid) == "m2" and codes.consume(valid) is None


@SUBJECT
def test_graphiql_loads_its_assets_from_the_cdn_by_default(app: ShopbridgeServer) -> None:
    page = oneshot.get(app.url + "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "https://unpkg.com/graphiql@" in page.text
    # its inline scripts and CDN (or mirror) assets would break under the console's policy: it gets only
    # frame-ancestors (sec50: no header kept another site from framing it, the token in its headers editor)
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert page.headers["x-frame-options"] == "DENY"
    # and the headers editor (the Bearer token) is not kept in localStorage (sec50; the console uses sessionStorage)
    assert "shouldPersistHeaders: false" in page.text and "shouldPersistHeaders: true" not in page.text


@SUBJECT
def test_graphiql_loads_its_assets_from_the_mirror_set(app_factory: Callable[..., ShopbridgeServer]) -> None:
    mirrored = app_factory(graphiql_assets_url="https://npm.internal.example/npm")
    page = oneshot.get(mirrored.url + "/graphql", headers={"accept": "text/html"}).text
    assert "https://npm.internal.example/npm/graphiql@" in page and "unpkg.com" not in page
    assert 'integrity="sha384-' in page  # the mirror must serve the same bytes


@SUBJECT
def test_the_icon_browsers_ask_for_is_served_and_cached(app: ShopbridgeServer) -> None:
    # given a browser on a page that names no icon (GraphiQL's): it asks for /favicon.ico
    for method in ("GET", "HEAD"):
        # when it does
        icon = oneshot.request(method, app.url + "/favicon.ico")
        # then it gets an icon (a 404 each time before), which it keeps for a week
        assert icon.status_code == 200, (method, icon.status_code)
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.headers["cache-control"] == "public, max-age=604800"
    icon = oneshot.get(app.url + "/favicon.ico")
    kind, images, width, height = icon.content[2:4], icon.content[4:6], icon.content[6], icon.content[7]
    assert (icon.content[:2], kind, images, width, height) == (b"\0\0", b"\1\0", b"\1\0", 16, 16)
    assert len(icon.content) < 2048
    # and the console's page names that icon (it suppressed it with an empty data: URL)
    assert '<link rel="icon" href="/favicon.ico">' in oneshot.get(app.url + "/console/").text


@SUBJECT
def test_the_callback_page_without_a_frontend_leads_back_to_the_console(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(frontend_url=None)
    state = state_of(start(app, "m1")["authorizationUrl"])
    response = oneshot.get(f"{app.url}/oauth/tiktok/callback", params={"state": state, "error": "auth_denied"})
    assert response.status_code == 200
    # the console completes what it carries for the merchant signed in there (nobody else's state completes)
    link = f'<a href="/console/?error=auth_denied&amp;state={state}">Finish in the web console</a>'
    assert link in response.text


@pytest.mark.parametrize(
    "query",
    [
        "state={state}&code=%ff",  # not UTF-8: was handed on as U+FFFD, another code than the one sent
        "state={state}&code=ab%c3",  # a UTF-8 sequence cut short
        "state=%00&code=abc",  # NUL: was handed on unchecked, while an empty state was INVALID_STATE
        "state={state}&code=a%0db",  # a control character in the code
        "state={state}&error=auth%1b[31mdenied",  # and in TikTok's error
        "state={state}%e2%80%ae&code=abc",  # a bidi override (U+202E) hides what the state is
    ],
)
@SUBJECT
def test_the_callback_refuses_values_that_are_not_text_as_a_missing_state(app: ShopbridgeServer, query: str) -> None:
    # attack56 F-callback-bytes: given a redirect whose code, state or error was altered on the way
    state = state_of(start(app, "m1")["authorizationUrl"])
    url = f"{app.url}/oauth/tiktok/callback?{query.format(state=state)}"
    # when the browser follows it, then the frontend gets the callback's documented refusal, carrying nothing on
    response = oneshot.get(url, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "http://frontend.example/shops/connected?error=INVALID_STATE"
    # while the same redirect with a plain code is handed on as sent
    plain = oneshot.get(f"{app.url}/oauth/tiktok/callback?state={state}&code=abc", follow_redirects=False)
    assert plain.headers["location"].endswith(f"?code=abc&state={state}")


def test_the_package_ships_the_console(tmp_path: Path) -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"gql.console" = ["static/*.html", "static/*.css", "static/js/*.js"]' in pyproject


def test_every_user_error_code_of_the_schema_has_a_sentence_in_the_console() -> None:
    root = Path(__file__).resolve().parents[2]
    enum = build_schema((root / "schema.graphql").read_text()).get_type("UserErrorCode")
    assert isinstance(enum, GraphQLEnumType)  # its values carry descriptions: read them with graphql, not a pattern
    codes = set(enum.values)
    messages = (STATIC_DIR / "js" / "messages.js").read_text()
    explained = set(re.findall(r"^  ([A-Z_]+): ", messages, flags=re.MULTILINE))
    # the callback's own code for an unexpected failure too
    assert codes | {"INTERNAL"} <= explained, sorted(codes - explained)


def test_every_sku_link_state_of_the_schema_has_a_name_and_a_reason_in_the_console() -> None:
    """Rule (sku57): the console names each SkuLinkState (LINK_STATES) and, for a SKU that draws on no item, says why
    and what to do (LINK_REASONS); a state without words shows as its raw code (LONG_SELLER_SKU) with no reason."""
    root = Path(__file__).resolve().parents[2]
    enum = build_schema((root / "schema.graphql").read_text()).get_type("SkuLinkState")
    assert isinstance(enum, GraphQLEnumType)
    messages = (STATIC_DIR / "js" / "messages.js").read_text()

    def keys_of(name: str) -> set[str]:
        block = re.search(rf"^export const {name} = \{{\n(.*?)^\}};", messages, flags=re.MULTILINE | re.DOTALL)
        assert block is not None, name
        return set(re.findall(r"^  ([A-Z_]+): ", block.group(1), flags=re.MULTILINE))

    assert keys_of("LINK_STATES") == set(enum.values)
    assert keys_of("LINK_REASONS") == set(enum.values) - {"LINKED"}
