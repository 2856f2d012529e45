"""The receiver's ASGI app: webhook intake, event feed, health and metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mmq.settings import Settings
from receiver.events import landing_row
from receiver.metrics import ReceiverMetrics
from receiver.store import LandingStore, StoreUnavailable
from receiver.verify import Verifier

log = logging.getLogger("receiver")
FEED_MAX_LIMIT = 5000
FEED_MAX_BYTES = 8 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings, store: LandingStore | None = None) -> Starlette:
    verifier = Verifier(settings.webhook_secrets)  # raises SecretError before anything starts
    store = store or LandingStore(
        settings.landing_path,
        batch_max_events=settings.receiver_batch_max_events,
        batch_max_ms=settings.receiver_batch_max_ms,
    )
    metrics = ReceiverMetrics()
    store.on_commit = metrics.observe_commit
    metrics.oldest_unfed.set_function(lambda: store.oldest_unfed_age() if store.conn else 0.0)
    feed_token = settings.feed_token.get_secret_value().encode() if settings.feed_token else None
    limit = settings.receiver_max_body_bytes

    def reject(cause: str, status: int, message: str, headers: dict | None = None) -> Response:
        metrics.rejected.labels(cause).inc()
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def webhook(request: Request) -> Response:
        if request.method != "POST":
            return reject("unsupported_method", 405, "use POST", {"Allow": "POST"})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return reject("unsupported_content_type", 415, "content type must be application/json")
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return reject("too_large", 413, f"body exceeds {limit} bytes")
        headers = {k: request.headers[k] for k in request.headers if k.startswith("webhook-")}
        if not verifier.is_authentic(body, headers):
            log.info(
                "rejected delivery %r: signature verification failed",
                headers.get("webhook-id", "")[:100],
            )
            return reject("verification_failed", 401, "invalid webhook signature")
        row = landing_row(body, dict(request.headers))
        try:
            landed = await store.land(row)
        except StoreUnavailable:
            return reject(
                "store_unavailable", 503, "landing store unavailable; retry", {"Retry-After": "5"}
            )
        if not landed:
            metrics.duplicates.inc()
            return JSONResponse({"status": "duplicate", "event_id": row.event_id})
        metrics.accepted.inc()
        if not row.is_parseable:
            metrics.unparseable.inc()
        return JSONResponse({"status": "accepted", "event_id": row.event_id})

    async def events(request: Request) -> Response:
        if feed_token is None:
            return JSONResponse({"error": "the feed is disabled: set MMQ_FEED_TOKEN"}, 403)
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), feed_token):
            return JSONResponse(
                {"error": "missing or invalid bearer token"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            after = int(request.query_params.get("after", "0"))
            count = int(request.query_params.get("limit", "1000"))
        except ValueError:
            return JSONResponse({"error": "after and limit must be integers"}, 400)
        if after < 0 or not 1 <= count <= FEED_MAX_LIMIT:
            return JSONResponse(
                {"error": f"after must be ≥ 0 and limit between 1 and {FEED_MAX_LIMIT}"}, 400
            )
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(
            store._thread, store.read_feed, after, count, FEED_MAX_BYTES
        )
        out = [
            {
                "seq": r[0],
                "event_id": r[1],
                "webhook_id": r[2],
                "event_type": r[3],
                "event_timestamp": r[4].isoformat() if r[4] else None,
                "received_at": r[5].isoformat(),
                "is_parseable": r[6],
                "is_known_type": r[7],
                "is_test": r[8],
                "body": r[9].decode("utf-8", errors="replace"),
            }
            for r in rows
        ]
        next_after = out[-1]["seq"] if out else after
        store.fed_seq = max(store.fed_seq, next_after)
        return JSONResponse(
            {
                "events": out,
                "next_after": next_after,
                "has_more": next_after < store.last_seq,
                "latest_seq": store.last_seq,
            }
        )

    async def healthz(_request: Request) -> Response:
        ok = store.conn is not None
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "latest_seq": store.last_seq},
            status_code=200 if ok else 503,
        )

    async def metrics_endpoint(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_app: Starlette):
        if store.conn is None:
            store.open()
        await store.start()
        try:
            yield
        finally:
            await store.close()

    app = Starlette(
        routes=[
            Route(
                "/webhooks/integrations", webhook, methods=["POST", "GET", "PUT", "PATCH", "DELETE"]
            ),
            Route("/events", events, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.metrics = metrics
    return app
