"""Text that came from outside (a client's input, an environment value, TikTok's message) made safe to show.

`one_line(text, limit)` is what every error message and log line that can carry such text goes through: one
line (control characters, CR and LF included, escaped as `\\n`, `\\x1b`...), and at most `limit` characters,
cut with a marker that says how long the text was. A log line is then one event, however big the input.
`shown_path(path, limit)` quotes a file path the same way but cuts its middle: the end of a path (the directory
that is missing, the file's name) is what the reader needs, and a deep temporary directory must not push it out.
"""

from __future__ import annotations

import re

CUT_MARKER = "…[cut: {total} characters in all]"
MIDDLE_CUT_MARKER = "…[{cut} characters cut]…"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: anything a terminal or a log
# shipper may take as a line break or an escape sequence.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def one_line(text: str, limit: int) -> str:
    """`text` with control characters escaped, cut to `limit` characters (plus the marker) when longer."""
    escaped = _CONTROL.sub(_escape, text[: limit + 1])
    if len(text) <= limit and len(escaped) <= limit:
        return escaped
    return escaped[:limit] + CUT_MARKER.format(total=len(text))


def shown(value: object, limit: int = 80) -> str:
    """A value as quoted in an error message: its repr, on one line, cut at `limit` characters."""
    return one_line(repr(value), limit)


def shown_path(value: object, limit: int = 80) -> str:
    """A file path as quoted in an error message: its repr, on one line; when longer than `limit` characters,
    its middle is cut (marked with how many characters) and its start and its end, the file's name, are kept."""
    escaped = _CONTROL.sub(_escape, repr(str(value)))
    if len(escaped) <= limit:
        return escaped
    head = limit // 4
    tail = limit - head
    return escaped[:head] + MIDDLE_CUT_MARKER.format(cut=len(escaped) - limit) + escaped[-tail:]
