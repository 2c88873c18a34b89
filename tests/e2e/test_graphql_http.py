"""GraphQL over HTTP as browsers and spec-following clients see it: CORS, media types and status codes, JSON error
bodies, and the request size limit (issue 12, items 5, 11, 12)."""

from __future__ import annotations

import json
import logging
import time

import httpx
import jwt
import pytest
import structlog
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gql.auth import ALGORITHM, ISSUER
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.processes import oneshot
from tests.fixtures.waiting import wait_until

pytestmark = subject_not_the_database("HTTP as clients see it")

FRONTEND = "http://frontend.example"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def post(app: ShopbridgeServer, body: object, accept: str = GRAPHQL_RESPONSE, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {app.token('m1')}", "Accept": accept, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    if not isinstance(body, (dict, list)):  # raw bytes or text, or a generator of chunks
        return oneshot.post(f"{app.url}/graphql", content=body, headers=headers, **kwargs)  # type: ignore[arg-type]
    return oneshot.post(f"{app.url}/graphql", json=body, headers=headers, **kwargs)  # type: ignore[arg-type]


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


class TestRequestId:
    """Rule (README, Logs; gql/view.py `_answering_request_id`): every answer of /graphql carries the request id its
    log lines carry, in `X-Request-ID`: the caller's when it is a plain token, else a new one. It was in the logs
    alone, so a merchant's "Unexpected error." could not be tied to its lines, nor a frontend's call to the server's."""

    def test_an_answer_carries_the_callers_id_or_a_new_one(self, app: ShopbridgeServer) -> None:
        given = post(app, {"query": "{ supportedRegions }"}, headers={"X-Request-ID": "lb-4f2a.7"})
        assert given.status_code == 200 and given.headers["x-request-id"] == "lb-4f2a.7"
        made = [post(app, {"query": "{ supportedRegions }"}).headers["x-request-id"] for _ in range(2)]
        assert all(len(rid) == 32 for rid in made) and made[0] != made[1]
        # an id that is not a plain token is replaced, not echoed
        odd = post(app, {"query": "{ supportedRegions }"}, headers={"X-Request-ID": "a b"}).headers["x-request-id"]
        assert odd != "a b" and len(odd) == 32
        # refusals too: no token, a document that does not parse, a method /graphql lacks
        anonymous = {"X-Request-ID": "r1"}
        refused = oneshot.post(f"{app.url}/graphql", json={"query": "{ supportedRegions }"}, headers=anonymous)
        assert refused.status_code == 401 and refused.headers["x-request-id"] == "r1"
        broken = post(app, {"query": "{"}, headers={"X-Request-ID": "r2"})
        assert broken.status_code == 400 and broken.headers["x-request-id"] == "r2"
        wrong = oneshot.put(f"{app.url}/graphql", headers={"X-Request-ID": "r3"})
        assert wrong.status_code == 405 and wrong.headers["x-request-id"] == "r3"

    def test_every_path_answers_and_logs_with_its_request_id(self, app: ShopbridgeServer) -> None:
        """Rule (README, Logs): every HTTP answer, not only /graphql's, carries its request id, and so does its
        access line: `/healthz` and `/readyz` (what a load balancer's failing probe is traced by), the webhook
        endpoint, the OAuth callback, the console, `/metrics`. Only /graphql bound one: the other access lines had
        none, so a JSON log could not tie a probe's or a TikTok push's line to the answer the caller saw."""
        seen: list[tuple[str, object]] = []

        class Access(logging.Handler):  # what a JSON line's `request_id` is read from (merge_contextvars)
            def emit(self, record: logging.LogRecord) -> None:
                seen.append((record.getMessage(), structlog.contextvars.get_contextvars().get("request_id")))

        access, handler = logging.getLogger("uvicorn.access"), Access()
        level = access.level
        access.setLevel(logging.INFO)  # the fixture's server logs at WARNING: its access lines on for this test
        access.addHandler(handler)
        paths = ["/healthz", "/readyz", "/console/", "/oauth/tiktok/callback", "/metrics", "/graphql"]
        try:
            answers = {path: oneshot.get(f"{app.url}{path}", headers={"X-Request-ID": f"lb-{n}"}) for n, path in
                       enumerate(paths)}  # fmt: skip
            pushed = oneshot.post(f"{app.url}/webhooks/tiktok", content=b"{}", headers={"X-Request-ID": "lb-push"})
            made = oneshot.get(f"{app.url}/healthz")
            wait_until(lambda: len(seen) >= len(paths) + 2, "the access lines")
        finally:
            access.removeHandler(handler)
            access.setLevel(level)
        assert {path: answer.headers.get("x-request-id") for path, answer in answers.items()} == {
            path: f"lb-{n}" for n, path in enumerate(paths)
        }
        assert pushed.headers.get("x-request-id") == "lb-push"
        made_id = made.headers.get("x-request-id")
        assert made_id and len(made_id) == 32  # none given: a new one, as /graphql makes
        # each access line ('… "GET /healthz HTTP/1.1" 200') with the id bound when it was logged
        bound = [(line.split('"')[1].split()[1], rid) for line, rid in seen]
        expected = [(path, f"lb-{n}") for n, path in enumerate(paths)] + [("/webhooks/tiktok", "lb-push")]
        assert bound == [*expected, ("/healthz", made_id)]

    def test_a_browser_on_a_listed_origin_may_send_the_id_and_read_the_answers(self, app_factory) -> None:
        app = app_factory(cors_origins=(FRONTEND,))
        preflight = {
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
        }
        allowed = oneshot.options(f"{app.url}/graphql", headers=preflight)
        assert allowed.status_code == 200, allowed.text
        answer = post(app, {"query": "{ supportedRegions }"}, headers={"Origin": FRONTEND, "X-Request-ID": "fe-1"})
        assert answer.headers["x-request-id"] == "fe-1"
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


class TestCors:
    def test_preflight_passes_for_a_listed_origin_only(self, app_factory) -> None:
        app = app_factory(cors_origins=(FRONTEND,))
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        allowed = oneshot.options(f"{app.url}/graphql", headers={"Origin": FRONTEND, **preflight})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == FRONTEND
        allowed_headers = allowed.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type"} <= {h.strip() for h in allowed_headers.split(",")}
        refused = oneshot.options(f"{app.url}/graphql", headers={"Origin": "http://evil.example", **preflight})
        assert refused.status_code >= 400 and "access-control-allow-origin" not in refused.headers
        # the request itself carries the header for the listed origin
        answer = post(app, {"query": "{ supportedRegions }"}, headers={"Origin": FRONTEND})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == FRONTEND

    def test_no_origin_is_allowed_by_default(self, app: ShopbridgeServer) -> None:
        preflight = {"Origin": FRONTEND, "Access-Control-Request-Method": "POST"}
        refused = oneshot.options(f"{app.url}/graphql", headers=preflight)
        assert "access-control-allow-origin" not in refused.headers

    async def test_the_websocket_accepts_a_listed_origin_only(self, app_factory) -> None:
        app = app_factory(cors_origins=(FRONTEND,))
        url = app.url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"], origin=FRONTEND) as socket:  # type: ignore[list-item,arg-type]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "x"}}))
        with pytest.raises(InvalidStatus):
            async with connect(url, subprotocols=["graphql-transport-ws"], origin="http://evil.example"):  # type: ignore[list-item,arg-type]
                pass

    async def test_the_websocket_refuses_every_browser_origin_by_default(self, app: ShopbridgeServer) -> None:
        """Rule (README, SHOPBRIDGE_CORS_ORIGINS): no origin is allowed by default, for the WebSocket as for CORS:
        a page on any site must not open a socket to /graphql (cross-site WebSocket hijacking)."""
        url = app.url.replace("http://", "ws://") + "/graphql"
        for origin in ("http://evil.example", FRONTEND):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, subprotocols=["graphql-transport-ws"], origin=origin):  # type: ignore[list-item,arg-type]
                    pass
            assert refused.value.response.status_code == 403, origin
        # a client that is not a browser sends no Origin and carries no cookies: it still connects
        async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "x"}}))


