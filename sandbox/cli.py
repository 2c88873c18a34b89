"""`shopbridge sandbox` / `python -m sandbox`: serve the sandbox with uvicorn; flags mirror SandboxConfig.

Flags (a contract) and defaults: --host 127.0.0.1 --port 8100 --app-key sandbox-app-key
--app-secret sandbox-app-secret --service-id 7000000000000000001 (none of the three empty, blank or space-padded)
--redirect-url http://127.0.0.1:8000/oauth/tiktok/callback --products 40 --orders 120 --seed 1 (at most 100000
and 300000 per shop);
extras: --access-token-ttl 604800 --refresh-token-ttl 31536000 --rate-limit 50 (0 = unlimited) --latency-ms 0
--product-search-cap 10000 --log-level info; webhooks: --webhook-url URL --webhook-retry-factor 1
--allow-insecure-webhooks --authorization-ttl 31536000; --state-dir DIR keeps state across restarts.

Exit status 2 for a bad flag (argparse's) and for an address it cannot listen on (`cannot_listen`: one line, its code
CANNOT_LISTEN first, as `shopbridge sandbox` says it), before anything is printed or written.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
import uvicorn.config

from sandbox.config import (
    DEFAULT_APP_KEY,
    DEFAULT_APP_SECRET,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REDIRECT_URL,
    DEFAULT_SERVICE_ID,
    MAX_ORDERS_PER_SHOP,
    MAX_PRODUCTS_PER_SHOP,
    SandboxConfig,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _whole(minimum: int, maximum: int = 2**31 - 1) -> Callable[[str], int]:
    """An argparse type: an integer in [minimum, maximum] (bad input is an argparse error, not a traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be a whole number from {minimum} to {maximum} (got {text[:40]!r})")
        return value

    return parse


def _number(minimum: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number >= minimum (> minimum when `above`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            bound = f"more than {minimum}" if above else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be a number {bound} (got {text[:40]!r})")
        return value

    return parse


_port, _count, _seconds = _whole(1, 65535), _whole(0), _whole(1)
LOG_LEVELS = tuple(uvicorn.config.LOG_LEVELS)  # uvicorn's own names: critical, error, warning, info, debug, trace


def _log_level(text: str) -> str:
    """An argparse type: one of uvicorn's log levels, any case (another failed uvicorn's start with a KeyError)."""
    if text.strip().lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)} (got {text[:40]!r})")
    return text.strip().lower()


def _state_dir(text: str) -> str:
    """An argparse type: a directory the sandbox can keep its state in, an existing one or one it can create. Another
    (a file, a path under /proc, a read-only mount) was taken, and the state was lost at the first save, with a
    warning. Checked by making it, then removing what the check made: the sandbox makes it when it starts
    (sandbox/statedir.py), and a refusal after the arguments are read (`shopbridge sandbox` on a busy port)
    leaves nothing behind."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a directory")
    made = [p for p in (path, *path.parents) if not p.exists()]  # deepest first: the directories mkdir will make
    try:
        path.mkdir(parents=True, exist_ok=True)
        writable = os.access(path, os.W_OK | os.X_OK)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot use {text[:80]!r} as a directory ({exc.strerror})") from None
    finally:
        for directory in made:
            with contextlib.suppress(OSError):  # not made after all, or no longer empty: left as it is
                directory.rmdir()
    if not writable:
        raise argparse.ArgumentTypeError(f"cannot write in {text[:80]!r}")
    return text


def _http_url(text: str) -> str:
    """An argparse type: an absolute http(s) URL with a host (another was taken, and then led nowhere: a consent
    page redirecting to it, or pushes never delivered)."""
    scheme, sep, rest = text.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or scheme.lower() not in ("http", "https") or not host or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(f"must be an http(s) URL like http://127.0.0.1:8000/path (got {text[:80]!r})")
    return text


def _credential(text: str) -> str:
    """An argparse type: an app key, app secret or service id, not empty or blank, with no space at either end and no
    control character. Such a value was taken, and the sandbox then served an app no client could sign for:
    Shopbridge refuses a blank SHOPBRIDGE_TIKTOK_APP_KEY and trims the spaces of another. The refusal does not
    repeat the value (it may be a secret)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty or blank")
    if text != text.strip() or not text.isprintable():
        raise argparse.ArgumentTypeError("must have no space at either end and no control character")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's flags to `parser` (so `shopbridge sandbox` can reuse them)."""
    defaults = SandboxConfig()
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port to listen on (default %(default)s)")
    parser.add_argument(
        "--app-key", type=_credential, default=DEFAULT_APP_KEY, help="registered app key (default %(default)s)"
    )
    parser.add_argument(
        "--app-secret", type=_credential, default=DEFAULT_APP_SECRET, help="registered app secret (default %(default)s)"
    )
    parser.add_argument(
        "--service-id", type=_credential, default=DEFAULT_SERVICE_ID, help="registered service id (default %(default)s)"
    )
    parser.add_argument(
        "--redirect-url",
        type=_http_url,
        default=DEFAULT_REDIRECT_URL,
        help="registered redirect URL (default %(default)s)",
    )
    parser.add_argument(
        "--products",
        type=_whole(0, MAX_PRODUCTS_PER_SHOP),
        default=defaults.products,
        help=f"products per shop, at most {MAX_PRODUCTS_PER_SHOP} (default %(default)s)",
    )
    parser.add_argument(
        "--orders",
        type=_whole(0, MAX_ORDERS_PER_SHOP),
        default=defaults.orders,
        help=f"orders per shop, at most {MAX_ORDERS_PER_SHOP} (default %(default)s)",
    )
    parser.add_argument("--seed", type=_whole(-(2**31)), default=defaults.seed, help="data seed (default %(default)s)")
    parser.add_argument(
        "--rare-cases",
        action="store_true",
        help="make a share of generated orders fulfilled by TikTok (FBT) or cancelled after shipping (default: none)",
    )
    parser.add_argument(
        "--access-token-ttl", type=_seconds, default=defaults.access_token_ttl, help="seconds (default 7 days)"
    )
    parser.add_argument(
        "--refresh-token-ttl", type=_seconds, default=defaults.refresh_token_ttl, help="seconds (default 365 days)"
    )
    parser.add_argument(
        "--rate-limit",
        type=_number(0),
        default=defaults.rate_limit,
        help="requests/s per API, app and shop; 0 = unlimited (default %(default)s)",
    )
    parser.add_argument("--latency-ms", type=_count, default=0, help="added latency per request (default 0)")
    parser.add_argument(
        "--product-search-cap",
        type=_whole(1),  # SandboxConfig's rule: a cap of 0 answers no search (its ValueError was a traceback)
        default=defaults.product_search_cap,
        help="Search Products result cap, 1 or more (default %(default)s)",
    )
    parser.add_argument(
        "--webhook-url", type=_http_url, default=None, help="app-wide webhook URL (default: none, no pushes)"
    )
    parser.add_argument(
        "--webhook-retry-factor",
        type=_number(0, above=True),
        default=defaults.webhook_retry_factor,
        help="divide TikTok's webhook retry schedule (2 min, 30 min, 3 h, 12 h) by this (default %(default)s)",
    )
    parser.add_argument(
        "--allow-insecure-webhooks",
        action="store_true",
        help="let the Event API register http loopback URLs with a port (TikTok requires https, a domain, no port)",
    )
    parser.add_argument(
        "--authorization-ttl", type=_seconds, default=defaults.authorization_ttl, help="seconds (default 365 days)"
    )
    parser.add_argument(
        "--state-dir",
        type=_state_dir,
        default=None,
        help="keep tokens and data in this directory across restarts, created when the sandbox starts if missing "
        "(default: memory)",
    )
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default="info",
        help=f"uvicorn log level: {', '.join(LOG_LEVELS)} (default %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        app_key=args.app_key,
        app_secret=args.app_secret,
        service_id=args.service_id,
        redirect_url=args.redirect_url,
        products=args.products,
        orders=args.orders,
        seed=args.seed,
        rare_cases=args.rare_cases,
        access_token_ttl=args.access_token_ttl,
        refresh_token_ttl=args.refresh_token_ttl,
        rate_limit=args.rate_limit or None,
        latency_ms=args.latency_ms,
        product_search_cap=args.product_search_cap,
        webhook_url=args.webhook_url,
        webhook_retry_factor=args.webhook_retry_factor,
        allow_insecure_webhook_urls=args.allow_insecure_webhooks,
        authorization_ttl=args.authorization_ttl,
        state_dir=args.state_dir,
    )


