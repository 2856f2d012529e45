"""The simulator's clock and webhook dispatcher.

Processing uses the event loop's own timer heap (``call_later``) rather than a task per asset, so
50,000 assets in flight cost a timer handle each. Deliveries go through one pooled
``httpx.AsyncClient`` drained by a fixed set of worker tasks (bounded concurrency); retries are
re-queued with the contract's backoff schedule multiplied by ``time_scale``.

Everything here runs on the server's event loop thread (the routes are ``async def``), so the
state needs no locks; the few entry points a test may call from another thread hop onto the
loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from simulator.config import SimulatorConfig
from simulator.results import issue_count_for, outcome
from simulator.state import Asset, SimulatorState, Subscription, iso, now

log = logging.getLogger("simulator.webhooks")

COMPLETED = "asset.processing.completed"
FAILED = "asset.processing.failed"
EVENT_TYPES = (COMPLETED, FAILED)


@dataclass(slots=True)
class Delivery:
    subscription: Subscription
    event_id: str
    body: str
    attempt: int = 0  # attempts made so far

    @property
    def url(self) -> str:
        return self.subscription.endpoint_url


def envelope(event_type: str, data: dict) -> tuple[str, str]:
    """A new event: its id and its serialised body (signed and sent byte for byte)."""
    event_id = f"evt_{uuid.uuid4()}"
    body = {
        "id": event_id,
        "type": event_type,
        "timestamp": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
    }
    return event_id, json.dumps(body, separators=(",", ":"))


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signed_headers(secret: str, event_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for one attempt: a fresh timestamp and signature, same id."""
    stamp = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": _signer(secret).sign(event_id, stamp, body),
    }


