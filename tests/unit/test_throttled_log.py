"""`gql.throttled_log.ThrottledLog`: one line per reason and interval, then how many were left out."""

from __future__ import annotations

import logging

from gql.logfilters import WEBSOCKET_ACCEPTED, UnparsableRequestLines, WebSocketLines
from gql.throttled_log import ThrottledLog
from tests.fixtures.waiting import log_lines


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_reason_and_interval_then_the_count_left_out() -> None:
    clock = Clock()
    throttle = ThrottledLog(logging.getLogger("tests.throttled"), 60.0, clock)
    with log_lines("tests.throttled", logging.WARNING) as lines:
        # a flood of one reason within the interval: its first line only; another reason has its own line
        for n in range(500):
            throttle.warning("unauthorized", "refused (%d bytes)", n)
        throttle.warning("too_slow", "slow")
        clock.now += 59.9
        throttle.warning("unauthorized", "refused (%d bytes)", 7)
        # once the interval passed, the next line says how many were left out since the last one
        clock.now += 0.1
        throttle.warning("unauthorized", "refused (%d bytes)", 8)
        throttle.warning("unauthorized", "refused (%d bytes)", 9)
        clock.now += 600
        throttle.warning("unauthorized", "refused (%d bytes)", 10)
        clock.now += 60
        throttle.warning("unauthorized", "refused (%d bytes)", 11)  # none left out since the last: the plain line
    assert lines.messages == [
        "refused (0 bytes)",
        "slow",
        "refused (8 bytes); 500 more like it not logged in the last 60 s",
        "refused (10 bytes); 1 more like it not logged in the last 600 s",
        "refused (11 bytes)",
    ]


def test_uvicorns_line_for_an_unparsable_request_once_an_interval_then_the_count_left_out() -> None:
    clock = Clock()
    logger = logging.getLogger("tests.uvicorn_error")
    lines = UnparsableRequestLines(60.0, clock)
    logger.addFilter(lines)
    try:
        with log_lines("tests.uvicorn_error", logging.WARNING) as captured:
            for _ in range(100):
                logger.warning("Invalid HTTP request received.")
            logger.warning("Something else.")  # any other line passes
            clock.now += 60
            logger.warning("Invalid HTTP request received.")
    finally:
        logger.removeFilter(lines)
    assert captured.messages == [
        "Invalid HTTP request received.",
        "Something else.",
        "Invalid HTTP request received.; 99 more like it not logged in the last 60 s",
    ]


def test_a_websockets_opening_lines_are_debug_lines() -> None:
    # given uvicorn's and the websockets library's lines of a socket, through the filter installed on their loggers
    logger = logging.getLogger("tests.websocket_lines")
    logger.addFilter(WebSocketLines())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    root, previous = logging.getLogger(), logging.getLogger().level
    try:
        # when the root takes INFO (SHOPBRIDGE_LOG_LEVEL's default), then neither is logged, the others are
        root.setLevel(logging.INFO)
        logger.info(WEBSOCKET_ACCEPTED, "127.0.0.1:5000", "/graphql")
        logger.info("connection open")
        logger.info("connection closed")
        logger.info("another line")
        # when it takes DEBUG, then they are logged, as DEBUG lines
        root.setLevel(logging.DEBUG)
        logger.info(WEBSOCKET_ACCEPTED, "127.0.0.1:5000", "/graphql")
        logger.info("connection open")
        assert [(r.levelname, r.getMessage()) for r in records] == [
            ("INFO", "another line"),
            ("DEBUG", '127.0.0.1:5000 - "WebSocket /graphql" [accepted]'),
            ("DEBUG", "connection open"),
        ]
    finally:
        root.setLevel(previous)
        logger.removeHandler(handler)
