"""One log event is one line: a message quoting outside text (a document, a TikTok answer, a setting) is escaped
and cut, in the text and the JSON format alike; TikTok's own message is bounded where it enters (issue 12, item 15)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from adapters.logs import MAX_MESSAGE_CHARS, configure_logging
from adapters.text import one_line, shown_path
from adapters.tiktok.errors import MAX_TIKTOK_MESSAGE_CHARS, classify
from tests.fixtures.logs import root_logging_kept


@pytest.fixture
def logged():
    stream = io.StringIO()

    def configure(fmt: str) -> io.StringIO:
        configure_logging("INFO", fmt, stream)
        return stream

    with root_logging_kept():
        yield configure


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_message_quoting_a_huge_multi_line_value_is_one_bounded_line(logged, fmt: str) -> None:
    stream = logged(fmt)
    logging.getLogger("shopbridge.test").info("client error at document: %s", "{\n  name: 1\n}\x1b[2J" * 10_000)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    message = json.loads(lines[0])["event"] if fmt == "json" else lines[0]
    assert "\\n  name: 1\\n}\\x1b[2J" in message  # escaped, still readable
    assert len(message) <= MAX_MESSAGE_CHARS + 200 and message.endswith("characters in all]")


def test_a_traceback_still_follows_its_one_line_message(logged) -> None:
    stream = logged("text")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("shopbridge.test").exception("failed on %s", "a\nb")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("failed on a\\nb") and "Traceback (most recent call last):" in rest


def test_one_line_leaves_short_plain_text_alone_and_marks_a_cut() -> None:
    assert one_line("plain", 10) == "plain"
    assert one_line("x" * 11, 10) == "x" * 10 + "…[cut: 11 characters in all]"
    assert one_line("a\u2028b\r\n", 20) == "a\\u2028b\\r\\n"


def test_a_long_path_is_cut_in_its_middle_so_its_end_stays_readable() -> None:
    assert shown_path("/tmp/short/schema.graphql") == "'/tmp/short/schema.graphql'"
    long = "/tmp/" + "deep/" * 40 + "missing/schema.graphql"
    quoted = shown_path(long, 60)
    assert len(quoted) <= 60 + len("…[999 characters cut]…")
    assert quoted.startswith("'/tmp/") and quoted.endswith("/missing/schema.graphql'")
    assert f"…[{len(long) + 2 - 60} characters cut]…" in quoted
    assert "\n" not in shown_path("/tmp/" + "x" * 100 + "/a\nb")


def test_tiktoks_message_is_bounded_where_it_enters() -> None:
    error = classify(200, {"code": 36009009, "message": "bad\nparam " * 1000, "request_id": "r1"})
    assert error is not None
    assert "\n" not in error.message and len(error.message) <= MAX_TIKTOK_MESSAGE_CHARS + 40
