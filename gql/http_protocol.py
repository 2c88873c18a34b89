"""The HTTP/1.1 protocol Shopbridge is served with (`HttpProtocol`, given to uvicorn as `http=` by
`gql.serving.protocol_options`): uvicorn's httptools protocol with bounds, before the app sees a request, on its head
(line and headers: 431 `REQUEST_HEADERS_TOO_LARGE` past `MAX_REQUEST_HEAD_BYTES`, 408 `REQUEST_TIMEOUT` when not
received in time) and on its body in time whatever the route does (408, or `Connection: close` after an answer given
with the body unread). A refusal is a lingering close (`LINGER_SECONDS`). The rules and where they come from are in
`HttpProtocol`'s docstring; the app's own limits on a body (size, time from its first read) are `gql.limits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from array import array
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gql.responses import refusal_body
from gql.throttled_log import ThrottledLog

refusals = ThrottledLog(logging.getLogger("shopbridge.http"), interval_seconds=60.0)

# A request's line and headers, all together. Node's and h11's default is 16 KiB, nginx's 4 x 8 KiB; a GET /graphql
# whose document is at the token limit (2,000 tokens) fits, URL-encoded; a larger document goes in a POST's body.
MAX_REQUEST_HEAD_BYTES = 65_536
REQUEST_HEADERS_TOO_LARGE = "REQUEST_HEADERS_TOO_LARGE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"  # as a body too slow (gql/limits.py)
URL_START_BYTES = 64  # longer than any route's path: enough to tell which one a refused head asked for
LINGER_SECONDS = 2.0  # how long a refused request's rest is read and dropped before its socket is closed


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol (its `http="auto"` choice), with bounds on a request's head (its line and
    headers), before the app sees the request:

    - in size: past `MAX_REQUEST_HEAD_BYTES`, 431 `REQUEST_HEADERS_TOO_LARGE` (RFC 6585 sec. 5). uvicorn's httptools
      protocol gathered a URL of any length (`self.url += url`, and httptools a header value alike) until the head
      ended, copying everything received so far at every read: one client with no token, sending a 200 MB request
      line, held the event loop for ~70 s of CPU and the process for ~430 MB (uvicorn 0.54.0, httptools 0.9.0).
      Counted twice over, so that no head escapes however it arrives: as parsed (the URL, and each header's name
      and value with its 4 bytes of separators; the method and version, a few bytes, are not counted), which
      catches a head that arrives whole in one read (a 70 KB header, or 100 of 1 KB, was served, and a 70 KB
      request line got uvicorn's `400 text/plain`, httptools' URL parser taking no more than 65,535 bytes); and
      as read while a head is incomplete, from the read in which its request began (at most one read, 256 KiB,
      more than the head itself), since httptools gathers a header's value without a word until it is whole.
      The parser stops at the first byte past the limit (`_HeadBoundParser`): nothing more of that read is parsed
      or kept. Nothing is counted once the head is complete (a body has the app's own limit,
      `SHOPBRIDGE_MAX_REQUEST_BYTES`).
    - in time: a head not complete within `head_timeout_seconds` of the connection (or, on a kept-alive connection,
      of its first byte), 408 `REQUEST_TIMEOUT`; a new connection that sent nothing in that time is closed without
      an answer. uvicorn bounds neither (its keep-alive timeout starts only after a response): a client with no
      token held a connection, and its file descriptor, for ever by sending nothing or a head a byte at a time.

    - a body in time, whatever the app does: a response started while the request's body is not all in says
      `Connection: close` and the connection is closed after it, lingering (below), so that the unread rest cannot
      keep it (as HTTP/1.1 servers do); and a body not all in within `head_timeout_seconds` of the head's end, with
      no response started `LINGER_SECONDS` later (the app's own deadlines, counted from its first read, answer
      first: `gql.limits.RequestSizeLimit`, the webhook endpoint), is answered 408 `REQUEST_TIMEOUT` here, the app
      told the client left. uvicorn stopped every timer once the head was in: a route that answers without reading
      the body (`GET /healthz` or a 405 with a declared `Content-Length`, a 413) was followed by a body trickled a
      byte every 3 s, each byte cancelling uvicorn's keep-alive timeout, and the connection was held for ever
      with no token (sec50: 300 connections, 300 file descriptors, for 240 s and more).

    A refusal is a lingering close (as nginx's): the answer is sent, our half of the connection shut, and what the
    client still sends read and dropped unparsed for `LINGER_SECONDS` at most before the socket is closed. Closed at
    once, the rest of a head still arriving made the kernel reset the connection, and the client never read the
    answer, only "connection reset".
    """

    _head_bytes = 0  # read while the head is incomplete
    _head_parsed_bytes = 0  # the head's URL and headers, as parsed
    _reading_head = False
    _lingering = False
    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _close_after_response = False  # a response started with the body unread
    _url_start = b""  # the first `URL_START_BYTES` of the request's URL: which route a refusal answers for

    def __init__(self, *args: Any, head_timeout_seconds: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout_seconds = head_timeout_seconds  # `http_protocol(seconds)`: SHOPBRIDGE_REQUEST_BODY_TIMEOUT
        self.parser = _HeadBoundParser(self)
        # as uvicorn sets its own parser (review50: without it, a request with `Connection: close` followed by
        # pipelined bytes was uvicorn's plain-text 400, its answer never sent)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has no leniencies
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stop_body_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        # the blank line that ends the head, and the request line's parts no callback gives: its method (3 bytes
        # at least, GET; a longer one goes uncounted by its excess, 4 at most) and " HTTP/1.1\r\n" (verify50: the
        # limit let 16 bytes more through when the head came in one read)
        self._head_parsed_bytes = 2 + 3 + 1 + 11
        self._url_start = b""
        if self._head_timer is None:  # a kept-alive connection's next request: from its first byte
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        if len(self._url_start) < URL_START_BYTES:  # kept before counting: a URL refused as too large names its route
            self._url_start += url[:URL_START_BYTES]
        self._count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_parsed(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_parsed(self, size: int) -> None:
        self._head_parsed_bytes += size
        if self._head_parsed_bytes > MAX_REQUEST_HEAD_BYTES:
            self._refuse_head_too_large()
            raise _HeadTooLarge  # stops the parser: `_HeadBoundParser.feed_data`

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_timer()
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is None or self.cycle is previous:  # a WebSocket upgrade: no request cycle
            return
        self._close_if_answered_unread(self.cycle)
        if self._body_timer is None:  # stopped by on_message_complete when the body is in (at once if none)
            self._body_timer = self.loop.call_later(self.head_timeout_seconds, self._body_too_slow, self.cycle)

    def on_message_complete(self) -> None:
        self._stop_body_timer()
        super().on_message_complete()

    def _close_if_answered_unread(self, cycle: RequestResponseCycle) -> None:
        """A response started while `cycle`'s body is not all in says `Connection: close`, and the connection is
        closed after it (lingering): the unread rest, trickled, would otherwise keep it open for ever."""
        send = cycle.send

        async def send_closing_if_unread(message: ASGISendEvent) -> None:
            if message["type"] != "http.response.start" or not cycle.more_body or cycle.disconnected:
                await send(message)
                return
            headers = list(message.get("headers", []))
            closes = any(name.lower() == b"connection" and b"close" in value.lower() for name, value in headers)
            if closes:  # the app closes it (a 408): uvicorn closes it at the response's end
                await send(message)
                return
            self._close_after_response = True
            await send({**message, "headers": [*headers, (b"connection", b"close")]})
            cycle.keep_alive = True  # uvicorn would close at once; `on_response_complete` lingers instead

        cycle.send = send_closing_if_unread  # type: ignore[method-assign]

    def on_response_complete(self) -> None:
        if not self._close_after_response:
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        self._stop_body_timer()
        if not self.transport.is_closing():
            self.flow.resume_reading()  # the rest is read and dropped while lingering
            self._linger()

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_too_slow(self, cycle: RequestResponseCycle) -> None:
        """The body is not all in `head_timeout_seconds` after the head: if no response has started
        `LINGER_SECONDS` later, 408 here, and the app reads that the client left (`http.disconnect`)."""
        self._body_timer = None
        if cycle.response_started or self.transport.is_closing() or self._lingering:
            return  # a response started closes the connection after it (`_close_if_answered_unread`)

        def refuse_unless_answered() -> None:
            if cycle.response_started or self.transport.is_closing() or self._lingering:
                return
            if any(queued is cycle for queued, _ in self.pipeline):  # pipelined behind a request still answering:
                return  # the connection is that request's (reading is paused meanwhile), and the app reads no byte
            cycle.disconnected = True  # the app's receive() says the client left, its sends are dropped
            cycle.message_event.set()
            refusals.warning(
                REQUEST_TIMEOUT,
                "request refused: its body not received within %gs of its head",
                self.head_timeout_seconds,
            )
            message = f"The request body did not arrive within {self.head_timeout_seconds:g} seconds."
            self._refuse(408, "Request Timeout", message, REQUEST_TIMEOUT)

        self._body_timer = self.loop.call_later(LINGER_SECONDS, refuse_unless_answered)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a refused request: dropped unparsed
        super().data_received(data)
        if not self._reading_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_REQUEST_HEAD_BYTES:
            self._refuse_head_too_large()

    def _refuse_head_too_large(self) -> None:
        refusals.warning(
            REQUEST_HEADERS_TOO_LARGE,
            "request refused: %s, its line and headers over %d bytes",
            REQUEST_HEADERS_TOO_LARGE,
            MAX_REQUEST_HEAD_BYTES,
        )
        message = f"The request line and headers are larger than {MAX_REQUEST_HEAD_BYTES} bytes."
        self._refuse(431, "Request Header Fields Too Large", message, REQUEST_HEADERS_TOO_LARGE)

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._lingering:
            return
        if not self._reading_head:  # nothing sent on a new connection: closed, as an idle kept-alive one is
            self.transport.close()
            return
        refusals.warning(
            REQUEST_TIMEOUT, "request refused: its line and headers not received within %gs", self.head_timeout_seconds
        )
        message = f"The request line and headers did not arrive within {self.head_timeout_seconds:g} seconds."
        self._refuse(408, "Request Timeout", message, REQUEST_TIMEOUT)

    def _refuse(self, status: int, phrase: str, message: str, code: str) -> None:
        self._reading_head = False
        self._stop_head_timer()
        # In the shape of the route asked for, as far as the request line came in (gql/responses.py): the path is
        # what precedes `?` (a `/graphql?query=…` line too long is still GraphQL's)
        path = self._url_start.partition(b"?")[0].decode("latin-1")
        shaped = refusal_body(path, message, code)
        body = "" if shaped is None else json.dumps(shaped)
        head = f"HTTP/1.1 {status} {phrase}\r\n" + ("" if shaped is None else "content-type: application/json\r\n")
        head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        self.transport.write((head + body).encode())
        self._linger()

    def _linger(self) -> None:
        """Shut our half of the connection, read and drop what the client still sends, close `LINGER_SECONDS` later."""
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        self._lingering = True
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class _HeadTooLarge(Exception):
    """Raised from a parser callback of `HttpProtocol` once the head is past the limit (and refused): stop parsing."""


class _HeadBoundParser(httptools.HttpRequestParser):
    """httptools' parser, which stops at a head refused as too large. A callback's exception reaches `feed_data`'s
    caller as `HttpParserCallbackError`, which uvicorn answers with its own 400 and a WARNING line: the head was
    answered 431 already, and the rest of the connection is dropped unparsed (`HttpProtocol._refuse`)."""

    def feed_data(self, data: bytes | bytearray | memoryview | array[int]) -> None:
        try:
            super().feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadTooLarge):
                raise


def http_protocol(head_timeout_seconds: float) -> Callable[..., HttpProtocol]:
    """`HttpProtocol` whose heads must arrive within `head_timeout_seconds`, for uvicorn's `http=` (which calls it as
    the class). A partial of the module's class, not a class made here: `serve --workers N` pickles the options into
    each worker process, and a class local to a function cannot be pickled (every worker failed to start)."""
    return functools.partial(HttpProtocol, head_timeout_seconds=head_timeout_seconds)