# Query parameters TikTok's endpoints take credentials in (GET /api/v2/token/get?app_secret=..&auth_code=..): masked in
# the access log as Shopbridge masks them (adapters/tiktok/redaction.py, which the sandbox may not import: it
# stands alone, pyproject's import-linter contracts). `sign` too: with the app secret it is a replayable request.
_SECRET_PARAMS = re.compile(
    r"((?<![^?&])(?:app_secret|auth_code|refresh_token|access_token|sign|code|state)=)[^&\s\"']+", re.IGNORECASE
)


def redact(text: str) -> str:
    """`text` with the value of every credential-carrying query parameter replaced by `***`."""
    return _SECRET_PARAMS.sub(r"\1***", text)


class RedactQueryFilter(logging.Filter):
    """Masks credentials in uvicorn's access lines, whose arguments are (client, method, path?query, version,
    status): the strings among them are rewritten, the rest (the status, an int the formatter needs) kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def run_from_args(args: argparse.Namespace) -> None:
    """Serve until interrupted (`python -m sandbox`; `shopbridge sandbox` serves `app_from_args` its own way)."""
    uvicorn.run(app_from_args(args), host=args.host, port=args.port, log_level=args.log_level)


def app_from_args(args: argparse.Namespace) -> Starlette:
    """The sandbox app `args` describe, its consent page's link printed and uvicorn's access lines redacted."""
    config = config_from_args(args)
    # The one line a person needs to start clicking.
    print(
        f"TikTok Shop sandbox: consent page http://{args.host}:{args.port}/oauth/authorize"
        f"?service_id={config.service_id}&state=demo"
    )
    access = logging.getLogger("uvicorn.access")  # kept by uvicorn's logging set-up, which adds no filter of its own
    if not any(isinstance(f, RedactQueryFilter) for f in access.filters):
        access.addFilter(RedactQueryFilter())
    # Imported here, not with this module: `shopbridge` builds its parser from `add_arguments` for every command, and
    # the app's modules (Starlette's routing, the sandbox's API) cost each command that serves no sandbox (a
    # refusal, `token`, `migrate`, `worker`) ~0.3 s of CPU (measured, suitea69).
    from sandbox.app import create_app

    return create_app(config)


CANNOT_LISTEN = "CANNOT_LISTEN"  # the stable code of the refusal of --host/--port, as `shopbridge sandbox` has it
USAGE_ERROR = 2  # argparse's exit status for a bad flag: an address that cannot be served is one too


def cannot_listen(host: str, port: int) -> str | None:
    """The refusal's one line (`sandbox: CANNOT_LISTEN: cannot listen on HOST:PORT (reason); ...`) naming the flag to
    change: --host when it is no address of this machine (EADDRNOTAVAIL, or a name that does not resolve), else
    --port (taken: EADDRINUSE; privileged: EACCES); None when `host`:`port` can be bound.

    Asked before the server starts: uvicorn binds after the application started, so a busy port printed the consent
    page's link, ran the application's start-up and shutdown (which saves the --state-dir state file) and ended with
    an ERROR line and exit status 3. `shopbridge sandbox` asks gql/cli.py's own probe, which also names the
    SHOPBRIDGE_ settings to match; this one stays here because the sandbox imports nothing of the rest."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            cannot = f"sandbox: {CANNOT_LISTEN}: cannot listen on {host}:{port} ({exc.strerror})"
            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                return (
                    f"{cannot}: {host} is not an address of this machine; choose another host with --host "
                    f"({DEFAULT_HOST} for this machine alone, 0.0.0.0 for every interface)"
                )
            return f"{cannot}; choose another port with --port"
    return None


def main(argv: list[str] | None = None) -> None:
    """`python -m sandbox`: parse the flags, check the address can be listened on (else `cannot_listen`'s line on
    stderr, exit status 2, nothing printed or saved), serve until interrupted."""
    parser = argparse.ArgumentParser(prog="sandbox", description="A stand-in TikTok Shop Open API server.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if (problem := cannot_listen(args.host, args.port)) is not None:
        print(problem, file=sys.stderr)
        raise SystemExit(USAGE_ERROR)
    run_from_args(args)
