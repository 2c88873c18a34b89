"""The `shopbridge` command: serve, migrate, token, worker, sandbox, demo, export-schema."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.config import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _settings() -> Settings:
    from adapters.config import load_settings

    return load_settings()


def cmd_migrate(args: argparse.Namespace) -> int:
    from adapters.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"migrations applied to {_safe_url(settings.database_url)}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from gql.auth import issue_token

    settings = _settings()
    print(issue_token(settings.secret_key, args.merchant_id, args.ttl or settings.merchant_token_ttl_seconds))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    if args.workers > 1 and settings.broker_url is None:
        print(
            "shopbridge: --workers > 1 needs SHOPBRIDGE_BROKER_URL (Redis): the embedded worker pool and its "
            "in-process events live in one process.",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(
        "gql.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        ws_max_size=settings.max_request_bytes,  # uvicorn closes with 1009 beyond it, before Strawberry parses
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`make run`: migrate the embedded SQLite database, print a merchant token, and serve."""
    from adapters.db.migrate import upgrade
    from gql.auth import issue_token

    settings = _settings()
    upgrade(settings.database_url)
    token = issue_token(settings.secret_key, args.merchant_id, settings.merchant_token_ttl_seconds)
    base = settings.public_url
    mode = "embedded sandbox" if settings.embedded_sandbox else f"TikTok at {settings.tiktok.api_url}"
    print(
        f"""
  Shopbridge is starting ({mode}, database {_safe_url(settings.database_url)}).

  GraphiQL:         {base}/graphql
  Sandbox consent:  {base}/sandbox/oauth/authorize (TikTok's stand-in)

  Paste this into GraphiQL's Headers tab (merchant "{args.merchant_id}"):
  {{"Authorization": "Bearer {token}"}}

  Then try:  mutation {{ shopAuthorizationStart(input: {{region: US, name: "My US shop", regionConfirmed: true}})
               {{ authorizationUrl userErrors {{ code message }} }} }}
""",
        flush=True,
    )
    args.workers = 1
    return cmd_serve(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.cli import run_worker

    return run_worker(processes=args.processes, threads=args.threads)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.cli import run_from_args

    run_from_args(args)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from gql.schema import printed_schema

    Path(args.output).write_text(printed_schema())
    print(f"wrote {args.output}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopbridge", description="Shopbridge: TikTok Shop for your store.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the GraphQL API")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (needs Redis when > 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="migrate, print a merchant token, and serve (what `make run` does)")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--merchant-id", default="demo-merchant")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("migrate", help="apply the database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("token", help="print a merchant's API token on the last line")
    p.add_argument("merchant_id")
    p.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default SHOPBRIDGE_TOKEN_TTL)")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("worker", help="run Dramatiq worker processes for sync tasks (needs Redis)")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("sandbox", help="run the stand-in TikTok Shop server")
    from sandbox.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    p.add_argument("--output", default="schema.graphql")
    p.set_defaults(func=cmd_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback, for configuration mistakes
        from adapters.config import ConfigError

        if isinstance(exc, ConfigError):
            print(f"shopbridge: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