class Engine:
    def __init__(self, config: SimulatorConfig, state: SimulatorState) -> None:
        self.config = config
        self.state = state
        self.rng = random.Random(config.seed)
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.http: httpx.AsyncClient | None = None
        self.workers: list[asyncio.Task] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # Counters for tests and benchmarks: events, attempts, successes, dropped, scheduled.
        self.stats: Counter[str] = Counter()

    @property
    def delivered(self) -> int:
        """Successful attempts so far (kept for callers of the first version)."""
        return self.stats["successful"]

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        limits = httpx.Limits(
            max_connections=self.config.delivery_concurrency,
            max_keepalive_connections=self.config.delivery_concurrency,
        )
        self.http = httpx.AsyncClient(
            timeout=self.config.delivery_timeout_seconds, limits=limits, follow_redirects=False
        )
        self.workers = [
            asyncio.create_task(self._worker(), name=f"delivery-{n}")
            for n in range(self.config.delivery_concurrency)
        ]

    async def stop(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    def _later(self, delay: float, callback, *args) -> None:
        """``loop.call_later`` from any thread."""
        assert self.loop is not None, "the engine has not started"
        if threading.get_ident() == self._loop_thread:
            self.loop.call_later(delay, callback, *args)
        else:
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, callback, *args)

    @property
    def pending(self) -> int:
        """Deliveries queued, in flight or waiting for a (retry) timer."""
        return self.stats["scheduled"] - self.stats["settled"]

    # --- processing clock -------------------------------------------------------------------
    def processing_seconds(self, asset: Asset) -> float:
        """How long this processing attempt takes: seeded by the asset and attempt, scaled."""
        low, high = self.config.processing_seconds
        rng = random.Random(f"{asset.asset_id}:{asset.retry_count}")
        return rng.uniform(low, high) * self.config.time_scale

    def start_processing(self, asset: Asset, delay_seconds: float | None = None) -> None:
        """Schedule ``submitted → processing → complete|failed``; a sandbox delay replaces the
        modelled duration (it is already in real seconds, so it is not scaled)."""
        total = self.processing_seconds(asset) if delay_seconds is None else delay_seconds
        attempt = asset.retry_count
        self._later(total * 0.3, self._to_processing, asset, attempt)
        self._later(total, self._finish, asset, attempt)

    def _to_processing(self, asset: Asset, attempt: int) -> None:
        if asset.retry_count == attempt and asset.status == "submitted":
            asset.status = "processing"

    def _finish(self, asset: Asset, attempt: int) -> None:
        if asset.retry_count != attempt or asset.status in ("complete", "failed"):
            return  # a timer of an attempt that is no longer current
        failed, retryable, message, error_type = outcome(
            asset.asset_id, attempt, self.config.failure_rate, self.config.retryable_share
        )
        asset.completed_at = now()
        self.state.retries_in_flight.discard(asset.asset_id)
        if failed:
            asset.status, asset.is_retryable = "failed", retryable
            asset.error_message, asset.error_type = message, error_type
        else:
            asset.status, asset.is_retryable = "complete", False
            asset.error_message = asset.error_type = None
        self.emit_for_asset(asset)

    def emit_for_asset(
        self, asset: Asset, event_type: str | None = None, error_message: str | None = None
    ) -> int:
        event_type = event_type or (FAILED if asset.status == "failed" else COMPLETED)
        data: dict = {
            "asset_id": asset.asset_id,
            "submission_id": asset.submission_id,
            "workspace_id": asset.workspace_id,
        }
        if event_type == FAILED:
            data["status"] = "failed"
            data["filename"] = asset.filename
            data["error_message"] = error_message or asset.error_message or "Processing failed"
        else:
            data["status"] = "completed"
            data["filename"] = asset.filename
            data["issue_count"] = issue_count_for(asset.asset_id)
        return self.emit(asset.workspace_id, event_type, data)

    # --- webhooks ---------------------------------------------------------------------------
    def emit(self, workspace_id: str, event_type: str, data: dict) -> int:
        """One event per matching enabled subscription; returns how many were dispatched."""
        faults = self.config.faults.webhooks
        dispatched = 0
        for sub in list(self.state.subscriptions.values()):
            if sub.workspace_id != workspace_id or not sub.enabled:
                continue
            if event_type not in sub.event_types:
                continue
            event_id, body = envelope(event_type, data)
            dispatched += 1
            self.stats["events"] += 1
            if faults.drop_rate and self.rng.random() < faults.drop_rate:
                self.stats["dropped"] += 1
                continue
            copies = 2 if faults.duplicate_rate and self.rng.random() < faults.duplicate_rate else 1
            for _ in range(copies):
                delay = self.rng.uniform(0, faults.reorder_seconds) if faults.reorder_seconds else 0
                self._enqueue(Delivery(sub, event_id, body), delay)
        return dispatched

    def _enqueue(self, delivery: Delivery, delay: float = 0.0, *, retry: bool = False) -> None:
        if not retry:
            self.stats["scheduled"] += 1
        if delay > 0:
            self._later(delay, self.queue.put_nowait, delivery)
        elif threading.get_ident() == self._loop_thread:
            self.queue.put_nowait(delivery)
        else:
            self._later(0, self.queue.put_nowait, delivery)

    async def _worker(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                await self._attempt(delivery)
            except Exception:  # a worker must never die: log and go on
                log.exception("delivery worker error for %s", delivery.event_id)
                self.stats["settled"] += 1

    async def post(self, url: str, secret: str, event_id: str, body: str) -> int | None:
        """One signed POST; the response status, or None when no response came back."""
        assert self.http is not None
        try:
            response = await self.http.post(
                url, content=body, headers=signed_headers(secret, event_id, body)
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            log.info("delivery %s to %s failed: %s", event_id, url, type(exc).__name__)
            return None
        return response.status_code

    async def _attempt(self, d: Delivery) -> None:
        sub = d.subscription
        if self.state.subscriptions.get(sub.id) is not sub or not sub.enabled:
            # Deleted or disabled meanwhile: stop delivering, as a real sender does.
            self.stats["abandoned"] += 1
            self.stats["settled"] += 1
            return
        faults = self.config.faults.webhooks
        if faults.slow_seconds:
            await asyncio.sleep(faults.slow_seconds)
        if faults.fail_rate and self.rng.random() < faults.fail_rate:
            status = None  # injected: an attempt that never reached the receiver
            self.stats["injected_failures"] += 1
        else:
            status = await self.post(sub.endpoint_url, sub.secret, d.event_id, d.body)
        ok = status is not None and 200 <= status < 300
        d.attempt += 1
        self.stats["attempts"] += 1
        self.stats["successful" if ok else "failed"] += 1
        sub.attempts.append(
            {
                "id": str(uuid.uuid4()),
                "status": "SUCCESSFUL" if ok else "FAILED",
                "createdAt": iso(now()),
                "responseStatus": status,
                "eventId": d.event_id,
            }
        )
        schedule = self.config.retry_schedule_seconds
        if not ok and d.attempt <= len(schedule):
            self._enqueue(d, schedule[d.attempt - 1] * self.config.time_scale, retry=True)
        else:
            self.stats["settled"] += 1
            if not ok:
                self.stats["exhausted"] += 1

    async def send_test(self, url: str, secret: str, data: dict) -> tuple[str, int | None]:
        """The one-off delivery of ``POST /health/webhook-test``: sent now, not queued behind
        subscription traffic, and neither retried nor recorded."""
        event_id, body = envelope(COMPLETED, data)
        return event_id, await self.post(url, secret, event_id, body)