class TestMediaTypesAndStatuses:
    @pytest.mark.parametrize(
        ("query", "variables", "code"),
        [
            ("{ shops { nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
            ("{ shops(", None, "GRAPHQL_PARSE_FAILED"),
            ("query($n: Int) { shops(first: $n) { totalCount } }", {"n": "many"}, "BAD_USER_INPUT"),
        ],
    )
    def test_request_errors_are_400_in_the_graphql_response_media_type(
        self, app: ShopbridgeServer, query: str, variables: dict | None, code: str
    ) -> None:
        response = post(app, {"query": query, "variables": variables})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        body = response.json()
        assert "data" not in body and body["errors"][0]["extensions"]["code"] == code
        # a legacy client (application/json) keeps 200, as the spec allows
        legacy = post(app, {"query": query, "variables": variables}, accept="application/json")
        assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
        assert legacy.json()["errors"][0]["extensions"]["code"] == code

    def test_an_executed_request_is_200_even_with_field_errors(self, app: ShopbridgeServer) -> None:
        response = post(app, {"query": "{ supportedRegions shops(first: 1000) { totalCount } }"})
        assert response.status_code == 200 and response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    @pytest.mark.parametrize(
        "body",
        [b"{not json", b"5", b'"query"', b"null", b"[]", b'{"query": 5}', b'{"query": "{ supportedRegions }",'
         b' "variables": [1]}', b'{"query": "{ supportedRegions }", "operationName": 5}', b"{}",
         b'{"query": "\xff"}',
         # well-formed JSON in another encoding than UTF-8 (RFC 8259 sec. 8.1), which Python's decoder would detect
         *(pytest.param('{"query": "{ supportedRegions }"}'.encode(encoding), id=encoding)
           for encoding in ("utf-16", "utf-16-le", "utf-32"))],
    )  # fmt: skip
    def test_bad_bodies_answer_json_errors(self, app: ShopbridgeServer, body: bytes) -> None:
        for accept in (GRAPHQL_RESPONSE, "application/json"):
            response = post(app, body, accept=accept, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, response.text
            assert response.headers["content-type"].startswith(accept)
            assert error_code(response) == "BAD_REQUEST"

    def test_a_batch_is_refused_saying_to_send_one_operation_a_request(self, app: ShopbridgeServer) -> None:
        """Rule (README "Transports": a JSON array of operations is not supported): the refusal says what to send
        instead; Strawberry's "Batching is not enabled" read as a setting to turn on (tryout71 F2)."""
        # given a batch of two operations, one a mutation
        batch = json.dumps([
            {"query": "{ supportedRegions }"},
            {"query": 'mutation { inventoryItemCreate(input: {sku: "BATCH-1"}) { userErrors { code } } }'},
        ])  # fmt: skip
        for accept in (GRAPHQL_RESPONSE, "application/json"):
            # when it is posted, then it is one request error naming what to send, and nothing ran
            response = post(app, batch, accept=accept, headers={"Content-Type": "application/json"})
            assert response.status_code == 400 and error_code(response) == "BAD_REQUEST", response.text
            assert response.json()["errors"][0]["message"] == (
                "Batched requests (a JSON array of operations) are not supported: send each operation in its own "
                "request, as a JSON object."
            )
        found = app.graphql('{ inventoryItems(query: "BATCH-1") { totalCount } }', None, "m1")
        assert found["inventoryItems"]["totalCount"] == 0

    @pytest.mark.parametrize(
        "value",
        ["[" * 5000 + "]" * 5000, "1" * 5000],
        ids=["nested-5000-deep", "integer-of-5000-digits"],
    )
    @pytest.mark.parametrize("name", ["variables", "extensions"])
    def test_json_beyond_the_decoder_is_a_bad_request_not_a_500(
        self, app: ShopbridgeServer, value: str, name: str
    ) -> None:
        # Given JSON Python's decoder refuses though it is well-formed: nested 5,000 levels deep (RecursionError), or
        # a number of 5,000 digits (past Python's 4,300-digit int limit: ValueError), in the body's `variables` or
        # `extensions` (POST) and in that query parameter (GET)
        body = '{"query": "{ supportedRegions }", "' + name + '": {"a": ' + value + "}}"
        # When each is sent, then it is malformed JSON like any other: 400 BAD_REQUEST in a JSON body, not a 500
        for accept in (GRAPHQL_RESPONSE, "application/json"):
            response = post(app, body, accept=accept, headers={"Content-Type": "application/json"})
            assert response.status_code == 400 and error_code(response) == "BAD_REQUEST", response.text
        response = oneshot.get(
            f"{app.url}/graphql",
            params={"query": "{ supportedRegions }", name: '{"a": ' + value + "}"},
            headers={"Authorization": f"Bearer {app.token('m1')}", "Accept": GRAPHQL_RESPONSE},
        )
        assert response.status_code == 400 and error_code(response) == "BAD_REQUEST", response.text
        assert response.json()["errors"][0]["message"] == f"The `{name}` query parameter is not valid JSON."

    @pytest.mark.parametrize("name", ["variables", "extensions"])
    def test_a_get_parameter_that_is_not_json_is_named_not_called_the_body(
        self, app: ShopbridgeServer, name: str
    ) -> None:
        # Given a GET whose `variables` (or `extensions`) parameter is not JSON: a GET has no body
        response = oneshot.get(
            f"{app.url}/graphql",
            params={"query": "{ supportedRegions }", name: "{not json"},
            headers={"Authorization": f"Bearer {app.token('m1')}", "Accept": GRAPHQL_RESPONSE},
        )
        # then the error names the parameter
        assert response.status_code == 400 and error_code(response) == "BAD_REQUEST", response.text
        assert response.json()["errors"][0]["message"] == f"The `{name}` query parameter is not valid JSON."

    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "application/graphql", "application/xml", None],
    )
    def test_a_body_without_a_json_content_type_is_415_in_json(
        self, app: ShopbridgeServer, content_type: str | None
    ) -> None:
        # Given a POST whose body is not declared JSON (curl -d sends a form's type; none at all)
        headers = {} if content_type is None else {"Content-Type": content_type}
        response = post(app, '{"query": "{ supportedRegions }"}', headers=headers)
        # then it is 415 Unsupported Media Type (GraphQL over HTTP), told in JSON with its own code
        assert response.status_code == 415 and error_code(response) == "UNSUPPORTED_MEDIA_TYPE", response.text
        assert response.json()["errors"][0]["message"] == (
            "Unsupported content type: send the request as JSON, with Content-Type: application/json."
        )
        assert "data" not in response.json()

    def test_a_json_content_type_with_parameters_is_json(self, app: ShopbridgeServer) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        response = post(app, '{"query": "{ supportedRegions }"}', headers=headers)
        assert response.status_code == 200 and "US" in response.json()["data"]["supportedRegions"], response.text

    def test_a_mutation_over_get_is_405_allow_post(self, app: ShopbridgeServer) -> None:
        mutation = 'mutation { shopRename(input: {shopId: "x", name: "y"}) { userErrors { code } } }'
        response = oneshot.get(
            f"{app.url}/graphql",
            params={"query": mutation},
            headers={"Authorization": f"Bearer {app.token('m1')}", "Accept": GRAPHQL_RESPONSE},
        )
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        assert error_code(response) == "METHOD_NOT_ALLOWED"

    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
    def test_other_methods_are_405_with_a_json_body(self, app: ShopbridgeServer, method: str) -> None:
        response = oneshot.request(method, f"{app.url}/graphql", headers={"Authorization": f"Bearer {app.token('m1')}"})
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        assert error_code(response) == "METHOD_NOT_ALLOWED"

    def test_a_401_challenges_as_rfc_6750_with_a_realm_and_invalid_token_for_a_refused_token(
        self, app: ShopbridgeServer
    ) -> None:
        # RFC 6750 sec. 3: "Bearer" MUST be followed by at least one auth-param (a bare "Bearer" was sent); sec. 3.1:
        # error="invalid_token" when a bearer token came and was refused, no error code when none came
        foreign = jwt.encode(
            {"sub": "m1", "iss": ISSUER, "exp": int(time.time()) + 600},
            "another key of at least thirty-two bytes",
            ALGORITHM,
        )
        cases = {
            None: 'Bearer realm="graphql"',
            "Basic bTE6cHc=": 'Bearer realm="graphql"',
            "Bearer": 'Bearer realm="graphql"',
            "Bearer not-a-token": 'Bearer realm="graphql", error="invalid_token"',
            f"Bearer {foreign}": 'Bearer realm="graphql", error="invalid_token"',
        }
        for authorization, challenge in cases.items():
            headers = {} if authorization is None else {"Authorization": authorization}
            response = oneshot.post(f"{app.url}/graphql", json={"query": "{ supportedRegions }"}, headers=headers)
            assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED", authorization
            assert response.headers["www-authenticate"] == challenge, authorization

    def test_unauthenticated_answers_in_the_accepted_media_type(self, app: ShopbridgeServer) -> None:
        response = oneshot.post(
            f"{app.url}/graphql", json={"query": "{ supportedRegions }"}, headers={"Accept": GRAPHQL_RESPONSE}
        )
        assert response.status_code == 401 and response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert error_code(response) == "UNAUTHENTICATED"

    @pytest.mark.parametrize("merchants", [("m1", "m2"), ("m2", "m1"), ("m1", "m1")])
    def test_two_authorization_headers_are_ambiguous_400(self, app: ShopbridgeServer, merchants) -> None:
        # attack56 F-two-auth: the first header won, while a proxy in front may act on the last
        headers = [("Authorization", f"Bearer {app.token(m)}") for m in merchants]
        for accept in (GRAPHQL_RESPONSE, "application/json"):
            answer = oneshot.post(
                f"{app.url}/graphql", json={"query": "{ shops { totalCount } }"}, headers=[*headers, ("Accept", accept)]
            )
            assert answer.status_code == 400 and error_code(answer) == "BAD_REQUEST", answer.text
            assert "Ambiguous credentials" in answer.json()["errors"][0]["message"]
            assert "data" not in answer.json()

    def test_the_scheme_is_case_insensitive_and_a_token_without_exp_or_iss_is_401(self, app: ShopbridgeServer) -> None:
        # RFC 7235 section 2.1: "bearer" and "BEARER" are the Bearer scheme
        for scheme in ("bearer", "BEARER"):
            answer = post(
                app, {"query": "{ supportedRegions }"}, headers={"Authorization": f"{scheme} {app.token('m1')}"}
            )
            assert answer.status_code == 200 and "errors" not in answer.json(), (scheme, answer.text)
        # correctly signed, but missing a claim we require: refused as UNAUTHENTICATED, not an unexpected error
        now = int(time.time())
        claims = {"sub": "m1", "iat": now, "exp": now + 600, "iss": ISSUER}
        for left_out in ("exp", "iss"):
            token = jwt.encode({k: v for k, v in claims.items() if k != left_out}, app.settings.secret_key, ALGORITHM)
            refused = post(app, {"query": "{ supportedRegions }"}, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401 and error_code(refused) == "UNAUTHENTICATED", (left_out, refused.text)
        # an `exp` no float holds (sec50: 500 text/plain and an OverflowError traceback): an invalid token, 401 JSON
        token = jwt.encode(claims | {"exp": 10**400}, app.settings.secret_key, ALGORITHM)
        refused = post(app, {"query": "{ supportedRegions }"}, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401 and error_code(refused) == "UNAUTHENTICATED", refused.text
        assert refused.json()["errors"][0]["message"] == "The token is invalid.", refused.text


class TestSizeLimit:
    def test_a_body_over_the_limit_is_413_before_it_is_read(self, app_factory, caplog) -> None:
        caplog.set_level(logging.INFO, logger="shopbridge.http")
        app = app_factory(max_request_bytes=10_000)
        big = json.dumps({"query": "{ supportedRegions }", "variables": {"pad": "x" * 50_000}}).encode()
        response = post(app, big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and error_code(response) == "REQUEST_TOO_LARGE"

        def chunks():
            for start in range(0, len(big), 4096):
                yield big[start : start + 4096]

        streamed = post(app, chunks(), headers={"Content-Type": "application/json"})  # no Content-Length
        assert streamed.status_code == 413 and error_code(streamed) == "REQUEST_TOO_LARGE"
        small = post(app, {"query": "{ supportedRegions }", "variables": {"pad": "x" * 5_000}})
        assert small.status_code == 200 and small.json() == {"data": {"supportedRegions": ["US", "UK", "MY", "SG"]}}
        # and a flood of refusals (anyone can declare a Content-Length) is one log line a minute, not one each
        for _ in range(5):
            assert post(app, big, headers={"Content-Type": "application/json"}).status_code == 413
        lines = [r.getMessage() for r in caplog.records if r.name == "shopbridge.http" and "body over" in r.msg]
        assert lines == ["request refused: body over 10000 bytes (POST /graphql)"], lines
