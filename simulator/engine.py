"""The simulator's clock and webhook dispatcher.

Processing uses the event loop's own timer heap (``call_later``) rather than a task per asset, so
50,000 assets in flight cost a handle each. Deliveries go through one pooled ``httpx.AsyncClient``
drained by a fixed set of worker tasks (bounded concurrency); retries are re-queued with the
contract's backoff schedule multiplied by ``time_scale``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from simulator.config import SimulatorConfig
from simulator.results import outcome
from simulator.state import Asset, SimulatorState, Subscription, iso, now

log = logging.getLogger("simulator.webhooks")

COMPLETED = "asset.processing.completed"
FAILED = "asset.processing.failed"
EVENT_TYPES = (COMPLETED, FAILED)


@dataclass(slots=True)
class Delivery:
    subscription: Subscription | None  # None for one-off test deliveries
    url: str
    secret: str
    event_id: str
    body: str
    attempt: int = 0
    done: asyncio.Future | None = None  # resolved with the response status (test deliveries)


def envelope(event_type: str, data: dict) -> tuple[str, str]:
    event_id = f"evt_{uuid.uuid4()}"
    body = {
        "id": event_id,
        "type": event_type,
        "timestamp": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
    }
    return event_id, json.dumps(body, separators=(",", ":"))


class Engine:
    def __init__(self, config: SimulatorConfig, state: SimulatorState) -> None:
        self.config = config
        self.state = state
        self.rng = random.Random(config.seed)
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.http: httpx.AsyncClient | None = None
        self.workers: list[asyncio.Task] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.delivered = 0

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        limits = httpx.Limits(max_connections=self.config.delivery_concurrency)
        self.http = httpx.AsyncClient(
            timeout=self.config.delivery_timeout_seconds, limits=limits, follow_redirects=False
        )
        self.workers = [
            asyncio.create_task(self._worker()) for _ in range(self.config.delivery_concurrency)
        ]

    async def stop(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    # --- processing clock -------------------------------------------------------------------
    def start_processing(self, asset: Asset, delay_seconds: float | None = None) -> None:
        assert self.loop is not None
        if delay_seconds is None:
            low, high = self.config.processing_seconds
            total = random.Random(f"{asset.asset_id}:{asset.retry_count}").uniform(low, high)
            total *= self.config.time_scale
        else:
            total = delay_seconds
        self.loop.call_later(total * 0.3, self._to_processing, asset)
        self.loop.call_later(total, self._finish, asset)

    def _to_processing(self, asset: Asset) -> None:
        if asset.status == "submitted":
            asset.status = "processing"

    def _finish(self, asset: Asset) -> None:
        failed, retryable, message, error_type = outcome(
            asset.asset_id, asset.retry_count, self.config.failure_rate, self.config.retryable_share
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
        data = {
            "asset_id": asset.asset_id,
            "submission_id": asset.submission_id,
            "workspace_id": asset.workspace_id,
            "filename": asset.filename,
        }
        if event_type == FAILED:
            data["status"] = "failed"
            data["error_message"] = error_message or asset.error_message
        else:
            data["status"] = "completed"
            data["issue_count"] = len(asset.results.issues)
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
            if self.rng.random() < faults.drop_rate:
                continue
            copies = 2 if self.rng.random() < faults.duplicate_rate else 1
            for _ in range(copies):
                delivery = Delivery(sub, sub.endpoint_url, sub.secret, event_id, body)
                self._enqueue(delivery, self.rng.uniform(0, faults.reorder_seconds))
        return dispatched

    def deliver_once(self, url: str, secret: str, data: dict) -> tuple[str, asyncio.Future]:
        assert self.loop is not None
        event_id, body = envelope(COMPLETED, data)
        done = self.loop.create_future()
        self.queue.put_nowait(Delivery(None, url, secret, event_id, body, done=done))
        return event_id, done

    def _enqueue(self, delivery: Delivery, delay: float = 0.0) -> None:
        if delay > 0 and self.loop is not None:
            self.loop.call_later(delay, self.queue.put_nowait, delivery)
        else:
            self.queue.put_nowait(delivery)

    async def _worker(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                await self._attempt(delivery)
            except Exception:  # a worker must never die: log and go on
                log.exception("delivery worker error for %s", delivery.event_id)

    async def _attempt(self, d: Delivery) -> None:
        assert self.http is not None
        faults = self.config.faults.webhooks
        if faults.slow_seconds:
            await asyncio.sleep(faults.slow_seconds)
        status: int | None = None
        if d.subscription is not None and self.rng.random() < faults.fail_rate:
            ok = False  # injected failure: counts as an attempt that never reached the receiver
        else:
            stamp = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": d.event_id,
                "webhook-timestamp": str(int(stamp.timestamp())),
                "webhook-signature": Webhook(d.secret).sign(d.event_id, stamp, d.body),
            }
            try:
                response = await self.http.post(d.url, content=d.body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                log.info("delivery %s to %s failed: %s", d.event_id, d.url, type(exc).__name__)
            ok = status is not None and 200 <= status < 300
        self.delivered += ok
        if d.done is not None:
            if not d.done.done():
                d.done.set_result(status)
            return
        d.subscription.attempts.append(
            {
                "id": str(uuid.uuid4()),
                "status": "SUCCESSFUL" if ok else "FAILED",
                "createdAt": iso(now()),
                "responseStatus": status,
                "eventId": d.event_id,
            }
        )
        schedule = self.config.retry_schedule_seconds
        if not ok and d.attempt < len(schedule):
            delay = schedule[d.attempt] * self.config.time_scale
            d.attempt += 1
            self._enqueue(d, delay)
