"""The Starlette app and its lifespan: the API process's composition root.

`create_app()` wires routes only; nothing connects until the lifespan runs, which builds the database, the
TikTok client, the broker and the event bus, and (embedded default) a worker pool inside this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.routing import Mount, Route, WebSocketRoute

from adapters.config import CALLBACK_PATH, SANDBOX_MOUNT, WEBHOOK_PATH, Settings, load_settings
from adapters.db.engine import Database
from adapters.db.key_check import warn_if_key_reads_no_tokens
from adapters.request_rate import RequestRate
from adapters.tiktok.redaction import install_redaction
from domain.clock import Clock, SystemClock
from gql.callback import tiktok_callback
from gql.console import console_routes
from gql.container import Services, build_core, build_intake
from gql.disconnect import client_gone
from gql.draining import RequestGate, RequestGateMiddleware
from gql.favicon import favicon
from gql.limits import RequestSizeLimit
from gql.logfilters import (
    install_cancelled_at_stop_filter,
    install_embedded_sandbox_access_filter,
    install_sandbox_drop_filter,
    install_strawberry_origin_filter,
    install_unparsable_request_filter,
    install_websocket_lines_filter,
)
from gql.method_not_allowed import method_not_allowed
from gql.ops import ops_routes
from gql.request_ids import RequestIdMiddleware
from gql.responses import GRAPHQL_PATH
from gql.schema import schema
from gql.view import ShopbridgeGraphQL
from gql.webhooks.endpoint import tiktok_webhook

log = logging.getLogger("shopbridge")

DRAIN_SECONDS = 30.0  # how long a stop waits for requests in flight before closing the listener (embedded only)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    settings = settings or load_settings()
    clock = clock or SystemClock()
    # Access lines carry query strings: the code and state of our OAuth callback and of the console it hands them
    # to, and in the embedded default the sandbox's token endpoints with app_secret and refresh tokens.
    install_redaction(("uvicorn.access",))
    install_unparsable_request_filter()  # garbage sent to the port: one WARNING line a minute, not one each
    install_websocket_lines_filter()  # each socket's opening lines: DEBUG, not two INFO lines per socket
    install_strawberry_origin_filter()  # a foreign Origin: our one INFO line a minute, not Strawberry's WARNING each
    install_cancelled_at_stop_filter()  # a request a stop cancelled: one WARNING line, not a CancelledError traceback
    if settings.embedded_sandbox:  # httpx already logs each TikTok call once
        install_embedded_sandbox_access_filter()
        install_sandbox_drop_filter()  # its `drop` fault is no ERROR of ours
    gate = RequestGate(SANDBOX_MOUNT if settings.embedded_sandbox else None)
    # Requests per merchant (and sign-ins per address) within any minute: in Redis when there is one, so that every
    # API process draws on one budget; in this process's memory otherwise (gql/request_rate.py). 0: no cap.
    per_minute = settings.max_requests_per_minute_per_merchant
    request_rate = RequestRate(per_minute, settings.broker_url) if per_minute else None
    view = ShopbridgeGraphQL(
        schema,
        settings.secret_key,
        settings.cors_origins,
        settings.max_request_bytes,
        graphiql_assets_url=settings.graphiql_assets_url,
        max_websockets_per_merchant=settings.max_websockets_per_merchant,
        request_rate=request_rate,
    )
    sandbox = _embedded_sandbox(settings) if settings.embedded_sandbox else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from workers.runtime import start_api_runtime

        db, uow_factory, tiktok, tiktok_closers, cipher = build_core(settings)
        runtime = await start_api_runtime(settings)
        intake = build_intake(db, cipher, clock, runtime.queue)  # its own connection (README, Connections)
        services = Services(
            settings=settings,
            db=db,
            uow_factory=uow_factory,
            tiktok=tiktok,
            queue=runtime.queue,
            events=runtime.events,
            clock=clock,
            intake=intake,
            subscription_finished_kept=settings.subscription_finished_kept,
            cipher=cipher,
            # closed last to first: the intake stores what waits and enqueues it before the worker pool stops
            closers=[*tiktok_closers, runtime.stop, intake.aclose],
        )
        if request_rate is not None:
            services.closers.append(request_rate.aclose)
        await warn_if_key_reads_no_tokens(db, cipher)  # one row: a wrong key is told before merchants see it
        if settings.broker_url is not None:  # embedded, the worker pool's own schema gate says it
            services.closers.append(_say_when_migrations_pending(db, settings.schema_recheck_seconds))
        app.state.services = services

        quiesced = False

        async def quiesce() -> None:
            """Stop what calls this server from inside: the worker pool (imports call the mounted sandbox), then
            the sandbox's webhook deliveries (they call /webhooks/tiktok) and save its state; once. `gql.serving`
            runs it while the server still listens; the lifespan's end for servers that do not (tests)."""
            nonlocal quiesced
            if quiesced:
                return
            quiesced = True
            if sandbox is not None:  # a call held at the sandbox (a test's gate) answered now: it would hold the stop
                sandbox.state.sandbox.stop_holding()
            await runtime.quiesce()
            if sandbox is not None:
                await gate.drain(
                    DRAIN_SECONDS
                )  # requests in flight may call the sandbox (a completion's code exchange)
                await sandbox.state.sandbox.aclose()  # a mounted app gets no lifespan: stop its deliveries here

        app.state.quiesce = quiesce
        log.info("shopbridge ready (%s)", "embedded" if settings.broker_url is None else "redis broker")
        try:
            yield
        finally:
            await quiesce()
            await services.close()

    routes: list[Route | WebSocketRoute | Mount] = [
        *console_routes(request_rate),  # `/` and `/console` lead to the web console
        Route("/favicon.ico", favicon),  # asked for by browsers on every page naming no icon (GraphiQL's)
        *ops_routes(settings),
        Route(GRAPHQL_PATH, view),  # the view answers other methods with a JSON 405
        WebSocketRoute(GRAPHQL_PATH, view),
        Route(CALLBACK_PATH, tiktok_callback),
        Route(WEBHOOK_PATH, tiktok_webhook, methods=["POST"]),
    ]
    if sandbox is not None:
        routes.append(Mount(SANDBOX_MOUNT, app=sandbox))
    middleware = [
        # outermost: every answer and every line logged while serving it (uvicorn's access line too) carry the
        # request's id, /healthz's and the webhook endpoint's as /graphql's (gql/request_ids.py)
        Middleware(RequestIdMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            # a frontend may send its own request id, and read the one the answer carries (gql/view.py)
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id"],
        ),
        # TikTok's pushes are bounded by SHOPBRIDGE_WEBHOOK_MAX_BYTES alone, with the endpoint's empty 413 and its
        # `too_large` count (gql/webhooks/endpoint.py), not the API's JSON error naming the API's cap.
        Middleware(
            RequestSizeLimit,
            max_bytes=settings.max_request_bytes,
            exempt_paths=(WEBHOOK_PATH,),
            body_timeout_seconds=settings.request_body_timeout_seconds,
        ),
    ]
    if sandbox is not None:  # only then does this server call itself (gql.draining)
        middleware.append(Middleware(RequestGateMiddleware, gate=gate))
    # A client hanging up mid-body is one debug line, not an ASGI traceback (gql/disconnect.py); a method a path
    # lacks is the app's JSON error with `Allow`, not Starlette's text/plain (gql/method_not_allowed.py).
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={ClientDisconnect: client_gone, 405: method_not_allowed},
    )


