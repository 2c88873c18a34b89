"""Endpoints for operators and their load balancers: `/healthz`, `/readyz` and `/metrics`.

- `GET /healthz`: 200 `{"status": "ok"}` while the process serves HTTP at all (liveness; touches nothing).
- `GET /readyz`: 200 `{"status": "ready"}` when the database answers and is migrated to head and Redis answers
  (when configured); otherwise 503 `{"status": "unavailable", "problems": [{"check", "reason"}]}`, `check` being
  `starting`, `database`, `migrations` or `redis`. Each check is bounded (2 s).
- `GET /metrics`: Prometheus text exposition (see adapters/metrics.py); open unless `SHOPBRIDGE_METRICS_TOKEN` is
  set, then it needs `Authorization: Bearer <token>` (401 otherwise).
All three are unauthenticated by merchant tokens and cheap.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters import metrics
from adapters.config import Settings
from adapters.readiness import ReadinessProbe
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
        problems = [{"check": "starting", "reason": "the application has not finished starting"}]
    else:
        problems = [{"check": p.check, "reason": p.reason} for p in await probe.problems()]
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


def metrics_endpoint(settings: Settings) -> Route:
    async def endpoint(request: Request) -> Response:
        if settings.metrics_token is not None:
            scheme, _, given = (request.headers.get("authorization") or "").strip().partition(" ")
            valid = hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode())
            if scheme.lower() != "bearer" or not valid:
                return JSONResponse(
                    {"error": "this endpoint needs Authorization: Bearer <SHOPBRIDGE_METRICS_TOKEN>"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        probe = _probe(request)
        if probe is not None:
            await probe.sample_queue_depth((SYNC_QUEUE, LIVE_QUEUE))  # imports and polls; webhooks, pushes
        body, content_type = metrics.exposition(settings.metrics_dir)
        return Response(body, media_type=content_type)

    return Route("/metrics", endpoint, methods=["GET"])


def ops_routes(settings: Settings) -> list[Route]:
    return [Route("/healthz", healthz), Route("/readyz", readyz), metrics_endpoint(settings)]
