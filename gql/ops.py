"""Endpoints for operators and their load balancers: `/healthz`, `/readyz` and `/metrics`.

- `GET /healthz`: 200 `{"status": "ok"}` while the process serves HTTP at all (liveness; touches nothing).
- `GET /readyz`: 200 `{"status": "ready"}` when the database answers, takes writes and is migrated to this code's
  head or to a later release's revision (then with `notes`); 200 `{"status": "degraded", "degraded": [...]}` when
  only Redis is down; otherwise 503 `{"status": "unavailable", "problems": [{"check", "reason"}]}`, `check` being
  `starting`, `database`, `read_only` or `migrations` (adapters/readiness.py). Each check is bounded (2 s).
- `GET /metrics`: Prometheus text exposition (see adapters/metrics.py); open unless `SHOPBRIDGE_METRICS_TOKEN` is
  set, then it needs `Authorization: Bearer <token>`: otherwise 401 `{"error": {"code": "UNAUTHENTICATED",
  "message"}}`, the shape of every refusal off `/graphql` (gql/responses.py), with RFC 6750's challenge
  (gql/auth.py, `bearer_challenge`). It answered `{"error": "<text>"}`, the one refusal of the server without a
  code (small56).
  Two `Authorization` lines are 400 `BAD_REQUEST` first, as on /graphql (gql/responses.py, `ambiguous_credentials`);
  without the token nothing reads the header, and nothing refuses it.
All three are unauthenticated by merchant tokens and cheap.
"""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters import metrics
from adapters.config import Settings
from adapters.readiness import Problem, Readiness, ReadinessProbe
from gql.auth import bearer_challenge
from gql.responses import ambiguous_credentials, refusal_response
from workers.broker import LIVE_QUEUE, SYNC_QUEUE


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _probe(request: Request) -> ReadinessProbe | None:
    """The app's probe, made on first use over the lifespan's database; None while the app is starting."""
    state = request.app.state
    services = getattr(state, "services", None)
    if services is None:
        return None
    probe: ReadinessProbe | None = getattr(state, "readiness", None)
    if probe is None:
        probe = state.readiness = ReadinessProbe(services.db, services.settings.broker_url)
        services.closers.append(probe.aclose)
    return probe


async def readyz(request: Request) -> Response:
    probe = _probe(request)
    if probe is None:
        readiness = Readiness(problems=(Problem("starting", "the application has not finished starting"),))
    else:
        readiness = await probe.check()
    return JSONResponse(readiness.body(), status_code=200 if readiness.ready else 503)


UNAUTHENTICATED = "UNAUTHENTICATED"  # the code of /graphql's 401 too
METRICS_REALM = "metrics"  # RFC 7235 sec. 2.2: the protection space; /metrics' token is not a merchant's


def _refused_credentials(request: Request, token: str) -> Response | None:
    """None when the request's `Authorization` is `Bearer <token>` (scheme in any case, RFC 7235 sec. 2.1), else the
    401: "Send an Authorization: Bearer <SHOPBRIDGE_METRICS_TOKEN> header." without a bearer token, "The token is
    not SHOPBRIDGE_METRICS_TOKEN." with another one."""
    scheme, _, given = (request.headers.get("authorization") or "").strip().partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        message, invalid_token = "Send an Authorization: Bearer <SHOPBRIDGE_METRICS_TOKEN> header.", False
    elif not hmac.compare_digest(given.encode(), token.encode()):
        message, invalid_token = "The token is not SHOPBRIDGE_METRICS_TOKEN.", True
    else:
        return None
    headers = {"WWW-Authenticate": bearer_challenge(METRICS_REALM, invalid_token)}
    return refusal_response(request.scope, 401, message, UNAUTHENTICATED, headers)


def metrics_endpoint(settings: Settings) -> Route:
    async def endpoint(request: Request) -> Response:
        if settings.metrics_token is not None:
            refusal = ambiguous_credentials(request.scope) or _refused_credentials(request, settings.metrics_token)
            if refusal is not None:
                return refusal
        probe = _probe(request)
        if probe is not None:  # the dependency gauges, fresh even where no load balancer asks this process
            await asyncio.gather(probe.check(), probe.sample_queue_depth((SYNC_QUEUE, LIVE_QUEUE)))
        body, content_type = metrics.exposition(settings.metrics_dir)
        return Response(body, media_type=content_type)

    return Route("/metrics", endpoint, methods=["GET"])


def ops_routes(settings: Settings) -> list[Route]:
    return [Route("/healthz", healthz), Route("/readyz", readyz), metrics_endpoint(settings)]
