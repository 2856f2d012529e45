"""A real stack for pipeline tests: simulator, subscription, receiver, Dagster definitions.

Runs execute in-process against a temporary Dagster instance (``instance_for_test``); sensor
ticks are evaluated with ``build_sensor_context`` against the live receiver feed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from mmq.client import MediaMagicClient
from mmq.contract import EVENT_TYPES
from mmq.feed import ReceiverFeed
from mmq.netutil import free_port
from pipelines.definitions import make_definitions
from pipelines.resources import HttpIntegrationsApi, ReceiverFeedResource, WarehouseResource
from receiver.testing import ReceiverHandle, running_receiver
from sensors.feed_sensor import receiver_feed_sensor
from simulator.driver import run_scenario
from simulator.testing import SimHandle, running_simulator
from tests.sample import expected_events, wait_for_events


@dataclass
class Tick:
    result: dg.SensorResult | dg.SkipReason
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return isinstance(self.result, dg.SkipReason)


@dataclass
class Stack:
    sim: SimHandle
    receiver: ReceiverHandle
    data_dir: Path
    token: str
    instance: dg.DagsterInstance
    cursor: str | None = None

    @property
    def feed(self) -> ReceiverFeed:
        return ReceiverFeed(self.receiver.url, self.token)

    def resources(self) -> dict:
        return {
            "warehouse": WarehouseResource(data_dir=str(self.data_dir)),
            "api": HttpIntegrationsApi(
                base_url=self.sim.base_url, api_key=self.sim.api_key, max_attempts=8
            ),
            "receiver": ReceiverFeedResource(url=self.receiver.url, token=self.token),
        }

    @property
    def defs(self) -> dg.Definitions:
        return make_definitions(self.resources())

    def drive(self, submissions: int, **options) -> list[str]:
        """Create submissions (retrying failed assets) and wait until every event landed."""
        options.setdefault("duration_seconds", 0.3)
        result = run_scenario(
            self.sim.base_url, self.sim.api_key, submissions=submissions, **options
        )
        state = self.sim.state
        deadline = time.monotonic() + 60
        while any(a.status not in ("complete", "failed") for a in state.assets.values()):
            assert time.monotonic() < deadline, "assets did not settle"
            time.sleep(0.05)
        wait_for_events(self.feed, expected_events(state))
        return result.submission_ids

    def tick(self) -> Tick:
        """One sensor evaluation, then every run it requested, in order, in-process."""
        defs = self.defs
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=defs,
            resources={"receiver": self.resources()["receiver"]},
        )
        result = receiver_feed_sensor(context)
        tick = Tick(result)
        if isinstance(result, dg.SkipReason):
            return tick
        for request in result.dynamic_partitions_requests:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        job = defs.resolve_job_def("ingest_job")
        for request in result.run_requests:
            tick.runs.append(
                job.execute_in_process(
                    instance=self.instance,
                    run_config=request.run_config,
                    tags={**request.tags, "dagster/run_key": request.run_key},
                    asset_selection=request.asset_selection,
                )
            )
        self.cursor = result.cursor
        return tick

    def drain(self, max_ticks: int = 10) -> list[Tick]:
        ticks = []
        for _ in range(max_ticks):
            tick = self.tick()
            ticks.append(tick)
            if tick.skipped:
                return ticks
        raise AssertionError(f"still not drained after {max_ticks} ticks")

    def analytics(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.data_dir / "analytics.duckdb"), read_only=True)


@contextmanager
def running_stack(
    data_dir: Path, instance_overrides: dict | None = None, **sim_config
) -> Iterator[Stack]:
    """``instance_overrides``: Dagster instance config (e.g. a run coordinator that launches
    submitted runs at once, where no daemon dequeues them)."""
    sim_config.setdefault("time_scale", 0.02)
    with running_simulator(**sim_config) as sim:
        port = free_port()
        with MediaMagicClient(sim.base_url, sim.api_key) as client:
            sub = client.create_subscription(
                f"http://127.0.0.1:{port}/webhooks/integrations", list(EVENT_TYPES)
            )
        token = secrets.token_hex(16)
        with (
            running_receiver(
                data_dir, secrets=[sub.secret.get_secret_value()], feed_token=token, port=port
            ) as receiver,
            dg.instance_for_test(overrides=instance_overrides) as instance,
        ):
            yield Stack(sim, receiver, Path(data_dir), token, instance)
