"""Edges of the HTTP face a newcomer found: a client hanging up mid-body is no server error, a subscription over
HTTP and a document with several operations but no `operationName` are client errors with codes."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gql.http_protocol import LINGER_SECONDS
from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_webhook_metrics import moved, scrape
from tests.fixtures.app import ServedApp, ShopbridgeServer
from tests.fixtures.processes import oneshot
from tests.fixtures.waiting import DEADLINE_SECONDS

pytestmark = subject_not_the_database("HTTP edges")

GRAPHQL_RESPONSE = "application/graphql-response+json"
SUBSCRIPTION = "subscription { syncTaskUpdated { status } }"
OVER_WEBSOCKET = "Subscriptions run over the WebSocket at /graphql (graphql-transport-ws)."


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.gone = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.name == "shopbridge.http" and "disconnected" in record.getMessage():
            self.gone.set()

    def loud(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    # uvicorn's loggers do not propagate to the root logger: listen on both.
    loggers = [logging.getLogger(name) for name in ("", "uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    ours = logging.getLogger("shopbridge.http")
    level = ours.level
    ours.setLevel(logging.DEBUG)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    ours.setLevel(level)


def hang_up_mid_body(app: ShopbridgeServer, path: str, headers: dict[str, str]) -> None:
    """Declare 5,000 bytes, send 10, close the socket."""
    url = urlsplit(app.url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json", "Content-Length: 5000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((url.hostname, url.port), timeout=DEADLINE_SECONDS) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"query": ')


class TestClientDisconnect:
    @pytest.mark.parametrize("path", ["/graphql", "/webhooks/tiktok"])
    def test_a_client_hanging_up_mid_body_is_one_debug_line(self, app: ShopbridgeServer, records, path) -> None:
        headers = {"Authorization": f"Bearer {app.token('m1')}"} if path == "/graphql" else {"Authorization": "x"}
        hang_up_mid_body(app, path, headers)
        assert records.gone.wait(10), "the server never noticed the client leaving"
        assert records.loud() == [], [r.getMessage() for r in records.loud()]
        assert sum(1 for r in records.records if r.name == "shopbridge.http") == 1
        # The server still answers.
        assert oneshot.get(f"{app.url}/healthz").status_code == 200


def trickle_and_read_answer(app: ShopbridgeServer, path: str, headers: dict[str, str]) -> tuple[bytes, bytes]:
    """Declare 5,000 bytes, send 10 and nothing more (a slowloris), and read what the server answers until it
    closes the connection: (status line, body)."""
    url = urlsplit(app.url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json", "Content-Length: 5000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    answer = b""
    with socket.create_connection((url.hostname, url.port), timeout=DEADLINE_SECONDS) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"query": ')
        while chunk := sock.recv(65536):  # until the server closes (the socket's timeout: a failure)
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


def test_a_flood_of_unparsable_requests_is_one_warning_line_a_minute(app: ShopbridgeServer, records) -> None:
    # given 5 connections that each send bytes that are no HTTP request (anyone can, with no token)
    url = urlsplit(app.url)
    for _ in range(5):
        with socket.create_connection((url.hostname, url.port), timeout=DEADLINE_SECONDS) as sock:
            sock.sendall(b"\x16\x03\x01 not http\r\n\r\n")  # e.g. a TLS hello sent to a plain port
            assert sock.recv(65536).startswith(b"HTTP/1.1 400 Bad Request")  # each answered, as before
    # then uvicorn's WARNING is logged once a minute at most (the process's filter: another test of this process
    # may have logged it within the minute, so at most one here), not once per connection
    lines = [r for r in records.records if r.name == "uvicorn.error" and "Invalid HTTP request" in str(r.msg)]
    assert len(lines) <= 1, [r.getMessage() for r in lines]


class TestSlowBody:
    """A body that never ends (declared, then trickled or not sent) held its connection for ever, with no token
    needed: uvicorn bounds no body in time. Each is answered 408 once SHOPBRIDGE_REQUEST_BODY_TIMEOUT is spent."""

    @pytest.mark.parametrize("path", ["/graphql", "/console/login"])
    def test_the_api_answers_408_request_timeout(self, app_factory, path: str) -> None:
        app = app_factory(request_body_timeout_seconds=1.0)
        headers = {"Authorization": f"Bearer {app.token('m1')}"} if path == "/graphql" else {}
        status, body = trickle_and_read_answer(app, path, headers)
        assert status == b"HTTP/1.1 408 Request Timeout", (status, body)
        message, code = "The request body did not arrive within 1 seconds.", "REQUEST_TIMEOUT"
        # in the route's shape (attack56 F-login-413): GraphQL's on /graphql, {"error": {...}} elsewhere
        assert httpx.Response(408, content=body).json() == (
            {"errors": [{"message": message, "extensions": {"code": code}}]}
            if path == "/graphql"
            else {"error": {"code": code, "message": message}}
        )
        assert oneshot.get(f"{app.url}/healthz").status_code == 200

    def test_a_head_never_finished_is_408_and_a_connection_that_sends_nothing_is_closed(self, app_factory) -> None:
        # uvicorn bounds no head in time either: both connections below were held for ever, no token needed.
        app = app_factory(request_body_timeout_seconds=1.0)
        url = urlsplit(app.url)
        address = (url.hostname, url.port)
        with (
            socket.create_connection(address, timeout=DEADLINE_SECONDS) as silent,
            socket.create_connection(address, timeout=DEADLINE_SECONDS) as partial,
        ):
            # given a connection that sends nothing, and one whose head never ends
            partial.sendall(f"GET /graphql HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: ".encode())
            # then, past the deadline, the second is answered 408 with a code and closed
            answer = b""
            while chunk := partial.recv(65536):
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout", answer
            [error] = httpx.Response(408, content=body).json()["errors"]
            assert error["extensions"] == {"code": "REQUEST_TIMEOUT"}, error
            # and the first is closed without an answer
            assert silent.recv(1) == b""
        assert oneshot.get(f"{app.url}/healthz").status_code == 200

    def test_a_body_trickled_after_an_answer_given_unread_no_longer_holds_the_connection(self, app_factory) -> None:
        # sec50: a route that answers without reading the body (GET /healthz with a declared body, a 413 with no
        # token), then the body trickled a byte at a time: each byte re-armed uvicorn's keep-alive timeout and the
        # connection was held for ever (240 s and more), no token needed.
        app = app_factory(request_body_timeout_seconds=1.0)
        url = urlsplit(app.url)
        heads = {
            b"HTTP/1.1 200 OK": "GET /healthz HTTP/1.1\r\nContent-Length: 1000000",
            b"HTTP/1.1 413 Request Entity Too Large": (
                "POST /graphql HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000000"
            ),
        }
        sockets = {}
        for status, head in heads.items():
            sock = socket.create_connection((url.hostname, url.port), timeout=DEADLINE_SECONDS)
            sock.sendall(f"{head}\r\nHost: {url.netloc}\r\n\r\n".encode())
            sockets[status] = sock
        try:
            for status, sock in sockets.items():
                # given the answer, sent before the body was read
                answer = b""
                while b"\r\n\r\n" not in answer:
                    answer += sock.recv(65536)
                head = answer.partition(b"\r\n\r\n")[0].split(b"\r\n")
                assert head[0] == status, answer
                # then it says the connection closes after it
                assert b"connection: close" in [line.lower() for line in head[1:]], answer
                sock.settimeout(0.25)
            # when the body is trickled, a byte every 0.25 s, for up to 8 s (the timeout is 1 s, a lingering close 2 s)
            open_ones = dict(sockets)
            started = time.monotonic()
            while open_ones and time.monotonic() - started < 8:
                for status, sock in list(open_ones.items()):
                    try:
                        sock.sendall(b"a")
                        if sock.recv(65536) == b"":  # the server's half-close: it may still read, wait
                            time.sleep(0.25)
                    except TimeoutError:
                        pass  # still open
                    except (ConnectionResetError, BrokenPipeError):  # a byte sent to a closed socket: reset
                        del open_ones[status]
            # then the server closed each connection, however long the client trickles
            assert open_ones == {}, f"still open after {time.monotonic() - started:.1f} s: {list(open_ones)}"
        finally:
            for sock in sockets.values():
                sock.close()
        assert oneshot.get(f"{app.url}/healthz").status_code == 200

    def test_a_body_unread_by_an_app_that_does_not_answer_is_408_after_the_timeout_and_a_grace(
        self, database_url: str
    ) -> None:  # (the module's database parameter: no database here)
        # whatever the app does: one that neither reads the body nor answers (no route of ours, whose deadlines
        # answer first) still gets no connection held by a client that never sends its body
        gate = threading.Event()

        async def busy(request: Request) -> Response:
            await asyncio.to_thread(gate.wait, DEADLINE_SECONDS)
            return Response("late")

        served = ServedApp(Starlette(routes=[Route("/busy", busy, methods=["POST"])]), head_timeout_seconds=0.5)
        url = urlsplit(served.start())
        try:
            with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
                started = time.monotonic()
                sock.sendall(f"POST /busy HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 10\r\n\r\nab".encode())
                answer = b""
                while chunk := sock.recv(65536):  # until the server closes (the 10 s timeout: a failure)
                    answer += chunk
                elapsed = time.monotonic() - started
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout", answer
            # /busy is no GraphQL route: the shape of every other route (attack56 F-login-413)
            assert httpx.Response(408, content=body).json()["error"]["code"] == "REQUEST_TIMEOUT", body
            assert elapsed >= 0.5 + LINGER_SECONDS  # the app had the grace to answer first
        finally:
            gate.set()
            served.stop()

    def test_the_webhook_endpoint_answers_an_empty_408_counted_too_slow(self, app_factory) -> None:
        app = app_factory(request_body_timeout_seconds=1.0)
        before = scrape(app)
        status, body = trickle_and_read_answer(app, "/webhooks/tiktok", {"Authorization": "0" * 64})
        assert (status, body) == (b"HTTP/1.1 408 Request Timeout", b"")
        name = "shopbridge_webhooks_received_total"
        assert moved(before, scrape(app), name, outcome="too_slow") == 1


def send_head_and_read_answer(
    app: ShopbridgeServer, line: bytes, headers: list[bytes], piece_bytes: int | None = None
) -> tuple[bytes, bytes]:
    """Send a request's line and headers (no body), in one write or in writes of `piece_bytes`, and read the answer
    until the server closes: (status line, body)."""
    url = urlsplit(app.url)
    answer = b""
    with socket.create_connection((url.hostname, url.port), timeout=DEADLINE_SECONDS) as sock:
        head = b"\r\n".join([line, f"Host: {url.netloc}".encode(), b"Connection: close", *headers]) + b"\r\n\r\n"
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(head), piece_bytes or len(head)):
            sock.sendall(head[start : start + (piece_bytes or len(head))])
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, body = answer.partition(b"\r\n\r\n")
    return status.split(b"\r\n")[0], body


class TestRequestHead:
    """uvicorn's httptools protocol gathered a request line or header of any size before the app saw it, copying
    all of it again at every read: a 200 MB URL, no token needed, held the event loop ~70 s and ~430 MB. A head
    (line and headers) past 64 KiB is answered 431 `REQUEST_HEADERS_TOO_LARGE` before the app runs."""

    @pytest.mark.parametrize("where", ["url", "header"])
    def test_past_64_kib_is_431_with_a_code_and_the_server_goes_on(self, app: ShopbridgeServer, where: str) -> None:
        # given a request whose line or one header is 1 MiB (no token: anyone can send it)
        big = b"a" * 1_048_576
        line, headers = b"GET /graphql?query={supportedRegions} HTTP/1.1", [b"X-Padding: " + big]
        if where == "url":
            line, headers = b"GET /graphql?query={supportedRegions}&padding=" + big + b" HTTP/1.1", []
        # when it is sent, then it is refused as too large, with a code, before the app answers 401
        status, body = send_head_and_read_answer(app, line, headers)
        assert status == b"HTTP/1.1 431 Request Header Fields Too Large", (status, body[:200])
        [error] = httpx.Response(431, content=body).json()["errors"]
        assert error["extensions"] == {"code": "REQUEST_HEADERS_TOO_LARGE"}, error
        # while a head just under the limit is read as ever (60 KiB of URL: the app's 401 for want of a token)
        line = b"GET /graphql?query={supportedRegions}&padding=" + b"a" * 61_440 + b" HTTP/1.1"
        status, _ = send_head_and_read_answer(app, line, [b"Accept: application/json"])
        assert status == b"HTTP/1.1 401 Unauthorized", status
        assert oneshot.get(f"{app.url}/healthz").status_code == 200

    @pytest.mark.parametrize("piece_bytes", [None, 4096], ids=["one-write", "in-pieces"])
    @pytest.mark.parametrize("shape", ["one-header", "many-headers", "request-line"])
    def test_a_head_just_past_64_kib_is_431_however_it_arrives(
        self, app: ShopbridgeServer, shape: str, piece_bytes: int | None
    ) -> None:
        # Given a head of 70-100 KB, small enough to arrive in one read: one header of 70,000 bytes, 100 headers of
        # 1,000 bytes, or a request line of 70,000 bytes (past what httptools' URL parser takes, 65,535 bytes)
        line, headers = b"GET /graphql?query={supportedRegions} HTTP/1.1", []
        if shape == "one-header":
            headers = [b"X-Padding: " + b"a" * 70_000]
        elif shape == "many-headers":
            headers = [b"X-Padding-%d: " % n + b"a" * 1_000 for n in range(100)]
        else:
            line = b"GET /graphql?query={supportedRegions}&padding=" + b"a" * 70_000 + b" HTTP/1.1"
        # when it is sent in one write (it was answered 401, as if within the limit, or uvicorn's 400 text/plain
        # "Invalid HTTP request received." for the line) or in pieces, then it is 431 with its code
        status, body = send_head_and_read_answer(app, line, headers, piece_bytes)
        assert status == b"HTTP/1.1 431 Request Header Fields Too Large", (status, body[:200])
        [error] = httpx.Response(431, content=body).json()["errors"]
        assert error["extensions"] == {"code": "REQUEST_HEADERS_TOO_LARGE"}, error

    @pytest.mark.parametrize(("size", "refused"), [(65_536, False), (65_537, True)], ids=["64KiB", "64KiB+1"])
    def test_the_limit_counts_every_byte_of_a_get_head_sent_at_once(
        self, app: ShopbridgeServer, size: int, refused: bool
    ) -> None:
        # verify50: the request line's method and version went uncounted, so a head of up to 16 bytes more passed
        url = urlsplit(app.url)
        line = b"GET /healthz HTTP/1.1"
        fixed = len(b"\r\n".join([line, f"Host: {url.netloc}".encode(), b"Connection: close", b"X-Padding: "]))
        padding = b"X-Padding: " + b"a" * (size - fixed - 4)  # the head ends with a blank line: 4 bytes
        status, _ = send_head_and_read_answer(app, line, [padding])
        assert (status == b"HTTP/1.1 431 Request Header Fields Too Large") is refused, status


class TestRefusalShapes:
    """The app's own refusals made before a route answers (a body over SHOPBRIDGE_MAX_REQUEST_BYTES, a head past
    64 KiB) answered GraphQL's `{"errors": [...]}` on every route, so the console's login, which reads `error.code`
    (README: `{"error": {"code", "message"}}`), found none (attack56 F-login-413). Each route now answers in its
    own shape, with the same codes: `/graphql` GraphQL's, the webhook endpoint an empty body, every other route
    `{"error": {"code", "message"}}`."""

    ROUTES = ["/console/login", "/healthz", "/readyz", "/metrics", "/oauth/tiktok/callback", "/nowhere"]

    @pytest.mark.parametrize("path", ROUTES)
    def test_a_body_over_the_limit_is_413_in_the_routes_shape(self, app_factory, path: str) -> None:
        app = app_factory(max_request_bytes=2048)
        refused = oneshot.post(f"{app.url}{path}", content=b"x" * 2049, headers={"Content-Type": "application/json"})
        assert refused.status_code == 413, refused.text
        message = "The request body is larger than 2048 bytes."
        assert refused.json() == {"error": {"code": "REQUEST_TOO_LARGE", "message": message}}
        # a chunked body read by its route, counted as it arrives
        chunks = (b'{"code": "' + b"x" * 1000 for _ in range(4))
        streamed = oneshot.post(
            f"{app.url}/console/login", content=chunks, headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "REQUEST_TOO_LARGE", streamed.text
        # while /graphql keeps GraphQL's shape
        graphql = oneshot.post(f"{app.url}/graphql", content=b"x" * 2049, headers={"Content-Type": "application/json"})
        assert graphql.status_code == 413
        assert graphql.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"

    @pytest.mark.parametrize("path", ROUTES)
    def test_a_head_past_64_kib_is_431_in_the_routes_shape(self, app: ShopbridgeServer, path: str) -> None:
        status, body = send_head_and_read_answer(app, f"POST {path} HTTP/1.1".encode(), [b"X-Big: " + b"a" * 70_000])
        assert status == b"HTTP/1.1 431 Request Header Fields Too Large", (status, body[:200])
        message = "The request line and headers are larger than 65536 bytes."
        assert httpx.Response(431, content=body).json() == {
            "error": {"code": "REQUEST_HEADERS_TOO_LARGE", "message": message}
        }

    def test_the_webhook_endpoint_answers_an_empty_431(self, app: ShopbridgeServer) -> None:
        line = b"POST /webhooks/tiktok HTTP/1.1"
        assert send_head_and_read_answer(app, line, [b"X-Big: " + b"a" * 70_000]) == (
            b"HTTP/1.1 431 Request Header Fields Too Large",
            b"",
        )


METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def test_every_route_answers_a_method_it_lacks_405_with_allow_naming_its_methods(app: ShopbridgeServer) -> None:
    # RFC 9110 15.5.6: a 405 MUST carry Allow. Given each route of the app limited to some methods (the console's
    # login below the /console mount included), when asked with another, then 405 with exactly its methods.
    limited = [r for r in app.asgi.routes if isinstance(r, Route) and r.methods and "{" not in r.path]
    assert "/console/login" in {r.path for r in limited}
    answers, expected = {}, {}
    for route in limited:
        for method in sorted(set(METHODS) - route.methods):
            answer = oneshot.request(method, app.url + route.path)
            answers[f"{method} {route.path}"] = answer.status_code, set(answer.headers.get("allow", "").split(", "))
            expected[f"{method} {route.path}"] = 405, route.methods
    assert answers == expected


def test_every_route_answers_a_method_it_lacks_in_the_apps_json_error_shape(app: ShopbridgeServer) -> None:
    # newcomer54: the README promised `{"error": {"code", "message"}}` for a method a route lacks; all but
    # /console/login answered Starlette's text/plain "Method Not Allowed". Given every route limited to some methods,
    # and the console's static files (a page, a module), when asked with another method (HEAD has no body), then
    # the app's JSON error with its code, a message naming the path's methods, and Allow.
    limited = [(r.path, r.methods) for r in app.asgi.routes if isinstance(r, Route) and r.methods and "{" not in r.path]
    limited += [("/console/", {"GET", "HEAD"}), ("/console/js/app.js", {"GET", "HEAD"})]
    answers, expected = {}, {}
    for path, methods in limited:
        allow = ", ".join(sorted(methods))
        for method in sorted(set(METHODS) - methods - {"HEAD"}):
            answer = oneshot.request(method, app.url + path)
            key = f"{method} {path}"
            answers[key] = (
                answer.status_code,
                answer.headers.get("content-type"),
                answer.headers.get("allow"),
                (answer.json() if answer.headers.get("content-type") == "application/json" else answer.text),
            )
            message = f"{path} takes {allow} only, not {method}."
            error = {"error": {"code": "METHOD_NOT_ALLOWED", "message": message}}
            expected[key] = 405, "application/json", allow, error
    assert answers == expected


class TestSubscriptionOverHttp:
    @pytest.mark.parametrize("method", ["POST", "GET"])
    @pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
    def test_is_a_client_error_with_a_code(self, app: ShopbridgeServer, records, method: str, accept: str) -> None:
        headers = {"Authorization": f"Bearer {app.token('m1')}", "Accept": accept}
        if method == "POST":
            response = oneshot.post(f"{app.url}/graphql", json={"query": SUBSCRIPTION}, headers=headers)
        else:
            response = oneshot.get(f"{app.url}/graphql", params={"query": SUBSCRIPTION}, headers=headers)
        assert response.status_code == 400, response.text
        errors = response.json()["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["OPERATION_NOT_SUPPORTED"]
        assert errors[0]["message"] == OVER_WEBSOCKET
        assert records.loud() == [], [r.getMessage() for r in records.loud()]


class TestSeveralOperations:
    DOCUMENT = "query A { supportedRegions } query B { shops { totalCount } }"

    def test_without_an_operation_name_is_a_request_error(self, app: ShopbridgeServer) -> None:
        headers = {"Authorization": f"Bearer {app.token('m1')}", "Accept": GRAPHQL_RESPONSE}
        response = oneshot.post(f"{app.url}/graphql", json={"query": self.DOCUMENT}, headers=headers)
        assert response.status_code == 400, response.text
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["message"] == "Must provide operation name if query contains multiple operations."
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

    def test_with_an_operation_name_runs_that_one(self, app: ShopbridgeServer) -> None:
        headers = {"Authorization": f"Bearer {app.token('m1')}"}
        body = {"query": self.DOCUMENT, "operationName": "B"}
        response = oneshot.post(f"{app.url}/graphql", json=body, headers=headers)
        assert response.json() == {"data": {"shops": {"totalCount": 0}}}

    @pytest.mark.parametrize(
        "body",
        [
            {"query": "query A { supportedRegions } query B { shops { totalCount } }"},
            {"query": "query A { supportedRegions }", "operationName": "C"},
            {"query": "fragment F on Query { supportedRegions }"},
        ],
        ids=["several, no name", "an unknown name", "no operation"],
    )
    def test_a_document_that_names_no_operation_to_run_is_answered_like_any_request_error(
        self, app: ShopbridgeServer, body: dict[str, str]
    ) -> None:
        # given a document that names no operation to run, sent by a legacy (application/json) client and by one
        # that accepts application/graphql-response+json
        token = {"Authorization": f"Bearer {app.token('m1')}"}
        legacy = oneshot.post(f"{app.url}/graphql", json=body, headers=token)
        spec = oneshot.post(f"{app.url}/graphql", json=body, headers={**token, "Accept": GRAPHQL_RESPONSE})
        # then each is a request error with BAD_REQUEST, and its status follows the Accept as for a parse or
        # validation error: 200 for application/json, 400 for graphql-response+json (an unknown name and a document
        # without operations answered 400 to every client, several operations 200 to a legacy one)
        assert (legacy.status_code, spec.status_code) == (200, 400), (legacy.text, spec.text)
        for response in (legacy, spec):
            assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_REQUEST"]
        assert legacy.json()["data"] is None and "data" not in spec.json()


def test_a_request_asking_to_close_is_answered_though_bytes_follow_it(app: ShopbridgeServer) -> None:
    # given a client that sends `Connection: close` and, in the same write, a pipelined request after it (review50:
    # the head-limit parser dropped uvicorn's leniency, and httptools' "Data after `Connection: close`" made it a
    # plain-text 400, the first request's answer never sent)
    url = urlsplit(app.url)
    first = f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n"
    second = f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n"
    answer = b""
    with socket.create_connection((url.hostname, url.port), timeout=DEADLINE_SECONDS) as sock:
        sock.sendall((first + second).encode())
        while chunk := sock.recv(65536):  # until the server closes, as the first request asked
            answer += chunk
    # then the first request is answered, and the connection closed after it
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1, answer[:400]
