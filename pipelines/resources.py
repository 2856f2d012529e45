"""Dagster resources: the warehouse, the Integrations API and the receiver feed.

Every external system sits behind one small resource, so that swapping the warehouse backend
(DuckLake, MotherDuck) or pointing at the real API stays a local change. Secrets come from
environment variables (``dg.EnvVar``): Dagster never stores them in run config.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import httpx
from pydantic import Field, PrivateAttr

from mmq.client import AsyncMediaMagicClient
from mmq.feed import ReceiverFeed
from mmq.warehouse.connection import connected
from mmq.warehouse.publish import is_stale, publish_copy
from mmq.warehouse.schema import create_all


class WarehouseResource(dg.ConfigurableResource):
    """``warehouse.duckdb`` (written only by runs, one at a time) and its published copy."""

    data_dir: str = Field(description="Holds warehouse.duckdb, analytics.duckdb and reports/.")
    lock_retry_seconds: float = Field(
        default=120.0, description="How long an open waits for another process's lock."
    )
    reports_base_url: str | None = Field(
        default=None,
        description="URL under which reports/ is served (links in the UI); file:// if unset.",
    )

    @property
    def warehouse_path(self) -> Path:
        return Path(self.data_dir) / "warehouse.duckdb"

    @property
    def analytics_path(self) -> Path:
        return Path(self.data_dir) / "analytics.duckdb"

    @property
    def reports_dir(self) -> Path:
        return Path(self.data_dir) / "reports"

    def report_url(self, submission_id: str) -> str:
        if self.reports_base_url:
            return f"{self.reports_base_url.rstrip('/')}/{submission_id}.html"
        return (self.reports_dir / f"{submission_id}.html").resolve().as_uri()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the warehouse, schema ensured, closed on exit."""
        with connected(self.warehouse_path, retry_seconds=self.lock_retry_seconds) as conn:
            create_all(conn)
            yield conn

    @contextmanager
    def analytics(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the published snapshot (what analysts see)."""
        with connected(
            self.analytics_path, read_only=True, retry_seconds=self.lock_retry_seconds
        ) as conn:
            yield conn

    def publish(self, conn: duckdb.DuckDBPyConnection) -> dict:
        return publish_copy(conn, self.analytics_path)

    def publish_if_stale(self) -> dict | None:
        """Publish when the warehouse has loads the snapshot lacks (e.g. in a backfill run
        that selected reports but not ``analytics_snapshot``); None when it was current."""
        with self.connect() as conn:
            if not is_stale(conn, self.analytics_path):
                return None
            return self.publish(conn)


class IntegrationsApiResource(dg.ConfigurableResource, ABC):
    """Where the pipeline gets submissions, issues and topics from."""

    @abstractmethod
    def client(self) -> AsyncMediaMagicClient:
        """A new async client (call inside the event loop that will use it)."""


class HttpIntegrationsApi(IntegrationsApiResource):
    """The real service (or the simulator) over HTTP, with the client's retries."""

    base_url: str
    api_key: str = Field(description="sk_live_/sk_test_ key; set it with dg.EnvVar.")
    timeout_seconds: float = 30.0
    max_concurrency: int = 16
    max_attempts: int = 6

    def client(self) -> AsyncMediaMagicClient:
        return AsyncMediaMagicClient(
            self.base_url,
            self.api_key,
            timeout=self.timeout_seconds,
            max_concurrency=self.max_concurrency,
            max_attempts=self.max_attempts,
        )


class RecordedIntegrationsApi(IntegrationsApiResource):
    """Replays recorded API responses (a JSON file ``{path: body}``) through the real client.

    For reproducing a production load offline: export ``api_responses`` from a warehouse with
    :func:`record_responses`, point the pipeline here, and it flattens exactly what the
    service sent. Paths that were not recorded answer 404.
    """

    recordings_path: str
    _recordings: dict | None = PrivateAttr(default=None)

    def client(self) -> AsyncMediaMagicClient:
        if self._recordings is None:
            self._recordings = json.loads(Path(self.recordings_path).read_text())
        recordings = self._recordings

        def handle(request: httpx.Request) -> httpx.Response:
            body = recordings.get(request.url.path)
            if body is None:
                return httpx.Response(404, json={"detail": "not recorded"})
            return httpx.Response(200, json=body)

        return AsyncMediaMagicClient(
            "http://recorded.invalid", "sk_test_" + "0" * 64, transport=httpx.MockTransport(handle)
        )


def record_responses(conn: duckdb.DuckDBPyConnection, target: Path) -> int:
    """Write a warehouse's ``api_responses`` as a recording for :class:`RecordedIntegrationsApi`."""
    prefix = "/api/integrations/submissions"
    recordings = {}
    for kind, sid, aid, body in conn.execute(
        "SELECT kind, submission_id, asset_id, body FROM api_responses"
    ).fetchall():
        path = f"{prefix}/{sid}" if kind == "submission" else f"{prefix}/{sid}/assets/{aid}/{kind}"
        recordings[path] = json.loads(body)
    Path(target).write_text(json.dumps(recordings))
    return len(recordings)


class ReceiverFeedResource(dg.ConfigurableResource):
    """The receiver's event feed (bearer token from ``MMQ_FEED_TOKEN``)."""

    url: str
    token: str = Field(description="Feed bearer token; set it with dg.EnvVar.")
    timeout_seconds: float = 10.0

    def feed(self) -> ReceiverFeed:
        return ReceiverFeed(self.url, self.token, timeout=self.timeout_seconds)
