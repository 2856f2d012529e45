"""Signed deliveries and a real receiver app served in-process (for pure HTTP-semantics tests).

Durability, restart and kill tests use the subprocess receiver of ``receiver.testing`` instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
from pydantic import SecretStr
from standardwebhooks import Webhook

from mmq.settings import Settings
from receiver.app import WEBHOOK_PATH, create_app
from receiver.store import LandingStore

FEED_TOKEN = "feed-token-for-tests"
GENERIC_401 = b'{"error":"webhook verification failed"}'


def new_secret(size: int = 32) -> str:
    return "whsec_" + base64.b64encode(os.urandom(size)).decode()


def new_event_id() -> str:
    return f"evt_{uuid.uuid4()}"


def envelope(
    event_id: str,
    event_type: str = "asset.processing.completed",
    *,
    test: bool = False,
    pad: int = 0,
) -> bytes:
    doc = {
        "id": event_id,
        "type": event_type,
        "timestamp": "2026-11-30T12:00:00Z",
        "data": {"asset_id": str(uuid.uuid4()), "test": test, "note": "x" * pad},
    }
    return json.dumps(doc).encode()


def signed_headers(
    secret: str,
    body: bytes,
    webhook_id: str,
    *,
    at: datetime | None = None,
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


def delivery(secret: str, event_id: str | None = None, **envelope_args) -> tuple[str, bytes, dict]:
    """A new signed event: (event id, body, headers)."""
    event_id = event_id or new_event_id()
    body = envelope(event_id, **envelope_args)
    return event_id, body, signed_headers(secret, body, event_id)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def metric_value(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text (``labels`` as written: ``cause="too_large"``)."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(wanted)


def landed_rows(landing: Path, columns: str = "event_id") -> list[tuple]:
    """Rows of raw_events, read-only (only while no receiver holds the file)."""
    with duckdb.connect(str(landing), read_only=True) as conn:
        return conn.execute(f"SELECT {columns} FROM raw_events ORDER BY seq").fetchall()


def bearer(token: str = FEED_TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class InProcessReceiver:
    """The real app, store and DuckDB file, driven over ASGI from an event loop in a thread.

    Tests stay synchronous (hypothesis included) and can still send concurrent requests.
    """

    def __init__(self, data_dir: Path, secrets: list[str], *, feed_token: str | None, **store):
        self.settings = Settings(
            webhook_secrets=[SecretStr(s) for s in secrets],
            feed_token=SecretStr(feed_token) if feed_token else None,
            data_dir=data_dir,
            receiver_batch_max_ms=2,
        )
        self.store = LandingStore(self.settings.landing_path, **store) if store else None
        self.app = create_app(self.settings, self.store)
        self.store = self.app.state.store
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.store.open()
        self.run(self.store.start())
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://receiver.test"
        )

    def run(self, coroutine: Coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.run(self.client.request(method, path, **kwargs))

    def post(self, body: bytes, headers: dict, path: str = WEBHOOK_PATH) -> httpx.Response:
        return self.request("POST", path, content=body, headers=headers)

    def post_many(self, deliveries: list[tuple[bytes, dict]]) -> list[httpx.Response]:
        """Send all at once, so they share group commits (and race each other)."""

        async def all_at_once():
            calls = [self.client.post(WEBHOOK_PATH, content=b, headers=h) for b, h in deliveries]
            return await asyncio.gather(*calls)

        return self.run(all_at_once())

    def metrics(self) -> str:
        return self.request("GET", "/metrics").text

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.store.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def feed_ids(page: dict) -> list[str]:
    return [event["event_id"] for event in page["events"]]