# The end of serve's MIGRATIONS_PENDING line with Redis, and of its INFO line once migrated (`workers.schema_gate`).
API_WAITS = (  # after "...; until then " (`SchemaGate`'s line)
    "/readyz answers 503 `migrations` (this API process runs no background work: the `shopbridge worker` processes "
    "run it, once migrated)"
)
API_STARTS = "/readyz no longer reports `migrations`"


def _say_when_migrations_pending(db: Database, recheck_seconds: float) -> Callable[[], Awaitable[None]]:
    """With Redis the API process has no worker pool, hence no schema gate of its own to tell an operator that the
    database waits for `shopbridge migrate`: only `/readyz`, which a load balancer reads and no one sees. So it
    runs the gate's check too, for its lines only (one MIGRATIONS_PENDING WARNING line, one INFO line once migrated;
    nothing waits for it). Returns the closer that stops it."""
    from workers.schema_gate import SchemaGate

    check = asyncio.create_task(
        SchemaGate(db, recheck_seconds=recheck_seconds, waits=API_WAITS, starts=API_STARTS).wait()
    )

    async def stop() -> None:
        check.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await check

    return stop


def _embedded_sandbox(settings: Settings) -> Starlette:
    from sandbox.app import create_app as create_sandbox_app
    from sandbox.config import SandboxConfig

    return create_sandbox_app(
        SandboxConfig(
            app_key=settings.tiktok.app_key,
            app_secret=settings.tiktok.app_secret,
            service_id=settings.tiktok.service_id,
            redirect_url=settings.callback_url,
            products=settings.sandbox_products,
            orders=settings.sandbox_orders,
            seed=settings.sandbox_seed,
            # The demo's TikTok pushes its webhooks to this very server, over plain http on loopback (TikTok itself
            # requires https on a domain), and keeps its sellers, tokens and data across restarts of `make run`.
            webhook_url=settings.webhook_url,
            allow_insecure_webhook_urls=True,
            state_dir=str(settings.data_dir / "sandbox"),
        )
    )
