"""`POST /webhooks/tiktok`: verify, store, answer; processing is a worker's job (live-sync.md §2.2, §7.6).

    body over SHOPBRIDGE_WEBHOOK_MAX_BYTES (declared or streamed)   413, empty
    body not all in within SHOPBRIDGE_REQUEST_BODY_TIMEOUT seconds   408, empty (a slowloris held it for ever)
    two Authorization header lines, whatever their values            400, empty, nothing stored (before the body)
    Authorization missing or not the body's signature                401, empty, nothing stored
    signed, but not JSON, not an object, `type` not an integer       400, empty, logged, nothing stored
      from 0 to 2^31 - 1, `data` neither an object nor null, or an
      id of a wrong type (not 64 printable characters or digits);
      NaN, Infinity and -Infinity are not JSON (RFC 8259)
    any other signed object (stored, or already stored: a retry)     200, empty; processing enqueued afterwards
      (missing ids or data are stored: IGNORED/UNKNOWN_SHOP, or FAILED/MALFORMED_EVENT when processed)
    the database refused the write                                   500, empty: TikTok retries (never 200 then)
    its shop's delete holds the shop (PostgreSQL)                    500 at once, nothing stored: TikTok retries

Two Authorization lines are refused as on /graphql (gql/responses.py, `ambiguous_credentials`), counted `malformed`:
the first one was taken as the signature (small56).

Refusals (401, 408, 400) are logged one line per reason and minute at most, with how many were left out since
(`REFUSAL_LOG_INTERVAL_SECONDS`): anyone can send forged ones; each is counted in the metric all the same.

TikTok wants the answer within 3 s, so nothing here calls TikTok. Concurrent pushes are stored together, in one
transaction, each answered once that transaction committed (`gql/webhooks/batcher.py`, group commit); the
processing is enqueued after the commit, once per shop and batch.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from adapters.metrics import WEBHOOKS_RECEIVED, webhook_event_received
from adapters.tiktok.webhooks import MalformedWebhookError, is_authentic, parse_notification
from gql.limits import BodyTooSlowError, body_within
from gql.responses import ambiguous_credentials
from gql.throttled_log import ThrottledLog
from gql.webhooks.batcher import IntakeUnavailableError

log = logging.getLogger("shopbridge.webhooks")
# Refusals anyone can send (no signature, a slow body) or a signed sender repeat: one line per reason a minute at
# most, each still counted in shopbridge_webhooks_received_total{outcome} (gql/throttled_log.py).
REFUSAL_LOG_INTERVAL_SECONDS = 60.0


def _refusals(request: Request) -> ThrottledLog:
    """The app's throttle of refusal lines, made on first use: one per app (a test's server starts afresh)."""
    state = request.app.state
    if getattr(state, "webhook_refusals", None) is None:
        state.webhook_refusals = ThrottledLog(log, REFUSAL_LOG_INTERVAL_SECONDS)
    throttle: ThrottledLog = state.webhook_refusals
    return throttle


async def tiktok_webhook(request: Request) -> Response:
    """The answer, counted in `shopbridge_webhooks_received_total{outcome}` (adapters/metrics.py)."""
    response, outcome = await _answer(request)
    WEBHOOKS_RECEIVED.labels(outcome).inc()
    return response


async def _answer(request: Request) -> tuple[Response, str]:
    services = request.app.state.services
    if (ambiguous := ambiguous_credentials(request.scope)) is not None:
        _refusals(request).warning("ambiguous", "webhook refused: several Authorization headers, ambiguous signature")
        return ambiguous, "malformed"
    limit: int = services.settings.webhook_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return (
            (Response(status_code=413), "too_large") if declared.isdigit() else (Response(status_code=400), "malformed")
        )
    body = bytearray()
    seconds = services.settings.request_body_timeout_seconds
    try:
        async for chunk in body_within(request.stream(), seconds):
            body += chunk
            if len(body) > limit:
                return Response(status_code=413), "too_large"
    except BodyTooSlowError:
        _refusals(request).warning(
            "too_slow", "webhook refused: body not received within %gs (%d bytes in)", seconds, len(body)
        )
        return Response(status_code=408, headers={"Connection": "close"}), "too_slow"
    raw = bytes(body)
    if not is_authentic(services.settings.tiktok, raw, request.headers.get("authorization")):
        _refusals(request).warning("unauthorized", "webhook refused: missing or wrong signature (%d bytes)", len(raw))
        return Response(status_code=401), "unauthorized"
    try:
        notification = parse_notification(raw)
    except MalformedWebhookError as exc:
        _refusals(request).warning("malformed", "signed webhook refused, not an envelope: %s", exc)
        return Response(status_code=400), "malformed"
    try:
        event = await services.intake.submit(notification)
    except IntakeUnavailableError:  # the batcher logged the cause once for its batch: one line, not one per push
        webhook_event_received(notification.type, "failed")
        return Response(status_code=500), "failed"
    except Exception as exc:  # the intake closed (shutting down)
        log.warning(
            "could not store a webhook (type %s), answering 500 so that TikTok retries: %s", notification.type, exc
        )
        webhook_event_received(notification.type, "failed")
        return Response(status_code=500), "failed"
    if event is None:
        webhook_event_received(notification.type, "duplicate")
        return Response(status_code=200), "duplicate"
    webhook_event_received(notification.type, "stored", event)
    return Response(status_code=200), "stored"
