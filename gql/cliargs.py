"""Argument checks of the `shopbridge` command: bad input is one line with a stable code, exit status 2.

    shopbridge token: BAD_ARGUMENT: argument --ttl: must be a whole number from 1 to 315360000 (got '-5');
    see `shopbridge token --help`

Every value is checked while parsing (an argparse `type=`), before anything starts, so no command runs, and no
traceback shows, on input it would refuse later.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from adapters.config import MAX_TOKEN_TTL_SECONDS
from adapters.text import one_line, shown
from gql.auth import merchant_id_problem

BAD_ARGUMENT = "BAD_ARGUMENT"
USAGE_EXIT = 2
MAX_TTL_SECONDS = MAX_TOKEN_TTL_SECONDS  # the bound of SHOPBRIDGE_TOKEN_TTL too (adapters/config.py)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line with the code `BAD_ARGUMENT` (subparsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        line = one_line(f"{self.prog}: {BAD_ARGUMENT}: {message}; see `{self.prog} --help`", 500)
        print(line, file=sys.stderr)
        raise SystemExit(USAGE_EXIT)


class CommandParser(OneLineParser):
    """A subcommand's parser (`add_subparsers(parser_class=CommandParser)`): an argument it does not know is refused
    by it, `shopbridge serve: BAD_ARGUMENT: unrecognized arguments: --bogus; see `shopbridge serve --help``.

    argparse hands a subcommand's unknown arguments up to the top-level parser, whose line named `shopbridge` and
    pointed at `shopbridge --help`, which lists the commands, not the options the mistake was about."""

    def parse_known_args(  # type: ignore[override]  # typeshed overloads it on the namespace's type
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, unknown = super().parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed, unknown


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse type: an integer in [minimum, maximum], else a message saying which range, with the value."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be a whole number from {minimum} to {maximum} (got {shown(text)})")
        return value

    parse.__name__ = "whole number"
    return parse


port = whole_number(1, 65535)
ttl_seconds = whole_number(1, MAX_TTL_SECONDS)
process_count = whole_number(1, 64)
thread_count = whole_number(1, 256)
healthcheck_seconds = whole_number(1, 3600)  # `serve --timeout-worker-healthcheck`: an hour is already a hung worker
shutdown_seconds = whole_number(1, 3600)  # `serve --timeout-worker-shutdown`: an hour is already a hung worker
start_seconds = whole_number(1, 3600)  # `serve --timeout-worker-start`: an hour is already a hung worker


def _not_text(text: str) -> str | None:
    """Why an argument is not text, or None: on Linux the command line is bytes, which Python decodes as UTF-8 (the
    file system encoding), each byte that is not UTF-8 becoming a lone surrogate (U+DC80 to U+DCFF, PEP 383's
    surrogateescape), which every later check mistook for something else ("control characters", or a traceback where
    the value was encoded). The message shows the bytes given, e.g. `(got b'm\\xff')`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"must be valid UTF-8 text (got {shown(os.fsencode(text))})"
    return None


def merchant_id(text: str) -> str:
    """An argparse type: a merchant id as tokens carry it (1 to 128 characters, no surrounding or control spaces),
    in UTF-8 (`_not_text`)."""
    if (problem := _not_text(text)) is not None:
        raise argparse.ArgumentTypeError(problem)
    if (problem := merchant_id_problem(text)) is not None:
        raise argparse.ArgumentTypeError(f"{problem} (got {shown(text)})")
    return text


def host(text: str) -> str:
    """An argparse type: a non-empty interface name or address without spaces, in UTF-8 (`_not_text`; another was a
    traceback, "encoding of hostname failed")."""
    if (problem := _not_text(text)) is not None:
        raise argparse.ArgumentTypeError(problem)
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"must be an interface name or address, without spaces (got {shown(text)})")
    return text
