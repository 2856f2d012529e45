"""Build a real sample warehouse for tests: simulator → signed webhooks → receiver → steps.

Everything is real and on loopback (the simulator in a thread, the receiver as a subprocess);
only Dagster is left out, so that report and notebook tests get realistic data in seconds.
The Dagster path itself is covered by ``tests/pipeline``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mmq.client import AsyncMediaMagicClient, MediaMagicClient
from mmq.contract import EVENT_TYPES
from mmq.feed import ReceiverFeed
from mmq.netutil import free_port
from mmq.warehouse import quality, steps
from mmq.warehouse.connection import connected, transaction
from mmq.warehouse.pending import Backoff
from mmq.warehouse.publish import publish_copy
from receiver.testing import running_receiver
from simulator.driver import run_scenario
from simulator.testing import running_simulator


@dataclass
class Sample:
    data_dir: Path
    warehouse_path: Path
    analytics_path: Path
    submission_ids: list[str]
    ground_truth: dict
    event_count: int


def expected_events(state) -> int:
    """One event per terminal processing attempt of every asset."""
    return sum(
        1 + asset.retry_count
        for asset in state.assets.values()
        if asset.status in ("complete", "failed")
    )


def wait_for_events(feed: ReceiverFeed, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    latest = 0
    while time.monotonic() < deadline:
        latest = feed.page(0, 1).latest_seq
        if latest >= expected:
            return latest
        time.sleep(0.1)
    raise TimeoutError(f"receiver landed {latest} of {expected} events")


def build_sample(
    data_dir: Path, *, submissions: int = 12, seed: int = 7, failure_rate: float = 0.15
) -> Sample:
    data_dir = Path(data_dir)
    with running_simulator(time_scale=0.02, failure_rate=failure_rate, seed=seed) as sim:
        port = free_port()
        with MediaMagicClient(sim.base_url, sim.api_key) as client:
            sub = client.create_subscription(
                f"http://127.0.0.1:{port}/webhooks/integrations", list(EVENT_TYPES)
            )
        token = secrets.token_hex(16)
        with running_receiver(
            data_dir, secrets=[sub.secret.get_secret_value()], feed_token=token, port=port
        ) as receiver:
            result = run_scenario(
                sim.base_url,
                sim.api_key,
                submissions=submissions,
                duration_seconds=0.5,
                seed=seed,
            )
            feed = ReceiverFeed(receiver.url, token)
            latest = wait_for_events(feed, expected_events(sim.state))
            events = list(feed.iter_range(0, latest))
            receiver_metrics = feed.metrics()
        warehouse = data_dir / "warehouse.duckdb"
        analytics = data_dir / "analytics.duckdb"
        with connected(warehouse) as conn:
            steps.ensure_schema(conn)
            load_id = steps.new_load_id()
            landed = steps.land_events(conn, events, load_id=load_id)
            steps.land_receiver_stats(
                conn,
                receiver_metrics,
                receiver_url=feed.base_url,
                latest_seq=latest,
                load_id=load_id,
            )
            steps.fetch_raw(
                conn,
                lambda: AsyncMediaMagicClient(sim.base_url, sim.api_key),
                landed.submission_ids,
                load_id=load_id,
                backoff=Backoff(),
            )
            steps.rebuild_tables(conn, landed.submission_ids, load_id=load_id)
            now = datetime.now(UTC)
            with transaction(conn):
                quality.compute_submission_quality(
                    conn,
                    landed.submission_ids,
                    weights=quality.ScoreWeights(),
                    now=now,
                    load_id=load_id,
                )
                quality.compute_daily_quality(conn, now=now, load_id=load_id)
            publish_copy(conn, analytics)
        truth = sim.state.ground_truth()
    return Sample(data_dir, warehouse, analytics, result.submission_ids, truth, len(events))
