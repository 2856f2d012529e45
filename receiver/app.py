"""The receiver's ASGI app: webhook intake (``receiver.intake``), event feed, health, metrics."""

from __future__ import annotations

import hmac
import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mmq.settings import Settings
from receiver.intake import WebhookIntake
from receiver.metrics import ReceiverMetrics
from receiver.store import LandingStore, StoreUnavailable
from receiver.verify import Verifier

log = logging.getLogger("receiver")

WEBHOOK_PATH = "/webhooks/integrations"
FEED_DEFAULT_LIMIT = 1000
FEED_MAX_LIMIT = 5000
FEED_MAX_BYTES = 8 * 1024 * 1024
MAX_SEQ = 2**63 - 1
RETRY_AFTER_SECONDS = "5"


def bearer_token_matches(authorization: str | None, expected: bytes) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    # compare_digest on bytes of any length, so the time taken says nothing about the token
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("latin-1"), expected
    )


def parse_cursor(value: str | None, default: int, low: int, high: int) -> int | None:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if low <= number <= high else None


def iso_utc(moment: object) -> str | None:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat()
    return None if moment is None else str(moment)  # DuckDB hands out-of-range values as text


def feed_event(row: tuple) -> dict:
    return {
        "seq": row[0],
        "event_id": row[1],
        "webhook_id": row[2],
        "event_type": row[3],
        # the landing session runs in UTC (store.py); the feed always speaks UTC too
        "event_timestamp": iso_utc(row[4]),
        "received_at": iso_utc(row[5]),
        "is_parseable": row[6],
        "is_known_type": row[7],
        "is_test": row[8],
        "body": row[9].decode("utf-8", errors="replace"),  # raw bytes stay in raw_events
    }


class ReceiverApp:
    """Webhook deliveries go straight to the intake; everything else (feed, health, metrics,
    lifespan) to a Starlette app. The hot path skips Starlette's middleware and router: per
    request they cost about as much as verifying the signature."""

    def __init__(self, intake: WebhookIntake, rest: Starlette) -> None:
        self.intake = intake
        self.rest = rest
        self.state = rest.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await self.intake(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


def create_app(settings: Settings, store: LandingStore | None = None) -> ReceiverApp:
    verifier = Verifier(settings.webhook_secrets)  # raises SecretError before anything starts
    store = store or LandingStore(
        settings.landing_path,
        batch_max_events=settings.receiver_batch_max_events,
        batch_max_ms=settings.receiver_batch_max_ms,
        memory_limit_mb=settings.receiver_memory_limit_mb,
    )
    metrics = ReceiverMetrics()
    store.on_commit = metrics.observe_commit
    metrics.queued.set_function(lambda: store.queued)
    metrics.latest_seq.set_function(lambda: store.last_seq)
    metrics.store_up.set_function(lambda: 1 if store.is_open and store.broken is None else 0)
    feed_token = settings.feed_token.get_secret_value().encode() if settings.feed_token else None
    intake = WebhookIntake(verifier, store, metrics, settings.receiver_max_body_bytes)

    async def events(request: Request) -> Response:
        if feed_token is None:
            return JSONResponse({"error": "the feed is disabled: set MMQ_FEED_TOKEN"}, 403)
        if not bearer_token_matches(request.headers.get("authorization"), feed_token):
            return JSONResponse(
                {"error": "missing or invalid bearer token"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        after = parse_cursor(request.query_params.get("after"), 0, 0, MAX_SEQ)
        count = parse_cursor(
            request.query_params.get("limit"), FEED_DEFAULT_LIMIT, 1, FEED_MAX_LIMIT
        )
        if after is None or count is None:
            return JSONResponse(
                {"error": f"after must be an integer ≥ 0 and limit one in 1..{FEED_MAX_LIMIT}"},
                400,
            )
        try:
            rows = await store.read_feed(after, count, FEED_MAX_BYTES)
        except StoreUnavailable:
            return JSONResponse(
                {"error": "landing store unavailable; retry later"},
                503,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        out = [feed_event(row) for row in rows]
        next_after = out[-1]["seq"] if out else after
        latest = store.last_seq
        # A cursor past the end (say, kept from a reset landing file) hands nothing out: it must
        # not hide the backlog from the freshness gauge, so only a real position counts.
        if next_after <= latest:
            store.fed_seq = max(store.fed_seq, next_after)
        return JSONResponse(
            {
                "events": out,
                "next_after": next_after,
                "has_more": next_after < latest,
                "latest_seq": latest,
            }
        )

    async def healthz(_request: Request) -> Response:
        ok = store.is_open and store.broken is None
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "latest_seq": store.last_seq},
            status_code=200 if ok else 503,
            headers=None if ok else {"Retry-After": RETRY_AFTER_SECONDS},
        )

    async def metrics_endpoint(_request: Request) -> Response:
        metrics.oldest_unfed.set(await store.oldest_unfed_age())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_app: Starlette):
        if not store.is_open:
            store.open()
        await store.start()
        try:
            yield
        finally:
            await store.close()  # commits what is queued before the process exits

    rest = Starlette(
        routes=[
            Route("/events", events, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    rest.state.store = store
    rest.state.metrics = metrics
    rest.state.verifier = verifier
    return ReceiverApp(intake, rest)
