"""``POST /webhooks/integrations``: read, verify, land, answer.

Answers, in this order: 405 (not POST), 415 (not JSON), 413 (body over the limit, by
``Content-Length`` or while streaming a chunked body), 401 (not authentic: see ``verify``), then
lands the event and answers 200 once its group commit is durable, or 503 with ``Retry-After``
when the store cannot commit. It never answers 410, and no input makes it answer another 5xx.

This endpoint is a plain ASGI app in front of the Starlette app (``receiver.app``) rather than a
``Request``/``Response`` handler: it is the one hot path, and building those objects cost more
than verifying the signature. Verification runs inline on the event loop: it costs a few
microseconds, less than a hop to a thread would, and the GIL would serialise it anyway.
"""

from __future__ import annotations

import json
import logging
import time

from receiver.events import KEPT_HEADERS
from receiver.metrics import REJECT_CAUSES, ReceiverMetrics
from receiver.store import LandingStore, StoreUnavailable
from receiver.verify import Verifier

log = logging.getLogger("receiver.intake")

RETRY_AFTER_SECONDS = b"5"
KEPT_HEADER_LENGTH = 1024  # characters of each kept header stored with the event
WEBHOOK_HEADERS = (b"webhook-id", b"webhook-timestamp", b"webhook-signature")
KEPT = tuple(name.encode() for name in KEPT_HEADERS)
READ_HEADERS = frozenset((*KEPT, b"content-length"))
JSON_TYPE = (b"content-type", b"application/json")


def delivery_headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[bytes, str], bool]:
    """The headers intake needs (latin-1 decoded, as HTTP defines them), and whether a
    ``webhook-*`` header was repeated (which makes the delivery ambiguous, hence rejected)."""
    found: dict[bytes, str] = {}
    repeated = False
    for name, value in raw:
        if name in READ_HEADERS:
            if name in found:
                repeated = repeated or name in WEBHOOK_HEADERS
                continue
            found[name] = value.decode("latin-1")
    return found, repeated


def declared_too_large(content_length: str | None, limit: int) -> bool:
    if content_length is None or not (content_length.isascii() and content_length.isdigit()):
        return False  # absent or malformed: the server enforces framing; we count as we read
    return len(content_length) > 18 or int(content_length) > limit


async def respond(send, status: int, body: bytes, extra: list | None = None) -> None:
    headers = [JSON_TYPE, (b"content-length", b"%d" % len(body))]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def ack(status: str, event_id: str) -> bytes:
    return b'{"status":"%s","event_id":%s}' % (status.encode(), json.dumps(event_id).encode())


class WebhookIntake:
    def __init__(
        self, verifier: Verifier, store: LandingStore, metrics: ReceiverMetrics, max_body: int
    ) -> None:
        self.verifier = verifier
        self.store = store
        self.metrics = metrics
        self.max_body = max_body
        self._rejected = {cause: metrics.rejected.labels(cause) for cause in REJECT_CAUSES}
        self._too_large = b'{"error":"body exceeds %d bytes"}' % max_body

    async def reject(self, send, cause: str, status: int, body: bytes, extra=None) -> None:
        self._rejected[cause].inc()
        await respond(send, status, body, extra)

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] != "POST":
            await self.reject(
                send, "unsupported_method", 405, b'{"error":"use POST"}', [(b"allow", b"POST")]
            )
            return
        found, repeated = delivery_headers(scope["headers"])
        content_type = found.get(b"content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/json":
            body = b'{"error":"content type must be application/json"}'
            await self.reject(send, "unsupported_content_type", 415, body)
            return
        if declared_too_large(found.get(b"content-length"), self.max_body):
            await self.reject(send, "too_large", 413, self._too_large)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: nobody is listening
                self._rejected["incomplete_body"].inc()
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self.reject(send, "too_large", 413, self._too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        webhook_id = found.get(b"webhook-id")
        cause = "unparseable" if repeated else None
        cause = cause or self.verifier.problem(
            body, webhook_id, found.get(b"webhook-timestamp"), found.get(b"webhook-signature")
        )
        if cause is not None:
            log.info("rejected delivery %.80r: %s", webhook_id, cause)
            await self.reject(send, cause, 401, b'{"error":"webhook verification failed"}')
            return
        kept = tuple(found[n][:KEPT_HEADER_LENGTH] if n in found else None for n in KEPT)
        try:
            landed = await self.store.land((body, webhook_id, kept, time.time()))
        except StoreUnavailable as exc:
            log.warning("answering 503 for %.80r: %s", webhook_id, exc)
            body = b'{"error":"landing store unavailable; retry later"}'
            extra = [(b"retry-after", RETRY_AFTER_SECONDS)]
            await self.reject(send, "store_unavailable", 503, body, extra)
            return
        # accepted / duplicate counters move per group commit (ReceiverMetrics.observe_commit)
        await respond(send, 200, ack("accepted" if landed.is_new else "duplicate", landed.event_id))
